package ring

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// SQE returns the next free submission queue entry, zeroed, or nil when the
// queue is full (submit, then try again; on SQPOLL rings, where the poll
// thread may post completions before it frees their entries, WaitSQSpace)
// or the ring is closed (Err says which). On IORING_SETUP_SQE128 rings the
// entry is a 128-byte slot (the second half is reached with SQE.Cmd). The
// entry belongs to the caller until the next Submit.
func (r *Ring) SQE() *uapi.SQE {
	s := r.NextSQE()
	if s != nil {
		if r.sq.shift == 0 {
			*(*[64]byte)(unsafe.Pointer(s)) = [64]byte{}
		} else {
			*(*[128]byte)(unsafe.Pointer(s)) = [128]byte{}
		}
	}
	return s
}

// NextSQE is SQE without the zeroing: the entry holds whatever an earlier
// request left in it. It is the fast path for the generated Prep builders
// (uapi.SQE.PrepRead and the rest), which write every byte of the 64-byte
// entry themselves (the 128-byte ones all 128), so clearing it first would
// be done twice. Fill it only through a builder, or clear it yourself.
func (r *Ring) NextSQE() *uapi.SQE {
	q := &r.sq
	tail := q.sqeTail
	if tail-q.sqeHead >= q.entries {
		// sqeHead is a cached copy of the kernel head; refresh it only
		// when the queue looks full. A closed ring always looks full (no
		// entries) and has no head.
		if q.khead == nil {
			return nil
		}
		q.sqeHead = atomic.LoadUint32(q.khead)
		if tail-q.sqeHead >= q.entries {
			return nil
		}
	}
	p := unsafe.Add(q.sqes, uintptr(tail&q.mask)<<(6+q.shift&1)) // &1: see cqeAt
	q.sqeTail = tail + 1
	return (*uapi.SQE)(p)
}

// SQE128 returns a 128-byte entry: on IORING_SETUP_SQE128 rings any entry; on
// IORING_SETUP_SQE_MIXED rings two adjacent 64-byte slots, for the 128-byte
// opcodes (IORING_OP_NOP128, IORING_OP_URING_CMD128). When only the last slot
// before the wrap is free, it is filled with a NOP whose completion is
// skipped (IOSQE_CQE_SKIP_SUCCESS), because a 128-byte entry cannot wrap.
// It returns nil when there is no room, or when the ring has neither flag.
func (r *Ring) SQE128() *uapi.SQE {
	if r.sq.shift == 1 {
		return r.SQE()
	}
	if !r.sq.mixed {
		return nil
	}
	q := &r.sq
	need := uint32(2)
	if q.sqeTail&q.mask == q.mask {
		need = 3
	}
	if q.sqeTail+need-q.sqeHead > q.entries {
		q.sqeHead = atomic.LoadUint32(q.khead)
		if q.sqeTail+need-q.sqeHead > q.entries {
			return nil
		}
	}
	if need == 3 {
		pad := r.SQE()
		pad.Opcode = uapi.OpNop
		pad.Flags = uapi.SQECQESkipSuccess
	}
	p := unsafe.Add(q.sqes, uintptr(q.sqeTail&q.mask)<<6)
	*(*[128]byte)(p) = [128]byte{}
	q.sqeTail += 2
	return (*uapi.SQE)(p)
}

// SQReady returns how many entries have been taken with SQE but not yet
// consumed by the kernel (0 on a closed ring).
func (r *Ring) SQReady() uint32 {
	if r.sq.khead == nil {
		return 0
	}
	return r.sq.sqeTail - atomic.LoadUint32(r.sq.khead)
}

// SQSpace returns how many entries SQE can still hand out.
func (r *Ring) SQSpace() uint32 { return r.sq.entries - r.SQReady() }

// flush publishes the SQEs handed out so far and returns how many the kernel
// has not consumed yet.
func (r *Ring) flush() uint32 {
	q := &r.sq
	if q.rewind {
		// SQ_REWIND: the kernel takes entries from index 0 and head and tail
		// stay 0; everything handed out is pending.
		return q.sqeTail
	}
	if q.plainTail {
		// Only io_uring_enter, in this thread and after this store, reads
		// the tail: program order is all the ordering needed.
		*q.ktail = q.sqeTail
	} else {
		// SQPOLL: the kernel thread reads the tail on another CPU. Release
		// store: the SQE contents become visible before the tail.
		atomic.StoreUint32(q.ktail, q.sqeTail)
	}
	// With SQPOLL the kernel thread moves head concurrently; the load is
	// ordered after the store above (Go atomics are sequentially consistent),
	// which is the full barrier liburing takes before checking NEED_WAKEUP.
	return q.sqeTail - atomic.LoadUint32(q.khead)
}

// Submit hands the queued SQEs to the kernel and returns how many it took.
// On SQPOLL rings the poll thread takes them on its own time: Submit
// publishes them, wakes the thread only when it sleeps, and returns how many
// entries this call published (liburing's io_uring_submit returns how many
// the thread has not consumed yet, which may already be 0).
func (r *Ring) Submit() (int, error) {
	q := &r.sq
	if !q.direct {
		return r.submit(0, false)
	}
	// The common ring, specialised: one io_uring_enter on this thread, so the
	// tail is a plain store (see flush) and nothing else can be pending.
	*q.ktail = q.sqeTail
	pending := q.sqeTail - atomic.LoadUint32(q.khead)
	flags := r.enterFlags
	if r.cqNeedsFlush() {
		flags |= uapi.EnterGetevents
	} else if pending == 0 {
		return 0, nil
	}
	n, errno := enterRaw(r.enterFD, pending, 0, flags)
	switch errno {
	case 0:
		return n, nil
	case unix.EINTR: // nothing was submitted
		return r.submit(0, false)
	}
	return 0, enterError(errno)
}

// SubmitAndWait submits like Submit and waits until at least n completions
// are available.
func (r *Ring) SubmitAndWait(n uint32) (int, error) { return r.submit(n, false) }

func (r *Ring) submit(waitNr uint32, getEvents bool) (int, error) {
	if err := r.unusable("Submit"); err != nil {
		return 0, err
	}
	// What this call publishes (only this goroutine writes the tail); what
	// SQPOLL rings report, since the poll thread consumes on its own.
	published := r.sq.sqeTail - *r.sq.ktail
	for {
		pending := r.flush()
		flags := r.enterFlags
		enter := false
		if pending > 0 {
			if r.flags&uapi.SetupSQPoll == 0 {
				enter = true
			} else if atomic.LoadUint32(r.sq.kflags)&uint32(uapi.SQNeedWakeup) != 0 {
				flags |= uapi.EnterSQWakeup
				enter = true
			}
		}
		if waitNr > 0 || getEvents || r.flags&uapi.SetupIOPoll != 0 || r.cqNeedsFlush() {
			flags |= uapi.EnterGetevents
			enter = true
		}
		if !enter {
			if r.flags&uapi.SetupSQPoll != 0 {
				return int(published), nil
			}
			return int(pending), nil
		}
		var n int
		var errno unix.Errno
		if waitNr == 0 {
			n, errno = enterRaw(r.enterFD, pending, 0, flags)
		} else {
			n, errno = enterBlocking(r.enterFD, pending, waitNr, flags, 0, 0)
		}
		if errno == unix.EINTR {
			// Nothing was submitted (the kernel returns the count otherwise).
			continue
		}
		if errno != 0 {
			return 0, enterError(errno)
		}
		if r.flags&uapi.SetupSQPoll != 0 {
			n = int(published)
		} else {
			r.consumed(uint32(n), pending)
		}
		if waitNr > 0 {
			if err := r.waitReady(waitNr); err != nil {
				return n, err
			}
		}
		return n, nil
	}
}

// waitReady waits until at least n completions are in the CQ. After a
// submission, io_uring_enter reports the number submitted even when a signal
// (Go preempts goroutines with SIGURG) cut its wait short, so the wait is
// checked and resumed here.
func (r *Ring) waitReady(n uint32) error {
	n = min(n, r.cq.entries)
	for r.CQReady() < n {
		_, errno := enterBlocking(r.enterFD, 0, n, r.enterFlags|uapi.EnterGetevents, 0, 0)
		if errno != 0 && errno != unix.EINTR {
			return enterError(errno)
		}
	}
	return nil
}

// consumed tells an SQ_REWIND ring that the kernel took n of the pending
// entries: the rest move to the front, where the next submission starts.
func (r *Ring) consumed(n, pending uint32) {
	q := &r.sq
	if !q.rewind || pending == 0 {
		return
	}
	if n < pending {
		size := uintptr(64) << q.shift
		dst := unsafe.Slice((*byte)(q.sqes), uintptr(pending-n)*size)
		src := unsafe.Slice((*byte)(unsafe.Add(q.sqes, uintptr(n)*size)), uintptr(pending-n)*size)
		copy(dst, src)
	}
	q.sqeTail = pending - min(n, pending)
}

// SQRingFlags returns the kernel's IORING_SQ_* flags (NEED_WAKEUP,
// CQ_OVERFLOW, TASKRUN); none on a closed ring.
func (r *Ring) SQRingFlags() uapi.SQRingFlags {
	if r.sq.kflags == nil {
		return 0
	}
	return uapi.SQRingFlags(atomic.LoadUint32(r.sq.kflags))
}

// Dropped returns how many invalid SQEs the kernel has dropped (0 on a
// closed ring).
func (r *Ring) Dropped() uint32 {
	if r.sq.kdrop == nil {
		return 0
	}
	return atomic.LoadUint32(r.sq.kdrop)
}

// WaitSQSpace blocks until the SQPOLL thread has consumed entries and SQE can
// hand out at least one (IORING_ENTER_SQ_WAIT). On rings without SQPOLL the
// queue only drains through Submit, so it returns at once.
func (r *Ring) WaitSQSpace() error {
	if err := r.unusable("WaitSQSpace"); err != nil {
		return err
	}
	if r.flags&uapi.SetupSQPoll == 0 {
		return nil
	}
	for r.SQSpace() == 0 {
		r.flush()
		flags := r.enterFlags | uapi.EnterSQWait
		if atomic.LoadUint32(r.sq.kflags)&uint32(uapi.SQNeedWakeup) != 0 {
			flags |= uapi.EnterSQWakeup
		}
		if _, errno := enterBlocking(r.enterFD, 0, 0, flags, 0, 0); errno != 0 && errno != unix.EINTR {
			return enterError(errno)
		}
	}
	return nil
}

// Publish makes the SQEs taken so far visible to the kernel (it stores the
// SQ tail) without entering it, and returns how many entries the kernel has
// not consumed yet. A later io_uring_enter submits them, from any thread:
// Enter, Submit, or (on SQPOLL rings) the poll thread. Publish and Enter
// split Submit for callers that share a ring between goroutines: they take
// SQEs and Publish under their own lock and call Enter outside it, so no
// lock is held while the kernel works. Not for SQ_REWIND rings, whose
// submissions must go through Submit. On a closed ring it returns 0.
func (r *Ring) Publish() uint32 {
	q := &r.sq
	if q.ktail == nil {
		return 0
	}
	if q.plainTail && !q.rewind {
		// Release store, unlike flush's plain one: the io_uring_enter that
		// reads the tail may run on another thread.
		storeRelease(q.ktail, q.sqeTail)
		return q.sqeTail - atomic.LoadUint32(q.khead)
	}
	return r.flush()
}

// Enter calls io_uring_enter(2) once, with the ring's descriptor and the
// given counts and flags (its registered-ring flag is added), and returns the
// kernel's result. It never touches the rings' memory, so it may run
// concurrently with other goroutines' use of the ring (the kernel serializes
// submissions). Without uapi.EnterGetevents and minComplete it cannot sleep
// and stays on the calling thread; otherwise the Go scheduler runs other
// goroutines while it waits. EINTR is returned, not retried: a submission cut
// short by a signal has submitted nothing. On a closed ring the error wraps
// os.ErrClosed.
func (r *Ring) Enter(toSubmit, minComplete uint32, flags uapi.EnterFlags) (int, error) {
	if err := r.unusable("Enter"); err != nil {
		return 0, err
	}
	var n int
	var errno unix.Errno
	if minComplete == 0 && flags&uapi.EnterGetevents == 0 {
		n, errno = enterRaw(r.enterFD, toSubmit, 0, r.enterFlags|flags)
	} else {
		n, errno = enterBlocking(r.enterFD, toSubmit, minComplete, r.enterFlags|flags, 0, 0)
	}
	if errno != 0 {
		return n, enterError(errno)
	}
	return n, nil
}
