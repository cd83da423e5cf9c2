package feature

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// hasSchedSlice reports whether a SCHED_OTHER thread can ask the scheduler
// for its own time slice: sched_setattr's sched_runtime, which
// sched_getattr reads back on kernels with EEVDF custom slices (Linux
// 6.12) and reports as 0 on older ones. It tries on a thread of its own,
// which exits afterwards, so no thread of the caller keeps the setting.
func hasSchedSlice() bool {
	const slice = 200_000 // ns
	ok := make(chan bool)
	go func() {
		// Never unlocked: the thread exits with this goroutine.
		runtime.LockOSThread()
		err := unix.SchedSetAttr(0, &unix.SchedAttr{Runtime: slice}, 0)
		a, gerr := unix.SchedGetAttr(0, 0)
		ok <- err == nil && gerr == nil && a.Runtime == slice
	}()
	return <-ok
}
