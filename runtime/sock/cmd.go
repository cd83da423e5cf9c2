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
	s, err := get(r, "SIOCINQ", ud)
	if err != nil {
		return nil, err
	}
	prepCmdSock(s, uapi.SocketUringOpSIOCINQ, fd, 0, 0, 0, 0)
	return s, nil
}

// OutQ queues SIOCOUTQ: the result is the number of unsent (TCP: unacked)
// bytes.
func OutQ(r *ring.Ring, ud uint64, fd int) (*uapi.SQE, error) {
	s, err := get(r, "SIOCOUTQ", ud)
	if err != nil {
		return nil, err
	}
	prepCmdSock(s, uapi.SocketUringOpSIOCOUTQ, fd, 0, 0, 0, 0)
	return s, nil
}

// Getsockopt queues getsockopt(2) into val; the result is the option's
// length. The kernel accepts level SOL_SOCKET only.
func Getsockopt(r *ring.Ring, ud uint64, fd, level, name int, val []byte) (*uapi.SQE, error) {
	s, err := get(r, "getsockopt", ud)
	if err != nil {
		return nil, err
	}
	prepCmdSock(s, uapi.SocketUringOpGetsockopt, fd, level, name, bytesAddr(val), uint32(len(val)))
	r.Keep(ud, val)
	return s, nil
}

// Setsockopt queues setsockopt(2) with val.
func Setsockopt(r *ring.Ring, ud uint64, fd, level, name int, val []byte) (*uapi.SQE, error) {
	s, err := get(r, "setsockopt", ud)
	if err != nil {
		return nil, err
	}
	prepCmdSock(s, uapi.SocketUringOpSetsockopt, fd, level, name, bytesAddr(val), uint32(len(val)))
	r.Keep(ud, val)
	return s, nil
}

// Getsockname queues getsockname(2), or getpeername(2) when peer is set,
// storing the address in a (Linux 6.19).
func Getsockname(r *ring.Ring, ud uint64, fd int, a *Addr, peer bool) (*uapi.SQE, error) {
	s, err := get(r, "getsockname", ud)
	if err != nil {
		return nil, err
	}
	a.Len = uint32(unsafe.Sizeof(a.raw))
	var p uint32
	if peer {
		p = 1
	}
	prepCmdSock(s, uapi.SocketUringOpGetsockname, fd, 0, 0, 0, p)
	s.Addr = a.ptr()
	s.Addr3 = uint64(uintptr(unsafe.Pointer(&a.Len)))
	r.Keep(ud, a)
	return s, nil
}
