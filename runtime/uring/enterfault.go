package uring

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

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

// faultCancel, set only by tests, picks requests for the kernel to cancel
// before they run, as Linux 6.1 does to work it punts to io-wq (see
// kernelCancelled): the fault tests prove that such requests are retried.
// Nil in normal use: one atomic load per queued request.
var faultCancel atomic.Pointer[func(op uapi.Op) bool]

// cancelFault replaces sqe, if faultCancel picks it, with a NOP that
// completes with -ECANCELED (IORING_NOP_INJECT_RESULT, Linux 6.10), linked
// as sqe was to the next request of its chain.
func cancelFault(sqe *uapi.SQE) {
	f := faultCancel.Load()
	if f == nil || !(*f)(sqe.Opcode) {
		return
	}
	link, ud := sqe.Flags&(uapi.SQEIOLink|uapi.SQEIOHardlink), sqe.UserData
	*sqe = uapi.SQE{Opcode: uapi.OpNop, Flags: link, UserData: ud}
	sqe.SetNopFlags(uint32(uapi.NopInjectResult))
	res := -int32(unix.ECANCELED)
	sqe.Len = uint32(res)
}
