package ring_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/internal/matrix/feature"
	"github.com/urgen/urgen/runtime/ring"
)

func TestRegisterBuffers(t *testing.T) {
	r := newRing(t)
	rd, wr := socketpair(t)
	a, b := []byte("alpha-buffer"), []byte("bravo-buffer")
	if err := r.RegisterBuffers([][]byte{a, nil, b}); err != nil {
		t.Fatal(err)
	}
	// The ring keeps the buffers: drop every other reference and collect.
	a, b = nil, nil
	runtime.GC()
	runtime.GC()
	// Only memory inside buffer 2 is accepted for index 2.
	probe := make([]byte, 16)
	if res, _ := run(t, r, 1, writeFixedBuf(wr, 2, &probe[0], 5)); errno(res) != unix.EFAULT {
		t.Fatalf("WRITE_FIXED outside buffer 2: %d, want -EFAULT", res)
	}
	bufs := r.RegisteredBuffersForTest()
	if res, _ := run(t, r, 2, writeFixedBuf(wr, 2, &bufs[2][6], 6)); res != 6 {
		t.Fatalf("WRITE_FIXED from buffer 2: %d", res)
	}
	if got := readAll(t, rd, 6); got != "buffer" {
		t.Fatalf("got %q", got)
	}
	if res, _ := run(t, r, 3, writeFixedBuf(wr, 1, &probe[0], 1)); errno(res) != unix.EFAULT {
		t.Fatalf("WRITE_FIXED from empty slot 1: %d, want -EFAULT", res)
	}
	if err := r.UnregisterBuffers(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.RegisteredBuffersForTest()); n != 0 {
		t.Fatalf("%d buffers still kept after UnregisterBuffers", n)
	}
	if res, _ := run(t, r, 4, writeFixedBuf(wr, 0, &probe[0], 1)); errno(res) != unix.EFAULT {
		t.Fatalf("WRITE_FIXED after UnregisterBuffers: %d, want -EFAULT", res)
	}
}

func TestRegisterBuffersTaggedUpdate(t *testing.T) {
	r := newRing(t)
	rd, wr := socketpair(t)
	if err := r.RegisterBuffersSparse(4); err != nil {
		t.Fatal(err)
	}
	first := []byte("first")
	if n, err := r.UpdateBuffers(3, [][]byte{first}, []uint64{0xb0f}); err != nil || n != 1 {
		t.Fatalf("UpdateBuffers: %d %v", n, err)
	}
	if res, _ := run(t, r, 1, writeFixedBuf(wr, 3, &first[0], 5)); res != 5 {
		t.Fatalf("WRITE_FIXED from updated slot: %d", res)
	}
	if got := readAll(t, rd, 5); got != "first" {
		t.Fatalf("got %q", got)
	}
	second := []byte("second")
	if _, err := r.UpdateBuffers(3, [][]byte{second}, nil); err != nil {
		t.Fatal(err)
	}
	_, others := run(t, r, 2, nop)
	others = append(others, reapTag(t, r, others, 0xb0f)...)
	if len(others) != 1 || others[0].ud != 0xb0f {
		t.Fatalf("completions after replacing a tagged buffer: %+v, want user data 0xb0f", others)
	}
	if res, _ := run(t, r, 3, writeFixedBuf(wr, 3, &first[0], 5)); errno(res) != unix.EFAULT {
		t.Fatalf("old buffer after replacement: %d, want -EFAULT", res)
	}
	if err := r.UnregisterBuffers(); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterBuffersTagged([][]byte{first, second}, []uint64{0, 0xb2}); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, r, 4, writeFixedBuf(wr, 1, &second[0], 6)); res != 6 {
		t.Fatalf("WRITE_FIXED from tagged table: %d", res)
	}
	readAll(t, rd, 6)
	if err := r.RegisterBuffersTagged([][]byte{first}, []uint64{1, 2}); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("tags of the wrong length: %v, want EINVAL", err)
	}
}

func TestCloneBuffers(t *testing.T) {
	feature.Need(t, "clone_buffers", "IORING_REGISTER_CLONE_BUFFERS (Linux 6.12)")
	src := newRing(t)
	rd, wr := socketpair(t)
	bufs := [][]byte{[]byte("zero"), []byte("one!"), []byte("two!")}
	if err := src.RegisterBuffers(bufs); err != nil {
		t.Fatal(err)
	}
	// The whole table (Linux 6.12).
	all := newRing(t)
	if err := all.CloneBuffers(src, 0, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, all, 1, writeFixedBuf(wr, 2, &bufs[2][0], 4)); res != 4 {
		t.Fatalf("cloned slot 2: %d", res)
	}
	if got := readAll(t, rd, 4); got != "two!" {
		t.Fatalf("got %q", got)
	}
	if got := all.RegisteredBuffersForTest(); len(got) != 3 {
		t.Fatalf("clone keeps %d buffers, want 3", len(got))
	}
	// A table exists now: cloning again fails.
	if err := all.CloneBuffers(src, 0, 0, 0, 0); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("clone onto a table: %v, want EBUSY", err)
	}

	// Slots 1 and 2 of src become slots 0 and 1 of dst (Linux 6.13).
	dst := newRing(t)
	if err := dst.CloneBuffers(src, 1, 0, 2, 0); err != nil {
		if errors.Is(err, unix.EINVAL) {
			feature.Need(t, "clone_buffer_range", fmt.Sprintf("offsets and DST_REPLACE came in Linux 6.13: %v", err))
		}
		t.Fatal(err)
	}
	if res, _ := run(t, dst, 2, writeFixedBuf(wr, 0, &bufs[1][0], 4)); res != 4 {
		t.Fatalf("dst slot 0: %d", res)
	}
	if res, _ := run(t, dst, 3, writeFixedBuf(wr, 1, &bufs[2][0], 4)); res != 4 {
		t.Fatalf("dst slot 1: %d", res)
	}
	if got := readAll(t, rd, 8); got != "one!two!" {
		t.Fatalf("got %q", got)
	}
	if res, _ := run(t, dst, 4, writeFixedBuf(wr, 0, &bufs[0][0], 4)); errno(res) != unix.EFAULT {
		t.Fatalf("src slot 0 is not in dst slot 0: %d, want -EFAULT", res)
	}
	if got := dst.RegisteredBuffersForTest(); len(got) != 2 || string(got[0]) != "one!" || string(got[1]) != "two!" {
		t.Fatalf("dst keeps %v", got)
	}
	if err := dst.CloneBuffers(src, 0, 0, 0, ring.CloneReplace); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, dst, 5, writeFixedBuf(wr, 0, &bufs[0][0], 4)); res != 4 {
		t.Fatalf("replaced dst slot 0: %d", res)
	}
	if got := readAll(t, rd, 4); got != "zero" {
		t.Fatalf("got %q", got)
	}
}
