package sock

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

func newRing(t testing.TB, entries uint32) *ring.Ring {
	t.Helper()
	r, err := ring.New(entries)
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// needOp skips when the kernel does not know op.
func needOp(t testing.TB, r *ring.Ring, op uapi.Op) {
	t.Helper()
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	if !p.Supported(op) {
		t.Skipf("needs opcode %v: the probe does not list it", op)
	}
}

// ringHas reports whether the kernel supports op; where it does not, a
// subtest named after op records the skip (the caller falls back on the
// system call).
func ringHas(t *testing.T, r *ring.Ring, op uapi.Op) bool {
	t.Helper()
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	if p.Supported(op) {
		return true
	}
	t.Run(op.String(), func(t *testing.T) {
		t.Skipf("needs opcode %v: the probe does not list it; done with the system call instead", op)
	})
	return false
}

// bind binds fd to ap through the ring (IORING_OP_BIND, Linux 6.11), or
// with bind(2) where the kernel lacks the opcode.
func (h tr) bind(ud uint64, fd int, ap netip.AddrPort) {
	h.t.Helper()
	t := h.t.(*testing.T)
	if ringHas(t, h.r, uapi.OpBind) {
		h.do(Bind(h.r, ud, fd, AddrFrom(ap)))
		return
	}
	var sa unix.Sockaddr
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	} else {
		sa = &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
}

// cqe is a completion copied out of the ring.
type cqe struct {
	ud    uint64
	res   int32
	flags uapi.CQEFlags
}

func (c cqe) more() bool { return c.flags&uapi.CQEFMore != 0 }

// next waits (at most 10 s) for the next completion.
func next(t testing.TB, r *ring.Ring) cqe {
	t.Helper()
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	c, err := r.WaitCQETimeout(10 * time.Second)
	if err != nil {
		t.Fatalf("waiting for a completion: %v", err)
	}
	v := cqe{c.UserData, c.Res, c.Flags}
	r.CQESeen(c)
	return v
}

// tr runs requests on a ring for a test.
type tr struct {
	t testing.TB
	r *ring.Ring
}

// do submits the request just queued and returns its single completion's
// result, failing the test on an error.
func (h tr) do(s *uapi.SQE, err error) int {
	h.t.Helper()
	n, err := h.try(s, err)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// try is do returning the error instead of failing.
func (h tr) try(s *uapi.SQE, err error) (int, error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	op := s.Opcode
	c := next(h.t, h.r)
	if c.res < 0 {
		return 0, fmt.Errorf("%v: %w", op, unix.Errno(-c.res))
	}
	return int(c.res), nil
}

type family struct {
	name   string
	domain int
	lo     netip.Addr
}

var families = []family{
	{"ipv4", unix.AF_INET, netip.MustParseAddr("127.0.0.1")},
	{"ipv6", unix.AF_INET6, netip.IPv6Loopback()},
}

// needFamily skips IPv6 where the loopback has no ::1 (the qemu VM).
func needFamily(t testing.TB, f family) {
	t.Helper()
	if f.domain != unix.AF_INET6 {
		return
	}
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("needs ipv6: cannot listen on [::1]: %v", err)
	}
	l.Close()
}

// tcpListener makes a listening socket with plain system calls (the outside
// truth for the ring's operations) and returns it with its address.
func tcpListener(t testing.TB, f family) (int, netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(f.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var sa unix.Sockaddr
	if f.domain == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Addr: f.lo.As16()}
	} else {
		sa = &unix.SockaddrInet4{Addr: f.lo.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		t.Fatal(err)
	}
	return fd, sockname(t, fd)
}

func sockname(t testing.TB, fd int) netip.AddrPort {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fromSockaddr(sa)
}

func peername(t testing.TB, fd int) netip.AddrPort {
	t.Helper()
	sa, err := unix.Getpeername(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fromSockaddr(sa)
}

func fromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// dial connects with Go's net package and returns the conn's raw fd
// (owned by the conn).
func dial(t testing.TB, ap netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
