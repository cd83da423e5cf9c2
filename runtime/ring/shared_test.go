package ring_test

import (
	"errors"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Publish and Enter split Submit: entries taken and published under a
// lock are submitted by an Enter on another goroutine, with no lock held.
func TestPublishEnter(t *testing.T) {
	r := newRing(t)
	var mu sync.Mutex
	const n = 5
	mu.Lock()
	for i := range n {
		s := r.NextSQE()
		s.PrepNop()
		s.UserData = uint64(i)
	}
	pending := r.Publish()
	mu.Unlock()
	if pending != n {
		t.Fatalf("Publish = %d, want %d", pending, n)
	}
	if again := r.Publish(); again != n {
		t.Fatalf("second Publish = %d, want %d (nothing consumed yet)", again, n)
	}
	done := make(chan error)
	go func() {
		k, err := r.Enter(pending, 0, 0)
		if err == nil && k != n {
			err = errors.New("submitted fewer")
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("Enter: %v", err)
	}
	if left := r.Publish(); left != 0 {
		t.Fatalf("Publish after Enter = %d, want 0", left)
	}
	if _, err := r.Enter(0, n, uapi.EnterGetevents); err != nil {
		t.Fatalf("Enter waiting: %v", err)
	}
	if got := r.CQReady(); got != n {
		t.Fatalf("CQReady = %d, want %d", got, n)
	}
	if _, err := r.Enter(0, 0, 1<<31); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Enter with an unknown flag: %v, want EINVAL", err)
	}
}

// With IORING_CQ_EVENTFD_DISABLED set, completions do not signal the
// registered eventfd; cleared, they do again.
func TestCQRingFlagsEventfd(t *testing.T) {
	r, efd := eventfdRing(t)
	r.SetCQRingFlags(uapi.CQEventfdDisabled)
	if got := r.CQRingFlags(); got != uapi.CQEventfdDisabled {
		t.Fatalf("CQRingFlags = %v", got)
	}
	run(t, r, 1, nop)
	if n := eventfdCount(t, efd); n != 0 {
		t.Fatalf("eventfd while disabled: %d, want 0", n)
	}
	r.SetCQRingFlags(0)
	run(t, r, 2, nop)
	if n := eventfdCount(t, efd); n != 1 {
		t.Fatalf("eventfd after enabling: %d, want 1", n)
	}
}
