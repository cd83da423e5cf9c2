package uring

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bufring"
)

// Conn is a stream connection (TCP or Unix) served by one of the network
// rings. It implements net.Conn with net's semantics: any goroutine may
// call its methods; one Read and one Write may run at a time each (others
// wait their turn); deadlines are movable while a call blocks and fail it
// with os.ErrDeadlineExceeded; Close unblocks both with net.ErrClosed.
//
// A Read is a recv(2) on the non-blocking socket that waits for data in
// Go's netpoller (NetOptions.RingRecv: a receive through the ring;
// NetOptions.Multishot: a multishot receive into the ring's provided
// buffers, armed once per connection, from which a Read takes what has
// arrived, the rest staying for the next Read). A Write is a plain send(2)
// while the socket buffer has room and, when it is full, a send through
// the ring that the Write waits for: it returns only when the kernel is
// done with the caller's buffer.
type Conn struct {
	fd int
	// ref counts the system calls on fd outside the ring and outside rf
	// (shutdown, setsockopt; send and sendfile in the ring receive
	// modes): Close closes fd only after they are done, so none of them
	// can reach a descriptor number the process has reused since.
	ref     fdRef
	l       *netLoop
	id      uint32
	network string
	laddr   net.Addr
	raddr   net.Addr
	// multishot: data arrives through the multishot receive (segs,
	// spill); rrc: each Read receives with recv(2), waiting for readiness
	// in Go's netpoller (readiness mode); otherwise each Read submits a
	// receive into its own buffer.
	multishot bool
	// rf owns fd in readiness mode: registered with the netpoller, it
	// keeps both deadlines and closes fd once no recv(2) or send(2)
	// through rrc is running any more.
	rf  *os.File
	rrc syscall.RawConn
	// The recv(2) that rrc.Read runs and the send(2) that rrc.Write
	// runs, made once (a closure per call would be an allocation per
	// call), with their buffers and results (rmu, wmu).
	recvFn, sendFn func(fd uintptr) bool
	rp, wp         []byte
	rpn, wpn       int
	rpErr, wpErr   syscall.Errno

	rmu sync.Mutex // one Read at a time
	wmu sync.Mutex // one Write at a time

	mu sync.Mutex // everything below
	// Received data not read yet, in provided buffers of l, then in
	// spill: what arrived after the connection held maxHeld buffers,
	// copied out so the buffers go back to the ring at once.
	segs     []segment
	spill    []byte
	spillOff int
	// rerr ends the stream once segs are read: io.EOF or the receive's
	// error.
	rerr error
	// The receive: armed (its final completion not seen), paused (this
	// connection holds too many buffers: cancelled until Read catches up).
	recvArmed, paused bool
	// A Read waiting for data: completions copy into rbuf directly.
	rwait  bool
	rbuf   []byte
	rn     int
	rready chan struct{}
	// The one-shot requests a Read (a receive into its buffer) and a Write
	// (a send, or a dial's connect poll) wait for.
	rreq, wreq request
	// The callers' buffers the kernel reads or writes: fields, so they
	// live on the heap (a goroutine's stack may move while it waits).
	rkbuf, wbuf []byte
	wready      chan struct{}
	// The deadlines of the ring modes (readiness mode: rf's).
	rdl, wdl deadline
	closed   bool
	// idle is signalled when the connection is closed and its last request
	// has completed.
	idle chan struct{}
	// expiring counts deadline callbacks at work (they submit
	// cancellations); Close waits for them.
	expiring sync.WaitGroup
}

type segment struct {
	bid uint16
	off int32
	n   int32
}

// maxHeld is how many provided buffers one connection may hold before its
// receive is cancelled (paused until Read has consumed half of them), so a
// slow reader does not keep the ring empty for the others. The kernel may
// fill more before the cancellation lands: a connection holds at most the
// ring's buffers, and the socket's own buffer holds the rest.
const maxHeld = 8

// request is a one-shot request of a connection in flight (c.mu guards
// it): the caller waits on ready until the reaper has stored the result.
type request struct {
	op     uint8
	gen    uint32 // counts the submissions: bits 32-55 of the user data
	busy   bool   // being submitted or in flight: completion not seen
	queued bool   // in the submission queue: a cancellation now lands after it
	cancel bool   // cancellation submitted
	res    int32
	ready  chan struct{}
}

// userData is the user data of r's current submission.
func (r *request) userData(id uint32) uint64 {
	return userData(r.op, id) | uint64(r.gen&0xffffff)<<32
}

func newConn(fd int, network string, l *netLoop) *Conn {
	c := &Conn{fd: fd, l: l, network: network, rready: make(chan struct{}, 1), wready: make(chan struct{}, 1), idle: make(chan struct{}, 1)}
	c.rdl.wake = c.rready
	c.wdl.wake = c.wready
	c.rdl.expire = func() { c.expire(&c.rdl, &c.rreq) }
	c.wdl.expire = func() { c.expire(&c.wdl, &c.wreq) }
	c.rreq = request{op: opRecvOnce, ready: c.rready}
	c.wreq = request{op: opSend, ready: c.wready}
	c.multishot = l.multishot
	if !l.multishot && !l.ringRecv {
		c.watch()
	}
	c.ref.init(1)
	c.id = l.register(c)
	l.conns.Add(1)
	return c
}

// watch hands fd to Go's netpoller for readiness-mode Reads. A descriptor
// the netpoller does not take (os.File then reports no deadline support)
// is still owned by rf but receives through the ring.
func (c *Conn) watch() {
	c.rf = os.NewFile(uintptr(c.fd), "")
	if c.rf.SetReadDeadline(time.Time{}) != nil {
		return
	}
	if rc, err := c.rf.SyscallConn(); err == nil {
		c.rrc = rc
		c.recvFn, c.sendFn = c.recvReady, c.sendReady
	}
}

// sendReady is the send(2) of writeReady: it sends the rest of wp,
// counting what went in wpn, and reports false (wait for room) on EAGAIN.
func (c *Conn) sendReady(fd uintptr) bool {
	for {
		k, errno := send(int(fd), c.wp[c.wpn:])
		switch errno {
		case 0:
			c.wpn += k
			if c.wpn == len(c.wp) || k == 0 {
				return true // all of it, or a send that took nothing (writeReady reports it)
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			c.wpErr = errno
			return true
		}
	}
}

// recvReady is the recv(2) of readReady: false (wait for readiness) on
// EAGAIN.
func (c *Conn) recvReady(fd uintptr) bool {
	for {
		c.rpn, c.rpErr = recv(int(fd), c.rp)
		if c.rpErr != unix.EINTR {
			return c.rpErr != unix.EAGAIN
		}
	}
}

// startRecv arms the multishot receive (in multishot mode).
func (c *Conn) startRecv() error {
	if !c.multishot {
		return nil
	}
	c.mu.Lock()
	c.recvArmed = true
	c.mu.Unlock()
	if err := c.l.submit(c.prepRecv); err != nil {
		c.mu.Lock()
		c.recvArmed = false
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *Conn) prepRecv(s *uapi.SQE) {
	s.PrepRecvMultishot(int32(c.fd), nil, 0)
	s.Flags |= uapi.SQEBufferSelect
	s.SetBufGroup(c.l.br.Group())
	s.UserData = userData(opRecv, c.id)
}

// rearm re-arms a receive that ran dry or paused, unless the connection
// is closing, the receive is armed already, or the connection holds
// maxHeld buffers (then it pauses until Read catches up).
func (c *Conn) rearm() {
	c.mu.Lock()
	if c.closed || c.recvArmed || c.rerr != nil || !c.drained() {
		c.paused = c.paused || !c.drained()
		c.mu.Unlock()
		return
	}
	c.recvArmed, c.paused = true, false
	c.mu.Unlock()
	if err := c.l.submit(c.prepRecv); err != nil {
		c.mu.Lock()
		c.recvArmed = false
		c.rerr = err
		c.signal(c.rready)
		c.signalIdle()
		c.mu.Unlock()
	}
}

// drained reports whether a paused receive may resume: nothing spilled,
// and fewer than half of maxHeld buffers held (c.mu held).
func (c *Conn) drained() bool { return len(c.spill) == 0 && len(c.segs) < maxHeld/2 }

func (c *Conn) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// signalIdle tells Close that nothing is in flight any more (c.mu held).
func (c *Conn) signalIdle() {
	if c.closed && !c.recvArmed && !c.rreq.busy && !c.wreq.busy {
		c.signal(c.idle)
	}
}

// complete handles the connection's completions (on the reaper).
func (c *Conn) complete(op uint8, cq *uapi.CQE) {
	switch op {
	case opRecv:
		c.received(cq)
	case opRecvOnce:
		c.finish(&c.rreq, cq)
	case opSend, opPollOut:
		c.finish(&c.wreq, cq)
	}
}

// finish stores a one-shot request's result. A completion of any other
// submission than the one in flight (none is expected: Close waits for
// every completion before the id goes to another connection) is dropped,
// so it can never pass for the result of a later call.
func (c *Conn) finish(r *request, cq *uapi.CQE) {
	c.mu.Lock()
	if !r.busy || cq.UserData != r.userData(c.id) {
		c.mu.Unlock()
		return
	}
	res := cq.Res
	r.busy = false
	r.res = res
	c.signal(r.ready)
	c.signalIdle()
	c.mu.Unlock()
}

func (c *Conn) received(cq *uapi.CQE) {
	more := cq.Flags&uapi.CQEFMore != 0
	var data []byte
	bid, hasBuf := bufring.BufferID(cq)
	if hasBuf {
		c.l.bmu.Lock()
		d, b, _, err := c.l.br.Data(cq)
		c.l.bmu.Unlock()
		if err != nil {
			panic(err) // the kernel named a buffer it does not hold: a bug here
		}
		data, bid = d, b
	}
	c.mu.Lock()
	if !more {
		c.recvArmed = false
	}
	rearm, pause := false, false
	switch {
	case cq.Res > 0 && hasBuf:
		switch {
		case c.closed:
		case c.rwait && len(c.segs) == 0 && len(c.spill) == 0 && c.rn == 0:
			// A Read waits: hand the data straight into its buffer.
			n := copy(c.rbuf, data)
			c.rn = n
			if n < len(data) {
				c.segs = append(c.segs, segment{bid: bid, off: int32(n), n: int32(len(data) - n)})
				hasBuf = false
			}
			c.signal(c.rready)
		case len(c.spill) > 0 || len(c.segs) >= maxHeld:
			c.spill = append(c.spill, data...)
			c.signal(c.rready)
		default:
			c.segs = append(c.segs, segment{bid: bid, n: int32(len(data))})
			hasBuf = false
			c.signal(c.rready)
		}
		if !more && !c.closed && !c.paused {
			rearm = true
		}
		if more && len(c.segs) >= maxHeld && !c.paused && !c.closed {
			c.paused, pause = true, true
		}
	case cq.Res == -int32(unix.ENOBUFS):
		c.l.dryEvents.Add(1)
		if !c.closed {
			c.l.bmu.Lock()
			if c.l.br.Available() > 0 {
				rearm = true
			} else {
				c.l.dry = append(c.l.dry, c)
			}
			c.l.bmu.Unlock()
		}
	case cq.Res == -int32(unix.ECANCELED):
		// Paused or closing; a paused receive is re-armed by Read.
		if !c.paused && !c.closed {
			rearm = true
		}
	case cq.Res == 0:
		if c.rerr == nil {
			c.rerr = io.EOF
		}
		c.signal(c.rready)
	case cq.Res < 0:
		if c.rerr == nil {
			c.rerr = c.opError("read", os.NewSyscallError("read", errnoOf(cq)))
		}
		c.signal(c.rready)
	}
	if c.paused && !more && c.drained() && !c.closed {
		// The pause took effect after the reader emptied the queue.
		rearm = true
	}
	c.signalIdle()
	c.mu.Unlock()
	if hasBuf {
		c.l.putBuffer(bid)
	}
	if pause {
		c.l.submit(func(s *uapi.SQE) {
			s.PrepCancel64(userData(opRecv, c.id), 0)
			s.UserData = userData(opIgnore, c.id)
		})
	}
	if rearm {
		c.rearm()
	}
}

// Read reads data into p, waiting for it if none has arrived.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	switch {
	case c.rrc != nil:
		return c.readReady(p)
	case !c.multishot:
		return c.readOnce(p)
	}
	c.mu.Lock()
	for {
		if len(c.segs) > 0 || len(c.spill) > 0 {
			switch {
			case c.closed:
				c.mu.Unlock()
				return 0, c.opError("read", net.ErrClosed)
			case c.rdl.expired():
				// As in net: a passed deadline fails the Read although
				// data waits (it stays for the next Read).
				c.mu.Unlock()
				return 0, c.opError("read", os.ErrDeadlineExceeded)
			}
			return c.take(p) // unlocks
		}
		if done, err := c.readDone(p); done {
			c.mu.Unlock()
			return 0, err
		}
		c.rwait, c.rbuf, c.rn = true, p, 0
		c.mu.Unlock()
		c.l.tryDrain()
		c.l.await(func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.rn > 0 || len(c.segs) > 0 || len(c.spill) > 0 || c.rerr != nil || c.closed || c.rdl.expired()
		}, c.rready)
		c.mu.Lock()
		c.rwait, c.rbuf = false, nil
		if n := c.rn; n > 0 {
			c.rn = 0
			c.mu.Unlock()
			return n, nil
		}
	}
}

// readDone reports whether a Read that found no data returns at once, and
// with what: closed, an empty buffer, the end of the stream, an expired
// deadline (c.mu held).
func (c *Conn) readDone(p []byte) (bool, error) {
	switch {
	case c.closed:
		return true, c.opError("read", net.ErrClosed)
	case len(p) == 0:
		return true, nil
	case c.rerr != nil:
		return true, c.rerr
	case c.rdl.expired():
		return true, c.opError("read", os.ErrDeadlineExceeded)
	}
	return false, nil
}

// readReady reads with recv(2) on the non-blocking socket and, while no
// data has arrived, waits for it in Go's netpoller, which also keeps the
// read deadline and, once Close has closed rf, fails the Read (c.rmu
// held). So a Read takes no lock of the Conn's own unless it has nothing
// to receive into or the stream has ended.
func (c *Conn) readReady(p []byte) (int, error) {
	if len(p) == 0 || c.rerr != nil {
		c.mu.Lock()
		_, err := c.readDone(p)
		c.mu.Unlock()
		return 0, err
	}
	c.rp = p
	err := c.poll(false, c.recvFn)
	n, errno := c.rpn, c.rpErr
	c.rp = nil
	if err != nil {
		return 0, c.opError("read", err)
	}
	switch {
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		c.mu.Lock()
		c.rerr = io.EOF
		c.mu.Unlock()
		return 0, io.EOF
	}
	return n, nil
}

// poll runs the system call fn on the socket (readiness mode): through
// rf's RawConn, whose Write (write) or Read waits in the netpoller while
// fn reports false, under the deadline of that direction. It returns the
// error Read or Write returns for a failed wait.
func (c *Conn) poll(write bool, fn func(fd uintptr) bool) error {
	var err error
	if write {
		err = c.rrc.Write(fn)
	} else {
		err = c.rrc.Read(fn)
	}
	if err == nil {
		return nil
	}
	err, again := c.pollError(err)
	if again && c.callAgain(fn) {
		return nil
	}
	return err
}

// pollError turns the error of a wait in the netpoller into the error
// Read or Write returns: closed, deadline, or else err itself, and then
// again is true: the wait failed on its own (see callAgain). A passed
// deadline fails the call without another system call, as in net.
func (c *Conn) pollError(err error) (_ error, again bool) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return net.ErrClosed, false
	case errors.Is(err, os.ErrDeadlineExceeded):
		return os.ErrDeadlineExceeded, false
	}
	return err, true
}

// callAgain makes the system call fn once more outside the netpoller,
// after a wait in it failed on its own: when epoll reports EPOLLERR
// alone (a socket error set but not yet the reset's hang-up, both buffers
// at rest), the wait fails with "not pollable" before anybody read the
// socket's error, which net's Read would return as is (golang/go#59545).
// The recv or send finds the error (ECONNRESET, EPIPE) or the data; it
// reports whether fn was done (false: EAGAIN again, or closed).
func (c *Conn) callAgain(fn func(uintptr) bool) bool {
	done := false
	if c.rrc.Control(func(fd uintptr) { done = fn(fd) }) != nil {
		return false
	}
	return done
}

// writeReady is Write in readiness mode (c.wmu held): send(2) on the
// non-blocking socket until all of p went in, waiting in Go's netpoller
// while the socket buffer is full, as net's Write does; the netpoller
// keeps the write deadline and, once Close has closed rf, fails the
// Write.
func (c *Conn) writeReady(p []byte) (int, error) {
	c.wp, c.wpn, c.wpErr = p, 0, 0
	err := c.poll(true, c.sendFn)
	n, errno := c.wpn, c.wpErr
	c.wp = nil
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	case n < len(p):
		return n, c.opError("write", io.ErrUnexpectedEOF) // as net, for a send that took nothing
	}
	return n, nil
}

// readOnce reads with one receive into p through the ring.
func (c *Conn) readOnce(p []byte) (int, error) {
	c.mu.Lock()
	if done, err := c.readDone(p); done {
		c.mu.Unlock()
		return 0, err
	}
	c.rkbuf = p
	c.mu.Unlock()
	res, err := c.do(&c.rreq, &c.rdl, nil, func(s *uapi.SQE) {
		s.PrepRecv(int32(c.fd), p, 0)
	})
	c.mu.Lock()
	c.rkbuf = nil
	defer c.mu.Unlock()
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case res > 0:
		return int(res), nil
	case res == 0:
		c.rerr = io.EOF
		return 0, io.EOF
	}
	c.mu.Unlock()
	err = c.opError("read", c.cancelled(res, &c.rdl, "read"))
	c.mu.Lock()
	return 0, err
}

// take copies queued data into p and returns the buffers it emptied; it
// is called with c.mu held and releases it.
func (c *Conn) take(p []byte) (int, error) {
	var done [maxHeld + 4]uint16
	nd := 0
	n := 0
	for len(c.segs) > 0 && n < len(p) && nd < len(done) {
		s := &c.segs[0]
		k := copy(p[n:], c.l.br.Buf(s.bid)[s.off:s.off+s.n])
		n += k
		s.off += int32(k)
		s.n -= int32(k)
		if s.n > 0 {
			break
		}
		done[nd] = s.bid
		nd++
		c.segs = c.segs[1:]
	}
	if len(c.segs) == 0 {
		c.segs = c.segs[:0:0]
		if n < len(p) && len(c.spill) > 0 {
			k := copy(p[n:], c.spill[c.spillOff:])
			n += k
			c.spillOff += k
			if c.spillOff == len(c.spill) {
				c.spill, c.spillOff = nil, 0
			}
		}
	}
	resume := c.paused && !c.recvArmed && c.drained()
	c.mu.Unlock()
	for _, bid := range done[:nd] {
		c.l.putBuffer(bid)
	}
	if resume {
		c.rearm()
	}
	return n, nil
}

// Write writes p, waiting while the socket buffer is full: in Go's
// netpoller by default, through the ring in the ring receive modes.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.rrc != nil {
		return c.writeReady(p)
	}
	n := 0
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return n, c.opError("write", net.ErrClosed)
		case c.wdl.expired():
			c.mu.Unlock()
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
		c.mu.Unlock()
		k, errno, ok := c.send(p[n:])
		if !ok {
			return n, c.opError("write", net.ErrClosed)
		}
		if errno == 0 {
			n += k
			if n == len(p) {
				return n, nil
			}
			continue
		}
		if errno == unix.EINTR {
			continue
		}
		if errno != unix.EAGAIN {
			return n, c.opError("write", os.NewSyscallError("write", errno))
		}
		k, err := c.ringSend(p[n:])
		n += k
		if err != nil {
			return n, err
		}
		if n == len(p) {
			return n, nil
		}
	}
}

// send sends with send(2) unless the connection is closing (false).
func (c *Conn) send(p []byte) (int, syscall.Errno, bool) {
	t, ok := c.ref.inc()
	if !ok {
		return 0, 0, false
	}
	defer c.ref.dec(t)
	k, errno := send(c.fd, p)
	return k, errno, true
}

// withFD runs f on the descriptor unless the connection is closing.
func (c *Conn) withFD(op string, f func(fd int) error) error {
	t, ok := c.ref.inc()
	if !ok {
		return c.opError(op, net.ErrClosed)
	}
	defer c.ref.dec(t)
	return f(c.fd)
}

// send is send(2) with MSG_NOSIGNAL (a vanished peer is an EPIPE error,
// not a signal) on the non-blocking socket.
func send(fd int, p []byte) (int, syscall.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := syscall.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	return int(n), errno
}

// recv is recv(2) on the non-blocking socket.
func recv(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	return int(n), errno
}

// ringSend sends p through the ring and waits for the completion, also
// when a deadline or Close cancels it: the kernel may read p until then.
func (c *Conn) ringSend(p []byte) (int, error) {
	c.mu.Lock()
	c.wbuf = p
	c.mu.Unlock()
	res, err := c.do(&c.wreq, &c.wdl, nil, func(s *uapi.SQE) {
		s.PrepSend(int32(c.fd), p, unix.MSG_NOSIGNAL)
	})
	c.mu.Lock()
	c.wbuf = nil
	c.mu.Unlock()
	if err != nil {
		return 0, c.opError("write", err)
	}
	if res < 0 {
		return 0, c.opError("write", c.cancelled(res, &c.wdl, "write"))
	}
	return int(res), nil
}

// cancelled turns a failed one-shot result into the error Read or Write
// returns: closed, deadline, or the errno.
func (c *Conn) cancelled(res int32, dl *deadline, call string) error {
	if res == -int32(unix.ECANCELED) {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return net.ErrClosed
		}
		return os.ErrDeadlineExceeded
	}
	return os.NewSyscallError(call, syscall.Errno(-res))
}

// do submits the one-shot request r, filled in by prep, and waits for its
// completion, cancelling it (and still waiting) when dl expires, ctx ends
// or the connection closes. It returns the result.
func (c *Conn) do(r *request, dl *deadline, ctx context.Context, prep func(*uapi.SQE)) (int32, error) {
	if testHookSubmit != nil {
		testHookSubmit(c)
	}
	c.mu.Lock()
	if c.closed {
		// Close has decided what to wait for and may have let go of the
		// descriptor: nothing may be submitted any more.
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	r.busy, r.queued, r.cancel = true, false, false
	r.gen++
	ud := r.userData(c.id)
	c.mu.Unlock()
	err := c.l.submitGathered(func(s *uapi.SQE) {
		prep(s)
		s.UserData = ud
	})
	if err != nil {
		c.mu.Lock()
		r.busy = false
		c.signalIdle()
		c.mu.Unlock()
		return 0, err
	}
	if ctx != nil {
		stop := context.AfterFunc(ctx, func() { c.cancelRequest(r) })
		defer stop()
	}
	// Cancellations may go out from now on: they enter the submission
	// queue behind the request. One that came while the request was not
	// queued yet (a deadline timer, Close) found nothing to cancel and
	// left it to this check.
	c.mu.Lock()
	r.queued = true
	if c.closed || dl.expired() {
		c.mu.Unlock()
		c.cancelRequest(r)
	} else {
		c.mu.Unlock()
	}
	// The request may have completed already (a send with room, data
	// that had arrived): look before sleeping.
	c.l.tryDrain()
	c.l.await(func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !r.busy
	}, r.ready)
	c.mu.Lock()
	res := r.res
	c.mu.Unlock()
	return res, nil
}

// testHookSubmit, when set by a test, runs as a request is about to be
// submitted: the moment a Close or a deadline may come between a call's
// checks and its submission.
var testHookSubmit func(*Conn)

// cancelRequest cancels r if it is in flight and not cancelled yet; its
// completion (-ECANCELED, or its result if it won the race) wakes the
// waiter.
func (c *Conn) cancelRequest(r *request) { c.cancelRequestIf(r, nil) }

// cancelRequestIf is cancelRequest when cond (if any) holds, checked
// under the same lock as the request's state: a deadline callback cancels
// only if its deadline is still passed, not one set since.
func (c *Conn) cancelRequestIf(r *request, cond func() bool) {
	c.mu.Lock()
	if !r.busy || !r.queued || r.cancel || (cond != nil && !cond()) {
		c.mu.Unlock()
		return
	}
	r.cancel = true
	// This request's own user data: a cancellation that lands after it
	// completed must not hit the next request of the connection.
	target := r.userData(c.id)
	c.mu.Unlock()
	c.l.submit(func(s *uapi.SQE) {
		s.PrepCancel64(target, 0)
		s.UserData = userData(opIgnore, c.id)
	})
}

// expire runs when deadline d passes: the request waiting under it is
// cancelled, and a Read waiting for the multishot receive is woken.
func (c *Conn) expire(d *deadline, r *request) {
	c.mu.Lock()
	if !d.expired() || c.closed {
		c.mu.Unlock() // moved since the timer was set, or closed
		return
	}
	// Close waits for this to finish before the descriptor goes.
	c.expiring.Add(1)
	defer c.expiring.Done()
	wait := c.rwait && d == &c.rdl
	c.mu.Unlock()
	c.cancelRequestIf(r, d.expired)
	if wait {
		c.l.poke()
	}
	c.signal(d.wake)
}

// Close closes the connection: blocked Reads and Writes return
// net.ErrClosed; Close cancels the requests in flight and returns once
// their completions are in, so the descriptor and buffers are free.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	c.rdl.stop()
	c.wdl.stop()
	c.signal(c.rready)
	c.signal(c.wready)
	busy := c.recvArmed || c.rreq.busy || c.wreq.busy
	wait := c.rwait
	c.mu.Unlock()
	if busy {
		c.l.submit(func(s *uapi.SQE) {
			s.PrepCancelFD(int32(c.fd), uapi.AsyncCancelAll)
			s.UserData = userData(opIgnore, c.id)
		})
	} else if wait {
		c.l.poke() // a Read waits for the multishot receive's data
	}
	c.l.await(func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.recvArmed && !c.rreq.busy && !c.wreq.busy
	}, c.idle)
	c.expiring.Wait()
	if _, busy := c.ref.close(); busy {
		<-c.ref.drained // a send(2) or setsockopt(2) still running
	}
	c.mu.Lock()
	segs := c.segs
	c.segs = nil
	c.mu.Unlock()
	for _, s := range segs {
		c.l.putBuffer(s.bid)
	}
	c.l.unregister(c.id)
	c.l.conns.Add(-1)
	if c.rf != nil {
		// Wakes a Read waiting in the netpoller; closes fd once its
		// recv(2), if one runs, is done.
		if err := c.rf.Close(); err != nil {
			return c.opError("close", err)
		}
		return nil
	}
	if err := unix.Close(c.fd); err != nil {
		return c.opError("close", os.NewSyscallError("close", err))
	}
	return nil
}

// CloseRead shuts down the reading side (shutdown(2) SHUT_RD).
func (c *Conn) CloseRead() error { return c.shutdown(unix.SHUT_RD) }

// CloseWrite shuts down the writing side (shutdown(2) SHUT_WR): the peer
// reads EOF after the data written so far.
func (c *Conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

func (c *Conn) shutdown(how int) error {
	return c.withFD("close", func(fd int) error {
		if err := unix.Shutdown(fd, how); err != nil {
			return c.opError("close", os.NewSyscallError("shutdown", err))
		}
		return nil
	})
}

// LocalAddr returns the local address (*net.TCPAddr or *net.UnixAddr).
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address (*net.TCPAddr or *net.UnixAddr).
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines (see net.Conn).
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for Reads, including one blocked
// now; the zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(&c.rdl, t) }

// SetWriteDeadline sets the deadline for Writes, including one blocked
// now; the zero time means none.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(&c.wdl, t) }

func (c *Conn) setDeadline(d *deadline, t time.Time) error {
	if c.rrc != nil {
		return c.setPollDeadline(d == &c.rdl, t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError("set", net.ErrClosed)
	}
	d.set(t)
	return nil
}

// setPollDeadline sets a deadline in readiness mode, where every wait of
// a Read, Write or ReadFrom is in the netpoller: the os.File's deadline,
// as net's, is all there is (net/http sets one several times per
// request). Once Close has closed rf it fails.
func (c *Conn) setPollDeadline(read bool, t time.Time) error {
	var err error
	if read {
		err = c.rf.SetReadDeadline(t)
	} else {
		err = c.rf.SetWriteDeadline(t)
	}
	if err == nil {
		return nil
	}
	if c.isClosed() {
		err = net.ErrClosed
	}
	return c.opError("set", err)
}

// isClosed reports whether Close has begun.
func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// SetNoDelay controls Nagle's algorithm on a TCP connection (off by
// default, as in net).
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setsockopt(unix.IPPROTO_TCP, unix.TCP_NODELAY, noDelay)
}

// SetKeepAlive enables TCP keep-alive probes.
func (c *Conn) SetKeepAlive(on bool) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, on)
}

// SetLinger sets what Close does with unsent data, as net.TCPConn's
// SetLinger: sec < 0 sends it in the background (the default), 0 discards
// it and resets the connection, sec > 0 waits up to sec seconds.
func (c *Conn) SetLinger(sec int) error {
	l := &unix.Linger{}
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	return c.withFD("set", func(fd int) error {
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, l); err != nil {
			return c.opError("set", os.NewSyscallError("setsockopt", err))
		}
		return nil
	})
}

// SetReadBuffer sets the socket's receive buffer size (SO_RCVBUF).
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

// SetWriteBuffer sets the socket's send buffer size (SO_SNDBUF).
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setsockoptInt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
}

func (c *Conn) setsockopt(level, opt int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return c.setsockoptInt(level, opt, v)
}

func (c *Conn) setsockoptInt(level, opt, v int) error {
	return c.withFD("set", func(fd int) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return c.opError("set", os.NewSyscallError("setsockopt", err))
		}
		return nil
	})
}

// opError wraps err as net does: op, network, addresses.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.laddr, Addr: c.raddr, Err: err}
}

// deadline is one direction's deadline: a timer that wakes the blocked
// call when it passes (c.mu guards it).
type deadline struct {
	t      time.Time
	timer  *time.Timer
	wake   chan struct{}
	expire func() // runs (on its own goroutine) when the deadline passes
}

func (d *deadline) expired() bool { return !d.t.IsZero() && !time.Now().Before(d.t) }

func (d *deadline) set(t time.Time) {
	d.t = t
	if d.timer != nil {
		d.timer.Stop()
	}
	if t.IsZero() {
		return
	}
	dur := max(time.Until(t), 0)
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.expire)
	} else {
		d.timer.Reset(dur)
	}
}

func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}
