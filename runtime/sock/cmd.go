package sock

import (
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// The socket uring_cmds (IORING_OP_URING_CMD on a socket, Linux 6.7;
// getsockname/getpeername Linux 6.19). Their results are the ioctl's or
// the option call's return value.

// InQ queues SIOCINQ: the result is the number of unread bytes.
func InQ(r *ring.Ring, ud uint64, fd int) (*uapi.SQE, error) {
	s, err := get(r, "SIOCINQ")
	if err != nil {
		return nil, err
	}
	s.PrepCmdSIOCINQ(int32(fd))
	s.UserData = ud
	return s, nil
}

// OutQ queues SIOCOUTQ: the result is the number of unsent (TCP: unacked)
// bytes.
func OutQ(r *ring.Ring, ud uint64, fd int) (*uapi.SQE, error) {
	s, err := get(r, "SIOCOUTQ")
	if err != nil {
		return nil, err
	}
	s.PrepCmdSIOCOUTQ(int32(fd))
	s.UserData = ud
	return s, nil
}

// Getsockopt queues getsockopt(2) into val; the result is the option's
// length. The kernel accepts level SOL_SOCKET only.
func Getsockopt(r *ring.Ring, ud uint64, fd, level, name int, val []byte) (*uapi.SQE, error) {
	s, err := get(r, "getsockopt")
	if err != nil {
		return nil, err
	}
	s.PrepCmdGetsockopt(int32(fd), int32(level), int32(name), val)
	s.UserData = ud
	r.Keep(ud, val)
	return s, nil
}

// Setsockopt queues setsockopt(2) with val.
func Setsockopt(r *ring.Ring, ud uint64, fd, level, name int, val []byte) (*uapi.SQE, error) {
	s, err := get(r, "setsockopt")
	if err != nil {
		return nil, err
	}
	s.PrepCmdSetsockopt(int32(fd), int32(level), int32(name), val)
	s.UserData = ud
	r.Keep(ud, val)
	return s, nil
}

// Getsockname queues getsockname(2), or getpeername(2) when peer is set,
// storing the address in a (Linux 6.19).
func Getsockname(r *ring.Ring, ud uint64, fd int, a *Addr, peer bool) (*uapi.SQE, error) {
	s, err := get(r, "getsockname")
	if err != nil {
		return nil, err
	}
	a.Len = uint32(unsafe.Sizeof(a.raw))
	var p int32
	if peer {
		p = 1
	}
	s.PrepCmdGetsockname(int32(fd), &a.raw, &a.Len, p)
	s.UserData = ud
	r.Keep(ud, a)
	return s, nil
}
