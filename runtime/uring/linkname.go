package uring

import "unsafe"

// Four scheduler entry points, reached by linkname. runtime/proc.go keeps
// their signatures for existing users (go.dev/issue/67401) and allows the
// references.

// procPin disables preemption and returns the current P's id; procUnpin
// undoes it. Between the two the goroutine cannot move to another P.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// goyield is runtime.Gosched onto the tail of the current P's run queue
// rather than the global one: the goroutines already runnable here run
// first, and this one resumes on the same P unless another P steals it.
//
//go:linkname goyield runtime.goyield
func goyield()

// gopark parks the calling goroutine after unlockf(g, arg) returns true (it
// runs on the scheduler stack; false resumes at once); goready makes a
// parked goroutine runnable on the current P.
//
//go:linkname gopark runtime.gopark
func gopark(unlockf func(gp unsafe.Pointer, arg unsafe.Pointer) bool, arg unsafe.Pointer, reason uint8, traceReason uint8, traceskip int)

//go:linkname goready runtime.goready
func goready(gp unsafe.Pointer, traceskip int)

const (
	waitReasonIOWait = 2 // runtime.waitReasonIOWait: "IO wait" in stack traces
	traceBlockNet    = 2 // runtime.traceBlockNet
)

// currentP returns the id of the P running the caller; it may be stale by
// the time it is used, which only costs locality.
func currentP() int {
	p := procPin()
	procUnpin()
	return p
}
