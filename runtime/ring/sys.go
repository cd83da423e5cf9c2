package ring

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// setup calls io_uring_setup(2). The kernel fills in p.
func setup(entries uint32, p *uapi.Params) (int, error) {
	for {
		fd, _, errno := unix.RawSyscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, &os.SyscallError{Syscall: "io_uring_setup " + p.Flags.String(), Err: errno}
		}
		return int(fd), nil
	}
}

// enterRaw calls io_uring_enter(2) through RawSyscall6: used only when the
// call cannot sleep (no GETEVENTS wait), where it saves the scheduler
// hand-off that Syscall6 costs (design.md §3).
//
// Both enter calls go to package syscall rather than x/sys/unix: unix's
// Syscall6 and RawSyscall6 are assembly stubs that jump there, and calling
// through them costs two extra frames and an ABI0 argument spill per
// io_uring_enter (measurable at batch 1). unix.Errno is syscall.Errno.
func enterRaw(fd int, toSubmit, minComplete uint32, flags uapi.EnterFlags) (int, unix.Errno) {
	n, _, errno := syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), 0, 0)
	return int(n), errno
}

// The arg of enterBlocking is an address in memory that does
// not move (the Ring's own fields, on the heap, or mmap'd memory), or an
// offset into a registered wait region.

// enterBlocking calls io_uring_enter(2) through Syscall6 so the Go
// scheduler can run other goroutines while this one sleeps in the kernel.
func enterBlocking(fd int, toSubmit, minComplete uint32, flags uapi.EnterFlags, arg, argsz uintptr) (int, unix.Errno) {
	n, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), arg, argsz)
	return int(n), errno
}

// register calls io_uring_register(2). It may sleep (some ops wait for the
// ring to quiesce), so it goes through Syscall6. EINTR is retried: a
// register op interrupted by a signal has not taken effect.
func register(fd int, op uapi.RegisterOp, arg unsafe.Pointer, nargs uint32) (int, error) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(op), uintptr(arg), uintptr(nargs), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return int(n), registerError(op, errno)
		}
		return int(n), nil
	}
}

// registerError names the register op (without the registered-ring bit).
func registerError(op uapi.RegisterOp, errno unix.Errno) error {
	return &os.SyscallError{Syscall: "io_uring_register " + (op &^ uapi.RegisterUseRegisteredRing).String(), Err: errno}
}

func enterError(errno unix.Errno) error {
	return &os.SyscallError{Syscall: "io_uring_enter", Err: errno}
}
