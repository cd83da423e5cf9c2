package uring

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bufring"
	"github.com/urgen/urgen/runtime/ring"
)

// A netLoop is one ring serving a share of the network connections: their
// accepts and receives, and the sends that found a socket buffer full.
// Any goroutine submits (under sqmu). Nobody reaps on the side: a
// goroutine that must wait for a completion first tries to become the
// ring's poller (one at a time), which waits in Go's netpoller on the
// ring's descriptor (readable when completions are posted) and dispatches
// every completion it finds until its own is among them; the others wait
// on their own channels. So no thread or goroutine is parked per ring, and
// a lone connection's goroutine is woken by the netpoller itself, as it
// would be in package net, with no second goroutine to hand over to.
type netLoop struct {
	r    *ring.Ring
	poll *os.File // a duplicate of the ring fd, registered with the netpoller

	sqmu      sync.Mutex // the submission queue
	gathering bool       // a submitGathered leader will enter soon (sqmu)
	// cqmu: one goroutine drains the completion queue at a time, the
	// reaper or a submitter that looks for its own completion.
	cqmu sync.Mutex
	// multishot: connections receive through a multishot receive into
	// the provided buffers (NetOptions.Multishot); ringRecv: each Read
	// receives through the ring (NetOptions.RingRecv). Neither: Reads
	// receive with recv(2), waiting for readiness in Go's netpoller.
	multishot, ringRecv bool

	// The provided buffers receives pick from. The reaper takes them
	// (Data), readers give them back (Return): bmu orders the two.
	bmu sync.Mutex
	br  *bufring.Ring
	// dry are connections whose receive ran out of buffers (ENOBUFS):
	// re-armed when buffers come back.
	dry []*Conn

	// Completion targets by id (the user data's low 32 bits).
	tmu     sync.RWMutex
	targets []target
	free    []uint32

	// The poller: leader is held by the goroutine waiting in the
	// netpoller; waiters counts goroutines in await; kick asks a waiter
	// to take over when the poller leaves.
	leader  atomic.Bool
	waiters atomic.Int64
	kick    chan struct{}
	pollRC  syscall.RawConn

	conns    atomic.Int64 // connections served, for dealing new ones
	inflight atomic.Int64 // requests submitted whose final completion is not reaped
	// dryEvents counts receives that found the provided buffers empty.
	dryEvents atomic.Int64
	cqes      []*uapi.CQE // drain's batch (cqmu)
}

// A target receives the completions of its requests, on whichever
// goroutine drains the ring.
type target interface {
	complete(op uint8, c *uapi.CQE)
}

// User data: the op in the top byte, the target's id in the low 32 bits,
// and for one-shot requests a submission count between them (so a late
// cancellation cannot hit the next request).
const (
	opIgnore uint8 = iota // cancellations and closes nobody waits for
	opRecv
	opSend
	opAccept
	opPollOut  // a POLLOUT poll: a dial's connect, a sendfile waiting for room
	opRecvOnce // a receive into the buffer of the Read that waits
)

func userData(op uint8, id uint32) uint64 { return uint64(op)<<56 | uint64(id) }

// NetOptions size the rings of the network layer.
type NetOptions struct {
	// Rings is how many rings serve connections (0: GOMAXPROCS at first
	// use). New connections go to the ring with the fewest.
	Rings int
	// Entries is each ring's submission queue size (0: 1024).
	Entries uint32
	// Multishot makes each connection receive through one multishot
	// receive into its ring's provided buffers, armed when it opens.
	Multishot bool
	// RingRecv makes each Read receive through the ring, one receive into
	// the Read's own buffer. By default (neither this nor Multishot) a
	// Read receives with recv(2) on the non-blocking socket and waits for
	// data in Go's netpoller, as package net does: one wake-up per
	// arrival, where a ring completion costs the submitting thread's
	// wake-up first (see the package doc for the measurements).
	RingRecv bool
	// Buffers and BufSize size each ring's provided buffer ring, which
	// every multishot receive of its connections picks from (0: 512
	// buffers of 16 KiB). Buffers must be a power of two.
	Buffers, BufSize int
}

func (o NetOptions) withDefaults() NetOptions {
	if o.Rings <= 0 {
		o.Rings = runtime.GOMAXPROCS(0)
	}
	if o.Entries == 0 {
		o.Entries = 1024
	}
	if o.Buffers == 0 {
		o.Buffers = 512
	}
	if o.BufSize == 0 {
		o.BufSize = 16 << 10
	}
	return o
}

func newNetLoop(o NetOptions) (*netLoop, error) {
	r, err := ring.New(o.Entries, ring.WithCQSize(o.Entries*4))
	if err != nil {
		return nil, fmt.Errorf("uring: network ring: %w", err)
	}
	l := &netLoop{r: r, kick: make(chan struct{}, 1), cqes: make([]*uapi.CQE, 256), multishot: o.Multishot, ringRecv: o.RingRecv}
	l.br, err = bufring.New(r, 0, o.Buffers, o.BufSize)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("uring: network ring buffers: %w", err)
	}
	// The netpoller needs a non-blocking descriptor; a duplicate keeps the
	// ring's own for ring.Close.
	pfd, err := unix.FcntlInt(uintptr(r.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		err = unix.SetNonblock(pfd, true)
	}
	if err != nil {
		l.br.Close()
		r.Close()
		return nil, &os.SyscallError{Syscall: "fcntl", Err: err}
	}
	l.poll = os.NewFile(uintptr(pfd), "io_uring")
	if l.pollRC, err = l.poll.SyscallConn(); err != nil {
		l.poll.Close()
		l.br.Close()
		r.Close()
		return nil, err
	}
	return l, nil
}

// register allocates an id for t.
func (l *netLoop) register(t target) uint32 {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if n := len(l.free); n > 0 {
		id := l.free[n-1]
		l.free = l.free[:n-1]
		l.targets[id] = t
		return id
	}
	l.targets = append(l.targets, t)
	return uint32(len(l.targets) - 1)
}

// unregister frees id once no request of its target is in flight.
func (l *netLoop) unregister(id uint32) {
	l.tmu.Lock()
	l.targets[id] = nil
	l.free = append(l.free, id)
	l.tmu.Unlock()
}

// submitGathered queues one request like submit, but lets other
// goroutines add theirs before entering the kernel: when other goroutines
// wait on the ring, the first to queue yields its P once
// (runtime.Gosched), so the goroutines that are runnable now (those a
// drain just woke, say) queue their requests too, then it submits them all
// with one io_uring_enter; the others return at once. A lone caller
// enters at once (a yield with nothing to gather only costs it latency:
// 1x64 echo fell from 0.77x to 0.62x net with it).
func (l *netLoop) submitGathered(prep func(*uapi.SQE)) error {
	l.sqmu.Lock()
	if err := l.queue(prep); err != nil {
		l.sqmu.Unlock()
		return err
	}
	if l.gathering {
		l.sqmu.Unlock()
		return nil // the leader submits it
	}
	if l.waiters.Load() == 0 {
		// Nobody else is at this ring: nobody would join.
		defer l.sqmu.Unlock()
		return l.enter()
	}
	l.gathering = true
	l.sqmu.Unlock()
	runtime.Gosched()
	l.sqmu.Lock()
	defer l.sqmu.Unlock()
	l.gathering = false
	return l.enter()
}

// submit queues one request, filled in by prep, and hands it to the
// kernel. A full submission queue is backpressure, never an error: it
// submits what is queued and tries again.
func (l *netLoop) submit(prep func(*uapi.SQE)) error {
	l.sqmu.Lock()
	defer l.sqmu.Unlock()
	if err := l.queue(prep); err != nil {
		return err
	}
	return l.enter()
}

// queue fills the next SQE with prep, submitting what is queued while the
// submission queue is full (sqmu held).
func (l *netLoop) queue(prep func(*uapi.SQE)) error {
	for {
		if s := l.r.NextSQE(); s != nil {
			prep(s)
			l.inflight.Add(1)
			return nil
		}
		if _, err := l.r.Submit(); err != nil && !retrySubmit(err) {
			return err
		}
	}
}

// enter submits what is queued (sqmu held).
func (l *netLoop) enter() error {
	for {
		err := enterFault()
		if err == nil {
			_, err = l.r.Submit()
		}
		if err == nil || !retrySubmit(err) {
			return err
		}
		// EAGAIN/EBUSY: completions are backed up; drain them (unless
		// this goroutine is the one draining, which frees them as it goes).
		l.sqmu.Unlock()
		l.tryDrain()
		runtime.Gosched()
		l.sqmu.Lock()
	}
}

func retrySubmit(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EINTR)
}

// await returns once done reports true, polling the ring meanwhile if no
// other goroutine does. ready is the caller's own wake-up channel, which
// completions (and deadlines, Close) signal; done takes whatever lock it
// needs.
func (l *netLoop) await(done func() bool, ready <-chan struct{}) {
	l.waiters.Add(1)
	for !done() {
		if l.leader.CompareAndSwap(false, true) {
			err := l.pollRC.Read(func(uintptr) bool {
				l.drain()
				return done()
			})
			l.leader.Store(false)
			if err != nil {
				panic(fmt.Sprintf("uring: polling a network ring: %v", err)) // closed under a waiter: a bug here
			}
			continue
		}
		select {
		case <-ready:
		case <-l.kick:
		}
	}
	// Leaving: make sure somebody polls for those still waiting (a waiter
	// that failed to become the poller sleeps until kicked).
	if l.waiters.Add(-1) > 0 && !l.leader.Load() {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// poke makes the ring readable (a NOP completion), so the poller looks
// at the state of the goroutines it serves again.
func (l *netLoop) poke() {
	l.submit(func(s *uapi.SQE) { s.PrepNop(); s.UserData = userData(opIgnore, 0) })
}

// tryDrain drains the completion queue unless another goroutine is at
// it, or a poller waits in the netpoller: then only the poller drains.
// Otherwise a completion that makes the poller's own wait end could be
// taken from under it after it last looked, and the readiness event would
// find the queue empty (epoll reports the ring fd writable only) and wake
// nobody.
func (l *netLoop) tryDrain() {
	if l.leader.Load() || !l.cqmu.TryLock() {
		return
	}
	// Checked again under the lock: a poller sets leader before its own
	// first drain, which waits for this one.
	if !l.leader.Load() {
		l.drainLocked()
	}
	l.cqmu.Unlock()
}

// drain handles every completion on the ring.
func (l *netLoop) drain() {
	l.cqmu.Lock()
	l.drainLocked()
	l.cqmu.Unlock()
}

func (l *netLoop) drainLocked() {
	for {
		n := l.r.PeekBatch(l.cqes)
		if n == 0 {
			return
		}
		l.tmu.RLock()
		for _, c := range l.cqes[:n] {
			if c.Flags&uapi.CQEFMore == 0 {
				l.inflight.Add(-1)
			}
			op, id := uint8(c.UserData>>56), uint32(c.UserData)
			if op == opIgnore {
				continue
			}
			if t := l.targets[id]; t != nil {
				l.tmu.RUnlock()
				t.complete(op, c)
				l.tmu.RLock()
			}
		}
		l.tmu.RUnlock()
		l.r.CQAdvance(uint32(n))
	}
}

// putBuffer returns a provided buffer to the ring and re-arms the
// receives that ran dry.
func (l *netLoop) putBuffer(bid uint16) {
	l.bmu.Lock()
	l.br.Return(bid)
	var dry []*Conn
	if len(l.dry) > 0 {
		dry, l.dry = l.dry, nil
	}
	l.bmu.Unlock()
	for _, c := range dry {
		c.rearm()
	}
}

// close releases the ring. Every connection and listener of the loop must
// be closed first.
func (l *netLoop) close() error {
	l.drain()
	err := l.poll.Close()
	// A deadline timer can still cancel a request (submit) or hand back a
	// buffer after the last connection closed: the buffer ring and the
	// ring close under the locks their users take (a Ring is not safe
	// for concurrent use), and calls after that get their closed errors.
	l.bmu.Lock()
	berr := l.br.Close()
	l.bmu.Unlock()
	if err == nil {
		err = berr
	}
	l.cqmu.Lock()
	l.sqmu.Lock()
	rerr := l.r.Close()
	l.sqmu.Unlock()
	l.cqmu.Unlock()
	if err == nil {
		err = rerr
	}
	return err
}

// The network rings, created at first use and kept for the life of the
// process, as Go's own netpoller is.
var netLoops struct {
	mu    sync.Mutex
	opts  *NetOptions // set by SetNetOptions
	loops []*netLoop
	err   error
}

// SetNetOptions sizes the network rings. It must be called before the
// first Listen or Dial; later calls return an error.
func SetNetOptions(o NetOptions) error {
	netLoops.mu.Lock()
	defer netLoops.mu.Unlock()
	if netLoops.loops != nil || netLoops.opts != nil {
		return errors.New("uring: SetNetOptions after the network rings started")
	}
	netLoops.opts = &o
	return nil
}

func startLoops(o NetOptions) ([]*netLoop, error) {
	o = o.withDefaults()
	var ls []*netLoop
	for range o.Rings {
		l, err := newNetLoop(o)
		if err != nil {
			for _, l := range ls {
				l.close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// pickLoop returns the ring serving the fewest connections.
func pickLoop() (*netLoop, error) {
	netLoops.mu.Lock()
	if netLoops.loops == nil && netLoops.err == nil {
		var o NetOptions
		if netLoops.opts != nil {
			o = *netLoops.opts
		}
		netLoops.loops, netLoops.err = startLoops(o)
	}
	loops, err := netLoops.loops, netLoops.err
	netLoops.mu.Unlock()
	if err != nil {
		return nil, err
	}
	best := loops[0]
	for _, l := range loops[1:] {
		if l.conns.Load() < best.conns.Load() {
			best = l
		}
	}
	return best, nil
}

// errnoOf returns the errno of a failed completion.
func errnoOf(c *uapi.CQE) syscall.Errno { return syscall.Errno(-c.Res) }
