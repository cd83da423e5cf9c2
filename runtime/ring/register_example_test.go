package ring_test

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bpf"
	"github.com/urgen/urgen/runtime/ring"
)

// Fixed files and buffers: register once, then name them by index.
func ExampleRing_RegisterFiles() {
	r, err := ring.New(8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	// A socket pair, not a pipe: Linux 6.1 hands pipe writes to its io-wq
	// workers, whose creation a signal (Go's preemption) can interrupt,
	// and then cancels the write.
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])

	buf := []byte("hello, fixed world")
	if err := r.RegisterFiles([]int32{int32(p[1])}); err != nil { // []int32: the kernel's __s32
		fmt.Println(err)
		return
	}
	if err := r.RegisterBuffers([][]byte{buf}); err != nil { // kept alive by the ring
		fmt.Println(err)
		return
	}
	s := r.SQE()
	s.Opcode = uapi.OpWriteFixed
	s.Flags = uapi.SQEFixedFile
	s.FD = 0       // file slot 0
	s.BufIndex = 0 // buffer slot 0
	s.Addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	s.Len = 5
	s.Off = ^uint64(0)
	if _, err := r.SubmitAndWait(1); err != nil {
		fmt.Println(err)
		return
	}
	c, err := r.WaitCQE()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("wrote", c.Res)
	r.CQESeen(c)
	out := make([]byte, 5)
	unix.Read(p[0], out)
	fmt.Printf("%s\n", out)
	// Output:
	// wrote 5
	// hello
}

// A ring for untrusted submitters: start disabled, allow only what is
// needed, then enable. Everything else completes with -EACCES.
func ExampleRing_RegisterRestrictions() {
	r, err := ring.New(8, ring.WithFlags(uapi.SetupRDisabled))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	if err := r.RegisterRestrictions(
		ring.AllowOp(uapi.OpRead),
		ring.AllowOp(uapi.OpNop),
		ring.AllowRegisterOp(uapi.RegisterProbe),
	); err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Enable(); err != nil {
		fmt.Println(err)
		return
	}
	s := r.SQE()
	s.Opcode = uapi.OpOpenat
	s.FD = unix.AT_FDCWD
	if _, err := r.SubmitAndWait(1); err != nil {
		fmt.Println(err)
		return
	}
	c, _ := r.WaitCQE()
	fmt.Println(unix.Errno(-c.Res) == unix.EACCES)
	r.CQESeen(c)
	// Output: true
}

// Restrict every ring this process and its children create, e.g. in a
// sandbox launcher before exec. It cannot be undone, so it is not run here.
func ExampleRestrictTask() {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println(err)
		return
	}
	err := ring.RestrictTask(ring.AllowOp(uapi.OpRead), ring.AllowOp(uapi.OpWrite))
	if errors.Is(err, bpf.ErrNoTask) {
		// Older kernel: fall back, e.g. to R_DISABLED rings with
		// RegisterRestrictions, or refuse to start the sandbox.
		fmt.Println("no task restrictions here:", err)
		os.Exit(1)
	}
	if err != nil {
		fmt.Println("task restrictions:", err)
		os.Exit(1)
	}
}
