package ring

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/closedtest"
	"github.com/urgen/urgen/runtime/bpf"
)

// unusableCalls calls every exported method of *Ring. Each returns the
// method's error, or, for a method without one, checks that it did nothing
// (a nil SQE, a zero count) and returns Err: so on a closed ring every case
// must return an error wrapping os.ErrClosed. TestUnusableCallsCoverRing
// fails when a method has no case.
var unusableCalls = closedtest.Calls[*Ring]{
	"AddNAPIID":         func(r *Ring) error { return r.AddNAPIID(1) },
	"CQAdvance":         func(r *Ring) error { return r.CQAdvance(1) },
	"CQESeen":           func(r *Ring) error { return r.CQESeen(&uapi.CQE{}) },
	"CQReady":           func(r *Ring) error { return zero(r, "CQReady", r.CQReady()) },
	"CQRingFlags":       func(r *Ring) error { return zero(r, "CQRingFlags", uint32(r.CQRingFlags())) },
	"ClearIOWQAffinity": func(r *Ring) error { return r.ClearIOWQAffinity() },
	"CloneBuffers":      func(r *Ring) error { return r.CloneBuffers(&Ring{}, 0, 0, 0, 0) },
	"Close":             func(r *Ring) error { return errIfNot(r, r.Close() == nil, "Close of a closed ring failed") },
	"DelNAPIID":         func(r *Ring) error { return r.DelNAPIID(1) },
	"Dropped":           func(r *Ring) error { return zero(r, "Dropped", r.Dropped()) },
	"Enable":            func(r *Ring) error { return r.Enable() },
	"Enter":             func(r *Ring) error { _, err := r.Enter(0, 0, 0); return err },
	"Err":               func(r *Ring) error { return r.Err() },
	"FD":                func(r *Ring) error { return errIfNot(r, r.FD() == -1, "FD not -1") },
	"Features":          func(r *Ring) error { _ = r.Features(); return r.Err() },
	"Flags":             func(r *Ring) error { _ = r.Flags(); return r.Err() },
	"GetEvents":         func(r *Ring) error { return r.GetEvents() },
	"Keep":              func(r *Ring) error { r.Keep(1, new(int)); return zero(r, "Kept after Keep", uint32(r.Kept())) },
	"Kept":              func(r *Ring) error { return zero(r, "Kept", uint32(r.Kept())) },
	"MapPBufRing":       func(r *Ring) error { _, err := r.MapPBufRing(1, 8); return err },
	"NextSQE":           func(r *Ring) error { return nilSQE(r, r.NextSQE()) },
	"Overflow":          func(r *Ring) error { return zero(r, "Overflow", r.Overflow()) },
	"PBufStatus":        func(r *Ring) error { _, err := r.PBufStatus(1); return err },
	"Params":            func(r *Ring) error { _ = r.Params(); return r.Err() },
	"PeekBatch":         func(r *Ring) error { return zero(r, "PeekBatch", uint32(r.PeekBatch(make([]*uapi.CQE, 4)))) },
	"Publish":           func(r *Ring) error { return zero(r, "Publish", r.Publish()) },
	"PeekCQE": func(r *Ring) error {
		c, ok := r.PeekCQE()
		return errIfNot(r, c == nil && !ok, "PeekCQE returned a CQE")
	},
	"Probe":                 func(r *Ring) error { _, err := r.Probe(); return err },
	"Query":                 func(r *Ring) error { _, err := r.Query(); return err },
	"Register":              func(r *Ring) error { _, err := r.Register(uapi.RegisterProbe, nil, 0); return err },
	"RegisterBPFFilters":    func(r *Ring) error { return r.RegisterBPFFilters(bpf.Filter{Op: uapi.OpNop}) },
	"RegisterBuffers":       func(r *Ring) error { return r.RegisterBuffers([][]byte{make([]byte, 8)}) },
	"RegisterBuffersSparse": func(r *Ring) error { return r.RegisterBuffersSparse(4) },
	"RegisterBuffersTagged": func(r *Ring) error {
		return r.RegisterBuffersTagged([][]byte{make([]byte, 8)}, []uint64{1})
	},
	"RegisterEventfd":      func(r *Ring) error { return r.RegisterEventfd(0) },
	"RegisterEventfdAsync": func(r *Ring) error { return r.RegisterEventfdAsync(0) },
	"RegisterFiles":        func(r *Ring) error { return r.RegisterFiles([]int32{0}) },
	"RegisterFilesSparse":  func(r *Ring) error { return r.RegisterFilesSparse(4) },
	"RegisterFilesTagged":  func(r *Ring) error { return r.RegisterFilesTagged([]int32{0}, []uint64{1}) },
	"RegisterMemRegion":    func(r *Ring) error { return r.RegisterMemRegion(make([]byte, os.Getpagesize()), 0) },
	"RegisterMemRegionKernel": func(r *Ring) error {
		_, _, err := r.RegisterMemRegionKernel(os.Getpagesize(), 0)
		return err
	},
	"RegisterNAPI":         func(r *Ring) error { _, err := r.RegisterNAPI(NAPI{}); return err },
	"RegisterPBufRing":     func(r *Ring) error { return r.RegisterPBufRing(1, 8, nil, uapi.IouPBufRingMMap) },
	"RegisterPersonality":  func(r *Ring) error { _, err := r.RegisterPersonality(); return err },
	"RegisterRestrictions": func(r *Ring) error { return r.RegisterRestrictions(AllowOp(uapi.OpNop)) },
	"RegisterRingFD":       func(r *Ring) error { return r.RegisterRingFD() },
	"RegisterWaitRegion":   func(r *Ring) error { _, err := r.RegisterWaitRegion(onePage()); return err },
	"Resize":               func(r *Ring) error { return r.Resize(16, 0) },
	"SQE":                  func(r *Ring) error { return nilSQE(r, r.SQE()) },
	"SQE128":               func(r *Ring) error { return nilSQE(r, r.SQE128()) },
	"SQReady":              func(r *Ring) error { return zero(r, "SQReady", r.SQReady()) },
	"SQRingFlags":          func(r *Ring) error { return zero(r, "SQRingFlags", uint32(r.SQRingFlags())) },
	"SQSpace":              func(r *Ring) error { return zero(r, "SQSpace", r.SQSpace()) },
	"SetCQRingFlags": func(r *Ring) error {
		r.SetCQRingFlags(uapi.CQEventfdDisabled)
		return zero(r, "CQRingFlags after SetCQRingFlags", uint32(r.CQRingFlags()))
	},
	"SetClock":              func(r *Ring) error { return r.SetClock(unix.CLOCK_MONOTONIC) },
	"SetFileAllocRange":     func(r *Ring) error { return r.SetFileAllocRange(0, 1) },
	"SetIOWQAffinity":       func(r *Ring) error { return r.SetIOWQAffinity(&unix.CPUSet{1}) },
	"SetIOWQMaxWorkers":     func(r *Ring) error { _, _, err := r.SetIOWQMaxWorkers(1, 1); return err },
	"Submit":                func(r *Ring) error { _, err := r.Submit(); return err },
	"SubmitAndWait":         func(r *Ring) error { _, err := r.SubmitAndWait(1); return err },
	"SubmitAndWaitTimeout":  func(r *Ring) error { _, _, err := r.SubmitAndWaitTimeout(1, nil); return err },
	"SyncCancel":            func(r *Ring) error { return r.SyncCancel(Cancel{UserData: 1}) },
	"UnregisterBuffers":     func(r *Ring) error { return r.UnregisterBuffers() },
	"UnregisterEventfd":     func(r *Ring) error { return r.UnregisterEventfd() },
	"UnregisterFiles":       func(r *Ring) error { return r.UnregisterFiles() },
	"UnregisterNAPI":        func(r *Ring) error { _, err := r.UnregisterNAPI(); return err },
	"UnregisterPBufRing":    func(r *Ring) error { return r.UnregisterPBufRing(1) },
	"UnregisterPersonality": func(r *Ring) error { return r.UnregisterPersonality(1) },
	"UnregisterRingFD":      func(r *Ring) error { return errIfNot(r, r.UnregisterRingFD() == nil, "UnregisterRingFD failed") },
	"UpdateBuffers":         func(r *Ring) error { _, err := r.UpdateBuffers(0, [][]byte{nil}, nil); return err },
	"UpdateFiles":           func(r *Ring) error { _, err := r.UpdateFiles(0, []int32{-1}); return err },
	"UpdateFilesTagged":     func(r *Ring) error { _, err := r.UpdateFilesTagged(0, []int32{-1}, nil); return err },
	"WaitCQE":               func(r *Ring) error { _, err := r.WaitCQE(); return err },
	"WaitCQETimeout":        func(r *Ring) error { _, err := r.WaitCQETimeout(Forever); return err },
	"WaitCQEs":              func(r *Ring) error { _, err := r.WaitCQEs(1, nil); return err },
	"WaitRegistered":        func(r *Ring) error { _, err := r.WaitRegistered(1, 0); return err },
	"WaitSQSpace":           func(r *Ring) error { return r.WaitSQSpace() },
}

// zero checks that a count of a closed ring is 0, then returns Err.
func zero(r *Ring, what string, n uint32) error {
	return errIfNot(r, n == 0, fmt.Sprintf("%s = %d", what, n))
}

func nilSQE(r *Ring, s *uapi.SQE) error { return errIfNot(r, s == nil, "got an SQE") }

func errIfNot(r *Ring, ok bool, what string) error { return closedtest.Check(ok, what, r.Err()) }

// onePage is page-aligned memory for the wait-region case.
var onePage = sync.OnceValue(func() []byte {
	m, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		panic(err)
	}
	return m
})

func TestUnusableCallsCoverRing(t *testing.T) {
	// RegisteredBuffersForTest: only this package's tests see it.
	closedtest.Cover(t, unusableCalls, "RegisteredBuffersForTest")
}

// checkUnusable runs every case on r; r must not fault, panic or reach the
// kernel.
func checkUnusable(t *testing.T, r *Ring) {
	t.Helper()
	closedtest.Run(t, r, unusableCalls)
}

func TestAfterClose(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"plain", nil},
		{"registered ring fd", []Option{WithRegisteredRing()}},
		{"SQPOLL", []Option{WithSQPoll(0)}},
		{"DEFER_TASKRUN", []Option{WithFlags(uapi.SetupSingleIssuer | uapi.SetupDeferTaskrun)}},
		{"CQE_MIXED", []Option{WithFlags(uapi.SetupCQEMixed)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(8, c.opts...)
			if err != nil && c.name == "CQE_MIXED" {
				t.Skipf("needs cqe_mixed: IORING_SETUP_CQE_MIXED (Linux 6.18): %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			// Leave work behind: a queued SQE, an unseen completion, a kept value.
			nops(t, r, 1, 1)
			if _, err := r.SubmitAndWait(1); err != nil {
				t.Fatal(err)
			}
			r.SQE().PrepNop()
			r.Keep(9, new(int))
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			checkUnusable(t, r)
		})
	}
}

// TestZeroRing: a Ring that New did not make is a closed one; its Close
// leaves descriptor 0 alone.
func TestZeroRing(t *testing.T) {
	var before, after unix.Stat_t
	stdinOpen := unix.Fstat(0, &before) == nil
	checkUnusable(t, &Ring{})
	var r Ring
	if err := r.Close(); err != nil {
		t.Fatalf("Close of a zero Ring: %v", err)
	}
	if stdinOpen && (unix.Fstat(0, &after) != nil || after.Ino != before.Ino) {
		t.Fatal("Close of a zero Ring closed descriptor 0")
	}
}

// TestClosedRingDoesNotReachItsSuccessor: the probe's corruption. After
// A.Close a new ring B may get A's descriptor number (and addresses);
// nothing done through A may reach B.
func TestClosedRingDoesNotReachItsSuccessor(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithRegisteredRing()}} {
		a, err := New(8, opts...)
		if err != nil {
			t.Fatal(err)
		}
		afd := a.fd
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		b := newRing(t, 8, opts...)
		if b.fd != afd {
			t.Logf("B got fd %d, A had %d: the check still holds, less sharply", b.fd, afd)
		}
		checkUnusable(t, a)
		if n := b.CQReady(); n != 0 {
			t.Errorf("B has %d completions that calls on A posted", n)
		}
		// A's RegisterFiles must not have given B a file table: updating
		// slot 0 of B's table fails with ENXIO when B has none.
		if _, err := b.UpdateFiles(0, []int32{-1}); !errors.Is(err, unix.ENXIO) {
			t.Errorf("B's file table after calls on A: update says %v, want ENXIO (no table)", err)
		}
		if err := b.RegisterBuffersSparse(1); err != nil {
			t.Errorf("B already has a buffer table after calls on A: %v", err)
		}
	}
}

// TestCloseIdempotent: Close twice, and Close of a ring with kept values
// in flight, return nil the second time.
func TestCloseIdempotent(t *testing.T) {
	r, err := New(4)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	var ce *closedError
	if err := r.Err(); !errors.As(err, &ce) || err.Error() != "ring: use on a closed ring" {
		t.Fatalf("Err = %v", err)
	}
}
