package nvme_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/runtime/nvme"
	"github.com/urgen/urgen/runtime/ring"
)

// BenchmarkReadQD32 reads random 4 KiB blocks of namespace 1 at queue
// depth 32 through NVMe passthrough (IORING_OP_URING_CMD on its /dev/ng0nX)
// and through the block layer (IORING_OP_READ, O_DIRECT, on its /dev/nvme0nX),
// in alternating rounds of one run: under TCG only the ratio means
// anything. One op is one read.
func BenchmarkReadQD32(b *testing.B) {
	d := open(b, plainNS)
	const depth, size, span = 32, 4096, 32 << 20
	for round := 1; round <= 3; round++ {
		b.Run(fmt.Sprintf("round=%d/passthrough", round), func(b *testing.B) {
			q := queue(b, d, nvme.WithEntries(2*depth))
			bufs := make([][]byte, depth)
			for i := range bufs {
				bufs[i] = aligned(size)
			}
			rng := rand.New(rand.NewPCG(1, uint64(round)))
			start := func(tag uint64) {
				if err := q.StartRead(bufs[tag], int64(rng.IntN(span/size))*size, tag); err != nil {
					b.Fatal(err)
				}
			}
			keepDepth(b, depth, size, start, func(done func(tag uint64)) {
				if _, err := q.Complete(1, func(tag uint64, n int, err error) {
					if err != nil {
						b.Fatal(err)
					}
					done(tag)
				}); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(fmt.Sprintf("round=%d/blockdev", round), func(b *testing.B) {
			f, err := os.OpenFile(blockDevice(plainNS), os.O_RDONLY|unix.O_DIRECT, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			r, err := ring.New(2 * depth)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			bufs := make([][]byte, depth)
			for i := range bufs {
				bufs[i] = aligned(size)
			}
			rng := rand.New(rand.NewPCG(1, uint64(round)))
			start := func(tag uint64) {
				s := r.NextSQE()
				s.PrepRead(int32(f.Fd()), bufs[tag], uint64(rng.IntN(span/size))*size)
				s.UserData = tag
			}
			keepDepth(b, depth, size, start, func(done func(tag uint64)) {
				if _, err := r.SubmitAndWait(1); err != nil {
					b.Fatal(err)
				}
				for {
					c, ok := r.PeekCQE()
					if !ok {
						return
					}
					if c.Res != size {
						b.Fatalf("read: %d", c.Res)
					}
					tag := c.UserData
					r.CQESeen(c)
					done(tag)
				}
			})
		})
	}
}

// keepDepth runs b.N reads of size bytes with depth in flight: start
// queues the read of a tag, reap waits for completions and calls done with
// each tag, which starts the next read on it while reads remain.
func keepDepth(b *testing.B, depth, size int, start func(tag uint64), reap func(done func(tag uint64))) {
	b.SetBytes(int64(size))
	b.ResetTimer()
	issued, finished := 0, 0
	for ; issued < min(depth, b.N); issued++ {
		start(uint64(issued))
	}
	for finished < b.N {
		reap(func(tag uint64) {
			finished++
			if issued < b.N {
				start(tag)
				issued++
			}
		})
	}
}
