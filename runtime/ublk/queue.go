package ublk

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	ublkabi "github.com/urgen/urgen/generated/ublk"
	"github.com/urgen/urgen/runtime/ring"
)

// queue serves one hardware queue: a goroutine locked to its thread (the
// driver takes a queue's commands from one task), a ring with one
// FETCH_REQ or COMMIT_AND_FETCH_REQ in flight per tag, and the queue's I/O
// descriptors mapped read-only from the character device. In the zero-copy
// modes the same ring carries the backend's transfers, each tag's request
// buffer registered in the ring's fixed buffer table at index tag.
type queue struct {
	d       *Device
	id      uint16
	b       Backend
	fixed   FixedBackend     // the backend, in the zero-copy modes
	fd      int32            // the character device
	r       *ring.Ring       // owned by serve's goroutine
	descMem []byte           // the mmapped descriptors
	descs   []ublkabi.IODesc // view of descMem, by tag
	bufMem  []byte           // one MaxIO buffer per tag (copying modes), outside the Go heap
	reqs    []request        // by tag, the zero-copy modes' reads and writes
	zero    []byte           // zeros for WRITE ZEROES without a ZeroWriter
	live    int              // tags with a command in flight
	stop    atomic.Bool      // set by Device.teardown: give up waiting
	started atomic.Bool      // the device went live
	cqes    [64]*uapi.CQE
}

// request is a read or write served by transfers through the ring (the
// zero-copy modes), from the descriptor's fetch to its commit.
type request struct {
	write      bool
	fua        bool   // flush after the write
	registered bool   // ModeZeroCopy: the buffer is (being) registered
	zeros      bool   // the store ended: the rest of a read comes from /dev/zero
	off        int64  // store offset of the request's first byte
	n, done    uint32 // bytes in the request, bytes moved
	err        int32  // the registration's negative errno
}

// What a completion on a queue's ring is for, in its user data above the
// 16-bit tag.
const (
	kindCmd        = iota // FETCH_REQ, COMMIT_AND_FETCH_REQ
	kindRegister          // UBLK_U_IO_REGISTER_IO_BUF (completes only on failure)
	kindTransfer          // the backend's PrepFixed, or a read of /dev/zero
	kindUnregister        // UBLK_U_IO_UNREGISTER_IO_BUF (completes only on failure)
)

func userData(tag uint16, kind int) uint64 { return uint64(tag) | uint64(kind)<<16 }

// descOffset is where queue q's descriptors start in the character device:
// each queue has room for UBLK_MAX_QUEUE_DEPTH of them, page aligned.
func descOffset(q uint16) int64 {
	page := int64(os.Getpagesize())
	per := (int64(ublkabi.MaxQueueDepth)*ublkabi.SizeofIODesc + page - 1) / page * page
	return ublkabi.CmdBufOffset + int64(q)*per
}

// userCopyOffset is where request tag of queue q is read and written in the
// character device in ModeUserCopy.
func userCopyOffset(q, tag uint16) int64 {
	return ublkabi.IOBufOffset + int64(q)<<ublkabi.QidOff + int64(tag)<<ublkabi.TagOff
}

func newQueue(d *Device, id uint16, b Backend) (*queue, error) {
	depth := d.opts.Depth
	page := os.Getpagesize()
	size := (depth*ublkabi.SizeofIODesc + page - 1) / page * page
	mem, err := unix.Mmap(int(d.char.Fd()), descOffset(id), size, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("ublk: mmap the I/O descriptors of queue %d: %w", id, err)
	}
	q := &queue{d: d, id: id, b: b, fd: int32(d.char.Fd()), descMem: mem}
	q.descs = unsafe.Slice((*ublkabi.IODesc)(unsafe.Pointer(&mem[0])), depth)
	if d.mode.zeroCopy() {
		q.fixed = b.(FixedBackend) // checked by New
		q.reqs = make([]request, depth)
		return q, nil
	}
	// ModeCopy needs a buffer per tag for the kernel's copies; ModeUserCopy
	// one to pread and pwrite through.
	q.bufMem, err = unix.Mmap(-1, 0, depth*d.opts.MaxIO, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("ublk: queue %d buffers: %w", id, err)
	}
	return q, nil
}

func (q *queue) buf(tag uint16) []byte {
	n := q.d.opts.MaxIO
	return q.bufMem[int(tag)*n : int(tag+1)*n : int(tag+1)*n]
}

// addr is the buffer address the FETCH and COMMIT commands hand the kernel:
// the tag's buffer in ModeCopy, none in the other modes.
func (q *queue) addr(tag uint16) uint64 {
	if q.d.mode != ModeCopy {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&q.buf(tag)[0])))
}

func (q *queue) close() {
	unix.Munmap(q.descMem)
	if q.bufMem != nil {
		unix.Munmap(q.bufMem)
	}
}

// ringFlags are the queue rings' setup flags: one thread submits and
// reaps, so task work (the driver's delivery of requests) waits until it
// asks for completions, in batches.
var ringFlags = uapi.SetupSingleIssuer | uapi.SetupDeferTaskrun

// serve runs the queue: it fetches a request on every tag, reports on
// ready, then handles requests and commits them with the next fetch until
// the driver aborts every tag (the device stopped) or teardown gives up on
// a device that never started. Each turn is one io_uring_enter: it submits
// what the last completions produced (commits, transfers) and waits for
// the next.
func (q *queue) serve(ready chan<- error) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	depth := q.d.opts.Depth
	// Room for two entries per tag (a registration and its transfer, or an
	// unregistration and its commit), and their completions.
	r, err := ring.New(uint32(2*depth), ring.WithCQSize(uint32(4*depth)), ring.WithFlags(ringFlags))
	if err == nil && q.fixed != nil {
		if err = r.RegisterBuffersSparse(uint32(depth)); err != nil {
			r.Close()
		}
	}
	if err != nil {
		err = fmt.Errorf("ublk: queue %d ring: %w", q.id, err)
		ready <- err
		return err
	}
	// Closing the ring cancels whatever the driver still holds.
	defer r.Close()
	q.r = r
	for tag := range uint16(depth) {
		if err := q.fetch(tag, 0, false); err != nil {
			ready <- err
			return err
		}
	}
	if _, err := r.Submit(); err != nil {
		err = fmt.Errorf("ublk: queue %d: FETCH_REQ: %w", q.id, err)
		ready <- err
		return err
	}
	q.live = depth
	ready <- nil
	var giveUp time.Time
	for q.live > 0 {
		if _, _, err := r.SubmitAndWaitTimeout(1, &ring.WaitOptions{Timeout: 100 * time.Millisecond}); errors.Is(err, unix.ETIME) {
			// A stopped device aborts every fetch; one that never started,
			// or whose stop went wrong, gets a grace period, and then
			// closing the ring cancels the commands.
			if q.stop.Load() {
				if giveUp.IsZero() {
					giveUp = time.Now().Add(2 * time.Second)
				}
				if !q.started.Load() || time.Now().After(giveUp) {
					return nil
				}
			}
			continue
		} else if err != nil {
			return fmt.Errorf("ublk: queue %d: %w", q.id, err)
		}
		n := r.PeekBatch(q.cqes[:])
		for _, c := range q.cqes[:n] {
			if cerr := q.complete(c); cerr != nil && err == nil {
				err = cerr
			}
		}
		r.CQAdvance(uint32(n))
	}
	return err
}

// complete handles one completion on the queue's ring.
func (q *queue) complete(c *uapi.CQE) error {
	tag, kind := uint16(c.UserData), int(c.UserData>>16)
	switch kind {
	case kindCmd:
		switch ublkabi.IORes(c.Res) {
		case ublkabi.IOResOk:
			return q.start(tag)
		case ublkabi.IOResAbort:
			q.live--
		default:
			q.live--
			return fmt.Errorf("ublk: queue %d tag %d: the driver refused the command: %w", q.id, tag, unix.Errno(-c.Res))
		}
	case kindRegister:
		// The linked transfer completes with ECANCELED; its request fails
		// with this errno.
		rq := &q.reqs[tag]
		rq.err, rq.registered = c.Res, false
	case kindTransfer:
		return q.transferred(tag, c.Res)
	case kindUnregister:
		// The driver completes a request once its buffer is unregistered
		// and it is committed: this one is stuck until the ring closes.
		err := fmt.Errorf("ublk: queue %d tag %d: UNREGISTER_IO_BUF: %w", q.id, tag, unix.Errno(-c.Res))
		q.d.fail(err)
	}
	return nil
}

// sqe returns a free entry of the ring, submitting what is queued when
// there is none.
func (q *queue) sqe() (*uapi.SQE, error) {
	if s := q.r.NextSQE(); s != nil {
		return s, nil
	}
	if _, err := q.r.Submit(); err != nil {
		return nil, fmt.Errorf("ublk: queue %d: %w", q.id, err)
	}
	if s := q.r.NextSQE(); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("ublk: queue %d: the ring's submission queue stays full", q.id)
}

// fetch queues FETCH_REQ for tag or, with commit, COMMIT_AND_FETCH_REQ
// with result res; in ModeAutoBufReg the next request's buffer is
// registered at index tag.
func (q *queue) fetch(tag uint16, res int32, commit bool) error {
	s, err := q.sqe()
	if err != nil {
		return err
	}
	switch {
	case q.d.mode == ModeAutoBufReg && commit:
		ublkabi.PrepCommitAndFetchReqAutoBuf(s, q.fd, q.id, tag, res, tag, 0)
	case q.d.mode == ModeAutoBufReg:
		ublkabi.PrepFetchReqAutoBuf(s, q.fd, q.id, tag, tag, 0)
	case commit:
		ublkabi.PrepCommitAndFetchReq(s, q.fd, q.id, tag, res, q.addr(tag))
	default:
		ublkabi.PrepFetchReq(s, q.fd, q.id, tag, q.addr(tag))
	}
	s.UserData = userData(tag, kindCmd)
	return nil
}

// start serves the request just fetched on tag: in the zero-copy modes a
// read or write starts its transfers through the ring (after registering
// the request's buffer, in ModeZeroCopy); everything else is served at
// once and committed.
func (q *queue) start(tag uint16) error {
	desc := &q.descs[tag]
	op := ublkabi.Op(desc.OpFlags & 0xff)
	if q.fixed == nil || (op != ublkabi.OpRead && op != ublkabi.OpWrite) {
		return q.fetch(tag, q.handle(tag), true)
	}
	n := uint64(desc.NrSectors) * 512
	if n > uint64(q.d.opts.MaxIO) {
		return q.fetch(tag, -int32(unix.EINVAL), true)
	}
	q.reqs[tag] = request{
		write: op == ublkabi.OpWrite,
		fua:   ublkabi.IOFlags(desc.OpFlags)&ublkabi.IOFFUA != 0,
		off:   int64(desc.StartSector) * 512,
		n:     uint32(n),
	}
	if q.d.mode == ModeZeroCopy {
		s, err := q.sqe()
		if err != nil {
			return err
		}
		ublkabi.PrepRegisterIOBuf(s, q.fd, q.id, tag, uint64(tag))
		s.UserData = userData(tag, kindRegister)
		s.Flags |= uapi.SQEIOLink | uapi.SQECQESkipSuccess
		q.reqs[tag].registered = true
	}
	return q.transfer(tag)
}

// transfer queues the next transfer of tag's request: the rest of it.
func (q *queue) transfer(tag uint16) error {
	rq := &q.reqs[tag]
	s, err := q.sqe()
	if err != nil {
		return err
	}
	t := Transfer{Write: rq.write, Buf: tag, BufOffset: uint64(rq.done), Off: rq.off + int64(rq.done), Len: rq.n - rq.done}
	if rq.zeros {
		t.Prep(s, int32(q.d.zeros.Fd()))
	} else {
		q.fixed.PrepFixed(s, t)
	}
	s.UserData = userData(tag, kindTransfer)
	return nil
}

// transferred takes the result of tag's transfer: the request goes on, or
// is finished.
func (q *queue) transferred(tag uint16, res int32) error {
	rq := &q.reqs[tag]
	switch {
	case res == -int32(unix.ECANCELED) && rq.err < 0:
		return q.finish(tag, rq.err) // the registration failed
	case res < 0:
		return q.finish(tag, res)
	case res == 0 && (rq.write || rq.zeros):
		return q.finish(tag, -int32(unix.EIO))
	case res == 0:
		rq.zeros = true // a read at the store's end: zeros for the rest
		return q.transfer(tag)
	}
	rq.done += uint32(res)
	if rq.done < rq.n {
		return q.transfer(tag)
	}
	res = int32(rq.n)
	if f, ok := q.b.(Flusher); ok && rq.fua {
		res = result(f.Flush(), res)
	}
	return q.finish(tag, res)
}

// finish unregisters tag's buffer (ModeZeroCopy) and commits its request.
// The unregistration completes inline, before the commit that follows it
// in the same submission.
func (q *queue) finish(tag uint16, res int32) error {
	if rq := &q.reqs[tag]; rq.registered {
		s, err := q.sqe()
		if err != nil {
			return err
		}
		ublkabi.PrepUnregisterIOBuf(s, q.fd, q.id, tag, uint64(tag))
		s.UserData = userData(tag, kindUnregister)
		s.Flags |= uapi.SQECQESkipSuccess
		rq.registered = false
	}
	return q.fetch(tag, res, true)
}

// handle serves the request on tag by copying (ModeCopy, ModeUserCopy)
// or, in every mode, one without data (flush, discard, write zeroes), and
// returns its result: the bytes done, or a negative errno.
func (q *queue) handle(tag uint16) int32 {
	desc := q.descs[tag]
	op := ublkabi.Op(desc.OpFlags & 0xff)
	flags := ublkabi.IOFlags(desc.OpFlags &^ 0xff)
	off, n := int64(desc.StartSector)*512, int64(desc.NrSectors)*512
	switch op {
	case ublkabi.OpRead, ublkabi.OpWrite:
		if n > int64(q.d.opts.MaxIO) {
			return -int32(unix.EINVAL)
		}
		buf := q.buf(tag)[:n]
		if op == ublkabi.OpRead {
			return q.read(buf, off, tag)
		}
		return q.write(buf, off, tag, flags&ublkabi.IOFFUA != 0)
	case ublkabi.OpFlush:
		if f, ok := q.b.(Flusher); ok {
			return result(f.Flush(), 0)
		}
		return 0
	case ublkabi.OpDiscard:
		if dc, ok := q.b.(Discarder); ok {
			return result(dc.Discard(off, n), 0)
		}
	case ublkabi.OpWriteZeroes:
		if z, ok := q.b.(ZeroWriter); ok {
			return result(z.WriteZeroes(off, n), 0)
		}
		return result(q.writeZeros(off, n), 0)
	}
	return -int32(unix.EOPNOTSUPP)
}

// read fills buf from the backend and, in ModeUserCopy, hands it to the
// request.
func (q *queue) read(buf []byte, off int64, tag uint16) int32 {
	if _, err := q.b.ReadAt(buf, off); err != nil {
		return errnoOf(err)
	}
	if q.d.mode == ModeUserCopy {
		if _, err := unix.Pwrite(int(q.fd), buf, userCopyOffset(q.id, tag)); err != nil {
			return errnoOf(err)
		}
	}
	return int32(len(buf))
}

// write takes the request's data (in ModeUserCopy from the character
// device) to the backend.
func (q *queue) write(buf []byte, off int64, tag uint16, fua bool) int32 {
	if q.d.mode == ModeUserCopy {
		if _, err := unix.Pread(int(q.fd), buf, userCopyOffset(q.id, tag)); err != nil {
			return errnoOf(err)
		}
	}
	if _, err := q.b.WriteAt(buf, off); err != nil {
		return errnoOf(err)
	}
	if f, ok := q.b.(Flusher); ok && fua {
		return result(f.Flush(), int32(len(buf)))
	}
	return int32(len(buf))
}

// writeZeros writes zeros where the backend cannot zero a range itself.
func (q *queue) writeZeros(off, n int64) error {
	if q.zero == nil {
		q.zero = make([]byte, 64<<10)
	}
	for n > 0 {
		k := min(n, int64(len(q.zero)))
		if _, err := q.b.WriteAt(q.zero[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// result is ok, or the negative errno of err.
func result(err error, ok int32) int32 {
	if err != nil {
		return errnoOf(err)
	}
	return ok
}

// errnoOf is the negative errno a backend error becomes: its own when it
// wraps one, else EIO.
func errnoOf(err error) int32 {
	var en unix.Errno
	if errors.As(err, &en) && en != 0 {
		return -int32(en)
	}
	return -int32(unix.EIO)
}
