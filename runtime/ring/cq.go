package ring

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// cqNeedsFlush reports whether completions wait in the kernel: overflowed
// CQEs (IORING_SQ_CQ_OVERFLOW) or deferred task work (IORING_SQ_TASKRUN).
// Either way an io_uring_enter with GETEVENTS brings them to the ring.
func (r *Ring) cqNeedsFlush() bool {
	return atomic.LoadUint32(r.sq.kflags)&uint32(uapi.SQCQOverflow|uapi.SQTaskrun) != 0
}

// cqeAt returns the CQE in slot i (already masked is not required).
func (r *Ring) cqeAt(i uint32) *uapi.CQE {
	// shift&1: it is 0 or 1, and saying so drops the compiler's check
	// for shifts of 64 or more.
	return (*uapi.CQE)(unsafe.Add(r.cq.cqes, uintptr(i&r.cq.mask)<<(4+r.cq.shift&1)))
}

// peek returns the first CQE on the ring without entering the kernel. On
// CQE_MIXED rings it steps over IORING_CQE_F_SKIP filler entries.
func (r *Ring) peek() *uapi.CQE {
	head := *r.cq.khead // only this goroutine writes the head
	for {
		// Acquire load: the CQE contents are visible once the tail is.
		tail := atomic.LoadUint32(r.cq.ktail)
		if head == tail {
			return nil
		}
		c := r.cqeAt(head)
		if r.cq.mixed && c.Flags&uapi.CQEFSkip != 0 {
			head++
			storeRelease(r.cq.khead, head)
			continue
		}
		if r.cq.mixed && c.Flags&uapi.CQEF32 != 0 && tail-head < 2 {
			return nil // a 32-byte CQE whose second slot is not posted yet
		}
		return c
	}
}

// PeekCQE returns the next completion if one is available, without
// sleeping. When the kernel holds completions back (CQ overflow, deferred
// task work flagged by IORING_SQ_TASKRUN) it enters the kernel once,
// without waiting, to flush them. The CQE stays valid until CQESeen or
// CQAdvance. A closed ring has none.
func (r *Ring) PeekCQE() (*uapi.CQE, bool) {
	if r.cq.khead == nil {
		return nil, false
	}
	if c := r.peek(); c != nil {
		return c, true
	}
	if r.cqNeedsFlush() || r.flags&uapi.SetupIOPoll != 0 {
		if _, errno := enterRaw(r.enterFD, 0, 0, r.enterFlags|uapi.EnterGetevents); errno == 0 {
			if c := r.peek(); c != nil {
				return c, true
			}
		}
	}
	return nil, false
}

// WaitCQE returns the next completion, sleeping in the kernel until one
// arrives, without a time limit (WaitCQETimeout has one). It does not
// submit. Interrupted waits (EINTR) are resumed.
func (r *Ring) WaitCQE() (*uapi.CQE, error) {
	for {
		if c, ok := r.PeekCQE(); ok {
			return c, nil
		}
		if err := r.unusable("WaitCQE"); err != nil {
			return nil, err
		}
		_, errno := enterBlocking(r.enterFD, 0, 1, r.enterFlags|uapi.EnterGetevents, 0, 0)
		if errno != 0 && errno != unix.EINTR {
			return nil, enterError(errno)
		}
	}
}

// WaitCQETimeout is WaitCQE with a relative timeout; when it expires the
// error wraps unix.ETIME. A timeout of zero or less has already expired:
// the ring is polled once (as liburing does with a zero timespec) and the
// error is ETIME when no completion is there. Forever waits without a limit,
// like WaitCQE. It needs IORING_FEAT_EXT_ARG (Linux 5.11).
func (r *Ring) WaitCQETimeout(d time.Duration) (*uapi.CQE, error) {
	if d <= 0 {
		d = -1 // WaitOptions' spelling of "already expired" (0 there is no timeout)
	}
	return r.WaitCQEs(1, &WaitOptions{Timeout: d})
}

// CQESeen marks c, the CQE last returned by PeekCQE or one of the waits (or
// the next of those PeekBatch returned, in order), as consumed, releasing
// its slot to the kernel and, for the final completion of a request, any
// values Keep holds for its user data.
//
// It changes nothing and returns an error wrapping os.ErrInvalid when c is
// not this ring's next unseen completion: nil, a CQE already seen, one of
// another ring, or any CQE when none is ready. (Consuming it would move the
// head over completions nobody has read, and could release the memory of a
// request still in flight.) On a closed ring the error wraps os.ErrClosed.
func (r *Ring) CQESeen(c *uapi.CQE) error {
	q := &r.cq
	if q.khead == nil {
		return r.unusable("CQESeen")
	}
	head := *q.khead // only this goroutine writes the head
	if c != r.cqeAt(head) || atomic.LoadUint32(q.ktail) == head {
		return r.cqeSeenElsewhere(c)
	}
	if len(r.keep) > 0 {
		r.release1(c)
	}
	n := uint32(1)
	if q.mixed && c.Flags&uapi.CQEF32 != 0 {
		n = 2
	}
	// Release store: the kernel may reuse the slot once it sees the head.
	storeRelease(q.khead, head+n)
	return nil
}

// cqeSeenElsewhere is CQESeen of a CQE that is not at the head: on
// CQE_MIXED rings one behind filler entries (PeekBatch steps over them
// without moving the head), else a misuse, reported.
func (r *Ring) cqeSeenElsewhere(c *uapi.CQE) error {
	q := &r.cq
	head, tail := *q.khead, atomic.LoadUint32(q.ktail)
	if q.mixed {
		for head != tail && r.cqeAt(head) != c && r.cqeAt(head).Flags&uapi.CQEFSkip != 0 {
			head++
		}
		if head != tail && r.cqeAt(head) == c {
			storeRelease(q.khead, head)
			return r.CQESeen(c)
		}
	}
	var what string
	switch slot := uintptr(unsafe.Pointer(c)) - uintptr(q.cqes); {
	case c == nil:
		what = "a nil CQE"
	case slot >= uintptr(q.entries)<<(4+q.shift&1):
		what = "a CQE outside this ring's completion queue"
	case head == tail:
		what = "a CQE while no completion is ready"
	default:
		what = fmt.Sprintf("CQ slot %d, which is not the next unseen completion (slot %d)", slot>>(4+q.shift&1), head&q.mask)
	}
	return fmt.Errorf("ring: CQESeen of %s: %w", what, os.ErrInvalid)
}

// PeekBatch fills cqes with the available completions, in order, and
// returns how many it stored, without entering the kernel unless completions
// wait there (see PeekCQE). Consume them with CQAdvance(n). A closed ring
// has none.
func (r *Ring) PeekBatch(cqes []*uapi.CQE) int {
	if r.cq.khead == nil {
		return 0
	}
	if n := r.peekBatch(cqes); n > 0 {
		return n
	}
	if r.cqNeedsFlush() || r.flags&uapi.SetupIOPoll != 0 {
		if _, errno := enterRaw(r.enterFD, 0, 0, r.enterFlags|uapi.EnterGetevents); errno == 0 {
			return r.peekBatch(cqes)
		}
	}
	return 0
}

func (r *Ring) peekBatch(cqes []*uapi.CQE) int {
	head := *r.cq.khead
	tail := atomic.LoadUint32(r.cq.ktail)
	if !r.cq.mixed {
		// Locals: the stores into cqes would otherwise make the compiler
		// reload the ring fields on every iteration.
		base, mask, shift := r.cq.cqes, r.cq.mask, 4+r.cq.shift&1 // see cqeAt
		cqes = cqes[:min(int(tail-head), len(cqes))]
		for i := range cqes {
			cqes[i] = (*uapi.CQE)(unsafe.Add(base, uintptr((head+uint32(i))&mask)<<shift))
		}
		return len(cqes)
	}
	n := 0
	for head != tail && n < len(cqes) {
		next, c := r.nextCQE(head, tail)
		if next == head {
			break // a 32-byte CQE whose second slot is not posted yet
		}
		head = next
		if c != nil {
			cqes[n] = c
			n++
		}
	}
	return n
}

// CQAdvance marks the next n completions (as returned by PeekBatch) seen.
// Asking for more than are ready changes nothing and returns an error
// wrapping os.ErrInvalid (on a closed ring, os.ErrClosed).
func (r *Ring) CQAdvance(n uint32) error {
	q := &r.cq
	if q.mixed || len(r.keep) > 0 {
		return r.cqAdvanceEach(n)
	}
	if q.khead == nil {
		return r.unusable("CQAdvance")
	}
	head := *q.khead
	if ready := atomic.LoadUint32(q.ktail) - head; n > ready {
		return advanceError(n, ready)
	}
	storeRelease(q.khead, head+n)
	return nil
}

func advanceError(n, ready uint32) error {
	return fmt.Errorf("ring: CQAdvance(%d) with %d completions ready: %w", n, ready, os.ErrInvalid)
}

// cqAdvanceEach is CQAdvance one CQE at a time: for mixed rings (skip
// entries, two-slot CQEs) and for releasing Keep values. It finds the end
// of the n completions first, so that a count too large changes nothing.
func (r *Ring) cqAdvanceEach(n uint32) error {
	q := &r.cq
	if q.khead == nil {
		return r.unusable("CQAdvance")
	}
	start, tail := *q.khead, atomic.LoadUint32(q.ktail)
	head := start
	for seen := uint32(0); seen < n; {
		if head == tail {
			return advanceError(n, seen)
		}
		next, c := r.nextCQE(head, tail)
		if next == head {
			return advanceError(n, seen)
		}
		if head = next; c != nil {
			seen++
		}
	}
	if len(r.keep) > 0 {
		for h := start; h != head; {
			var c *uapi.CQE
			if h, c = r.nextCQE(h, head); c != nil {
				r.release1(c)
			}
		}
	}
	storeRelease(q.khead, head)
	return nil
}

// nextCQE returns the CQ index after the entry at head, and the entry
// unless it is a CQE_MIXED filler entry; head itself when the entry is a
// 32-byte CQE whose second slot is not before tail (not posted yet: the
// kernel moves the tail past both slots at once).
func (r *Ring) nextCQE(head, tail uint32) (uint32, *uapi.CQE) {
	c := r.cqeAt(head)
	switch {
	case !r.cq.mixed:
	case c.Flags&uapi.CQEFSkip != 0:
		return head + 1, nil
	case c.Flags&uapi.CQEF32 != 0:
		if tail-head < 2 {
			return head, nil
		}
		return head + 2, c
	}
	return head + 1, c
}

// CQReady returns how many CQE slots hold completions not yet seen (0 on a
// closed ring).
func (r *Ring) CQReady() uint32 {
	if r.cq.khead == nil {
		return 0
	}
	return atomic.LoadUint32(r.cq.ktail) - *r.cq.khead
}

// Overflow returns the kernel's count of completions it could not post
// (only grows on kernels without IORING_FEAT_NODROP, or when even the
// overflow list could not be allocated); 0 on a closed ring.
func (r *Ring) Overflow() uint32 {
	if r.cq.koverflow == nil {
		return 0
	}
	return atomic.LoadUint32(r.cq.koverflow)
}

// CQE32 returns the 16 extra bytes of a 32-byte CQE (on CQE32 rings, or a CQE
// with IORING_CQE_F_32 on CQE_MIXED rings) as two words.
func CQE32(c *uapi.CQE) [2]uint64 {
	b := c.BigCQE(2)
	return [2]uint64{b[0], b[1]}
}

// GetEvents enters the kernel once, without waiting, to run pending task
// work and flush overflowed completions to the CQ ring
// (IORING_ENTER_GETEVENTS with min_complete 0). On DEFER_TASKRUN rings
// without TASKRUN_FLAG completions reach the ring only through a call like
// this or a wait; for them it asks for one completion with a timeout of
// zero (IORING_ENTER_EXT_ARG), since Linux 6.1 runs a ring's deferred task
// work only in a wait.
func (r *Ring) GetEvents() error {
	if err := r.unusable("GetEvents"); err != nil {
		return err
	}
	for {
		var errno unix.Errno
		if r.flags&uapi.SetupDeferTaskrun != 0 {
			r.waitTS = uapi.KernelTimespec{}
			r.waitArg = uapi.GeteventsArg{Ts: uint64(uintptr(unsafe.Pointer(&r.waitTS)))}
			_, errno = enterBlocking(r.enterFD, 0, 1, r.enterFlags|uapi.EnterGetevents|uapi.EnterExtArg,
				uintptr(unsafe.Pointer(&r.waitArg)), unsafe.Sizeof(r.waitArg))
			if errno == unix.ETIME {
				errno = 0 // nothing was waiting: the zero timeout
			}
		} else {
			_, errno = enterRaw(r.enterFD, 0, 0, r.enterFlags|uapi.EnterGetevents)
		}
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
		default:
			return enterError(errno)
		}
	}
}

// CQRingFlags returns the IORING_CQ_* flags of the CQ ring (0 on kernels
// before 5.8, which have none, and on a closed ring).
func (r *Ring) CQRingFlags() uapi.CQRingFlags {
	if r.cq.kflags == nil {
		return 0
	}
	return uapi.CQRingFlags(atomic.LoadUint32(r.cq.kflags))
}

// SetCQRingFlags stores f as the CQ ring's flags. The one flag so far,
// IORING_CQ_EVENTFD_DISABLED, stops the kernel from signalling the
// registered eventfd until it is cleared: a goroutine that reaps the
// completions its own io_uring_enter produces sets it meanwhile, so that
// they wake nobody else. Completions posted while it is set are only found
// by looking, so clear it and then reap once more. Nothing happens on
// kernels before 5.8, or on a closed ring.
func (r *Ring) SetCQRingFlags(f uapi.CQRingFlags) {
	if r.cq.kflags != nil {
		atomic.StoreUint32(r.cq.kflags, uint32(f))
	}
}
