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
// socket buffer is full it waits through the ring, under the write
// deadline, and Close ends it with net.ErrClosed.
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
	var (
		sent    int64
		handled = true
		serr    error
	)
	cerr := rc.Control(func(src uintptr) {
		for limit < 0 || sent < limit {
			chunk := 4 << 20
			if limit >= 0 && limit-sent < int64(chunk) {
				chunk = int(limit - sent)
			}
			if err := c.writable(); err != nil {
				serr = err
				return
			}
			k, errno, ok := c.sendfile(int(src), chunk)
			switch {
			case !ok:
				serr = c.opError("readfrom", net.ErrClosed)
				return
			case errno == 0 && k == 0:
				return // the end of the file
			case errno == 0:
				sent += int64(k)
			case errno == unix.EINTR:
			case errno == unix.EAGAIN:
				if err := c.waitWritable(); err != nil {
					serr = err
					return
				}
			case sent == 0 && (errno == unix.EINVAL || errno == unix.ENOSYS):
				handled = false // sendfile does not take this file
				return
			default:
				serr = c.opError("readfrom", os.NewSyscallError("sendfile", errno))
				return
			}
		}
	})
	if cerr != nil && serr == nil {
		serr = c.opError("readfrom", cerr)
	}
	return sent, handled, serr
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

// sendfile is sendfile(2) from src's file position unless the connection
// is closing (false).
func (c *Conn) sendfile(src, n int) (int, syscall.Errno, bool) {
	t, ok := c.ref.inc()
	if !ok {
		return 0, 0, false
	}
	defer c.ref.dec(t)
	k, _, errno := syscall.Syscall6(unix.SYS_SENDFILE, uintptr(c.fd), uintptr(src), 0, uintptr(n), 0, 0)
	return int(k), errno, true
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
