package ring_test

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// Helpers of the registration tests (package ring_test, so they only use the
// exported API).

type cqe struct {
	ud    uint64
	res   int32
	flags uapi.CQEFlags
}

func newRing(t testing.TB, opts ...ring.Option) *ring.Ring {
	t.Helper()
	r, err := ring.New(8, opts...)
	if err != nil {
		t.Fatalf("ring.New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// run queues one SQE prepared by prep with user data ud, submits, and waits
// for that completion; other completions seen meanwhile are returned too.
func run(t testing.TB, r *ring.Ring, ud uint64, prep func(*uapi.SQE)) (int32, []cqe) {
	t.Helper()
	s := r.SQE()
	if s == nil {
		t.Fatal("SQ full")
	}
	prep(s)
	s.UserData = ud
	if _, err := r.Submit(); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	var others []cqe
	for {
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatalf("WaitCQE: %v", err)
		}
		got := cqe{c.UserData, c.Res, c.Flags}
		r.CQESeen(c)
		if got.ud == ud {
			return got.res, others
		}
		others = append(others, got)
	}
}

// reapAll returns the completions already posted.
func reapAll(r *ring.Ring) []cqe {
	var out []cqe
	for {
		c, ok := r.PeekCQE()
		if !ok {
			return out
		}
		out = append(out, cqe{c.UserData, c.Res, c.Flags})
		r.CQESeen(c)
	}
}

// reapTag returns the completions posted besides those already seen, and
// waits up to 2 s for the one with user data tag if none of them has it:
// the kernel posts a resource tag once nothing uses the resource, which
// Linux 6.1 finds from a workqueue, some time after the replacement.
func reapTag(t testing.TB, r *ring.Ring, seen []cqe, tag uint64) []cqe {
	t.Helper()
	out := reapAll(r)
	for _, c := range append(seen, out...) {
		if c.ud == tag {
			return out
		}
	}
	c, err := r.WaitCQETimeout(2 * time.Second)
	if err != nil {
		return out
	}
	out = append(out, cqe{c.UserData, c.Res, c.Flags})
	r.CQESeen(c)
	return append(out, reapAll(r)...)
}

func nop(s *uapi.SQE) { s.Opcode = uapi.OpNop }

// socketpair returns the two ends of a Unix stream socket pair, the
// descriptors the tests read and write through the ring. Not a pipe: Linux
// 6.1 hands pipe I/O to io-wq workers, and a worker whose creation Go's
// preemption signals keep interrupting is never created, its queued
// requests cancelled (-ECANCELED). A socket's I/O completes inline or
// through poll on every kernel.
func socketpair(t testing.TB) (rd, wr int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// writeFixedFile writes data through a registered file slot.
func writeFixedFile(slot int32, data []byte) func(*uapi.SQE) {
	return func(s *uapi.SQE) {
		s.Opcode = uapi.OpWrite
		s.Flags = uapi.SQEFixedFile
		s.FD = slot
		s.Addr = uint64(uintptr(unsafe.Pointer(&data[0])))
		s.Len = uint32(len(data))
		s.Off = ^uint64(0) // current position (streams have none)
	}
}

// writeFixedBuf writes n bytes from registered buffer idx, starting at addr
// inside it, to fd.
func writeFixedBuf(fd int, idx uint16, addr *byte, n int) func(*uapi.SQE) {
	return func(s *uapi.SQE) {
		s.Opcode = uapi.OpWriteFixed
		s.FD = int32(fd)
		s.Addr = uint64(uintptr(unsafe.Pointer(addr)))
		s.Len = uint32(n)
		s.Off = ^uint64(0)
		s.BufIndex = idx
	}
}

func readAll(t testing.TB, fd, n int) string {
	t.Helper()
	buf := make([]byte, n)
	got := 0
	for got < n {
		m, err := unix.Read(fd, buf[got:])
		if err != nil || m == 0 {
			t.Fatalf("read %d of %d: %v", got, n, err)
		}
		got += m
	}
	return string(buf)
}

func errno(res int32) unix.Errno { return unix.Errno(-res) }
