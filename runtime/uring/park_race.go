//go:build race

package uring

import "sync"

// Under the race detector the waiter is a channel: gopark's commit function
// runs on the scheduler stack, where race-instrumented code cannot run, and
// the detector sees the hand-off through a channel but not through goready.
type waiter struct{ ch chan struct{} }

func (w *waiter) init()     { w.ch = make(chan struct{}, 1) }
func (w *waiter) wait(bool) { <-w.ch }
func (w *waiter) wake()     { w.ch <- struct{}{} }

// raceAcquire orders, for the race detector, the submissions under mu
// before the reaping of their completions: the kernel orders them, but the
// detector cannot see through it.
func raceAcquire(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock()
}
