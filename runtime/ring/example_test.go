package ring_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// The basic cycle: take an SQE, fill it, submit, wait for the CQE, mark it
// seen.
func Example() {
	r, err := ring.New(8)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	sqe := r.SQE()
	sqe.PrepNop()
	sqe.UserData = 42
	if _, err := r.SubmitAndWait(1); err != nil {
		log.Fatal(err)
	}
	cqe, err := r.WaitCQE()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("user data", cqe.UserData, "res", cqe.Res)
	r.CQESeen(cqe)
	// Output: user data 42 res 0
}

// Reading a file: Keep holds the buffer for the kernel until the read's
// completion has been seen.
func Example_read() {
	path := filepath.Join(os.TempDir(), "urgen-example-read")
	if err := os.WriteFile(path, []byte("hello from the page cache"), 0o600); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	r, err := ring.New(4)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	buf := make([]byte, 64)
	sqe := r.SQE()
	sqe.PrepRead(int32(f.Fd()), buf, 6) // generated builder; it zeroes the SQE first
	sqe.UserData = 1
	r.Keep(1, buf)
	if _, err := r.SubmitAndWait(1); err != nil {
		log.Fatal(err)
	}
	cqe, err := r.WaitCQE()
	if err != nil {
		log.Fatal(err)
	}
	n := cqe.Res
	r.CQESeen(cqe)
	fmt.Printf("%q\n", buf[:n])
	// Output: "from the page cache"
}

// Batches: queue many SQEs, submit once, reap with PeekBatch and CQAdvance.
func Example_batch() {
	r, err := ring.New(32)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	for i := range 32 {
		sqe := r.SQE()
		sqe.Opcode = uapi.OpNop
		sqe.UserData = uint64(i)
	}
	if _, err := r.SubmitAndWait(32); err != nil {
		log.Fatal(err)
	}
	cqes := make([]*uapi.CQE, 32)
	n := r.PeekBatch(cqes)
	var sum uint64
	for _, c := range cqes[:n] {
		sum += c.UserData
	}
	r.CQAdvance(uint32(n))
	fmt.Println(n, "completions, user data sum", sum)
	// Output: 32 completions, user data sum 496
}

// Waiting with a timeout: an expired wait wraps unix.ETIME.
func ExampleRing_WaitCQETimeout() {
	r, err := ring.New(4)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	_, err = r.WaitCQETimeout(10 * time.Millisecond)
	fmt.Println(errors.Is(err, unix.ETIME))
	// Output: true
}

// Errors name the operation and wrap the errno.
func ExampleRing_Register() {
	r, err := ring.New(4)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	fds := []int32{1 << 20} // not an open descriptor
	_, err = r.Register(uapi.RegisterFiles, unsafe.Pointer(&fds[0]), 1)
	fmt.Println(err)
	fmt.Println(errors.Is(err, unix.EBADF))
	// Output:
	// io_uring_register IORING_REGISTER_FILES: bad file descriptor
	// true
}

// Probing which opcodes the kernel supports.
func ExampleKernelProbe() {
	p, err := ring.KernelProbe()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Supported(uapi.OpNop), p.Supported(uapi.OpReadv))
	// Output: true true
}

// A ring with a kernel thread polling the submission queue: Submit only
// enters the kernel when the thread has gone to sleep.
func ExampleWithSQPoll() {
	r, err := ring.New(8, ring.WithSQPoll(10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	sqe := r.SQE()
	sqe.Opcode = uapi.OpNop
	sqe.UserData = 7
	if _, err := r.Submit(); err != nil {
		log.Fatal(err)
	}
	cqe, err := r.WaitCQE()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cqe.UserData, r.Flags()&uapi.SetupSQPoll != 0)
	r.CQESeen(cqe)
	// Output: 7 true
}

// Ring memory supplied by the caller (IORING_SETUP_NO_MMAP, Linux 6.5). It
// prints 16 true. Compiled, not run: an example cannot skip on the
// matrix's 6.1, which has no NO_MMAP; TestSetupNoMMap checks the same
// (needs no_mmap).
func ExampleWithMemory() {
	size := ring.MemorySize(16, 0, 0)
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		log.Fatal(err)
	}
	defer unix.Munmap(mem)

	r, err := ring.New(16, ring.WithMemory(mem))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	fmt.Println(r.Params().SQEntries, r.Flags()&uapi.SetupNoMMap != 0)
}

// A ring for one goroutine that does all its own submitting and reaping:
// SINGLE_ISSUER with DEFER_TASKRUN runs completion work only when this
// goroutine waits, with no interrupts. New locks the goroutine to its thread.
func ExampleWithFlags() {
	r, err := ring.New(8, ring.WithFlags(uapi.SetupSingleIssuer|uapi.SetupDeferTaskrun))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	for i := range 3 {
		sqe := r.SQE()
		sqe.PrepNop()
		sqe.UserData = uint64(i + 1)
	}
	if _, err := r.SubmitAndWait(3); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		cqe, err := r.WaitCQE()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(cqe.UserData, " ")
		r.CQESeen(cqe)
	}
	fmt.Println()
	// Output: 1 2 3
}

// Keep holds a buffer for a read that completes later, here when a socket
// gets data; the ring lets go of it once the completion has been seen.
func ExampleRing_Keep() {
	// A socket pair, not a pipe: Linux 6.1 hands pipe reads to its io-wq
	// workers, whose creation a signal (Go's preemption) can interrupt,
	// and then cancels the read.
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])

	r, err := ring.New(4)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	func() {
		buf := make([]byte, 16) // referenced only by the SQE and Keep
		sqe := r.SQE()
		sqe.PrepRead(int32(p[0]), buf, 0)
		sqe.UserData = 7
		r.Keep(7, buf)
	}()
	if _, err := r.Submit(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("kept while in flight:", r.Kept())

	unix.Write(p[1], []byte("late data"))
	cqe, err := r.WaitCQE()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("read", cqe.Res, "bytes")
	r.CQESeen(cqe)
	fmt.Println("kept after the completion:", r.Kept())
	// Output:
	// kept while in flight: 1
	// read 9 bytes
	// kept after the completion: 0
}
