package uring

import "sync/atomic"

// faultEnter, set only by tests, may fail an io_uring_enter that submits,
// before it is made, the way the kernel does when it is short of memory
// for requests (EAGAIN) or its completions are backed up (EBUSY, on
// kernels without IORING_FEAT_NODROP): the fault tests prove such
// submissions are retried and never dropped. Nil in normal use: one
// atomic load per submission.
var faultEnter atomic.Pointer[func() error]

// enterFault returns the injected failure for the next submission, if any.
func enterFault() error {
	if f := faultEnter.Load(); f != nil {
		return (*f)()
	}
	return nil
}
