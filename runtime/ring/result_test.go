package ring

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// TestResult: completions from the kernel, a read of a socket and one of a
// descriptor that is not open, turn into a count and into an *OpError that
// names the operation and wraps the kernel's errno.
func TestResult(t *testing.T) {
	r := newRing(t, 4)
	p := socketpair(t)
	if _, err := unix.Write(p[1], []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	sqe(t, r).PrepRead(int32(p[0]), buf, 0)
	s := sqe(t, r)
	s.PrepRead(1<<20, buf, 0) // not an open descriptor
	s.UserData = 2
	if _, err := r.SubmitAndWait(2); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, c := range reap(t, r, 2) {
		seen[c.ud] = true
		n, err := Result("read", &uapi.CQE{UserData: c.ud, Res: c.res, Flags: c.flags})
		switch c.ud {
		case 0:
			if err != nil || n != 5 {
				t.Errorf("read of the socket: %d, %v; want 5, nil", n, err)
			}
		case 2:
			var oe *OpError
			if n != 0 || !errors.Is(err, unix.EBADF) || !errors.As(err, &oe) || oe.Op != "read" ||
				err.Error() != "read: bad file descriptor" {
				t.Errorf("read of a closed fd: %d, %v; want 0 and an *OpError \"read: bad file descriptor\"", n, err)
			}
		}
	}
	if !seen[0] || !seen[2] {
		t.Errorf("completions for user data %v, want 0 and 2", seen)
	}
	if err := ResultError("nop", 0); err != nil {
		t.Errorf("ResultError(0) = %v", err)
	}
}
