package uring

import (
	"sync"
	"sync/atomic"
)

// fdRef counts a File's operations in flight and closes it once: like
// internal/poll's fdMutex, Close waits for the operations that started
// before it, and those that start after it fail. The count is split by P,
// one cache line each, so that goroutines on different CPUs sharing a File
// do not bounce one line between them on every operation.
type fdRef struct {
	closedFlag atomic.Bool
	counts     []paddedCount

	mu       sync.Mutex // serializes close
	drained  chan struct{}
	signaled atomic.Bool
}

type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

func (r *fdRef) init(n int) { r.counts = make([]paddedCount, n) }

// inc counts an operation in on the caller's P and returns the ticket for
// dec; false when the file is closed.
func (r *fdRef) inc() (int, bool) {
	i := currentP()
	if i >= len(r.counts) {
		i %= len(r.counts) // more Ps than when the File was opened
	}
	// Dekker with close: either close's sum sees this increment, or this
	// load sees its flag (sync/atomic is sequentially consistent).
	r.counts[i].n.Add(1)
	if r.closedFlag.Load() {
		r.dec(i)
		return 0, false
	}
	return i, true
}

// dec counts an operation out; after close, the last one out wakes it.
func (r *fdRef) dec(i int) {
	r.counts[i].n.Add(-1)
	if r.closedFlag.Load() && r.sum() == 0 && r.signaled.CompareAndSwap(false, true) {
		close(r.drained)
	}
}

func (r *fdRef) sum() int64 {
	var n int64
	for i := range r.counts {
		n += r.counts[i].n.Load()
	}
	return n
}

// close marks the file closed. It reports false if it already was, else
// whether operations are still in flight: then drained is closed when the
// last one ends.
func (r *fdRef) close() (first, busy bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closedFlag.Load() {
		return false, false
	}
	r.drained = make(chan struct{})
	r.closedFlag.Store(true)
	if r.sum() == 0 && r.signaled.CompareAndSwap(false, true) {
		close(r.drained)
		return true, false
	}
	return true, true
}

func (r *fdRef) closed() bool { return r.closedFlag.Load() }
