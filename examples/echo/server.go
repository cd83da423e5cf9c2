package main

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bufring"
	"github.com/urgen/urgen/runtime/ring"
	"github.com/urgen/urgen/runtime/sock"
)

// Config sizes a server.
type Config struct {
	Addr    netip.AddrPort // listen address; port 0 picks one
	Workers int            // rings, each driven by its own goroutine
	Entries uint32         // SQ entries per ring
	Buffers int            // provided buffers per ring (a power of two)
	BufSize int            // bytes per buffer
	// Spin keeps a worker polling its ring (no system call while nothing
	// is pending) for this long after its last completion before it
	// sleeps in io_uring_enter: under load the next request usually
	// arrives within it, and the worker saves a sleep and a wakeup (as
	// Go's scheduler spins briefly before it parks a thread). Between
	// polls it yields the CPU (sched_yield) to any other runnable thread,
	// so spinning only uses CPU time nothing else wants. Measured with the
	// load generator on the same two cores: without the yield, 3 us was
	// best and 20 us or more took CPU from the client; with it (and
	// Slice), 100 us cut the machine's idle time at 16 connections from
	// about 11% to 7%, the context switches per round trip by half, and
	// raised throughput from about net's to 1.09x. The price is CPU time
	// at low load: a lone connection's round trip costs the server 41 us
	// of CPU instead of 28.
	Spin time.Duration
	// Pack is how many connections the acceptor's ring serves alone
	// before it deals new ones to the least loaded worker. A few
	// connections keep one ring busy; spreading them over more rings only
	// adds threads that sleep and must be woken (on the benchmark's two
	// CPUs, shared with the client, 16 connections on two rings had twice
	// the p99 latency of 16 on one). 0 spreads from the first connection.
	Pack int
	// Direct makes connections direct descriptors: accepted straight into
	// the ring's file table (IORING_FILE_INDEX_ALLOC), passed between rings
	// with IORING_MSG_SEND_FD and closed with IORING_OP_CLOSE, never in the
	// process's descriptor table, so no recv or send looks the descriptor
	// up or counts references to it. Each ring's table has Slots entries
	// (a full table makes the kernel refuse new connections).
	Direct bool
	Slots  uint32
	// Slice is the scheduler time slice each worker's thread asks for
	// (sched_setattr with sched_runtime, the EEVDF slice request of Linux
	// 6.12 and later; 0 keeps the kernel's default, 1.4 ms on the
	// benchmark's two CPUs). A shorter slice gives the thread an earlier deadline when
	// it becomes runnable, so a ring whose thread waits behind other
	// threads for a CPU (the client's, on the benchmark's shared cores)
	// stalls its connections for less time. With 100 us, p99 at 256
	// connections went from about net's to 20% below it.
	Slice time.Duration
}

// Server is an echo server: per worker one ring and goroutine, and per
// connection a multishot recv into the worker's provided buffer ring whose
// buffers are sent back as they are, with no copy. The first worker also
// runs the multishot accept and deals the connections out (see
// Config.Pack), passing each to its worker with IORING_OP_MSG_RING, so the
// load stays even (SO_REUSEPORT's hash leaves it uneven).
type Server struct {
	workers []*worker
	addr    netip.AddrPort
	wg      sync.WaitGroup
}

// Stats counts what a server holds; all zero after Close means nothing
// leaked.
type Stats struct {
	Accepted  int64 // connections accepted so far
	Open      int64 // connections open now
	Inflight  int64 // requests submitted and not finally completed
	HeldBufs  int64 // provided buffers out of their ring
	Rearms    int64 // multishot recvs re-armed (ran dry or ended)
	DryEvents int64 // ENOBUFS completions
	// OpenPerWorker is Open for each worker (the acceptor first).
	OpenPerWorker []int64
}

// user data: op in the top byte, descriptor below.
const (
	opAccept uint64 = iota + 1
	opRecv
	opSend
	opCancel
	opClose
	opWake
	opMsg   // a connection passed to another worker (on the sender)
	opAdopt // a connection passed from the acceptor (on the receiver)
)

func ud(op uint64, fd int32) uint64 { return op<<56 | uint64(uint32(fd)) }

type seg struct {
	bid uint16
	off int32
	n   int32
}

type conn struct {
	fd        int32
	recvArmed bool
	sending   bool
	closing   bool // stop receiving; close once nothing is in flight
	q         []seg
	qbuf      [4]seg // q's usual backing: no allocation per message
}

type worker struct {
	cfg    Config
	r      *ring.Ring
	br     *bufring.Ring
	lfd    int
	conns  []*conn // by descriptor
	rearm  []int32
	accept bool // multishot accept armed
	stop   atomic.Bool
	efd    int       // eventfd that Close writes to wake the worker
	peers  []*worker // the other workers (acceptor only)
	// load counts the connections open on this worker or passed to it and
	// not yet adopted: the acceptor deals by it.
	load      atomic.Int64
	done      chan struct{}
	wakeBuf   [8]byte // the eventfd read's buffer: lives as long as the worker
	wakeArmed bool
	stats     Stats
	statsMu   sync.Mutex
	snap      Stats
	err       error
}

// Listen starts the workers; each creates its ring on its own goroutine
// (SINGLE_ISSUER rings belong to the thread that made them).
func Listen(cfg Config) (*Server, error) {
	s := &Server{addr: cfg.Addr}
	ready := make(chan error, cfg.Workers)
	// The acceptor starts last, once the rings it deals to exist.
	s.workers = make([]*worker, cfg.Workers)
	for i := cfg.Workers - 1; i >= 0; i-- {
		w := &worker{cfg: cfg, lfd: -1, efd: -1, done: make(chan struct{})}
		if i == 0 {
			w.peers = s.workers[1:]
		}
		s.workers[i] = w
		s.wg.Add(1)
		go w.run(&s.wg, ready, i == 0)
		if err := <-ready; err != nil {
			s.workers = s.workers[i+1:]
			s.Close()
			return nil, err
		}
	}
	s.addr = s.workers[0].bound()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Stats sums the workers' counters (as of their last loop iteration).
func (s *Server) Stats() Stats {
	var t Stats
	for _, w := range s.workers {
		w.statsMu.Lock()
		st := w.snap
		w.statsMu.Unlock()
		t.Accepted += st.Accepted
		t.Open += st.Open
		t.Inflight += st.Inflight
		t.HeldBufs += st.HeldBufs
		t.Rearms += st.Rearms
		t.DryEvents += st.DryEvents
		t.OpenPerWorker = append(t.OpenPerWorker, st.Open)
	}
	return t
}

// Close stops the workers: they cancel their requests, close their
// connections, wait for the last completions and release rings and buffers.
func (s *Server) Close() error {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0} // eventfd counters are host-endian; any non-zero value wakes
	// The acceptor first: once it is gone no connection is in transit, and
	// the others adopt or close what it passed them before they stop.
	for i, w := range s.workers {
		w.stop.Store(true)
		if w.efd > 0 {
			unix.Write(w.efd, one)
		}
		if i == 0 {
			<-w.done
		}
	}
	s.wg.Wait()
	var errs []error
	for _, w := range s.workers {
		w.closeWake()
		if w.err != nil {
			errs = append(errs, w.err)
		}
	}
	return errors.Join(errs...)
}

func (w *worker) bound() netip.AddrPort {
	sa, err := unix.Getsockname(w.lfd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func (w *worker) setup(acceptor bool) error {
	var err error
	w.r, err = ring.New(w.cfg.Entries,
		// TASKRUN_FLAG: the kernel flags pending task work in the SQ ring,
		// so polling needs no system call until there is work.
		ring.WithFlags(uapi.SetupSingleIssuer|uapi.SetupDeferTaskrun|uapi.SetupTaskrunFlag|uapi.SetupSubmitAll),
		ring.WithCQSize(w.cfg.Entries*4))
	if err != nil {
		// Kernels before 6.1 lack DEFER_TASKRUN.
		w.r, err = ring.New(w.cfg.Entries, ring.WithCQSize(w.cfg.Entries*4))
		if err != nil {
			return err
		}
	}
	if w.cfg.Direct {
		if err := w.r.RegisterFilesSparse(w.cfg.Slots); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
	}
	w.br, err = bufring.New(w.r, 0, w.cfg.Buffers, w.cfg.BufSize)
	if err != nil {
		return err
	}
	// The loop sleeps in io_uring_enter without a timeout; Close wakes it
	// through this eventfd, whose read is always armed.
	w.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("echo: eventfd: %w", err)
	}
	sqe := w.r.NextSQE()
	sqe.PrepRead(int32(w.efd), w.wakeBuf[:], 0)
	sqe.UserData = ud(opWake, int32(w.efd))
	w.wakeArmed = true
	if !acceptor {
		return nil
	}
	domain := unix.AF_INET
	if w.cfg.Addr.Addr().Is6() {
		domain = unix.AF_INET6
	}
	w.lfd, err = unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("echo: socket: %w", err)
	}
	for _, o := range [][2]int{{unix.SOL_SOCKET, unix.SO_REUSEADDR}, {unix.IPPROTO_TCP, unix.TCP_NODELAY}} {
		if err := unix.SetsockoptInt(w.lfd, o[0], o[1], 1); err != nil {
			return fmt.Errorf("echo: setsockopt %d/%d: %w", o[0], o[1], err)
		}
	}
	a := sock.AddrFrom(w.cfg.Addr)
	if err := bindRaw(w.lfd, a); err != nil {
		return err
	}
	if err := unix.Listen(w.lfd, 4096); err != nil {
		return fmt.Errorf("echo: listen: %w", err)
	}
	return w.armAccept()
}

// bindRaw binds through the ring-independent system call (the ring's
// IORING_OP_BIND needs Linux 6.11; the server runs on older kernels too).
func bindRaw(fd int, a *sock.Addr) error {
	ap, err := a.AddrPort()
	if err != nil {
		return err
	}
	var sa unix.Sockaddr
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("echo: bind %v: %w", ap, err)
	}
	return nil
}

func (w *worker) run(wg *sync.WaitGroup, ready chan<- error, acceptor bool) {
	defer wg.Done()
	defer close(w.done)
	if err := w.setup(acceptor); err != nil {
		w.release()
		w.closeWake() // Close never sees this worker
		ready <- err
		return
	}
	restore := w.askSlice()
	ready <- nil
	w.err = w.loop()
	w.shutdown()
	restore()
	w.release()
	w.publish()
}

// askSlice asks the scheduler for Config.Slice on this worker's thread and
// returns what puts the thread back as it was. The goroutine stays locked
// to the thread in between (the ring locks it only with SINGLE_ISSUER), so
// the request never lands on, or stays with, a thread that Go's scheduler
// hands to other goroutines.
func (w *worker) askSlice() (restore func()) {
	if w.cfg.Slice <= 0 {
		return func() {}
	}
	runtime.LockOSThread()
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		// Without sched_getattr nothing could be put back: no request.
		runtime.UnlockOSThread()
		return func() {}
	}
	// A hint: kernels before 6.12 ignore the runtime of a SCHED_OTHER
	// thread, and the server works the same either way.
	ask := *old
	ask.Runtime = uint64(w.cfg.Slice)
	unix.SchedSetAttr(0, &ask, 0)
	return func() {
		unix.SchedSetAttr(0, old, 0)
		runtime.UnlockOSThread()
	}
}

func (w *worker) release() {
	if w.br != nil {
		if err := w.br.Close(); err != nil && w.err == nil {
			w.err = err
		}
		w.br = nil
	}
	if w.r != nil {
		w.r.Close()
	}
	if w.lfd > 0 {
		unix.Close(w.lfd)
		w.lfd = -1
	}
}

// closeWake closes the wake-up eventfd. Close calls it once the worker has
// stopped: until then Close may still be writing to it, and a descriptor
// the worker closed could already be reused.
func (w *worker) closeWake() {
	if w.efd > 0 {
		unix.Close(w.efd)
		w.efd = -1
	}
}

// publish copies the counters for Stats (read from other goroutines).
func (w *worker) publish() {
	if w.br != nil {
		w.stats.HeldBufs = int64(w.br.Held())
	} else {
		w.stats.HeldBufs = 0
	}
	w.statsMu.Lock()
	w.snap = w.stats
	w.statsMu.Unlock()
}

// queue runs f until it finds room in the SQ.
func (w *worker) queue(f func() (*uapi.SQE, error)) {
	for {
		if _, err := f(); err == nil {
			w.stats.Inflight++
			return
		}
		if _, err := w.r.Submit(); err != nil && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN) {
			panic(err)
		}
	}
}

func (w *worker) armAccept() error {
	w.queue(func() (*uapi.SQE, error) {
		if w.cfg.Direct {
			// No SOCK_CLOEXEC: a direct descriptor is in no fd table
			// (the kernel refuses the flag with EINVAL).
			return sock.AcceptMultishotDirect(w.r, ud(opAccept, int32(w.lfd)), w.lfd, 0)
		}
		return sock.AcceptMultishot(w.r, ud(opAccept, int32(w.lfd)), w.lfd, unix.SOCK_CLOEXEC)
	})
	w.accept = true
	return nil
}

func (w *worker) armRecv(c *conn) {
	w.queue(func() (*uapi.SQE, error) {
		return w.fixed(sock.RecvSelect(w.r, ud(opRecv, c.fd), int(c.fd), w.br.Group(), 0, uapi.RecvMultishot))
	})
	c.recvArmed = true
}

func (w *worker) loop() error {
	cqes := make([]*uapi.CQE, 256)
	for {
		if w.stop.Load() {
			return nil
		}
		_, err := w.r.SubmitAndWait(1)
		if err != nil && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EBUSY) {
			return err
		}
		w.reap(cqes)
		if w.cfg.Spin > 0 {
			w.spin(cqes)
		}
		w.publish()
	}
}

// spin polls the ring until no completion has come for cfg.Spin: pending
// task work shows as IORING_SQ_TASKRUN, which PeekBatch (inside reap)
// checks before it enters the kernel, without waiting, to run it.
func (w *worker) spin(cqes []*uapi.CQE) {
	last := time.Now()
	for !w.stop.Load() {
		if w.r.SQReady() > 0 {
			if _, err := w.r.Submit(); err != nil && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN) {
				return
			}
		}
		if w.reap(cqes) > 0 {
			last = time.Now()
			continue
		}
		if time.Since(last) > w.cfg.Spin {
			return
		}
		// Let any other runnable thread (another worker, a client on the
		// same machine) have the CPU before polling again: the worker
		// stays runnable, so it needs no wakeup when work arrives.
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

// reap handles every completion available, then returns buffers and
// re-arms receives in one go. It returns how many it handled.
func (w *worker) reap(cqes []*uapi.CQE) int {
	total := 0
	for {
		n := w.r.PeekBatch(cqes)
		if n == 0 {
			break
		}
		total += n
		for _, c := range cqes[:n] {
			w.handle(c)
		}
		w.r.CQAdvance(uint32(n))
	}
	w.br.Advance()
	if len(w.rearm) > 0 && w.br.Available() > 0 {
		for _, fd := range w.rearm {
			if c := w.conn(fd); c != nil && !c.recvArmed && !c.closing {
				w.stats.Rearms++
				w.armRecv(c)
			}
		}
		w.rearm = w.rearm[:0]
	}
	return total
}

func (w *worker) conn(fd int32) *conn {
	if int(fd) < len(w.conns) {
		return w.conns[fd]
	}
	return nil
}

func (w *worker) handle(c *uapi.CQE) {
	op, fd := c.UserData>>56, int32(c.UserData)
	switch op {
	case opWake:
		w.wakeArmed = false
		return
	case opAdopt:
		// Not submitted here: no in-flight count to drop.
		if w.stop.Load() {
			w.closeConn(c.Res)
			w.load.Add(-1)
		} else {
			w.open(c.Res)
		}
		return
	}
	if c.Flags&uapi.CQEFMore == 0 {
		w.stats.Inflight--
	}
	switch op {
	case opAccept:
		if c.Flags&uapi.CQEFMore == 0 {
			w.accept = false
			switch errno := unix.Errno(-c.Res); {
			case w.stop.Load():
			case c.Res >= 0 || transient(errno):
				w.armAccept()
			default:
				// Re-arming would fail the same way, in a busy loop.
				w.err = fmt.Errorf("echo: multishot accept stopped: %w", errno)
			}
		}
		if c.Res < 0 {
			return
		}
		w.deal(c.Res)
	case opRecv:
		w.recv(fd, c)
	case opSend:
		w.sent(fd, c)
	case opMsg:
		if c.Res < 0 {
			// The message did not arrive: the connection is still ours
			// to close.
			w.closeConn(fd)
			w.peers[c.UserData>>32&0xffffff].load.Add(-1)
		} else if w.cfg.Direct {
			// The peer's table holds the connection now; drop this
			// ring's reference.
			w.closeConn(fd)
		}
	case opClose, opCancel:
	}
}

// transient reports whether a failed accept may succeed when re-armed: the
// peer gave up, or descriptors, file table slots or memory ran short.
func transient(errno unix.Errno) bool {
	switch errno {
	case unix.ECONNABORTED, unix.EINTR, unix.EAGAIN, unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECANCELED:
		return true
	}
	return false
}

// deal keeps a new connection while the acceptor's ring has fewer than
// cfg.Pack, and otherwise hands it to the worker with the fewest (itself
// on a tie).
func (w *worker) deal(fd int32) {
	t, ti := w, -1
	if w.load.Load() >= int64(w.cfg.Pack) {
		for i, p := range w.peers {
			if p.load.Load() < t.load.Load() {
				t, ti = p, i
			}
		}
	}
	t.load.Add(1)
	if t == w {
		w.open(fd)
		return
	}
	target := t.r.FD()
	w.queue(func() (*uapi.SQE, error) {
		s := w.r.NextSQE()
		if s == nil {
			return nil, unix.EBUSY
		}
		// The peer's completion carries the descriptor in res: the number
		// itself (one process, one descriptor table), or the slot that
		// IORING_MSG_SEND_FD installed the file in.
		if w.cfg.Direct {
			s.PrepMsgRingFDAlloc(int32(target), fd, ud(opAdopt, 0), 0)
		} else {
			s.PrepMsgRing(int32(target), uint32(fd), ud(opAdopt, fd), 0)
		}
		// The peer's index rides in the free middle bits, for a failed
		// message (see handle).
		s.UserData = ud(opMsg, fd) | uint64(ti)<<32
		return s, nil
	})
}

func (w *worker) open(fd int32) {
	for int(fd) >= len(w.conns) {
		w.conns = append(w.conns, make([]*conn, len(w.conns)+64)...)
	}
	c := &conn{fd: fd}
	c.q = c.qbuf[:0]
	w.conns[fd] = c
	w.stats.Accepted++
	w.stats.Open++
	w.armRecv(c)
}

func (w *worker) recv(fd int32, cq *uapi.CQE) {
	c := w.conn(fd)
	more := cq.Flags&uapi.CQEFMore != 0
	if !more {
		c.recvArmed = false
	}
	switch {
	case cq.Res > 0:
		_, bid, _, err := w.br.Data(cq)
		if err != nil {
			panic(err)
		}
		if c.closing {
			w.br.Put(bid)
			break
		}
		c.q = append(c.q, seg{bid: bid, n: cq.Res})
		if !c.sending {
			w.send(c)
		}
		if !more {
			w.rearm = append(w.rearm, fd)
		}
	case bufring.Dry(cq):
		w.stats.DryEvents++
		w.rearm = append(w.rearm, fd)
	default:
		// EOF or an error: the peer is gone.
		c.closing = true
	}
	w.maybeClose(c)
}

func (w *worker) send(c *conn) {
	s := &c.q[0]
	p := unsafe.Pointer(unsafe.SliceData(w.br.Buf(s.bid)[s.off:]))
	w.queue(func() (*uapi.SQE, error) {
		return w.fixed(sock.SendMapped(w.r, ud(opSend, c.fd), int(c.fd), p, int(s.n), unix.MSG_NOSIGNAL))
	})
	c.sending = true
}

func (w *worker) sent(fd int32, cq *uapi.CQE) {
	c := w.conn(fd)
	c.sending = false
	s := &c.q[0]
	switch {
	case cq.Res < 0:
		// Peer reset or closed: drop what is queued, stop receiving.
		for _, s := range c.q {
			w.br.Put(s.bid)
		}
		c.q = c.qbuf[:0]
		if !c.closing {
			c.closing = true
			if c.recvArmed {
				w.queue(func() (*uapi.SQE, error) {
					return sock.Cancel(w.r, ud(opCancel, fd), ud(opRecv, fd))
				})
			}
		}
	case cq.Res < s.n:
		s.off += cq.Res
		s.n -= cq.Res
	default:
		w.br.Put(s.bid)
		c.q = c.q[1:]
	}
	if len(c.q) > 0 && cq.Res >= 0 {
		w.send(c)
	} else if len(c.q) == 0 {
		c.q = c.qbuf[:0]
	}
	w.maybeClose(c)
}

// fixed marks a queued request as addressing a direct descriptor when the
// server uses them.
func (w *worker) fixed(s *uapi.SQE, err error) (*uapi.SQE, error) {
	if err == nil && w.cfg.Direct {
		s.Flags |= uapi.SQEFixedFile
	}
	return s, err
}

// closeConn closes a connection's descriptor: a direct one through the
// ring, a plain one at once.
func (w *worker) closeConn(fd int32) {
	if !w.cfg.Direct {
		unix.Close(int(fd))
		return
	}
	w.queue(func() (*uapi.SQE, error) {
		return sock.CloseDirect(w.r, ud(opClose, fd), uint32(fd))
	})
}

// maybeClose closes a closing connection once no request refers to it.
func (w *worker) maybeClose(c *conn) {
	if !c.closing || c.recvArmed || c.sending {
		return
	}
	for _, s := range c.q {
		w.br.Put(s.bid)
	}
	w.conns[c.fd] = nil
	w.stats.Open--
	w.load.Add(-1)
	// Nothing in the ring refers to the descriptor any more.
	w.closeConn(c.fd)
}

// shutdown cancels everything in flight and waits for the last
// completions, so no buffer, descriptor or request outlives the worker.
func (w *worker) shutdown() {
	if w.r == nil {
		return
	}
	if w.accept {
		w.queue(func() (*uapi.SQE, error) {
			return sock.Cancel(w.r, ud(opCancel, int32(w.lfd)), ud(opAccept, int32(w.lfd)))
		})
	}
	for _, c := range w.conns {
		if c != nil {
			c.closing = true
			if c.recvArmed {
				fd := c.fd
				w.queue(func() (*uapi.SQE, error) {
					return sock.Cancel(w.r, ud(opCancel, fd), ud(opRecv, fd))
				})
			}
			w.maybeClose(c)
		}
	}
	cqes := make([]*uapi.CQE, 256)
	wait := &ring.WaitOptions{Timeout: 10 * time.Millisecond}
	deadline := time.Now().Add(5 * time.Second)
	// Enter the kernel at least until a wait times out with nothing in
	// flight: connections passed by the acceptor may still sit in task
	// work, and must be seen (and closed) before the ring goes.
	for time.Now().Before(deadline) {
		_, _, err := w.r.SubmitAndWaitTimeout(1, wait)
		w.reap(cqes)
		if w.stats.Inflight == 0 && !w.wakeArmed && errors.Is(err, unix.ETIME) {
			break
		}
	}
	if w.stats.Inflight > 0 && w.err == nil {
		w.err = fmt.Errorf("echo: %d requests still in flight at shutdown", w.stats.Inflight)
	}
	w.publish()
}
