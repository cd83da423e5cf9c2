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
// descriptors mapped read-only from the character device.
type queue struct {
	d       *Device
	id      uint16
	b       Backend
	descMem []byte           // the mmapped descriptors
	descs   []ublkabi.IODesc // view of descMem, by tag
	bufMem  []byte           // one MaxIO buffer per tag, outside the Go heap
	zero    []byte           // zeros for WRITE ZEROES without a ZeroWriter
	live    int              // tags with a command in flight
	stop    atomic.Bool      // set by Device.teardown: give up waiting
	started atomic.Bool      // the device went live
	cqes    [64]*uapi.CQE
}

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
	q := &queue{d: d, id: id, b: b, descMem: mem}
	q.descs = unsafe.Slice((*ublkabi.IODesc)(unsafe.Pointer(&mem[0])), depth)
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
// the tag's buffer in ModeCopy, none in ModeUserCopy.
func (q *queue) addr(tag uint16) uint64 {
	if q.d.mode == ModeUserCopy {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&q.buf(tag)[0])))
}

func (q *queue) close() {
	unix.Munmap(q.descMem)
	unix.Munmap(q.bufMem)
}

// serve runs the queue: it fetches a request on every tag, reports on
// ready, then handles requests and commits them with the next fetch until
// the driver aborts every tag (the device stopped) or teardown gives up on
// a device that never started.
func (q *queue) serve(ready chan<- error) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	depth := q.d.opts.Depth
	r, err := ring.New(uint32(depth), ring.WithCQSize(uint32(2*depth)))
	if err != nil {
		err = fmt.Errorf("ublk: queue %d ring: %w", q.id, err)
		ready <- err
		return err
	}
	// Closing the ring cancels whatever the driver still holds.
	defer r.Close()
	fd := int32(q.d.char.Fd())
	for tag := range uint16(depth) {
		s := r.NextSQE()
		ublkabi.PrepFetchReq(s, fd, q.id, tag, q.addr(tag))
		s.UserData = uint64(tag)
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
		if _, err := r.WaitCQEs(1, &ring.WaitOptions{Timeout: 100 * time.Millisecond}); errors.Is(err, unix.ETIME) {
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
			tag := uint16(c.UserData)
			switch ublkabi.IORes(c.Res) {
			case ublkabi.IOResOk:
				res := q.handle(tag)
				s := r.NextSQE() // the CQE freed the tag's SQE slot
				ublkabi.PrepCommitAndFetchReq(s, fd, q.id, tag, res, q.addr(tag))
				s.UserData = uint64(tag)
			case ublkabi.IOResAbort:
				q.live--
			default:
				q.live--
				err = fmt.Errorf("ublk: queue %d tag %d: the driver refused the command: %w", q.id, tag, unix.Errno(-c.Res))
			}
		}
		r.CQAdvance(uint32(n))
		if _, serr := r.Submit(); serr != nil {
			return fmt.Errorf("ublk: queue %d: COMMIT_AND_FETCH_REQ: %w", q.id, serr)
		}
	}
	return err
}

// handle serves the request on tag and returns its result: the bytes
// done, or a negative errno.
func (q *queue) handle(tag uint16) int32 {
	desc := q.descs[tag]
	op := ublkabi.Op(desc.OpFlags & 0xff)
	flags := ublkabi.IOFlags(desc.OpFlags &^ 0xff)
	off, n := int64(desc.StartSector)*512, int64(desc.NrSectors)*512
	char := int(q.d.char.Fd())
	switch op {
	case ublkabi.OpRead, ublkabi.OpWrite:
		if n > int64(q.d.opts.MaxIO) {
			return -int32(unix.EINVAL)
		}
		buf := q.buf(tag)[:n]
		if op == ublkabi.OpRead {
			if _, err := q.b.ReadAt(buf, off); err != nil {
				return errnoOf(err)
			}
			if q.d.mode == ModeUserCopy {
				if _, err := unix.Pwrite(char, buf, userCopyOffset(q.id, tag)); err != nil {
					return errnoOf(err)
				}
			}
			return int32(n)
		}
		if q.d.mode == ModeUserCopy {
			if _, err := unix.Pread(char, buf, userCopyOffset(q.id, tag)); err != nil {
				return errnoOf(err)
			}
		}
		if _, err := q.b.WriteAt(buf, off); err != nil {
			return errnoOf(err)
		}
		if flags&ublkabi.IOFFUA != 0 {
			if f, ok := q.b.(Flusher); ok {
				if err := f.Flush(); err != nil {
					return errnoOf(err)
				}
			}
		}
		return int32(n)
	case ublkabi.OpFlush:
		if f, ok := q.b.(Flusher); ok {
			if err := f.Flush(); err != nil {
				return errnoOf(err)
			}
		}
		return 0
	case ublkabi.OpDiscard:
		if dc, ok := q.b.(Discarder); ok {
			return result(dc.Discard(off, n))
		}
	case ublkabi.OpWriteZeroes:
		if z, ok := q.b.(ZeroWriter); ok {
			return result(z.WriteZeroes(off, n))
		}
		return result(q.writeZeros(off, n))
	}
	return -int32(unix.EOPNOTSUPP)
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

func result(err error) int32 {
	if err != nil {
		return errnoOf(err)
	}
	return 0
}

// errnoOf is the negative errno a backend error becomes: its own when it
// wraps one, else EIO.
func errnoOf(err error) int32 {
	var en unix.Errno
	if errors.As(err, &en) {
		return -int32(en)
	}
	return -int32(unix.EIO)
}
