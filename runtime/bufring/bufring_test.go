package bufring

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// These tests fill SQEs directly, as io_uring_enter(2) describes each
// opcode, so that they depend on nothing but the ring.

func newRing(t *testing.T) *ring.Ring {
	t.Helper()
	r, err := ring.New(16)
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// newBufRing creates a buffer ring or skips when the kernel lacks what
// opts ask for.
func newBufRing(t *testing.T, r *ring.Ring, group uint16, entries, size int, opts ...Option) *Ring {
	t.Helper()
	b, err := New(r, group, entries, size, opts...)
	if err != nil {
		var c config
		for _, o := range opts {
			o(&c)
		}
		if errors.Is(err, unix.EINVAL) && c.flags != 0 {
			// The kernel allocates the ring (Linux 6.4); incremental
			// consumption came with Linux 6.12.
			feature := "pbuf_ring_mmap"
			if c.flags&uapi.IouPBufRingInc != 0 {
				feature = "pbuf_ring_inc"
			}
			t.Skipf("needs %s: %v", feature, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// selectRecv queues a recv (or a read) that picks a buffer from
// group.
func selectRecv(t *testing.T, r *ring.Ring, op uapi.Op, fd int, group uint16, ud uint64, how uapi.RecvSendFlags) {
	t.Helper()
	s := r.SQE()
	if s == nil {
		t.Fatal("SQ full")
	}
	s.Opcode = op
	s.FD = int32(fd)
	s.Flags = uapi.SQEBufferSelect
	s.SetBufGroup(group)
	if op == uapi.OpRead {
		s.Off = ^uint64(0) // current file position: streams have none
	}
	s.Ioprio = uint16(how)
	s.UserData = ud
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
}

func wait(t *testing.T, r *ring.Ring) uapi.CQE {
	t.Helper()
	c, err := r.WaitCQE()
	if err != nil {
		t.Fatal(err)
	}
	v := *c
	r.CQESeen(c)
	return v
}

// socketpair returns a Unix stream socket pair. The tests read sockets,
// never pipes: Linux 6.1 hands pipe reads to io-wq workers, and a worker
// whose creation Go's preemption signals keep interrupting is never
// created, its queued reads cancelled (-ECANCELED). A socket read
// completes inline or through poll on every kernel.
func socketpair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// tcpPair returns the two ends of a TCP connection over 127.0.0.1.
func tcpPair(t *testing.T) (a, b int) {
	t.Helper()
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(l, lo); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(l)
	if err != nil {
		t.Fatal(err)
	}
	b, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(b, sa); err != nil {
		t.Fatal(err)
	}
	a, _, err = unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(a); unix.Close(b) })
	return a, b
}

func TestReadSelectsBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"user", nil}, {"kernel", []Option{KernelMemory()}}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t)
			b := newBufRing(t, r, 7, 8, 32, tc.opts...)
			rd, wr := socketpair(t)
			seen := map[uint16]bool{}
			// 20 reads through 8 buffers: returned buffers are reused.
			for i := range 20 {
				msg := bytes.Repeat([]byte{byte('a' + i)}, 1+i)
				if _, err := unix.Write(wr, msg); err != nil {
					t.Fatal(err)
				}
				selectRecv(t, r, uapi.OpRead, rd, 7, uint64(i), 0)
				c := wait(t, r)
				if c.Res != int32(len(msg)) {
					t.Fatalf("read %d: res %d, want %d", i, c.Res, len(msg))
				}
				data, bid, done, err := b.Data(&c)
				if err != nil || !done {
					t.Fatalf("read %d: Data: done %v err %v", i, done, err)
				}
				if !bytes.Equal(data, msg) {
					t.Fatalf("read %d: got %q, want %q", i, data, msg)
				}
				if b.Held() != 1 {
					t.Fatalf("held %d, want 1", b.Held())
				}
				seen[bid] = true
				b.Return(bid)
			}
			if len(seen) != 8 {
				t.Errorf("kernel used %d distinct buffers of 8", len(seen))
			}
			// The kernel's head agrees: 20 buffers consumed.
			h, err := b.Head()
			if errors.Is(err, unix.EINVAL) {
				t.Skipf("needs pbuf_status: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != 20 {
				t.Errorf("kernel head %d, want 20", h)
			}
		})
	}
}

func TestExhaustion(t *testing.T) {
	r := newRing(t)
	b := newBufRing(t, r, 1, 4, 16, Buffers(2))
	rd, wr := socketpair(t)
	var held []uint16
	for i := range 3 {
		if _, err := unix.Write(wr, []byte("xyz")); err != nil {
			t.Fatal(err)
		}
		selectRecv(t, r, uapi.OpRead, rd, 1, uint64(i), 0)
		c := wait(t, r)
		if i < 2 {
			_, bid, _, err := b.Data(&c)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, bid)
			continue
		}
		if !Dry(&c) {
			t.Fatalf("third read on two buffers: res %d flags %v, want -ENOBUFS", c.Res, c.Flags)
		}
		if _, _, _, err := b.Data(&c); !errors.Is(err, ErrNoBuffer) {
			t.Fatalf("Data on a dry CQE: %v", err)
		}
	}
	if b.Available() != 0 || b.Held() != 2 {
		t.Fatalf("available %d held %d", b.Available(), b.Held())
	}
	// Re-arm after returning a buffer: the pending "xyz" arrives.
	b.Return(held[0])
	selectRecv(t, r, uapi.OpRead, rd, 1, 9, 0)
	c := wait(t, r)
	data, _, _, err := b.Data(&c)
	if err != nil || string(data) != "xyz" {
		t.Fatalf("after re-arm: %q, %v", data, err)
	}
}

func TestIncremental(t *testing.T) {
	r := newRing(t)
	b := newBufRing(t, r, 2, 2, 64, Incremental())
	a, peer := socketpair(t)
	var got []byte
	var firstBid uint16
	for i, chunk := range []string{"0123456789", "abcdefghij", "KLMNOPQRST"} {
		if _, err := unix.Write(peer, []byte(chunk)); err != nil {
			t.Fatal(err)
		}
		selectRecv(t, r, uapi.OpRecv, a, 2, uint64(i), 0)
		c := wait(t, r)
		if c.Res != int32(len(chunk)) {
			t.Fatalf("recv %d: res %d", i, c.Res)
		}
		if c.Flags&uapi.CQEFBufMore == 0 {
			t.Skipf("needs pbuf_ring_inc: short receive into a 64-byte buffer did not set IORING_CQE_F_BUF_MORE (flags %v)", c.Flags)
		}
		data, bid, done, err := b.Data(&c)
		if err != nil || done {
			t.Fatalf("recv %d: done %v err %v", i, done, err)
		}
		if i == 0 {
			firstBid = bid
		} else if bid != firstBid {
			t.Fatalf("recv %d used buffer %d, want the partly used %d", i, bid, firstBid)
		}
		// The kernel wrote the chunk right after the previous one.
		if &data[0] != &b.Buf(bid)[i*10] {
			t.Fatalf("recv %d: data at wrong offset", i)
		}
		got = append(got, data...)
	}
	if string(got) != "0123456789abcdefghijKLMNOPQRST" {
		t.Fatalf("got %q", got)
	}
	// 34 more bytes fill the buffer exactly: its last completion.
	rest := bytes.Repeat([]byte{'z'}, 34)
	if _, err := unix.Write(peer, rest); err != nil {
		t.Fatal(err)
	}
	selectRecv(t, r, uapi.OpRecv, a, 2, 5, 0)
	c := wait(t, r)
	data, bid, done, err := b.Data(&c)
	if err != nil || !done || bid != firstBid || !bytes.Equal(data, rest) {
		t.Fatalf("final piece: %q bid %d done %v err %v flags %v", data, bid, done, err, c.Flags)
	}
	if !bytes.Equal(b.Buf(bid)[:30], got) {
		t.Fatalf("buffer holds %q", b.Buf(bid)[:30])
	}
	b.Return(bid)
}

func TestBundle(t *testing.T) {
	r := newRing(t)
	if r.Features()&uapi.FeatRecvsendBundle == 0 {
		t.Skipf("needs recvsend_bundle: IORING_FEAT_RECVSEND_BUNDLE not in features %v", r.Features())
	}
	b := newBufRing(t, r, 3, 8, 16)
	// TCP over loopback: the kernel knows how much is queued (msg_inq),
	// which older kernels need before they fill several buffers.
	a, peer := tcpPair(t)
	// Rotate the ring first so the bundle wraps the ring (slots 5..).
	for i := range 5 {
		if _, err := unix.Write(peer, []byte("p")); err != nil {
			t.Fatal(err)
		}
		selectRecv(t, r, uapi.OpRecv, a, 3, uint64(i), 0)
		c := wait(t, r)
		_, bid, _, err := b.Data(&c)
		if err != nil {
			t.Fatal(err)
		}
		b.Return(bid)
	}
	msg := make([]byte, 16*5+3)
	for i := range msg {
		msg[i] = byte(i)
	}
	if _, err := unix.Write(peer, msg); err != nil {
		t.Fatal(err)
	}
	// A multishot bundle recv: kernels before 6.13 fill one buffer on the
	// first try (they learn how much is queued from it), more after.
	selectRecv(t, r, uapi.OpRecv, a, 3, 100, uapi.RecvsendBundle|uapi.RecvMultishot)
	var got []byte
	var bids []uint16
	most := 0
	for len(got) < len(msg) {
		c := wait(t, r)
		if c.Res <= 0 || c.Flags&uapi.CQEFMore == 0 {
			t.Fatalf("bundle recv after %d bytes: res %d flags %v", len(got), c.Res, c.Flags)
		}
		n := 0
		err := b.Bundle(&c, func(data []byte, bid uint16, done bool) {
			if !done {
				t.Errorf("buffer %d not done on a plain ring", bid)
			}
			got = append(got, data...)
			bids = append(bids, bid)
			n++
		})
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, n)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("bundle bytes differ: got %d bytes", len(got))
	}
	if most < 2 {
		t.Fatalf("no completion spanned more than one buffer (buffers %v)", bids)
	}
	if b.Held() != len(bids) {
		t.Fatalf("held %d, bundles had %d buffers", b.Held(), len(bids))
	}
	t.Logf("%d bytes in buffers %v, at most %d per completion", len(got), bids, most)
	for _, bid := range bids {
		b.Put(bid)
	}
	b.Advance()
	// End the multishot request: cancel it and see its last completion.
	s := r.SQE()
	s.PrepCancel64(100, 0)
	s.UserData = 101
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c := wait(t, r)
		if c.UserData == 100 && (c.Res != -int32(unix.ECANCELED) || c.Flags&uapi.CQEFMore != 0) {
			t.Fatalf("cancelled bundle recv ended with res %d flags %v", c.Res, c.Flags)
		}
	}
}

func TestBadArguments(t *testing.T) {
	r := newRing(t)
	for _, n := range []int{0, 3, 1 << 16} {
		if _, err := New(r, 1, n, 64); !errors.Is(err, unix.EINVAL) {
			t.Errorf("New(%d entries): %v, want EINVAL", n, err)
		}
	}
	b := newBufRing(t, r, 4, 4, 64)
	// The same group twice: the kernel refuses.
	if _, err := New(r, 4, 4, 64); !errors.Is(err, unix.EEXIST) {
		t.Errorf("second registration of group 4: %v, want EEXIST", err)
	}
	_ = b
	if unsafe.Sizeof(uapi.Buf{}) != uapi.SizeofBuf {
		t.Fatal("descriptor size")
	}
}

// TestIncrementalBundle receives with a bundle into an incremental ring:
// whole buffers are handed back, the last one may stay with the kernel
// (IORING_CQE_F_BUF_MORE) and fill further from where it stopped.
func TestIncrementalBundle(t *testing.T) {
	r := newRing(t)
	if r.Features()&uapi.FeatRecvsendBundle == 0 {
		t.Skipf("needs recvsend_bundle: IORING_FEAT_RECVSEND_BUNDLE not in %v", r.Features())
	}
	b := newBufRing(t, r, 9, 4, 32, Incremental())
	a, peer := tcpPair(t)
	var got []byte
	partial := false
	for i, n := range []int{40, 10, 30} { // 40: one buffer and a piece; 10, 30: more pieces
		msg := make([]byte, n)
		for j := range msg {
			msg[j] = byte(len(got) + j)
		}
		if _, err := unix.Write(peer, msg); err != nil {
			t.Fatal(err)
		}
		want := append(slices.Clone(got), msg...)
		for len(got) < len(want) {
			selectRecv(t, r, uapi.OpRecv, a, 9, uint64(i), uapi.RecvsendBundle)
			c := wait(t, r)
			if c.Res <= 0 {
				t.Fatalf("recv %d: res %d", i, c.Res)
			}
			var walk []string
			err := b.Bundle(&c, func(d []byte, bid uint16, done bool) {
				got = append(got, d...)
				walk = append(walk, fmt.Sprintf("%d:%dB done=%v", bid, len(d), done))
				if done {
					b.Return(bid)
				} else {
					partial = true
				}
			})
			t.Logf("write %d: completion of %d bytes: %v", i, c.Res, walk)
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("after %d bytes: got % x", len(want), got)
		}
	}
	if !partial {
		t.Error("no buffer was left partly used (IORING_CQE_F_BUF_MORE never set)")
	}
	if b.Held() != 0 {
		t.Errorf("%d buffers held", b.Held())
	}
}
