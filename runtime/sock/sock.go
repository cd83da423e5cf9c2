/*
Package sock runs socket operations through an io_uring ring: socket,
bind, listen, accept, connect, receive and send in their single, multishot,
bundle, vectored and zero-copy forms, shutdown, cancellation, and the socket
uring_cmds (getsockopt, setsockopt, getsockname/getpeername, SIOCINQ,
SIOCOUTQ, transmit timestamps). It is named sock,
not net, so it never shadows the standard library in user code.

Every function queues one SQE on the ring and returns it, so the caller can
add flags (IOSQE_FIXED_FILE when fd is a direct descriptor, IOSQE_IO_LINK,
IOSQE_CQE_SKIP_SUCCESS ...) before submitting; the completion arrives with
the user data given. ring.Result turns a CQE into (n, error).

	sqe, err := sock.Accept(r, 1, lfd, nil, unix.SOCK_CLOEXEC)
	r.Submit()
	cqe, _ := r.WaitCQE()
	fd, err := ring.Result("accept", cqe)
	r.CQESeen(cqe)

# Memory

Go memory a request points to (addresses, message headers, iovecs, option
values, buffers) is kept reachable with ring.Keep under the request's user
data until its final completion (the one without IORING_CQE_F_MORE; for
zero-copy sends, the notification). User data must therefore be unique
among in-flight requests of a ring. SendMapped is the exception: it takes
memory outside the Go heap (a provided buffer ring, an mmap) and keeps
nothing.

# Errors

A function fails only when the submission queue is full (the error wraps
unix.EBUSY; submit and retry) or an argument is invalid (unix.EINVAL).
ring.Result wraps the errno of a failed completion, naming the operation:
errors.Is(err, unix.ECONNRESET) works.
*/
package sock

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// get takes an SQE for op, unzeroed: the generated builders write all of it, so the
// callers set UserData after them.
func get(r *ring.Ring, op string) (*uapi.SQE, error) {
	s := r.NextSQE() // every caller fills it through a generated builder
	if s == nil {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("sock: %s: %w", op, err)
		}
		return nil, fmt.Errorf("sock: %s: submission queue full: %w", op, unix.EBUSY)
	}
	return s, nil
}

// acceptAddr returns the address arguments of an accept: a's storage and
// length, kept for the request, or nils.
func acceptAddr(r *ring.Ring, ud uint64, a *Addr) (*unix.RawSockaddrAny, *uint32) {
	if a == nil {
		return nil, nil
	}
	a.Len = unix.SizeofSockaddrAny
	r.Keep(ud, a)
	return &a.raw, &a.Len
}

// Socket queues socket(2); the result is the new descriptor.
func Socket(r *ring.Ring, ud uint64, domain, typ, proto int) (*uapi.SQE, error) {
	s, err := get(r, "socket")
	if err != nil {
		return nil, err
	}
	s.PrepSocket(int32(domain), int32(typ), int32(proto), 0)
	s.UserData = ud
	return s, nil
}

// SocketDirect queues socket(2) creating a direct descriptor in slot of
// the ring's registered file table (uapi.FileIndexAlloc: the kernel picks
// a free slot and returns it as the result). Linux 5.19.
func SocketDirect(r *ring.Ring, ud uint64, domain, typ, proto int, slot uint32) (*uapi.SQE, error) {
	s, err := get(r, "socket")
	if err != nil {
		return nil, err
	}
	s.PrepSocketDirect(int32(domain), int32(typ), int32(proto), slot, 0)
	s.UserData = ud
	return s, nil
}

// Bind queues bind(2) (Linux 6.11).
func Bind(r *ring.Ring, ud uint64, fd int, a *Addr) (*uapi.SQE, error) {
	s, err := get(r, "bind")
	if err != nil {
		return nil, err
	}
	s.PrepBind(int32(fd), &a.raw, a.Len)
	s.UserData = ud
	r.Keep(ud, a)
	return s, nil
}

// Listen queues listen(2) (Linux 6.11).
func Listen(r *ring.Ring, ud uint64, fd, backlog int) (*uapi.SQE, error) {
	s, err := get(r, "listen")
	if err != nil {
		return nil, err
	}
	s.PrepListen(int32(fd), int32(backlog))
	s.UserData = ud
	return s, nil
}

// Accept queues accept4(2) with SOCK_* flags; the peer's address goes to a
// (nil: not wanted). The result is the new descriptor.
func Accept(r *ring.Ring, ud uint64, fd int, a *Addr, flags int) (*uapi.SQE, error) {
	s, err := get(r, "accept")
	if err != nil {
		return nil, err
	}
	sa, alen := acceptAddr(r, ud, a)
	s.PrepAccept(int32(fd), sa, alen, int32(flags))
	s.UserData = ud
	return s, nil
}

// AcceptMultishot queues a multishot accept (Linux 5.19): one completion
// per connection, with IORING_CQE_F_MORE while the request stays armed.
func AcceptMultishot(r *ring.Ring, ud uint64, fd int, flags int) (*uapi.SQE, error) {
	s, err := get(r, "accept")
	if err != nil {
		return nil, err
	}
	s.PrepMultishotAccept(int32(fd), nil, nil, int32(flags))
	s.UserData = ud
	return s, nil
}

// AcceptDirect queues an accept whose descriptor goes to slot of the
// registered file table (uapi.FileIndexAlloc: any free slot, returned as
// the result).
func AcceptDirect(r *ring.Ring, ud uint64, fd int, a *Addr, flags int, slot uint32) (*uapi.SQE, error) {
	s, err := get(r, "accept")
	if err != nil {
		return nil, err
	}
	sa, alen := acceptAddr(r, ud, a)
	s.PrepAcceptDirect(int32(fd), sa, alen, int32(flags), slot)
	s.UserData = ud
	return s, nil
}

// AcceptMultishotDirect is a multishot accept into freely allocated slots
// of the registered file table; each result is a slot.
func AcceptMultishotDirect(r *ring.Ring, ud uint64, fd int, flags int) (*uapi.SQE, error) {
	s, err := get(r, "accept")
	if err != nil {
		return nil, err
	}
	s.PrepMultishotAcceptDirect(int32(fd), nil, nil, int32(flags))
	s.UserData = ud
	return s, nil
}

// Connect queues connect(2).
func Connect(r *ring.Ring, ud uint64, fd int, a *Addr) (*uapi.SQE, error) {
	s, err := get(r, "connect")
	if err != nil {
		return nil, err
	}
	s.PrepConnect(int32(fd), &a.raw, a.Len)
	s.UserData = ud
	r.Keep(ud, a)
	return s, nil
}

// Recv queues recv(2) into buf with MSG_* flags.
func Recv(r *ring.Ring, ud uint64, fd int, buf []byte, flags int) (*uapi.SQE, error) {
	s, err := get(r, "recv")
	if err != nil {
		return nil, err
	}
	s.PrepRecv(int32(fd), buf, int32(flags))
	s.UserData = ud
	if len(buf) > 0 {
		r.Keep(ud, buf)
	}
	return s, nil
}

// RecvSelect queues a recv that picks its buffer from a provided buffer
// group (IOSQE_BUFFER_SELECT). how adds IORING_RECV_MULTISHOT (one
// completion per arrival while armed, Linux 6.0), IORING_RECVSEND_BUNDLE
// (several buffers per completion, Linux 6.10) and
// IORING_RECVSEND_POLL_FIRST. Completions carry IORING_CQE_F_BUFFER; see
// package bufring.
func RecvSelect(r *ring.Ring, ud uint64, fd int, group uint16, flags int, how uapi.RecvSendFlags) (*uapi.SQE, error) {
	s, err := get(r, "recv")
	if err != nil {
		return nil, err
	}
	s.PrepRecv(int32(fd), nil, int32(flags))
	s.Flags |= uapi.SQEBufferSelect
	s.SetBufGroup(group)
	s.Ioprio = uint16(how)
	s.UserData = ud
	return s, nil
}

// Send queues send(2) of buf with MSG_* flags.
func Send(r *ring.Ring, ud uint64, fd int, buf []byte, flags int) (*uapi.SQE, error) {
	s, err := SendMapped(r, ud, fd, unsafe.Pointer(unsafe.SliceData(buf)), len(buf), flags)
	if err != nil {
		return nil, err
	}
	if len(buf) > 0 {
		r.Keep(ud, buf)
	}
	return s, nil
}

// SendMapped queues send(2) of n bytes at p, memory outside the Go heap
// (a provided buffer, an mmap) that the caller keeps mapped until the
// completion. It keeps nothing, so it costs no map operation.
func SendMapped(r *ring.Ring, ud uint64, fd int, p unsafe.Pointer, n int, flags int) (*uapi.SQE, error) {
	s, err := get(r, "send")
	if err != nil {
		return nil, err
	}
	s.PrepSend(int32(fd), unsafe.Slice((*byte)(p), n), int32(flags))
	s.UserData = ud
	return s, nil
}

// SendBundle queues a send of the buffers queued in a provided buffer
// group (IOSQE_BUFFER_SELECT with IORING_RECVSEND_BUNDLE, Linux 6.10): as
// many as are ready go out in one request; the completion names the first
// buffer and the bytes sent.
func SendBundle(r *ring.Ring, ud uint64, fd int, group uint16, flags int) (*uapi.SQE, error) {
	s, err := get(r, "send")
	if err != nil {
		return nil, err
	}
	s.PrepSendBundle(int32(fd), 0, int32(flags))
	s.Flags |= uapi.SQEBufferSelect
	s.SetBufGroup(group)
	s.UserData = ud
	return s, nil
}

// iovecs builds the iovec array for bufs.
func iovecs(bufs [][]byte) []unix.Iovec {
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) > 0 {
			iov[i].Base = unsafe.SliceData(b)
			iov[i].SetLen(len(b))
		}
	}
	return iov
}

// SendVectorized queues a send of several buffers in one request
// (IORING_SEND_VECTORIZED, Linux 6.17): a writev on a socket without a
// msghdr.
func SendVectorized(r *ring.Ring, ud uint64, fd int, bufs [][]byte, flags int) (*uapi.SQE, error) {
	if len(bufs) == 0 {
		return nil, fmt.Errorf("sock: send vectorized: no buffers: %w", unix.EINVAL)
	}
	s, err := get(r, "send")
	if err != nil {
		return nil, err
	}
	iov := iovecs(bufs)
	// No builder takes iovecs for IORING_OP_SEND: addr and len are the
	// iovec array and its length instead of a buffer.
	s.PrepSend(int32(fd), nil, int32(flags))
	s.Addr = uint64(uintptr(unsafe.Pointer(&iov[0])))
	s.Len = uint32(len(iov))
	s.Ioprio = uint16(uapi.SendVectorized)
	s.UserData = ud
	r.Keep(ud, iov)
	r.Keep(ud, bufs)
	return s, nil
}

// SendZC queues a zero-copy send (Linux 6.0). It completes twice: first
// with the bytes sent and IORING_CQE_F_MORE, then with a notification
// (IORING_CQE_F_NOTIF) once the kernel no longer reads buf, which stays
// kept until then. zc may hold IORING_SEND_ZC_REPORT_USAGE (the
// notification's result then says whether data was copied, see
// ZCCopied).
func SendZC(r *ring.Ring, ud uint64, fd int, buf []byte, flags int, zc uapi.RecvSendFlags) (*uapi.SQE, error) {
	s, err := get(r, "send_zc")
	if err != nil {
		return nil, err
	}
	s.PrepSendZC(int32(fd), buf, int32(flags), zc)
	s.UserData = ud
	if len(buf) > 0 {
		r.Keep(ud, buf)
	}
	return s, nil
}

// SendZCFixed is SendZC from registered buffer index; buf must lie inside
// that registered buffer, which the registration keeps alive.
func SendZCFixed(r *ring.Ring, ud uint64, fd int, buf []byte, index uint16, flags int, zc uapi.RecvSendFlags) (*uapi.SQE, error) {
	s, err := get(r, "send_zc")
	if err != nil {
		return nil, err
	}
	s.PrepSendZCFixed(int32(fd), buf, int32(flags), zc, index)
	s.UserData = ud
	return s, nil
}

// Notif reports whether c is the notification of a zero-copy send.
func Notif(c *uapi.CQE) bool { return c.Flags&uapi.CQEFNotif != 0 }

// ZCCopied reports, for the notification of a zero-copy send with
// IORING_SEND_ZC_REPORT_USAGE, whether the kernel copied the data after
// all (IORING_NOTIF_USAGE_ZC_COPIED), as it does over loopback.
func ZCCopied(c *uapi.CQE) bool { return uint32(c.Res)&uapi.NotifUsageZCCopied != 0 }

// Shutdown queues shutdown(2) with unix.SHUT_RD, SHUT_WR or SHUT_RDWR.
func Shutdown(r *ring.Ring, ud uint64, fd, how int) (*uapi.SQE, error) {
	s, err := get(r, "shutdown")
	if err != nil {
		return nil, err
	}
	s.PrepShutdown(int32(fd), int32(how))
	s.UserData = ud
	return s, nil
}

// Cancel queues IORING_OP_ASYNC_CANCEL of the request with user data
// target (a multishot accept or receive, say). Its result is 0, or
// -ENOENT / -EALREADY; the cancelled request completes with -ECANCELED.
func Cancel(r *ring.Ring, ud uint64, target uint64) (*uapi.SQE, error) {
	s, err := get(r, "cancel")
	if err != nil {
		return nil, err
	}
	s.PrepCancel64(target, 0)
	s.UserData = ud
	return s, nil
}

// CancelFD queues the cancellation of every request on fd
// (IORING_ASYNC_CANCEL_FD|IORING_ASYNC_CANCEL_ALL); the result counts them.
func CancelFD(r *ring.Ring, ud uint64, fd int) (*uapi.SQE, error) {
	s, err := get(r, "cancel")
	if err != nil {
		return nil, err
	}
	s.PrepCancelFD(int32(fd), uapi.AsyncCancelAll)
	s.UserData = ud
	return s, nil
}

// Close queues close(2) of fd.
func Close(r *ring.Ring, ud uint64, fd int) (*uapi.SQE, error) {
	s, err := get(r, "close")
	if err != nil {
		return nil, err
	}
	s.PrepClose(int32(fd))
	s.UserData = ud
	return s, nil
}

// CloseDirect queues the close of direct descriptor slot.
func CloseDirect(r *ring.Ring, ud uint64, slot uint32) (*uapi.SQE, error) {
	s, err := get(r, "close")
	if err != nil {
		return nil, err
	}
	s.PrepCloseDirect(slot)
	s.UserData = ud
	return s, nil
}
