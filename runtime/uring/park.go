//go:build !race

package uring

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// waiter is a one-shot event for one goroutine, as the netpoller has them:
// wait parks the goroutine until wake, or returns at once if wake came
// first. A wait costs one gopark and one goready, with no lock and no sudog
// (a channel costs both). Reusable once wait has returned.
type waiter struct {
	// state is nil (idle), &woken, or the parked goroutine's runtime g
	// (heap allocated and never freed by the runtime).
	state atomic.Pointer[byte]
}

var woken byte

func (w *waiter) init() {}

// wait blocks until wake has been called since the last wait returned.
// With yield it first yields its P once (see laterCompletion).
func (w *waiter) wait(yield bool) {
	if yield && w.state.Load() != &woken {
		goyield()
	}
	if w.state.Load() != &woken {
		gopark(parkCommit, unsafe.Pointer(w), waitReasonIOWait, traceBlockNet, 1)
	}
	// A read-modify-write rather than a store: it orders everything the
	// waker did before wake before what the caller does next (for the race
	// detector too, which sees atomics but not goready).
	w.state.Swap(nil)
}

// parkCommit runs on the scheduler stack once the goroutine has stopped:
// it publishes the goroutine for wake, unless wake already happened, in
// which case gopark returns without parking. (It has no race context
// there, so race builds use park_race.go.)
//
//go:nosplit
func parkCommit(gp, arg unsafe.Pointer) bool {
	return (*waiter)(arg).state.CompareAndSwap(nil, (*byte)(gp))
}

// wake makes the goroutine in wait runnable, or the next wait return at once.
func (w *waiter) wake() {
	if old := w.state.Swap(&woken); old != nil && old != &woken {
		goready(unsafe.Pointer(old), 1)
	}
}

// raceAcquire is for the race detector (park_race.go).
func raceAcquire(*sync.Mutex) {}
