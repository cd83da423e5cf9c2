package zcrx

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Loop describes a receive loop for IFQ.Receive.
type Loop struct {
	// FD is the socket to receive from.
	FD int
	// Limit is the number of bytes to receive; 0 receives until the peer
	// closes the connection.
	Limit uint64
	// UserData tags the RECV_ZC requests; other completions go to Other.
	UserData uint64
	// Data is called with each received buffer, in stream order. The
	// buffer is released when Data returns, so Data must not keep b.Data.
	// An error stops the loop (the request stays armed on the socket).
	Data func(b Buf) error
	// Other, if set, gets completions of other requests (zcrx events,
	// for instance); without it they are an error.
	Other func(c *uapi.CQE) error
}

// Receive runs multishot RECV_ZC requests on l.FD until l.Limit bytes have
// arrived or the peer closes the connection, handing every buffer to l.Data
// and releasing it afterwards. When a request ends because the area ran dry
// (ENOMEM) it flushes the refill ring and submits a new one; it submits a new
// one too when the completion queue was full (ENOSPC) or the kernel ended
// the multishot request early. It returns the bytes received
// and how many requests it submitted.
func (q *IFQ) Receive(l Loop) (n uint64, requests int, err error) {
	if q.closed {
		return 0, 0, q.closedError("Receive")
	}
	for {
		if l.Limit > 0 && n >= l.Limit {
			return n, requests, nil
		}
		sqe := q.r.NextSQE() // PrepRecv writes all of it
		if sqe == nil {
			if err := q.r.Err(); err != nil {
				return n, requests, fmt.Errorf("zcrx %d: receive: %w", q.id, err)
			}
			return n, requests, fmt.Errorf("zcrx %d: receive: submission queue full: %w", q.id, unix.EBUSY)
		}
		var limit uint32
		if l.Limit > 0 {
			limit = uint32(min(l.Limit-n, 1<<31))
		}
		q.PrepRecv(sqe, l.FD, limit)
		sqe.UserData = l.UserData
		if _, err := q.r.Submit(); err != nil {
			return n, requests, fmt.Errorf("zcrx %d: receive: %w", q.id, err)
		}
		requests++
		ended, eof, err := q.drain(&l, &n)
		if err != nil {
			return n, requests, err
		}
		if eof || !ended {
			return n, requests, nil
		}
	}
}

// drain consumes completions of the current request until it ends. ended
// says the request finished early and another one is wanted; eof that the
// stream (or the limit) is done.
func (q *IFQ) drain(l *Loop, n *uint64) (ended, eof bool, err error) {
	for {
		c, err := q.r.WaitCQE()
		if err != nil {
			return false, false, fmt.Errorf("zcrx %d: receive: %w", q.id, err)
		}
		if c.UserData != l.UserData {
			if l.Other == nil {
				q.r.CQESeen(c)
				return false, false, fmt.Errorf("zcrx %d: receive: unexpected completion (user_data %#x, res %d): %w", q.id, c.UserData, c.Res, unix.EPROTO)
			}
			err := l.Other(c)
			q.r.CQESeen(c)
			if err != nil {
				return false, false, err
			}
			continue
		}
		more := c.Flags&uapi.CQEFMore != 0
		b, err := q.Buf(c)
		q.r.CQESeen(c)
		switch {
		case errors.Is(err, unix.ENOMEM) && !more:
			// The area is dry: give the kernel the released buffers and
			// ask again; undelivered data waits in the socket.
			return true, false, q.flush()
		case errors.Is(err, unix.ENOSPC) && !more:
			// The completion queue filled up; everything before this
			// completion has been consumed, so just ask again.
			return true, false, nil
		case err != nil:
			return false, false, err
		case c.Res == 0:
			return false, true, nil // limit reached or peer closed
		}
		*n += uint64(b.n)
		derr := l.Data(b)
		if rerr := q.Release(b); derr == nil {
			derr = rerr
		}
		if derr != nil {
			return false, false, derr
		}
		if !more {
			return true, false, nil
		}
	}
}
