package uring

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/urgen/urgen/generated/uapi"
	"golang.org/x/sys/unix"
)

// ReadFrom writes r's data to the connection, like net.TCPConn.ReadFrom:
// from a regular file (an *os.File or a *File, also inside an
// io.LimitedReader) by sendfile(2), so the bytes go from the page cache to
// the socket without passing through user memory, starting at the file
// position and moving it; from anything else through a buffer. While the
// socket buffer is full it waits, under the write deadline, in Go's
// netpoller as Write does (through the ring in the ring receive modes),
// and Close ends it with net.ErrClosed.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	limit := int64(-1)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		if lr.N <= 0 {
			return 0, nil
		}
		r, limit = lr.R, lr.N
	}
	var (
		n       int64
		handled bool
		err     error
	)
	switch src := r.(type) {
	case *os.File:
		n, handled, err = c.sendFile(src, limit)
	case *File:
		t, berr := src.beginAt("read")
		if berr != nil {
			return 0, berr
		}
		var f *os.File
		if f, err = src.osFile(); err != nil {
			src.endAt(t)
			return 0, c.opError("readfrom", src.pathErr("read", err))
		}
		n, handled, err = c.sendFile(f, limit)
		f.Close()
		src.endAt(t)
	}
	if limited {
		lr.N -= n
	}
	if handled {
		return n, err
	}
	// Through a buffer; onlyWriter keeps io.Copy from calling this again.
	m, err := io.CopyBuffer(onlyWriter{c}, r, make([]byte, 32<<10))
	if limited {
		lr.N -= m
	}
	return n + m, err
}

// sendFile sends up to limit bytes (all, if negative) of f from its file
// position by sendfile(2). It reports false, having sent nothing, when f
// cannot be sent so (no regular file).
func (c *Conn) sendFile(f *os.File, limit int64) (int64, bool, error) {
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return 0, false, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	fs := fileSend{limit: limit}
	cerr := rc.Control(func(src uintptr) {
		fs.src = src
		if c.rrc != nil {
			// The netpoller waits for room and keeps the write deadline,
			// as for Write.
			if err = c.poll(true, fs.send); err != nil {
				err = c.opError("readfrom", err)
			}
			return
		}
		err = c.sendFileRing(&fs)
	})
	switch {
	case err != nil:
	case cerr != nil:
		err = c.opError("readfrom", cerr)
	case fs.errno == 0:
	case fs.sent == 0 && (fs.errno == unix.EINVAL || fs.errno == unix.ENOSYS):
		return 0, false, nil // sendfile does not take this file
	default:
		err = c.opError("readfrom", os.NewSyscallError("sendfile", fs.errno))
	}
	return fs.sent, true, err
}

// fileSend is the state of one ReadFrom's sendfile(2) calls.
type fileSend struct {
	src         uintptr // the file's descriptor
	limit, sent int64   // limit < 0: to the end of the file
	errno       syscall.Errno
}

// send makes sendfile(2) calls to the socket fd until the limit, the end
// of the file or an error (errno), and reports false when the socket
// buffer is full first.
func (fs *fileSend) send(fd uintptr) bool {
	for fs.limit < 0 || fs.sent < fs.limit {
		chunk := int64(4 << 20)
		if fs.limit >= 0 {
			chunk = min(chunk, fs.limit-fs.sent)
		}
		k, _, errno := syscall.Syscall6(unix.SYS_SENDFILE, fd, fs.src, 0, uintptr(chunk), 0, 0)
		switch errno {
		case 0:
			if k == 0 {
				return true // the end of the file
			}
			fs.sent += int64(k)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			fs.errno = errno
			return true
		}
	}
	return true
}

// sendFileRing sends fs in the ring receive modes, waiting for room
// through the ring under the write deadline.
func (c *Conn) sendFileRing(fs *fileSend) error {
	for {
		if err := c.writable(); err != nil {
			return err
		}
		t, ok := c.ref.inc()
		if !ok {
			return c.opError("readfrom", net.ErrClosed)
		}
		done := fs.send(uintptr(c.fd))
		c.ref.dec(t)
		if done {
			return nil
		}
		if err := c.waitWritable(); err != nil {
			return err
		}
	}
}

// writable reports a closed connection or a passed write deadline.
func (c *Conn) writable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return c.opError("readfrom", net.ErrClosed)
	case c.wdl.expired():
		return c.opError("readfrom", os.ErrDeadlineExceeded)
	}
	return nil
}

// waitWritable waits through the ring until the socket takes more data,
// the write deadline passes or the connection closes.
func (c *Conn) waitWritable() error {
	c.setWriteOp(opPollOut)
	res, err := c.do(&c.wreq, &c.wdl, nil, func(s *uapi.SQE) {
		s.PrepPollAdd(int32(c.fd), unix.POLLOUT)
	})
	c.setWriteOp(opSend)
	if err == nil && res < 0 {
		err = c.cancelled(res, &c.wdl, "poll")
	}
	var oe *net.OpError
	if err != nil && !errors.As(err, &oe) {
		err = c.opError("readfrom", err)
	}
	return err
}

// setWriteOp sets what the write request is (the reaper reads it under
// c.mu to match completions).
func (c *Conn) setWriteOp(op uint8) {
	c.mu.Lock()
	c.wreq.op = op
	c.mu.Unlock()
}
