package ring

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
)

func needExtArg(t *testing.T, r *Ring) {
	t.Helper()
	if r.Features()&uapi.FeatExtArg == 0 {
		t.Fatal("kernel lacks IORING_FEAT_EXT_ARG (5.11); every matrix kernel has it")
	}
}

func TestWaitTimeout(t *testing.T) {
	r := newRing(t, 4)
	needExtArg(t, r)
	start := time.Now()
	c, err := r.WaitCQETimeout(30 * time.Millisecond)
	if !errors.Is(err, unix.ETIME) || c != nil {
		t.Fatalf("WaitCQETimeout on an idle ring: %v %v, want ETIME", c, err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("timed out after %v, before 30ms", el)
	}
	// With completions available it returns at once.
	nops(t, r, 1, 2)
	n, c, err := r.SubmitAndWaitTimeout(2, &WaitOptions{Timeout: 5 * time.Second})
	if err != nil || n != 2 || c == nil || c.UserData != 1 {
		t.Fatalf("SubmitAndWaitTimeout: %d %v %v", n, c, err)
	}
	if r.CQReady() != 2 {
		t.Fatalf("CQReady %d", r.CQReady())
	}
	reap(t, r, 2)
	// Waiting for more than arrive times out, leaving what did arrive.
	nops(t, r, 3, 1)
	_, _, err = r.SubmitAndWaitTimeout(2, &WaitOptions{Timeout: 20 * time.Millisecond})
	if !errors.Is(err, unix.ETIME) || r.CQReady() != 1 {
		t.Fatalf("waiting for 2 of 1: %v, ready %d", err, r.CQReady())
	}
	reap(t, r, 1)
}

func TestWaitMinWait(t *testing.T) {
	r := newRing(t, 4)
	if r.Features()&uapi.FeatMinTimeout == 0 {
		t.Skipf("needs min_timeout: IORING_FEAT_MIN_TIMEOUT (Linux 6.12) not in %v", r.Features())
	}
	// One completion is there; asking for 3 with min_wait 10ms returns
	// after about min_wait with the one, not after the 10 s timeout.
	nops(t, r, 1, 1)
	start := time.Now()
	_, c, err := r.SubmitAndWaitTimeout(3, &WaitOptions{Timeout: 10 * time.Second, MinWait: 10 * time.Millisecond})
	if err != nil || c == nil || c.UserData != 1 {
		t.Fatalf("min wait: %v %v", c, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("min wait returned after %v", el)
	}
	reap(t, r, 1)
}

func TestWaitAbsolute(t *testing.T) {
	feature.Need(t, "abs_timer", "IORING_ENTER_ABS_TIMER (Linux 6.12)")
	r := newRing(t, 4)
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		t.Fatal(err)
	}
	deadline := time.Duration(now.Nano()) + 30*time.Millisecond
	_, err := r.WaitCQEs(1, &WaitOptions{Timeout: deadline, Absolute: true})
	if !errors.Is(err, unix.ETIME) {
		t.Fatalf("absolute wait: %v, want ETIME", err)
	}
	// Measured on the deadline's own clock from the same reading: a start
	// taken by time.Now() after it can come milliseconds later (the
	// goroutine preempted in between under TCG), and made a correct
	// expiry look early.
	var after unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &after); err != nil {
		t.Fatal(err)
	}
	if at := time.Duration(after.Nano()); at < deadline || at-deadline > 5*time.Second {
		t.Fatalf("absolute deadline now+30ms: returned at now+%v", at-time.Duration(now.Nano()))
	}
	// A deadline in the past expires at once.
	start := time.Now()
	if _, err := r.WaitCQEs(1, &WaitOptions{Timeout: time.Duration(now.Nano()), Absolute: true}); !errors.Is(err, unix.ETIME) {
		t.Fatalf("past deadline: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("past deadline took %v", el)
	}
}

func TestWaitNoIOWait(t *testing.T) {
	r := newRing(t, 4)
	if r.Features()&uapi.FeatNoIowait == 0 {
		t.Skipf("needs no_iowait: kernel lacks IORING_FEAT_NO_IOWAIT (6.15)")
	}
	_, err := r.WaitCQEs(1, &WaitOptions{Timeout: 5 * time.Millisecond, NoIOWait: true})
	if !errors.Is(err, unix.ETIME) {
		t.Fatalf("NO_IOWAIT wait: %v, want ETIME", err)
	}
	nops(t, r, 1, 1)
	if _, c, err := r.SubmitAndWaitTimeout(1, &WaitOptions{Timeout: 5 * time.Second, NoIOWait: true}); err != nil || c == nil {
		t.Fatalf("NO_IOWAIT: %v %v", c, err)
	}
	reap(t, r, 1)
}

func TestWaitSigmask(t *testing.T) {
	r := newRing(t, 4)
	var set unix.Sigset_t // empty mask: nothing blocked during the wait
	_, err := r.WaitCQEs(1, &WaitOptions{Timeout: 5 * time.Millisecond, Sigmask: &set})
	if !errors.Is(err, unix.ETIME) {
		t.Fatalf("wait with sigmask: %v, want ETIME", err)
	}
}

func TestWaitRegisteredRegion(t *testing.T) {
	r := newRing(t, 4, WithFlags(uapi.SetupRDisabled))
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	slots, err := r.RegisterWaitRegion(mem)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			t.Skipf("needs reg_wait: IORING_REGISTER_MEM_REGION wait arguments (6.13): %v", err)
		}
		t.Fatal(err)
	}
	if err := r.Enable(); err != nil {
		t.Fatal(err)
	}
	if len(slots) != 64 {
		t.Fatalf("%d slots in a page", len(slots))
	}
	slots[3] = uapi.RegWait{Ts: uapi.KernelTimespec{TvNsec: int64(20 * time.Millisecond)}, Flags: uapi.RegWaitTs}
	start := time.Now()
	if _, err := r.WaitRegistered(1, 3); !errors.Is(err, unix.ETIME) {
		t.Fatalf("registered wait: %v, want ETIME", err)
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("registered 20ms timeout expired after %v", el)
	}
	// The kernel reads the slot at each wait: a 10 s timeout, and a NOP.
	slots[5] = uapi.RegWait{Ts: uapi.KernelTimespec{TvSec: 10}, Flags: uapi.RegWaitTs}
	nops(t, r, 9, 1)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	c, err := r.WaitRegistered(1, 5)
	if err != nil || c.UserData != 9 {
		t.Fatalf("registered wait: %v %v", c, err)
	}
	r.CQESeen(c)
	if _, err := r.WaitRegistered(1, 64); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("slot past the region: %v", err)
	}
}

func TestResize(t *testing.T) {
	r := newRing(t, 8, WithFlags(uapi.SetupSingleIssuer|uapi.SetupDeferTaskrun))
	// Leave completions unreaped and SQEs queued across the resize.
	nops(t, r, 1, 5)
	if _, err := r.SubmitAndWait(5); err != nil {
		t.Fatal(err)
	}
	nops(t, r, 100, 3)
	if err := r.Resize(64, 256); err != nil {
		if errors.Is(err, unix.EINVAL) {
			t.Skipf("needs resize_rings: IORING_REGISTER_RESIZE_RINGS (6.13): %v", err)
		}
		t.Fatal(err)
	}
	if p := r.Params(); p.SQEntries != 64 || p.CQEntries != 256 {
		t.Fatalf("after resize sq %d cq %d", p.SQEntries, p.CQEntries)
	}
	// The five completions moved with the ring; the 3 queued SQEs too.
	got := submitReap(t, r, 8)
	for _, ud := range []uint64{1, 2, 3, 4, 5, 100, 101, 102} {
		if c, ok := got[ud]; !ok || c.res != 0 {
			t.Fatalf("user data %d after resize: %+v %v", ud, c, ok)
		}
	}
	// The bigger ring takes 64 at once.
	roundTrip(t, r, 64)
	// Shrinking below what is in flight fails; a plain ring can't resize.
	p := newRing(t, 8)
	if err := p.Resize(16, 0); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("resize of a non-DEFER_TASKRUN ring: %v, want EINVAL", err)
	}
}

func TestSignalsDuringWait(t *testing.T) {
	r := newRing(t, 4)
	a := newRing(t, 4)
	tid := make(chan int)
	done := make(chan error)
	go func() {
		// The waiter owns a thread whose id the signaller knows.
		lockThread := func() int { return unix.Gettid() }
		rr := r
		runtimeLock()
		defer runtimeUnlock()
		tid <- lockThread()
		c, err := rr.WaitCQE()
		if err == nil && c.UserData != 77 {
			err = errors.New("wrong completion")
		}
		if err == nil {
			rr.CQESeen(c)
		}
		done <- err
	}()
	id := <-tid
	for range 50 {
		// SIGURG is Go's preemption signal: harmless, and it interrupts
		// the sleeping io_uring_enter.
		if err := unix.Tgkill(unix.Getpid(), id, unix.SIGURG); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	// Post the completion from the other ring.
	rw(sqe(t, a), uapi.OpMsgRing, r.FD(), nil, 0, 77, 1)
	submitReap(t, a, 1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitCQE under signals: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitCQE never returned")
	}
}
