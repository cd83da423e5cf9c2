package feature

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// ringsChargedToMemlock reports whether the kernel charges the memory of
// a ring (its SQ/CQ rings and SQE array) to RLIMIT_MEMLOCK when the
// caller lacks CAP_IPC_LOCK, as registered buffers always are. Which
// kernels do is measured, not assumed: in the matrix 6.18 (the host), 7.0
// and 7.1 do, 6.1, 6.12, 7.2 and 7.3 do not. It tries on a thread of its
// own, which drops CAP_IPC_LOCK and exits afterwards, a 1024-entry ring
// (80 KiB) under a zero soft limit (RLIMIT_MEMLOCK is process-wide: the
// old limit is back before it returns).
func ringsChargedToMemlock() bool {
	var old unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old) != nil {
		return false
	}
	charged := make(chan bool)
	go func() {
		// Never unlocked: the thread exits with this goroutine.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var caps [2]unix.CapUserData
		if unix.Capget(&hdr, &caps[0]) != nil {
			charged <- false
			return
		}
		caps[0].Effective &^= 1 << unix.CAP_IPC_LOCK
		if unix.Capset(&hdr, &caps[0]) != nil {
			charged <- false
			return
		}
		if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: 0, Max: old.Max}) != nil {
			charged <- false
			return
		}
		var p uapi.Params
		fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 1024, uintptr(unsafe.Pointer(&p)), 0)
		unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old)
		if errno == 0 {
			unix.Close(int(fd))
		}
		charged <- errno == unix.ENOMEM
	}()
	return <-charged
}
