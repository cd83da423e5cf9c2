package ring

import (
	"math"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Forever, as a timeout, waits without a time limit.
const Forever time.Duration = math.MaxInt64

// WaitOptions tunes a wait through IORING_ENTER_EXT_ARG (Linux 5.11,
// IORING_FEAT_EXT_ARG). The zero value waits without a timeout.
type WaitOptions struct {
	// Timeout bounds the wait; 0 and Forever mean none. When it expires
	// the error wraps unix.ETIME. A negative Timeout has already expired:
	// the ring is polled once (queued entries are still submitted).
	Timeout time.Duration
	// Absolute makes Timeout a CLOCK_MONOTONIC time (as from
	// unix.ClockGettime) instead of a duration: IORING_ENTER_ABS_TIMER
	// (Linux 6.12), or the clock registered with IORING_REGISTER_CLOCK.
	Absolute bool
	// MinWait is how long the kernel waits for the full count before it
	// settles for a single completion (min_wait_usec,
	// IORING_FEAT_MIN_TIMEOUT, Linux 6.12).
	MinWait time.Duration
	// NoIOWait keeps the waiting task out of iowait accounting
	// (IORING_ENTER_NO_IOWAIT, IORING_FEAT_NO_IOWAIT).
	NoIOWait bool
	// Sigmask, when set, is installed for the duration of the wait.
	Sigmask *unix.Sigset_t
}

// WaitCQEs waits until at least n completions are available, or the timeout
// passes, and returns the first one without consuming it. It does not
// submit.
func (r *Ring) WaitCQEs(n uint32, o *WaitOptions) (*uapi.CQE, error) {
	_, c, err := r.waitExt(false, n, o)
	return c, err
}

// SubmitAndWaitTimeout submits the queued SQEs and waits like WaitCQEs. It
// returns the number submitted, and the first completion when there is one.
func (r *Ring) SubmitAndWaitTimeout(n uint32, o *WaitOptions) (int, *uapi.CQE, error) {
	return r.waitExt(true, n, o)
}

func (r *Ring) waitExt(submit bool, n uint32, o *WaitOptions) (int, *uapi.CQE, error) {
	op := "WaitCQEs"
	if submit {
		op = "SubmitAndWaitTimeout"
	}
	if err := r.unusable(op); err != nil {
		return 0, nil, err
	}
	if o == nil {
		o = &WaitOptions{}
	}
	timed := o.Timeout != 0 && o.Timeout != Forever
	var deadline time.Time
	if timed && !o.Absolute {
		deadline = time.Now().Add(o.Timeout)
	}
	// Only this goroutine writes the tail: what this call publishes is what
	// SQPOLL rings report as submitted.
	published := r.sq.sqeTail - *r.sq.ktail
	submitted := 0
	for {
		var pending uint32
		if submit {
			pending = r.flush()
		}
		if pending == 0 && r.CQReady() >= n {
			if c := r.peek(); c != nil {
				return submitted, c, nil
			}
		}
		flags := r.enterFlags | uapi.EnterGetevents | uapi.EnterExtArg
		if pending > 0 && r.flags&uapi.SetupSQPoll != 0 {
			if r.SQRingFlags()&uapi.SQNeedWakeup != 0 {
				flags |= uapi.EnterSQWakeup
			}
		}
		r.waitArg = uapi.GeteventsArg{MinWaitUsec: uint32(o.MinWait / time.Microsecond)}
		if o.Sigmask != nil {
			// A copy in the Ring: the caller's may sit on a stack that moves.
			r.waitSig = *o.Sigmask
			r.waitArg.Sigmask = uint64(uintptr(unsafe.Pointer(&r.waitSig)))
			r.waitArg.SigmaskSz = kernelSigsetSize
		}
		if timed {
			t := max(o.Timeout, 0) // an absolute time before the clock's 0 has passed too
			if !o.Absolute {
				t = max(time.Until(deadline), 0)
			} else {
				flags |= uapi.EnterAbsTimer
			}
			r.waitTS = uapi.KernelTimespec{TvSec: int64(t / time.Second), TvNsec: int64(t % time.Second)}
			r.waitArg.Ts = uint64(uintptr(unsafe.Pointer(&r.waitTS)))
		}
		if o.NoIOWait {
			flags |= uapi.EnterNoIowait
		}
		ret, errno := enterBlocking(r.enterFD, pending, n, flags, uintptr(unsafe.Pointer(&r.waitArg)), unsafe.Sizeof(r.waitArg))
		switch errno {
		case 0:
			if pending > 0 {
				if r.flags&uapi.SetupSQPoll != 0 {
					ret = int(published)
				} else {
					r.consumed(uint32(ret), pending)
				}
				submitted += ret
			}
			if r.CQReady() >= n || (o.MinWait > 0 && r.CQReady() > 0) {
				if c := r.peek(); c != nil {
					return submitted, c, nil
				}
			}
			// Whatever the kernel left unconsumed waits for the next Submit.
			submit = false
			// The kernel reports a submission count, or 0 for a timeout
			// that was already due, rather than ETIME: check the clock.
			if timed && expired(deadline, o) {
				return submitted, nil, enterError(unix.ETIME)
			}
		case unix.EINTR:
		case unix.ETIME:
			return submitted, nil, enterError(errno)
		default:
			return submitted, nil, enterError(errno)
		}
	}
}

// expired reports whether the wait's timeout has passed.
func expired(deadline time.Time, o *WaitOptions) bool {
	if !o.Absolute {
		return !time.Now().Before(deadline)
	}
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		return true
	}
	return time.Duration(now.Nano()) >= o.Timeout
}

// kernelSigsetSize is the kernel's sigset_t size (_NSIG/8), which the kernel
// requires in sigmask_sz; unix.Sigset_t is the larger C library type.
var kernelSigsetSize = func() uint32 {
	if strings.HasPrefix(runtime.GOARCH, "mips") {
		return 16 // _NSIG is 128 on MIPS
	}
	return 8
}()
