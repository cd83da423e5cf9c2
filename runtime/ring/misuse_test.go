package ring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// The CQ head guards: consuming what is not this ring's next completion is
// refused and changes nothing, so the ring's own completions are neither
// skipped nor (through Keep) released early.

func TestCQESeenTwice(t *testing.T) {
	r := newRing(t, 4)
	nops(t, r, 1, 2)
	if _, err := r.SubmitAndWait(2); err != nil {
		t.Fatal(err)
	}
	c, _ := r.PeekCQE()
	if err := r.CQESeen(c); err != nil {
		t.Fatal(err)
	}
	if err := r.CQESeen(c); !errors.Is(err, os.ErrInvalid) {
		t.Fatalf("second CQESeen of one CQE: %v, want os.ErrInvalid", err)
	}
	if n := r.CQReady(); n != 1 {
		t.Fatalf("CQReady after a refused CQESeen = %d, want 1", n)
	}
	if c, ok := r.PeekCQE(); !ok || c.UserData != 2 {
		t.Fatalf("next completion after the refused CQESeen: %+v %v, want user data 2", c, ok)
	}
	if err := r.CQESeen(nil); !errors.Is(err, os.ErrInvalid) {
		t.Fatalf("CQESeen(nil): %v", err)
	}
	c, _ = r.PeekCQE()
	if err := r.CQESeen(c); err != nil {
		t.Fatal(err)
	}
	// Nothing ready: even a pointer at the head slot is refused.
	if err := r.CQESeen(r.cqeAt(*r.cq.khead)); !errors.Is(err, os.ErrInvalid) || r.CQReady() != 0 {
		t.Fatalf("CQESeen with nothing ready: %v, CQReady %d", err, r.CQReady())
	}
}

func TestCQAdvanceBeyondReady(t *testing.T) {
	for _, kind := range []struct {
		name string
		opts []Option
		keep bool
	}{{"plain", nil, false}, {"Keep", nil, true}, {"CQE_MIXED", []Option{WithFlags(uapi.SetupCQEMixed)}, false}} {
		t.Run(kind.name, func(t *testing.T) {
			r, err := New(4, kind.opts...)
			if err != nil && kind.name == "CQE_MIXED" {
				t.Skipf("needs cqe_mixed: IORING_SETUP_CQE_MIXED (Linux 6.18): %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			nops(t, r, 1, 1)
			if kind.keep {
				r.Keep(1, new(int))
			}
			if _, err := r.SubmitAndWait(1); err != nil {
				t.Fatal(err)
			}
			if err := r.CQAdvance(5); !errors.Is(err, os.ErrInvalid) {
				t.Fatalf("CQAdvance(5) with 1 ready: %v, want os.ErrInvalid", err)
			}
			if n := r.CQReady(); n != 1 {
				t.Fatalf("CQReady after a refused CQAdvance = %d (0xffffffff is the wrapped head)", n)
			}
			if kind.keep && r.Kept() != 1 {
				t.Fatal("a refused CQAdvance released a kept value")
			}
			if err := r.CQAdvance(1); err != nil || r.CQReady() != 0 || r.Kept() != 0 {
				t.Fatalf("CQAdvance(1): %v, CQReady %d, Kept %d", err, r.CQReady(), r.Kept())
			}
			if err := r.CQAdvance(0); err != nil {
				t.Fatalf("CQAdvance(0): %v", err)
			}
		})
	}
}

// TestCQESeenOfAnotherRing: ring A has a read in flight whose buffer Keep
// holds under user data 5; ring B completes a NOP with the same user data.
// A.CQESeen(B's CQE) used to release A's buffer while the kernel could still
// write it, and move A's head over nothing.
func TestCQESeenOfAnotherRing(t *testing.T) {
	a, b := newRing(t, 4), newRing(t, 4)
	p := socketpair(t)
	buf := make([]byte, 8)
	s := sqe(t, a)
	s.PrepRead(int32(p[0]), buf, 0)
	s.UserData = 5
	a.Keep(5, &buf[0])
	if _, err := a.Submit(); err != nil {
		t.Fatal(err)
	}
	nops(t, b, 5, 1)
	if _, err := b.SubmitAndWait(1); err != nil {
		t.Fatal(err)
	}
	other, _ := b.PeekCQE()
	if err := a.CQESeen(other); !errors.Is(err, os.ErrInvalid) {
		t.Fatalf("A.CQESeen(B's CQE): %v, want os.ErrInvalid", err)
	}
	if a.Kept() != 1 || a.CQReady() != 0 || b.CQReady() != 1 {
		t.Fatalf("after the refused call: A kept %d, A ready %d, B ready %d; want 1, 0, 1", a.Kept(), a.CQReady(), b.CQReady())
	}
	// The read still completes on A, once, into the kept buffer.
	if _, err := unix.Write(p[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	got := reap(t, a, 1)
	if got[0].ud != 5 || got[0].res != 1 || buf[0] != 'x' || a.Kept() != 0 {
		t.Fatalf("A's read: %+v, buf %q, kept %d", got[0], buf[:1], a.Kept())
	}
}

// TestCQEMixedSeenAfterPeekBatch: on CQE_MIXED rings PeekBatch steps over
// filler entries without moving the head; CQESeen of its CQEs, in order,
// is the next completion all the same. A 32-byte CQE per round (2 slots),
// 5 slots a round on an 8-slot CQ, lands on the last slot now and then,
// where the kernel posts a filler.
func TestCQEMixedSeenAfterPeekBatch(t *testing.T) {
	r, err := New(4, WithFlags(uapi.SetupCQEMixed))
	if err != nil {
		t.Skipf("needs cqe_mixed: IORING_SETUP_CQE_MIXED (Linux 6.18): %v", err)
	}
	defer r.Close()
	fillers := 0
	for round := range 16 {
		nops(t, r, uint64(10*round), 1)
		s := sqe(t, r)
		s.PrepNop()
		s.UserData = uint64(10*round + 1)
		s.SetNopFlags(uint32(uapi.NopCqe32))
		nops(t, r, uint64(10*round+2), 2)
		if _, err := r.SubmitAndWait(4); err != nil {
			t.Fatal(err)
		}
		if r.cqeAt(*r.cq.khead).Flags&uapi.CQEFSkip != 0 || r.cqeAt(*r.cq.khead+1).Flags&uapi.CQEFSkip != 0 ||
			r.cqeAt(*r.cq.khead+2).Flags&uapi.CQEFSkip != 0 {
			fillers++
		}
		cqes := make([]*uapi.CQE, 8)
		n := r.PeekBatch(cqes)
		for i, c := range cqes[:n] {
			if want := uint64(10*round + i); c.UserData != want {
				t.Fatalf("round %d: batch entry %d has user data %d, want %d", round, i, c.UserData, want)
			}
			if err := r.CQESeen(c); err != nil {
				t.Fatalf("round %d: CQESeen of batch entry %d: %v", round, i, err)
			}
		}
		if n != 4 || r.CQReady() != 0 {
			t.Fatalf("round %d: %d in the batch, %d slots left", round, n, r.CQReady())
		}
	}
	if fillers == 0 {
		t.Fatal("no round put a filler entry in the batch: the test did not test")
	}
}

// TestWaitExpiredTimeout: a timeout that has already passed polls once and
// returns ETIME (it used to block forever); Forever waits.
func TestWaitExpiredTimeout(t *testing.T) {
	r := newRing(t, 4)
	needExtArg(t, r)
	done := make(chan error, 1)
	go func() {
		for _, d := range []time.Duration{0, -time.Millisecond, -time.Hour} {
			if c, err := r.WaitCQETimeout(d); !errors.Is(err, unix.ETIME) || c != nil {
				done <- errors.New("WaitCQETimeout(" + d.String() + ") on an idle ring: want ETIME, got " + errString(err))
				return
			}
		}
		if _, _, err := r.SubmitAndWaitTimeout(1, &WaitOptions{Timeout: -1}); !errors.Is(err, unix.ETIME) {
			done <- errors.New("SubmitAndWaitTimeout with a negative timeout: " + errString(err))
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a wait with an expired timeout is still blocked after 10 s")
	}
	// A poll still submits and returns what is there.
	nops(t, r, 7, 1)
	n, c, err := r.SubmitAndWaitTimeout(1, &WaitOptions{Timeout: -1})
	if err != nil || n != 1 || c == nil || c.UserData != 7 {
		t.Fatalf("poll with a NOP queued: %d %v %v", n, c, err)
	}
	r.CQESeen(c)
	nops(t, r, 8, 1)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	c, err = r.WaitCQETimeout(0)
	if err != nil || c.UserData != 8 {
		t.Fatalf("WaitCQETimeout(0) with a completion ready: %v %v", c, err)
	}
	r.CQESeen(c)
	nops(t, r, 9, 1)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	c, err = r.WaitCQETimeout(Forever)
	if err != nil || c.UserData != 9 {
		t.Fatalf("WaitCQETimeout(Forever): %v %v", c, err)
	}
	r.CQESeen(c)
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestSQPollSubmitCount: on SQPOLL rings Submit returns what it published,
// whether or not the poll thread has consumed it already (it used to
// return the unconsumed count, 0 now and then).
func TestSQPollSubmitCount(t *testing.T) {
	r := newRing(t, 8, WithSQPoll(50*time.Millisecond))
	for i := range 1500 {
		nops(t, r, uint64(i), 1)
		n, err := r.Submit()
		if err != nil || n != 1 {
			t.Fatalf("Submit %d of one SQE: %d, %v; want 1", i, n, err)
		}
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatal(err)
		}
		r.CQESeen(c)
	}
	if n, err := r.Submit(); err != nil || n != 0 {
		t.Fatalf("Submit of nothing: %d, %v", n, err)
	}
}

// TestErrorsSayWhatWasAsked: a refused setup names the entries, the flags
// and the likely cause; empty registrations are refused before the kernel
// with the method's name.
func TestErrorsSayWhatWasAsked(t *testing.T) {
	for _, entries := range []uint32{65536, ^uint32(0)} {
		_, err := New(entries)
		want := fmt.Sprintf("io_uring_setup entries=%d flags=0: invalid argument (more than 32768 SQ entries", entries)
		if !errors.Is(err, unix.EINVAL) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "IORING_SETUP_CLAMP") {
			t.Errorf("New(%d): %v; want EINVAL, %q... naming IORING_SETUP_CLAMP", entries, err, want)
		}
	}
	// The cause given is the kernel's: with CLAMP it takes the same request.
	r, err := New(65536, WithFlags(uapi.SetupClamp))
	if err != nil {
		t.Fatalf("New(65536) with IORING_SETUP_CLAMP: %v", err)
	}
	if n := r.Params().SQEntries; n != 32768 {
		t.Errorf("clamped to %d entries, want 32768", n)
	}
	r.Close()
	if _, err := New(8, WithCQSize(1<<20)); err == nil || !strings.Contains(err.Error(), "cq_entries=1048576") ||
		!strings.Contains(err.Error(), "more than 65536 CQ entries") {
		t.Errorf("New with a 2^20-entry CQ: %v", err)
	}

	r = newRing(t, 4)
	for _, c := range []struct {
		call string
		err  error
	}{
		{"RegisterFiles", r.RegisterFiles(nil)},
		{"RegisterFilesTagged", r.RegisterFilesTagged(nil, nil)},
		{"RegisterFilesSparse", r.RegisterFilesSparse(0)},
		{"RegisterBuffers", r.RegisterBuffers(nil)},
		{"RegisterBuffersTagged", r.RegisterBuffersTagged([][]byte{}, nil)},
		{"RegisterBuffersSparse", r.RegisterBuffersSparse(0)},
		{"RegisterRestrictions", r.RegisterRestrictions()},
		{"UpdateFiles", second(r.UpdateFiles(0, nil))},
		{"UpdateFilesTagged", second(r.UpdateFilesTagged(0, nil, nil))},
		{"UpdateBuffers", second(r.UpdateBuffers(0, nil, nil))},
	} {
		// The kernel would say EFAULT (nil array) or a bare EINVAL.
		if !errors.Is(c.err, unix.EINVAL) || !strings.HasPrefix(errString(c.err), "ring: "+c.call+": ") {
			t.Errorf("%s with nothing to register: %v; want EINVAL naming %s", c.call, c.err, c.call)
		}
	}
}

func second(_ int, err error) error { return err }
