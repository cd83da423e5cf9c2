package sock

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// Msg is a message for sendmsg and recvmsg: an optional address, the data
// buffers and ancillary data. It builds the struct msghdr the kernel reads
// and holds it, with its iovecs, for as long as the request is kept.
type Msg struct {
	Name    *Addr    // destination (sendmsg) or source (recvmsg); may be nil
	Buffers [][]byte // data
	Control []byte   // ancillary data (cmsgs)

	hdr unix.Msghdr
	iov []unix.Iovec
}

func (m *Msg) build() *unix.Msghdr {
	m.hdr = unix.Msghdr{}
	if m.Name != nil {
		m.hdr.Name = (*byte)(unsafe.Pointer(&m.Name.raw))
		m.hdr.Namelen = m.Name.Len
	}
	if len(m.Buffers) > 0 {
		m.iov = iovecs(m.Buffers)
		m.hdr.Iov = &m.iov[0]
		m.hdr.SetIovlen(len(m.iov))
	}
	if len(m.Control) > 0 {
		m.hdr.Control = unsafe.SliceData(m.Control)
		m.hdr.SetControllen(len(m.Control))
	}
	return &m.hdr
}

// Flags returns the msg_flags the kernel set on a received message
// (MSG_TRUNC, MSG_CTRUNC ...).
func (m *Msg) Flags() int { return int(m.hdr.Flags) }

// ControlLen returns how many bytes of ancillary data recvmsg stored.
func (m *Msg) ControlLen() int { return int(m.hdr.Controllen) }

// NameLen returns the length of the address recvmsg stored (also set in
// Name.Len).
func (m *Msg) NameLen() int { return int(m.hdr.Namelen) }

func queueMsg(r *ring.Ring, op uapi.Op, name string, ud uint64, fd int, m *Msg, flags int) (*uapi.SQE, error) {
	s, err := get(r, name)
	if err != nil {
		return nil, err
	}
	h := m.build()
	switch op {
	case uapi.OpSendmsg:
		s.PrepSendmsg(int32(fd), h, uint32(flags))
	case uapi.OpSendmsgZC:
		s.PrepSendmsgZC(int32(fd), h, uint32(flags))
	default:
		s.PrepRecvmsg(int32(fd), h, uint32(flags))
	}
	s.UserData = ud
	r.Keep(ud, m)
	return s, nil
}

// Sendmsg queues sendmsg(2).
func Sendmsg(r *ring.Ring, ud uint64, fd int, m *Msg, flags int) (*uapi.SQE, error) {
	return queueMsg(r, uapi.OpSendmsg, "sendmsg", ud, fd, m, flags)
}

// SendmsgZC queues a zero-copy sendmsg (Linux 6.1); it completes like
// SendZC, with a notification last.
func SendmsgZC(r *ring.Ring, ud uint64, fd int, m *Msg, flags int, zc uapi.RecvSendFlags) (*uapi.SQE, error) {
	s, err := queueMsg(r, uapi.OpSendmsgZC, "sendmsg_zc", ud, fd, m, flags)
	if err != nil {
		return nil, err
	}
	s.Ioprio = uint16(zc)
	return s, nil
}

// Recvmsg queues recvmsg(2). The kernel updates the message header at
// completion: then m.Finish copies the address length into m.Name, and
// m.Flags and m.ControlLen report the rest.
func Recvmsg(r *ring.Ring, ud uint64, fd int, m *Msg, flags int) (*uapi.SQE, error) {
	if m.Name != nil {
		m.Name.Len = unix.SizeofSockaddrAny
	}
	return queueMsg(r, uapi.OpRecvmsg, "recvmsg", ud, fd, m, flags)
}

// Finish copies what recvmsg stored in the header into m.Name; call it
// after the completion.
func (m *Msg) Finish() {
	if m.Name != nil {
		m.Name.Len = m.hdr.Namelen
	}
}

// RecvmsgMultishot queues a multishot recvmsg (Linux 6.0) with buffers
// from group. Each completion's buffer starts with struct
// io_uring_recvmsg_out, then nameLen bytes of address and controlLen bytes
// of ancillary data, then the payload: ParseRecvmsg splits it. Only
// nameLen and controlLen of the header matter to the kernel here.
func RecvmsgMultishot(r *ring.Ring, ud uint64, fd int, group uint16, nameLen, controlLen uint32, flags int) (*uapi.SQE, error) {
	s, err := get(r, "recvmsg")
	if err != nil {
		return nil, err
	}
	h := &unix.Msghdr{Namelen: nameLen}
	h.SetControllen(int(controlLen))
	s.PrepRecvmsgMultishot(int32(fd), h, uint32(flags))
	s.Flags |= uapi.SQEBufferSelect
	s.SetBufGroup(group)
	s.UserData = ud
	r.Keep(ud, h)
	return s, nil
}

// RecvmsgOut is one message of a multishot recvmsg, split out of its
// buffer (struct io_uring_recvmsg_out and what follows it).
type RecvmsgOut struct {
	Name    []byte // the source address as the kernel laid it out (see Addr)
	Control []byte // ancillary data stored (at most controlLen bytes)
	Payload []byte // the data stored in this buffer
	// NameLen, ControlLen and PayloadLen are the full sizes; larger than the
	// slices when the buffer or the reserved space cut them short.
	NameLen, ControlLen, PayloadLen int
	Flags                           int // msg_flags (MSG_TRUNC, MSG_CTRUNC ...)
}

// Addr decodes Name.
func (o *RecvmsgOut) Addr() (*Addr, error) {
	a := new(Addr)
	if len(o.Name) > int(unsafe.Sizeof(a.raw)) {
		return nil, fmt.Errorf("sock: recvmsg name of %d bytes: %w", len(o.Name), unix.EINVAL)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&a.raw)), unsafe.Sizeof(a.raw)), o.Name)
	a.Len = uint32(len(o.Name))
	return a, nil
}

// ParseRecvmsg splits the received bytes of a multishot recvmsg
// completion (the first cqe.res bytes of its buffer) given the nameLen and
// controlLen the request reserved.
func ParseRecvmsg(buf []byte, nameLen, controlLen uint32) (RecvmsgOut, error) {
	var o RecvmsgOut
	hdr := uapi.SizeofRecvmsgOut
	// 64-bit sums: on 32-bit GOARCHes int(nameLen) may be negative.
	if uint64(len(buf)) < uint64(hdr)+uint64(nameLen)+uint64(controlLen) {
		return o, fmt.Errorf("sock: recvmsg buffer of %d bytes holds no header (%d+%d+%d): %w", len(buf), hdr, nameLen, controlLen, unix.EINVAL)
	}
	out := (*uapi.RecvmsgOut)(unsafe.Pointer(&buf[0]))
	o.NameLen, o.ControlLen, o.PayloadLen, o.Flags = int(out.Namelen), int(out.Controllen), int(out.Payloadlen), int(out.Flags)
	p := hdr
	o.Name = buf[p : p+int(min(nameLen, out.Namelen))]
	p += int(nameLen)
	o.Control = buf[p : p+int(min(controlLen, out.Controllen))]
	p += int(controlLen)
	o.Payload = buf[p : p+int(min(uint64(len(buf)-p), uint64(out.Payloadlen)))]
	return o, nil
}
