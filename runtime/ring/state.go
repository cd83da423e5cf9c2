package ring

import (
	"fmt"
	"os"
)

// state is where a Ring is in its life. The zero value is a Ring that New
// did not make: like a closed one, it refuses everything and owns nothing.
type state uint8

const (
	stateZero   state = iota // not made by New
	stateOpen                // usable
	stateBroken              // a failed Resize left it unusable; Close still releases it
	stateClosed
)

// closedError is what a call on a closed Ring (or one New did not make)
// returns.
type closedError struct{ op string }

func (e *closedError) Error() string { return "ring: " + e.op + " on a closed ring" }

// Unwrap makes errors.Is(err, os.ErrClosed) true.
func (e *closedError) Unwrap() error { return os.ErrClosed }

// Err returns nil while the ring is usable. After Close, and for a Ring
// that New did not make, it returns an error wrapping os.ErrClosed; after
// a Resize that failed half way it returns that failure. Every method that
// can fail returns the same error; SQE, NextSQE and SQE128 return nil,
// which is how a full queue looks too, and Err tells the two apart.
func (r *Ring) Err() error { return r.unusable("use") }

// unusable returns nil for an open ring, else the error that op reports.
func (r *Ring) unusable(op string) error {
	switch r.state {
	case stateOpen:
		return nil
	case stateBroken:
		return fmt.Errorf("ring: %s: %w", op, r.brokenErr)
	}
	return &closedError{op}
}

// detach forgets the mapped queues, so that nothing reaches the old
// mappings again: every hot path sees a queue of no entries whose pointers
// are nil (and checks for that only on its slow branch or before the first
// dereference), and Submit leaves its fast path. The descriptor used for
// io_uring_enter and io_uring_register is dropped too, so a later ring
// that gets the same fd number is never reached through this one.
func (r *Ring) detach() {
	r.sq = submissionQueue{}
	r.cq = completionQueue{}
	r.enterFD, r.enterFlags, r.regOp = -1, 0, 0
}
