package uring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// A shard is one ring shared by every goroutine that runs on its P.
//
// Submission is combining: a goroutine copies its SQE into the ring under
// sqmu and, if no batch is open, opens one and leads it. The leader yields
// its P once (goyield), so that the goroutines already runnable there add
// their SQEs and wait, then publishes the tail and enters the kernel for
// all of them, with no lock held. Page-cache reads and writes complete
// inside that io_uring_enter, so the leader usually finds the batch's
// completions posted when it returns and reaps them under cqmu: an owner
// that yielded behind it finds its result, one that parked is woken (see
// laterCompletion). Completions that come later (io-wq, block device interrupts,
// sockets, timeouts) signal the ring's eventfd, on which the reaper
// goroutine sleeps in Go's netpoller. While a leader reaps its own batch
// the eventfd is switched off, so inline completions wake nobody else.
type shard struct {
	e *Engine
	r *ring.Ring

	sqmu      sync.Mutex
	gathering atomic.Bool // a leader has queued and yields before it submits
	ones      uint32      // consecutive submissions of a single SQE (sqmu)
	soloMode  atomic.Bool // recent batches had one request: make the plain system call
	soloOps   atomic.Uint32

	slots slots

	cqmu sync.Mutex
	cqes []*uapi.CQE

	evmu    sync.Mutex
	entered int // goroutines between enter and reap (evmu)

	ops atomic.Int64 // requests between begin and end

	fixedOps atomic.Int64 // reads and writes submitted with a fixed buffer

	// fixed: the ring has a file table of one slot per request slot, free
	// while the request slot is.
	fixed bool

	efd        *os.File
	reaperDone chan struct{}
	spin       time.Duration
	_          [64]byte // keep neighbouring shards off this one's cache lines
}

// User data: a slot index, with udChan when its owner waits on the slot's
// channel (in a select with its context) rather than parked; udIgnore marks
// CQEs that belong to no slot (cancellations).
const (
	udIgnore = 1 << 63
	udChan   = 1 << 62
)

func newShard(e *Engine, o *Options) (*shard, error) {
	r, err := ring.New(o.Entries, ring.WithCQSize(2*o.Entries))
	if err != nil {
		return nil, err
	}
	p := r.Params()
	s := &shard{e: e, r: r, cqes: make([]*uapi.CQE, p.CQEntries), reaperDone: make(chan struct{}), spin: o.Spin}
	s.slots.init(p.SQEntries)
	// A sparse file table with a slot per request slot, for requests
	// that open a direct descriptor, then fileSlots for registered Files
	// (Linux 5.19; without it they take the descriptor path).
	s.fixed = r.RegisterFilesSparse(p.SQEntries+fileSlots) == nil
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		r.Close()
		return nil, &os.SyscallError{Syscall: "eventfd", Err: err}
	}
	if err := r.RegisterEventfd(efd); err != nil {
		unix.Close(efd)
		r.Close()
		return nil, err
	}
	// Non-blocking, so os.File reads it through the netpoller: the reaper
	// sleeps without a thread.
	s.efd = os.NewFile(uintptr(efd), "io_uring eventfd")
	go s.reaper()
	return s, nil
}

// begin counts a request in, unless the engine is closed.
func (s *shard) begin() bool {
	s.ops.Add(1)
	if s.e.closed.Load() {
		s.ops.Add(-1)
		return false
	}
	return true
}

func (s *shard) end() { s.ops.Add(-1) }

// solo reports whether the caller should make the plain system call
// instead: the ring's recent batches held one request each, so nobody would
// share the io_uring_enter, which then costs more than the call. Every 64th
// request goes through the ring anyway, opening a batch that others join if
// they have come.
func (s *shard) solo() bool {
	if !s.soloMode.Load() || s.gathering.Load() {
		return false
	}
	return s.soloOps.Add(1)&63 != 0
}

// reqFlags describe the requests of a do or doLinked.
type reqFlags uint8

const (
	// laterCompletion: the request completes after its batch's
	// io_uring_enter has returned (block I/O of an O_DIRECT file, a cache
	// miss, and whatever io-wq runs: fsync, fallocate, statx, an open that
	// may create or truncate, mkdir ...), so its owner parks at once.
	// Without it the owner yields its P once before it parks: a request
	// that completes inside the enter (a page-cache read, an open, a
	// close) is then done, since the batch's leader yielded before the
	// owner did and has entered and reaped by the time the owner runs
	// again, which spares the park and the goready (whose wakep takes the
	// scheduler's lock). A NOP through the ring from 32 and 256 goroutines
	// (BenchmarkNopTrip) measured 0.5-0.55x the CPU per request with the
	// yield; on O_DIRECT reads the yield cost 6% more CPU per read.
	laterCompletion reqFlags = 1 << iota
	// directChain: doLinked's chain holds a direct descriptor.
	directChain
)

// do submits sqe (its user data is set here) and waits for its completion.
// keep is the memory the SQE points to; fl says when it completes. When ctx ends first, the request is
// cancelled (IORING_OP_ASYNC_CANCEL) and do still waits for its completion:
// only then is the kernel done with keep. The error is ErrClosed when the
// engine is closed, or ctx's error when the request was cancelled.
func (s *shard) do(ctx context.Context, sqe *uapi.SQE, keep keepRefs, fl reqFlags) (int32, uapi.CQEFlags, error) {
	if !s.begin() {
		return 0, 0, ErrClosed
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	i := s.slots.alloc()
	sl := &s.slots.s[i]
	sl.keep = keep
	ud := uint64(i)
	if done != nil {
		ud |= udChan
	}
	if s.queue(sqe, ud) {
		s.lead()
	}
	uds := [1]uint64{ud}
	s.await(sl, done, uds[:], fl)
	res, flags := sl.res, sl.flags
	s.slots.release(i)
	s.end()
	if res == -int32(unix.ECANCELED) && done != nil && ctx.Err() != nil {
		return res, flags, ctx.Err()
	}
	return res, flags, nil
}

// await waits for sl's completion, whose user data is uds[0]: parked, or
// on the slot's channel (udChan). If done closes first it cancels the
// requests with user data uds (the slot's and any after it in a chain) and
// goes on waiting for the completion, reporting that it cancelled. fl are
// the request's flags.
func (s *shard) await(sl *slot, done <-chan struct{}, uds []uint64, fl reqFlags) bool {
	if uds[0]&udChan == 0 {
		sl.w.wait(fl&laterCompletion == 0)
		return false
	}
	select {
	case <-sl.ch:
		return false
	case <-done:
		for _, ud := range uds {
			s.cancel(ud)
		}
		<-sl.ch
		return true
	}
}

// queue copies sqe into the ring with user data ud and reports whether the
// caller opened the batch, and so must lead it.
func (s *shard) queue(sqe *uapi.SQE, ud uint64) bool {
	s.sqmu.Lock()
	dst := s.r.NextSQE()
	for dst == nil {
		// More entries queued than the SQ holds: submit them.
		s.sqmu.Unlock()
		s.submit()
		s.sqmu.Lock()
		dst = s.r.NextSQE()
	}
	*dst = *sqe
	dst.UserData = ud
	cancelFault(dst)
	lead := !s.gathering.Load()
	if lead {
		s.gathering.Store(true)
	}
	s.sqmu.Unlock()
	return lead
}

// lead lets the goroutines runnable on this P join the batch, then submits.
func (s *shard) lead() {
	if !s.e.opts.NoYield {
		goyield()
	}
	s.submit()
}

// cancel asks the kernel to cancel the request with user data ud.
func (s *shard) cancel(ud uint64) {
	var c uapi.SQE
	c.PrepCancel64(ud, 0)
	if s.queue(&c, udIgnore) {
		s.submit()
	}
}

// submit publishes what is queued, enters the kernel for it and reaps.
// EAGAIN and EBUSY (the kernel is short of memory, or completions are
// backed up) are retried after reaping; nothing queued is ever dropped.
func (s *shard) submit() {
	s.sqmu.Lock()
	s.gathering.Store(false)
	n := s.r.Publish()
	s.track(n)
	s.sqmu.Unlock()
	if n == 0 {
		// Another goroutine's io_uring_enter took them; it reaps.
		return
	}
	s.quiet(true)
	for n > 0 {
		k, err := 0, enterFault()
		if err == nil {
			k, err = s.r.Enter(n, 0, 0)
		}
		switch {
		case err == nil:
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY):
			s.reap()
			goyield()
		default:
			// Enter fails otherwise only on a broken invariant (a closed
			// or corrupt ring); the queued requests could never complete.
			panic(fmt.Sprintf("uring: %v with %d requests queued", err, n))
		}
		if err == nil && uint32(k) >= n {
			break
		}
		// Partly taken (or by another goroutine's enter): what is left?
		s.sqmu.Lock()
		n = s.r.Publish()
		s.sqmu.Unlock()
	}
	s.reap()
	if s.quiet(false) {
		// Completions posted while the eventfd was off signalled nobody.
		s.reap()
	}
}

// track switches the shard between batching and the plain system call,
// from the size of each submission.
func (s *shard) track(n uint32) {
	const soloAfter = 4
	switch {
	case n == 1:
		if s.ones < soloAfter {
			s.ones++
		} else if !s.soloMode.Load() && !s.e.opts.RingOnly {
			s.soloMode.Store(true)
		}
	case n > 1:
		s.ones = 0
		if s.soloMode.Load() {
			s.soloMode.Store(false)
		}
	}
}

// quiet counts goroutines between entering the kernel and reaping: the
// first one in switches the eventfd off, the last one out on again, and
// reports that it did.
func (s *shard) quiet(in bool) bool {
	s.evmu.Lock()
	defer s.evmu.Unlock()
	if in {
		s.entered++
		if s.entered == 1 {
			s.r.SetCQRingFlags(uapi.CQEventfdDisabled)
		}
		return false
	}
	s.entered--
	if s.entered == 0 {
		s.r.SetCQRingFlags(0)
		return true
	}
	return false
}

// reap consumes every posted completion and wakes its owner.
func (s *shard) reap() bool {
	s.cqmu.Lock()
	got := false
	for {
		n := s.r.PeekBatch(s.cqes)
		if n == 0 {
			break
		}
		got = true
		raceAcquire(&s.sqmu)
		for _, c := range s.cqes[:n] {
			s.complete(c)
		}
		s.r.CQAdvance(uint32(n))
	}
	s.cqmu.Unlock()
	return got
}

func (s *shard) complete(c *uapi.CQE) {
	if c.UserData&udIgnore != 0 {
		return
	}
	sl := &s.slots.s[uint32(c.UserData)]
	sl.res, sl.flags = c.Res, c.Flags
	if c.UserData&udChan != 0 {
		sl.ch <- struct{}{}
	} else {
		sl.w.wake()
	}
}

// reaper reaps whenever the eventfd fires; it sleeps in the netpoller, so
// an idle ring costs no thread and no CPU. With a spin time it keeps
// polling the CQ that long after the last completion before it sleeps.
func (s *shard) reaper() {
	defer close(s.reaperDone)
	rc, err := s.efd.SyscallConn()
	if err != nil {
		return
	}
	w := edgeWait{ready: func() bool { return s.r.CQReady() > 0 }}
	for {
		if err := w.await(rc); err != nil {
			return
		}
		if !s.reap() || s.spin <= 0 {
			continue
		}
		for until := time.Now().Add(s.spin); time.Now().Before(until); {
			goyield()
			if s.reap() {
				until = time.Now().Add(s.spin)
			}
		}
	}
}

// edgeWait waits for the next signal of an eventfd without reading it.
// Go's netpoller is edge-triggered, and every signal of an eventfd is a
// new edge whatever its count, so the wait needs no read(2) to reset the
// count: the reaper saves two system calls per wake-up that way (the
// read, and the read that finds the count zero before it parks again).
type edgeWait struct {
	// ready reports work that is already there. The netpoller forgets an
	// edge that came before the wait began, so await looks first: work
	// that comes after the look signals after it.
	ready  func() bool
	waited bool
	poll   func(uintptr) bool // w.check, bound once
}

// await returns when ready reports true or the eventfd behind rc is
// signalled after await began; the error is rc's (closed).
func (w *edgeWait) await(rc syscall.RawConn) error {
	if w.poll == nil {
		w.poll = w.check
	}
	w.waited = false
	return rc.Read(w.poll)
}

func (w *edgeWait) check(uintptr) bool {
	if w.waited || w.ready() {
		return true
	}
	w.waited = true
	return false
}

// shutdown waits for the requests in flight, cancelling them, then stops
// the reaper and closes the ring. The engine is already closed to new
// requests.
func (s *shard) shutdown() error {
	for s.ops.Load() > 0 {
		var c uapi.SQE
		c.PrepCancelAny(uapi.AsyncCancelAll)
		if s.queue(&c, udIgnore) {
			s.submit()
		}
		time.Sleep(time.Millisecond)
	}
	err := s.r.UnregisterEventfd()
	if cerr := s.efd.Close(); err == nil {
		err = cerr
	}
	<-s.reaperDone
	if cerr := s.r.Close(); err == nil {
		err = cerr
	}
	return err
}

// maxChain bounds the requests of one doLinked chain.
const maxChain = 4

// doLinked runs sqes as one chain (link, IOSQE_IO_LINK or IOSQE_IO_HARDLINK,
// from each to the next): queued together, so they go to the kernel in the
// same io_uring_enter, and each waited for; res gets each result. With
// IO_LINK a failed (or short) request cancels the rest of the chain (their
// results are -ECANCELED); with HARDLINK the rest runs anyway. When ctx
// ends first, the whole chain is cancelled and still awaited. keep is the
// memory the SQEs point to.
//
// With directChain in fl, the chain holds a direct descriptor from its start to its
// end: the first request opens a file into the slot of the ring's file
// table that has the first request's slot index (free while the request
// slot is; see shard.fixed), the middle ones use it (IOSQE_FIXED_FILE,
// set by the caller) and the last one closes it.
func (s *shard) doLinked(ctx context.Context, sqes []uapi.SQE, keep keepRefs, res []int32, link uapi.SQEFlags, fl reqFlags) error {
	direct := fl&directChain != 0
	n := len(sqes)
	if n == 0 || n > maxChain || len(res) < n || direct && n < 2 {
		panic("uring: bad chain")
	}
	if !s.begin() {
		return ErrClosed
	}
	defer s.end()
	done := ctx.Done()
	var idx [maxChain]uint32
	var uds [maxChain]uint64
	s.slots.allocN(idx[:n])
	s.slots.s[idx[0]].keep = keep
	if direct {
		slot := idx[0]
		sqes[0].SetFileIndex(slot + 1) // file_index counts from 1
		for i := 1; i < n-1; i++ {
			sqes[i].FD = int32(slot)
		}
		sqes[n-1].SetFileIndex(slot + 1)
	}
	for i := range n {
		uds[i] = uint64(idx[i])
		if done != nil {
			uds[i] |= udChan
		}
		if i < n-1 {
			sqes[i].Flags |= link
		}
	}
	if s.queueChain(sqes, uds[:n]) {
		s.lead()
	}
	cancelled := false
	for i := range n {
		sl := &s.slots.s[idx[i]]
		if s.await(sl, done, uds[i:n], fl) {
			cancelled = true
			done = nil // cancelled once: the rest only waits
		}
		res[i] = sl.res
	}
	for i := range n {
		s.slots.release(idx[i])
	}
	if cancelled && ctx.Err() != nil {
		for _, r := range res[:n] {
			if r == -int32(unix.ECANCELED) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// queueChain is queue for the SQEs of one chain: contiguous in the ring and
// published together.
func (s *shard) queueChain(sqes []uapi.SQE, uds []uint64) bool {
	s.sqmu.Lock()
	for s.r.SQSpace() < uint32(len(sqes)) {
		s.sqmu.Unlock()
		s.submit()
		s.sqmu.Lock()
	}
	for i := range sqes {
		dst := s.r.NextSQE()
		*dst = sqes[i]
		dst.UserData = uds[i]
		cancelFault(dst)
	}
	lead := !s.gathering.Load()
	if lead {
		s.gathering.Store(true)
	}
	s.sqmu.Unlock()
	return lead
}
