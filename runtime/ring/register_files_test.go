package ring_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
	"github.com/urgen/urgen/runtime/ring"
)

func TestRegisterFiles(t *testing.T) {
	r := newRing(t)
	rd0, wr0 := socketpair(t)
	rd1, wr1 := socketpair(t)
	// Two slots: if the table were passed as 64-bit ints, slot 1 would read
	// the high half of the first entry.
	if err := r.RegisterFiles([]int32{int32(wr0), int32(wr1)}); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, r, 1, writeFixedFile(1, []byte("one"))); res != 3 {
		t.Fatalf("write via slot 1: %d", res)
	}
	if got := readAll(t, rd1, 3); got != "one" {
		t.Fatalf("socket 1 got %q", got)
	}
	// Skip slot 0, empty slot 1.
	if n, err := r.UpdateFiles(0, []int32{ring.FileSkip, -1}); err != nil || n != 2 {
		t.Fatalf("UpdateFiles: %d %v", n, err)
	}
	if res, _ := run(t, r, 2, writeFixedFile(0, []byte("zero"))); res != 4 {
		t.Fatalf("write via skipped slot 0: %d", res)
	}
	if got := readAll(t, rd0, 4); got != "zero" {
		t.Fatalf("socket 0 got %q", got)
	}
	if res, _ := run(t, r, 3, writeFixedFile(1, []byte("x"))); errno(res) != unix.EBADF {
		t.Fatalf("write via emptied slot 1: %d, want -EBADF", res)
	}
	if err := r.RegisterFiles([]int32{int32(wr0)}); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("second RegisterFiles: %v, want EBUSY", err)
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, r, 4, writeFixedFile(0, []byte("x"))); errno(res) != unix.EBADF {
		t.Fatalf("write after UnregisterFiles: %d, want -EBADF", res)
	}
	if err := r.UnregisterFiles(); !errors.Is(err, unix.ENXIO) {
		t.Fatalf("UnregisterFiles without a table: %v, want ENXIO", err)
	}
}

func TestRegisterFilesTaggedSparse(t *testing.T) {
	r := newRing(t)
	rd, wr := socketpair(t)
	if err := r.RegisterFilesSparse(4); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, r, 1, writeFixedFile(2, []byte("x"))); errno(res) != unix.EBADF {
		t.Fatalf("write via empty sparse slot: %d, want -EBADF", res)
	}
	if n, err := r.UpdateFilesTagged(2, []int32{int32(wr)}, []uint64{0xf11e}); err != nil || n != 1 {
		t.Fatalf("UpdateFilesTagged: %d %v", n, err)
	}
	if res, _ := run(t, r, 2, writeFixedFile(2, []byte("tag"))); res != 3 {
		t.Fatalf("write via tagged slot: %d", res)
	}
	if got := readAll(t, rd, 3); got != "tag" {
		t.Fatalf("got %q", got)
	}
	// Removing the tagged file posts its tag.
	if _, err := r.UpdateFiles(2, []int32{-1}); err != nil {
		t.Fatal(err)
	}
	_, others := run(t, r, 3, nop)
	others = append(others, reapTag(t, r, others, 0xf11e)...)
	if len(others) != 1 || others[0].ud != 0xf11e || others[0].res != 0 {
		t.Fatalf("completions after removing a tagged file: %+v, want one with user data 0xf11e", others)
	}
	if _, err := r.UpdateFilesTagged(0, []int32{-1, -1}, []uint64{1}); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("tags of the wrong length: %v, want EINVAL", err)
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
}

// TestUnregisterFilesPostsTags: unregistering a tagged table posts the
// tag of each file in it, and nothing for an empty slot.
func TestUnregisterFilesPostsTags(t *testing.T) {
	feature.Need(t, "unregister_tags", "tags are posted when a file table is unregistered from Linux 6.13 on")
	r := newRing(t)
	_, wr := socketpair(t)
	if err := r.RegisterFilesTagged([]int32{int32(wr), -1}, []uint64{7, 0}); err != nil {
		t.Fatal(err)
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
	// The tag may come from deferred work: wait for it.
	c, err := r.WaitCQETimeout(2 * time.Second)
	if err != nil {
		t.Fatalf("no completion after unregistering tagged files: %v", err)
	}
	if c.UserData != 7 || c.Res != 0 {
		t.Fatalf("completion after unregistering tagged files: %+v, want user data 7", c)
	}
	r.CQESeen(c)
	if left := reapAll(r); len(left) != 0 {
		t.Fatalf("more completions than the one tag: %+v", left)
	}
}

func TestFileAllocRange(t *testing.T) {
	r := newRing(t)
	if err := r.RegisterFilesSparse(8); err != nil {
		t.Fatal(err)
	}
	if err := r.SetFileAllocRange(5, 2); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	open := func(name string) func(*uapi.SQE) {
		path, _ := unix.BytePtrFromString(filepath.Join(dir, name))
		return func(s *uapi.SQE) {
			s.Opcode = uapi.OpOpenat
			s.FD = unix.AT_FDCWD
			s.Addr = uint64(uintptr(unsafe.Pointer(path)))
			s.Len = 0o600
			s.SetOpenFlags(unix.O_CREAT | unix.O_RDWR) // no O_CLOEXEC: EINVAL for direct descriptors
			s.SetFileIndex(uapi.FileIndexAlloc)
		}
	}
	var got []int32
	for i, name := range []string{"a", "b", "c"} {
		res, _ := run(t, r, uint64(i+1), open(name))
		got = append(got, res)
	}
	if got[0] != 5 || got[1] != 6 || errno(got[2]) != unix.ENFILE {
		t.Fatalf("direct opens in range [5,7): %v, want 5 6 -ENFILE", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); err != nil {
		t.Fatalf("opened file: %v", err)
	}
	if err := r.SetFileAllocRange(7, 2); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("range past the table: %v, want EINVAL", err)
	}
}
