package uring

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Listen announces on the local address like net.Listen, for the networks
// "tcp", "tcp4", "tcp6" and "unix". Connections are accepted by a
// multishot accept on one ring and dealt to the ring serving the fewest.
func Listen(network, address string) (*Listener, error) {
	var lc ListenConfig
	return lc.Listen(context.Background(), network, address)
}

// ListenConfig holds listener options, like net.ListenConfig.
type ListenConfig struct {
	// Backlog is the listen(2) backlog (0: the system's somaxconn).
	Backlog int
	// ReusePort sets SO_REUSEPORT, so several listeners can share an
	// address.
	ReusePort bool
	// ReadBuffer and WriteBuffer set SO_RCVBUF and SO_SNDBUF of every
	// accepted connection (0: the system's defaults).
	ReadBuffer, WriteBuffer int
}

// Listen announces on the local address; ctx bounds only the address
// resolution.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (*Listener, error) {
	ln := &Listener{network: network, cfg: *lc, ready: make(chan struct{}, 1), idle: make(chan struct{}, 1)}
	opErr := func(err error, addr net.Addr) error {
		return &net.OpError{Op: "listen", Net: network, Addr: addr, Err: err}
	}
	sa, family, addr, err := listenAddr(ctx, network, address)
	if err != nil {
		return nil, opErr(err, nil)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opErr(os.NewSyscallError("socket", err), addr)
	}
	if err := ln.setup(fd, family, network, sa); err != nil {
		unix.Close(fd)
		return nil, opErr(err, addr)
	}
	ln.fd = fd
	if bound, err := unix.Getsockname(fd); err == nil {
		ln.addr = fromSockaddr(bound, network)
	}
	if family == unix.AF_UNIX {
		ln.unlink = sa.(*unix.SockaddrUnix).Name
		ln.addr = &net.UnixAddr{Name: ln.unlink, Net: network}
	}
	ln.l, err = pickLoop()
	if err != nil {
		unix.Close(fd)
		return nil, opErr(err, ln.addr)
	}
	ln.id = ln.l.register(ln)
	ln.armed = true
	if err := ln.arm(); err != nil {
		ln.l.unregister(ln.id)
		unix.Close(fd)
		return nil, opErr(err, ln.addr)
	}
	return ln, nil
}

func (ln *Listener) setup(fd, family int, network string, sa unix.Sockaddr) error {
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if family == unix.AF_INET6 {
		v6only := 0
		if network == "tcp6" {
			v6only = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if ln.cfg.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	backlog := ln.cfg.Backlog
	if backlog <= 0 {
		backlog = somaxconn()
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	return nil
}

var somaxconn = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return 4096
})

// Listener is a net.Listener whose connections are Conns.
type Listener struct {
	fd      int
	l       *netLoop
	id      uint32
	network string
	addr    net.Addr
	unlink  string // the Unix socket's path, removed by Close
	cfg     ListenConfig

	mu    sync.Mutex
	queue []int // accepted descriptors not yet handed out
	err   error // the multishot accept failed for good
	// failed is an accept that failed for want of a resource (EMFILE,
	// ENFILE, ENOBUFS, ENOMEM): reported once, by the next Accept; the
	// call after it arms the accept again, so a full descriptor table
	// costs one failed accept per Accept call, as with net, not a loop.
	failed error
	armed  bool
	closed bool
	ready  chan struct{}
	idle   chan struct{}
}

// maxQueued bounds the connections accepted ahead of Accept calls; beyond
// it the accept pauses and the kernel's backlog holds the rest.
const maxQueued = 1024

// arm submits the multishot accept; the caller has set ln.armed.
func (ln *Listener) arm() error {
	err := ln.l.submit(func(s *uapi.SQE) {
		s.PrepMultishotAccept(int32(ln.fd), nil, nil, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		s.UserData = userData(opAccept, ln.id)
	})
	if err != nil {
		ln.mu.Lock()
		ln.armed = false
		ln.signalIdle()
		ln.mu.Unlock()
	}
	return err
}

func (ln *Listener) signalIdle() {
	if ln.closed && !ln.armed {
		select {
		case ln.idle <- struct{}{}:
		default:
		}
	}
}

func (ln *Listener) complete(_ uint8, cq *uapi.CQE) {
	more := cq.Flags&uapi.CQEFMore != 0
	ln.mu.Lock()
	if !more {
		ln.armed = false
	}
	rearm := false
	switch {
	case cq.Res >= 0 && ln.closed:
		unix.Close(int(cq.Res))
	case cq.Res >= 0:
		ln.queue = append(ln.queue, int(cq.Res))
	case exhaustedAccept(errnoOf(cq)):
		if !ln.closed {
			ln.failed = os.NewSyscallError("accept", errnoOf(cq))
		}
	case transientAccept(errnoOf(cq)):
	default:
		if ln.err == nil && !ln.closed {
			ln.err = os.NewSyscallError("accept", errnoOf(cq))
		}
	}
	if !more && !ln.closed && ln.err == nil && ln.failed == nil && len(ln.queue) < maxQueued {
		rearm, ln.armed = true, true
	}
	select {
	case ln.ready <- struct{}{}:
	default:
	}
	ln.signalIdle()
	ln.mu.Unlock()
	if rearm {
		ln.arm()
	}
}

// exhaustedAccept reports whether an accept failed for want of a
// resource that only the program can free (descriptors, memory): net's
// Accept returns those, and servers back off (net/http sleeps).
func exhaustedAccept(errno unix.Errno) bool {
	switch errno {
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		return true
	}
	return false
}

// transientAccept reports whether an accept that failed with errno may
// succeed when re-armed at once.
func transientAccept(errno unix.Errno) bool {
	switch errno {
	case unix.ECONNABORTED, unix.EINTR, unix.EAGAIN, unix.ECANCELED, unix.EPERM, unix.EPROTO:
		return true
	}
	return false
}

// Accept waits for the next connection.
func (ln *Listener) Accept() (net.Conn, error) { return ln.AcceptConn() }

// AcceptConn is Accept returning the *Conn.
func (ln *Listener) AcceptConn() (*Conn, error) {
	ln.mu.Lock()
	for {
		if ln.closed {
			ln.mu.Unlock()
			return nil, ln.opError(net.ErrClosed)
		}
		if len(ln.queue) > 0 {
			fd := ln.queue[0]
			ln.queue = ln.queue[1:]
			rearm := !ln.armed && ln.err == nil && len(ln.queue) < maxQueued/2
			if rearm {
				ln.armed = true // submitted below, outside the lock
			}
			ln.mu.Unlock()
			if rearm {
				ln.arm()
			}
			c, err := ln.adopt(fd)
			if err != nil {
				return nil, ln.opError(err)
			}
			return c, nil
		}
		if ln.err != nil {
			err := ln.err
			ln.mu.Unlock()
			return nil, ln.opError(err)
		}
		if ln.failed != nil {
			// Reported once; the next call arms the accept again.
			err := ln.failed
			ln.failed = nil
			ln.mu.Unlock()
			return nil, ln.opError(err)
		}
		if !ln.armed && len(ln.queue) == 0 {
			// Disarmed by a failure reported earlier: try again now.
			ln.armed = true
			ln.mu.Unlock()
			if err := ln.arm(); err != nil {
				return nil, ln.opError(err)
			}
			ln.mu.Lock()
			continue
		}
		ln.mu.Unlock()
		ln.l.tryDrain()
		ln.l.await(func() bool {
			ln.mu.Lock()
			defer ln.mu.Unlock()
			return ln.closed || len(ln.queue) > 0 || ln.err != nil || ln.failed != nil
		}, ln.ready)
		ln.mu.Lock()
	}
}

// adopt makes an accepted descriptor a Conn on the least loaded ring.
func (ln *Listener) adopt(fd int) (*Conn, error) {
	if err := tuneConn(fd, ln.network, ln.cfg.ReadBuffer, ln.cfg.WriteBuffer); err != nil {
		unix.Close(fd)
		return nil, err
	}
	l, err := pickLoop()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := newConn(fd, ln.network, l)
	c.laddr, c.raddr = connAddrs(fd, ln.network)
	if err := c.startRecv(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// tuneConn applies net's defaults (TCP_NODELAY) and the buffer sizes.
func tuneConn(fd int, network string, rbuf, wbuf int) error {
	if strings.HasPrefix(network, "tcp") {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	for _, o := range []struct{ opt, v int }{{unix.SO_RCVBUF, rbuf}, {unix.SO_SNDBUF, wbuf}} {
		if o.v > 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.opt, o.v); err != nil {
				return os.NewSyscallError("setsockopt", err)
			}
		}
	}
	return nil
}

// Addr returns the listener's address.
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Close stops listening: a blocked Accept returns net.ErrClosed, the
// multishot accept is cancelled and its last completion awaited,
// connections accepted but not handed out are closed, and a Unix socket's
// file is removed.
func (ln *Listener) Close() error {
	ln.mu.Lock()
	if ln.closed {
		ln.mu.Unlock()
		return ln.opError(net.ErrClosed)
	}
	ln.closed = true
	armed := ln.armed
	select {
	case ln.ready <- struct{}{}:
	default:
	}
	ln.mu.Unlock()
	if !armed {
		// An Accept may be polling the ring: make it look again.
		ln.l.poke()
	} else {
		ln.l.submit(func(s *uapi.SQE) {
			s.PrepCancel64(userData(opAccept, ln.id), 0)
			s.UserData = userData(opIgnore, ln.id)
		})
		ln.l.await(func() bool {
			ln.mu.Lock()
			defer ln.mu.Unlock()
			return !ln.armed
		}, ln.idle)
	}
	ln.mu.Lock()
	q := ln.queue
	ln.queue = nil
	ln.mu.Unlock()
	for _, fd := range q {
		unix.Close(fd)
	}
	ln.l.unregister(ln.id)
	err := unix.Close(ln.fd)
	if ln.unlink != "" && ln.unlink[0] != '@' {
		os.Remove(ln.unlink)
	}
	if err != nil {
		return ln.opError(os.NewSyscallError("close", err))
	}
	return nil
}

func (ln *Listener) opError(err error) error {
	return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: err}
}
