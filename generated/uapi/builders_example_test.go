// Hand-written examples for the generated builders (not generated: the
// generator only replaces files that start with its "Code generated" line).

package uapi_test

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// A builder writes the whole SQE in place; user data goes in afterwards.
// In a ring, s is the next free submission queue entry.
func ExampleSQE_PrepRead() {
	buf := make([]byte, 4096)
	var s uapi.SQE
	s.PrepRead(3, buf, 0)
	s.UserData = 42
	fmt.Println(s.Opcode, s.FD, s.Len, s.Off, s.Addr == uint64(uintptr(unsafe.Pointer(&buf[0]))), s.UserData)
	// Output: IORING_OP_READ 3 4096 0 true 42
}

// Direct descriptors: index n of the registered file table goes to the
// kernel as n+1; IORING_FILE_INDEX_ALLOC asks it to pick a free slot.
func ExampleSQE_PrepOpenat2Direct() {
	path, _ := unix.BytePtrFromString("/etc/hostname")
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC}
	var s uapi.SQE
	s.PrepOpenat2Direct(unix.AT_FDCWD, path, &how, 5)
	fmt.Println(s.Opcode, s.FD, s.Len, s.FileIndex())
	s.PrepOpenat2Direct(unix.AT_FDCWD, path, &how, uapi.FileIndexAlloc)
	fmt.Println(s.FileIndex() == uapi.FileIndexAlloc)
	// Output:
	// IORING_OP_OPENAT2 -100 24 6
	// true
}

// A linked timeout follows the request it bounds; the timespec must stay
// alive until both complete.
func ExampleSQE_PrepLinkTimeout() {
	var sqes [2]uapi.SQE
	buf := make([]byte, 512)
	ts := uapi.KernelTimespec{TvSec: 1}
	sqes[0].PrepRecv(7, buf, 0)
	sqes[0].Flags |= uapi.SQEIOLink
	sqes[1].PrepLinkTimeout(&ts, 0)
	fmt.Println(sqes[0].Opcode, sqes[0].Flags, sqes[1].Opcode, sqes[1].FD, sqes[1].Len)
	// Output: IORING_OP_RECV IOSQE_IO_LINK IORING_OP_LINK_TIMEOUT -1 1
}
