package ring

import (
	"fmt"
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
			return -1, setupError(entries, p, errno)
		}
		return int(fd), nil
	}
}

// The kernel's limits on ring sizes (IORING_MAX_ENTRIES, IORING_MAX_CQ_ENTRIES;
// not in the UAPI headers).
const (
	maxSQEntries = 32768
	maxCQEntries = 2 * maxSQEntries
)

// setupError names what was asked for (entries, flags, a CQ size) and, for
// a refusal with a likely cause, the cause.
func setupError(entries uint32, p *uapi.Params, errno unix.Errno) error {
	call := fmt.Sprintf("io_uring_setup entries=%d flags=%s", entries, p.Flags)
	if p.Flags&uapi.SetupCqsize != 0 {
		call += fmt.Sprintf(" cq_entries=%d", p.CQEntries)
	}
	err := &os.SyscallError{Syscall: call, Err: errno}
	if cause := setupCause(entries, p, errno); cause != "" {
		return fmt.Errorf("%w (%s)", err, cause)
	}
	return err
}

func setupCause(entries uint32, p *uapi.Params, errno unix.Errno) string {
	clamp := p.Flags&uapi.SetupClamp != 0
	switch errno {
	case unix.EINVAL:
		switch {
		case entries == 0:
			return "a ring needs at least 1 entry"
		case entries > maxSQEntries && !clamp:
			return fmt.Sprintf("more than %d SQ entries: ask for fewer, or add IORING_SETUP_CLAMP to get %d", maxSQEntries, maxSQEntries)
		case p.Flags&uapi.SetupCqsize != 0 && p.CQEntries == 0:
			return "a CQ size of 0"
		case p.Flags&uapi.SetupCqsize != 0 && p.CQEntries > maxCQEntries && !clamp:
			return fmt.Sprintf("more than %d CQ entries: ask for fewer, or add IORING_SETUP_CLAMP", maxCQEntries)
		case p.Flags&uapi.SetupCqsize != 0 && p.CQEntries < min(entries, maxSQEntries):
			return "fewer CQ entries than SQ entries"
		case p.Flags != 0:
			return "a flag this kernel does not know, a combination it refuses, or a flag's parameter it rejects: see io_uring_setup(2)"
		}
	case unix.ENOMEM:
		return "not enough memory for the rings, or over RLIMIT_MEMLOCK on kernels before 5.12"
	case unix.EPERM:
		return "io_uring is restricted here (sysctl kernel.io_uring_disabled), or SQPOLL needs privileges (kernels before 5.11)"
	case unix.EMFILE, unix.ENFILE:
		return "no file descriptor left for the ring"
	}
	return ""
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
