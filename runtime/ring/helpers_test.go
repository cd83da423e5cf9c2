package ring

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// These tests set SQE fields directly, following io_uring_enter(2) for each
// opcode. (The generated PrepX builders are tested on their own.)

// result is a CQE copied out of the ring.
type result struct {
	ud    uint64
	res   int32
	flags uapi.CQEFlags
}

// sqe takes an SQE or fails the test. On SQPOLL rings the poll thread may
// post a batch's completions before it moves the SQ head past the batch, so
// a full-looking queue is waited out (WaitSQSpace) as the API says.
func sqe(t testing.TB, r *Ring) *uapi.SQE {
	t.Helper()
	s := r.SQE()
	if s == nil {
		if err := r.WaitSQSpace(); err != nil {
			t.Fatal(err)
		}
		s = r.SQE()
	}
	if s == nil {
		t.Fatal("SQ full")
	}
	return s
}

// rw fills the fields every read/write-style opcode shares.
func rw(s *uapi.SQE, op uapi.Op, fd int, addr unsafe.Pointer, n uint32, off uint64, ud uint64) {
	s.Opcode = op
	s.FD = int32(fd)
	s.Addr = uint64(uintptr(addr))
	s.Len = n
	s.Off = off
	s.UserData = ud
}

// reap waits for n completions and returns copies of them, in ring order.
// A completion that never comes fails the test after 30 s, not at the
// binary's timeout.
func reap(t testing.TB, r *Ring, n int) []result {
	t.Helper()
	out := make([]result, 0, n)
	for len(out) < n {
		c, err := r.WaitCQETimeout(30 * time.Second)
		if err != nil {
			t.Fatalf("WaitCQE after %d of %d: %v", len(out), n, err)
		}
		out = append(out, result{c.UserData, c.Res, c.Flags})
		r.CQESeen(c)
	}
	return out
}

// submitReap submits everything queued and reaps n completions, by user data.
func submitReap(t testing.TB, r *Ring, n int) map[uint64]result {
	t.Helper()
	if _, err := r.Submit(); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	m := map[uint64]result{}
	for _, c := range reap(t, r, n) {
		if _, dup := m[c.ud]; dup {
			t.Fatalf("user data %d completed twice", c.ud)
		}
		m[c.ud] = c
	}
	return m
}

func ptr[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

func cstr(s string) *byte {
	b := append([]byte(s), 0)
	return &b[0]
}

func probeOf(t testing.TB, r *Ring) *Probe {
	t.Helper()
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runtimeLock()   { runtime.LockOSThread() }
func runtimeUnlock() { runtime.UnlockOSThread() }

// kernelBefore reports whether the running kernel's release is older than
// major.minor, for behaviour that changed between releases without a
// feature to detect it by.
func kernelBefore(t testing.TB, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var gotMajor, gotMinor int
	release := unix.ByteSliceToString(u.Release[:])
	if _, err := fmt.Sscanf(release, "%d.%d", &gotMajor, &gotMinor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	return gotMajor < major || gotMajor == major && gotMinor < minor
}
