package sock

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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

// TxTimestamp arms SOCKET_URING_OP_TX_TIMESTAMP (Linux 6.17) on fd: a
// multishot request that posts one completion per transmit timestamp the
// socket's error queue receives (enable them with SO_TIMESTAMPING,
// including SOF_TIMESTAMPING_OPT_TSONLY). It needs a ring with 32-byte
// CQEs (IORING_SETUP_CQE32); ParseTimestamp reads its completions. Cancel
// it to stop.
func TxTimestamp(r *ring.Ring, ud uint64, fd int) (*uapi.SQE, error) {
	s, err := get(r, "tx timestamp")
	if err != nil {
		return nil, err
	}
	s.PrepCmdTXTimestamp(int32(fd))
	s.UserData = ud
	return s, nil
}

// Timestamp is one transmit timestamp of a TxTimestamp request.
type Timestamp struct {
	Key      uint32    // the timestamp key (SOF_TIMESTAMPING_OPT_ID: byte or packet count)
	Type     int       // SCM_TSTAMP_SND, SCM_TSTAMP_SCHED, SCM_TSTAMP_ACK ...
	Hardware bool      // a NIC timestamp (IORING_CQE_F_TSTAMP_HW), else software
	Time     time.Time // the stamp (CLOCK_REALTIME for software stamps)
}

// ParseTimestamp decodes a timestamp completion (res the key, flags the
// type and origin, the CQE's second half a struct io_timespec). Only a
// completion with IORING_CQE_F_MORE carries a timestamp; the final one
// ends the request.
func ParseTimestamp(c *uapi.CQE) (Timestamp, error) {
	if err := ring.ResultError("tx timestamp", c.Res); err != nil {
		return Timestamp{}, err
	}
	if c.Flags&uapi.CQEFMore == 0 {
		return Timestamp{}, fmt.Errorf("sock: tx timestamp: final completion carries no stamp: %w", unix.EINVAL)
	}
	ts := (*uapi.Timespec)(unsafe.Pointer(&c.BigCQE(2)[0]))
	return Timestamp{
		Key:      uint32(c.Res),
		Type:     int(c.Flags >> uapi.TimestampTypeShift),
		Hardware: c.Flags&uapi.CQEFTstampHW != 0,
		Time:     time.Unix(int64(ts.TvSec), int64(ts.TvNsec)),
	}, nil
}
