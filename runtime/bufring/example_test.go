package bufring_test

import (
	"fmt"
	"log"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bufring"
	"github.com/urgen/urgen/runtime/ring"
)

// A read that picks its buffer from a provided buffer ring when data
// arrives, and hands the buffer back afterwards.
func Example() {
	r, err := ring.New(8)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	br, err := bufring.New(r, 1, 4, 64) // group 1: four 64-byte buffers
	if err != nil {
		log.Fatal(err)
	}
	defer br.Close()

	// A socket pair, not a pipe: Linux 6.1 hands pipe reads to its
	// io-wq workers, whose creation a signal (Go's preemption) can
	// interrupt, and then cancels the read.
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	unix.Write(p[1], []byte("hello"))

	sqe := r.SQE()
	sqe.PrepRead(int32(p[0]), nil, ^uint64(0)) // no buffer: the group supplies it
	sqe.Flags |= uapi.SQEBufferSelect
	sqe.SetBufGroup(br.Group())
	sqe.Len = 64
	if _, err := r.Submit(); err != nil {
		log.Fatal(err)
	}
	cqe, err := r.WaitCQE()
	if err != nil {
		log.Fatal(err)
	}
	data, bid, done, err := br.Data(cqe)
	r.CQESeen(cqe)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read %q into buffer %d; %d of %d buffers left\n", data, bid, br.Available(), br.Len())
	if done { // the kernel is done with the buffer (always, unless Incremental)
		br.Return(bid)
	}
	fmt.Println("after Return:", br.Available())
	// Output:
	// read "hello" into buffer 0; 3 of 4 buffers left
	// after Return: 4
}
