package uring

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// A slot is one request in flight on a shard: its index is the SQE's user
// data. The slot holds what the kernel may touch until the completion, the
// completion's result, and the owner's means of waiting for it. A slot
// belongs to its owner from alloc to release; the reaper only writes the
// result and wakes the owner.
type slot struct {
	keep  keepRefs // memory the SQE points to: reachable until release
	res   int32
	flags uapi.CQEFlags

	w  waiter        // the owner parks here ...
	ch chan struct{} // ... or, with a context, selects on this (udChan)

	next atomic.Uint32 // free list link
}

// keepRefs are the Go objects an SQE points into (a buffer, a path, a
// struct the kernel fills in). Holding them in the slot keeps them
// reachable until the completion; since the slot is on the heap, storing a
// pointer here also makes the compiler put the object on the heap, where
// it does not move (goroutine stacks do).
type keepRefs [3]unsafe.Pointer

// slots is a shard's table of slots with a lock-free free list: a Treiber
// stack whose head packs an index with a counter against ABA. When it is
// empty, alloc waits (backpressure, never an error).
type slots struct {
	s    []slot
	head atomic.Uint64 // index+1 (0: empty) | generation<<32

	mu      sync.Mutex
	cond    sync.Cond
	waiters atomic.Int32

	chainMu sync.Mutex // one allocN at a time
}

func (t *slots) init(n uint32) {
	t.s = make([]slot, n)
	t.cond.L = &t.mu
	for i := range t.s {
		t.s[i].ch = make(chan struct{}, 1)
		t.s[i].w.init()
	}
	for i := int(n) - 1; i >= 0; i-- {
		t.push(uint32(i))
	}
}

func (t *slots) pop() (uint32, bool) {
	for {
		h := t.head.Load()
		top := uint32(h)
		if top == 0 {
			return 0, false
		}
		next := t.s[top-1].next.Load()
		if t.head.CompareAndSwap(h, uint64(next)|(h>>32+1)<<32) {
			return top - 1, true
		}
	}
}

func (t *slots) push(i uint32) {
	for {
		h := t.head.Load()
		t.s[i].next.Store(uint32(h))
		if t.head.CompareAndSwap(h, uint64(i+1)|(h>>32+1)<<32) {
			return
		}
	}
}

// alloc takes a free slot, waiting for one if all are in flight.
func (t *slots) alloc() uint32 {
	if i, ok := t.pop(); ok {
		return i
	}
	t.mu.Lock()
	t.waiters.Add(1)
	for {
		// Counted as a waiter before this look: a release after it sees the
		// count and signals.
		if i, ok := t.pop(); ok {
			t.waiters.Add(-1)
			t.mu.Unlock()
			return i
		}
		t.cond.Wait()
	}
}

// release returns slot i to the free list.
func (t *slots) release(i uint32) {
	t.s[i].keep = keepRefs{}
	t.push(i)
	if t.waiters.Load() > 0 {
		t.mu.Lock()
		t.cond.Signal()
		t.mu.Unlock()
	}
}

// allocN takes len(idx) slots. Taken one by one, goroutines that each
// hold some and wait for more could deadlock; so only one goroutine at a
// time takes several. The others waiting for slots take one each and hold
// it only while their request is in flight, so the slots it waits for come.
func (t *slots) allocN(idx []uint32) {
	t.chainMu.Lock()
	for i := range idx {
		idx[i] = t.alloc()
	}
	t.chainMu.Unlock()
}
