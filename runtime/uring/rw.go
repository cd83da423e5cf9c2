package uring

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rwNowait is preadv2 or pwritev2 of p at off (-1: the file position) with
// RWF_NOWAIT: it fails with EAGAIN rather than wait for I/O or a lock. It
// cannot sleep, so it is a raw system call: the goroutine does not leave
// the scheduler's running state, which saves the entersyscall/exitsyscall
// pair that os pays on every read. The iovec lives on the stack for the
// duration of the call only (no allocation, unlike unix.Preadv2).
func rwNowait(write bool, fd int, p []byte, off int64) (int, unix.Errno) {
	trap := uintptr(unix.SYS_PREADV2)
	if write {
		trap = unix.SYS_PWRITEV2
	}
	iov := unix.Iovec{Base: unsafe.SliceData(p)}
	iov.SetLen(len(p))
	// 64-bit offsets split in two words, as the kernel's compat-safe
	// entry point takes them (the high word is 0 on 64-bit systems).
	lo, hi := uintptr(off), uintptr(uint64(off)>>32>>(unsafe.Sizeof(uintptr(0))*8-32))
	n, _, errno := syscall.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, lo, hi, unix.RWF_NOWAIT)
	return int(n), errno
}
