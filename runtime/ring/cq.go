package ring

import (
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
		return c
	}
}

// PeekCQE returns the next completion if one is available, without
// sleeping. When the kernel holds completions back (CQ overflow, deferred
// task work flagged by IORING_SQ_TASKRUN) it enters the kernel once,
// without waiting, to flush them. The CQE stays valid until CQESeen or
// CQAdvance.
func (r *Ring) PeekCQE() (*uapi.CQE, bool) {
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
// arrives. It does not submit. Interrupted waits (EINTR) are resumed.
func (r *Ring) WaitCQE() (*uapi.CQE, error) {
	for {
		if c, ok := r.PeekCQE(); ok {
			return c, nil
		}
		_, errno := enterBlocking(r.enterFD, 0, 1, r.enterFlags|uapi.EnterGetevents, 0, 0)
		if errno != 0 && errno != unix.EINTR {
			return nil, enterError(errno)
		}
	}
}

// WaitCQETimeout is WaitCQE with a relative timeout; when it expires the
// error wraps unix.ETIME. It needs IORING_FEAT_EXT_ARG (Linux 5.11).
func (r *Ring) WaitCQETimeout(d time.Duration) (*uapi.CQE, error) {
	return r.WaitCQEs(1, &WaitOptions{Timeout: d})
}

// CQESeen marks c, the CQE last returned by PeekCQE or WaitCQE, as consumed,
// releasing its slot to the kernel and, for the final completion of a
// request, any values Keep holds for its user data.
func (r *Ring) CQESeen(c *uapi.CQE) {
	if len(r.keep) > 0 {
		r.release1(c)
	}
	n := uint32(1)
	if r.cq.mixed && c.Flags&uapi.CQEF32 != 0 {
		n = 2
	}
	// Release store: the kernel may reuse the slot once it sees the head.
	storeRelease(r.cq.khead, *r.cq.khead+n)
}

// PeekBatch fills cqes with the available completions, in order, and
// returns how many it stored, without entering the kernel unless completions
// wait there (see PeekCQE). Consume them with CQAdvance(n).
func (r *Ring) PeekBatch(cqes []*uapi.CQE) int {
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
		c := r.cqeAt(head)
		switch {
		case c.Flags&uapi.CQEFSkip != 0:
			head++
			continue
		case c.Flags&uapi.CQEF32 != 0:
			head += 2
		default:
			head++
		}
		cqes[n] = c
		n++
	}
	return n
}

// CQAdvance marks the next n completions (as returned by PeekBatch) seen.
func (r *Ring) CQAdvance(n uint32) {
	if r.cq.mixed || len(r.keep) > 0 {
		r.cqAdvanceEach(n)
		return
	}
	storeRelease(r.cq.khead, *r.cq.khead+n)
}

// cqAdvanceEach is CQAdvance one CQE at a time: for mixed rings (skip
// entries, two-slot CQEs) and for releasing Keep values.
func (r *Ring) cqAdvanceEach(n uint32) {
	head := *r.cq.khead
	for ; n > 0; n-- {
		c := r.cqeAt(head)
		if r.cq.mixed && c.Flags&uapi.CQEFSkip != 0 {
			head++
			n++
			continue
		}
		if len(r.keep) > 0 {
			r.release1(c)
		}
		if r.cq.mixed && c.Flags&uapi.CQEF32 != 0 {
			head += 2
		} else {
			head++
		}
	}
	storeRelease(r.cq.khead, head)
}

// CQReady returns how many CQE slots hold completions not yet seen.
func (r *Ring) CQReady() uint32 {
	return atomic.LoadUint32(r.cq.ktail) - *r.cq.khead
}

// Overflow returns the kernel's count of completions it could not post
// (only grows on kernels without IORING_FEAT_NODROP, or when even the
// overflow list could not be allocated).
func (r *Ring) Overflow() uint32 { return atomic.LoadUint32(r.cq.koverflow) }

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
// this or a wait.
func (r *Ring) GetEvents() error {
	for {
		_, errno := enterRaw(r.enterFD, 0, 0, r.enterFlags|uapi.EnterGetevents)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
		default:
			return enterError(errno)
		}
	}
}
