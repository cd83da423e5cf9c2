package nvme_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/urgen/urgen/internal/blockbench"
	"github.com/urgen/urgen/runtime/nvme"
)

// BenchmarkReadQD32 reads random 4 KiB blocks of namespace 1 at queue
// depth 32 through NVMe passthrough (IORING_OP_URING_CMD on its
// /dev/ng0nX) and through the block layer (IORING_OP_READ, O_DIRECT, on
// its /dev/nvme0nX), the same offsets, in alternating rounds of one run:
// under TCG only the ratio means anything. One op is one read.
func BenchmarkReadQD32(b *testing.B) {
	d := open(b, plainNS)
	const depth, size, span = 32, 4096, 32 << 20
	for round := 0; round <= blockbench.Rounds; round++ { // round 0 warms up (TCG translates code on first use)
		b.Run(fmt.Sprintf("round=%d/passthrough", round), func(b *testing.B) {
			q := queue(b, d, nvme.WithEntries(2*depth))
			bufs := make([][]byte, depth)
			for i := range bufs {
				bufs[i] = aligned(size)
			}
			rng := rand.New(rand.NewPCG(1, uint64(round)))
			start := func(tag uint64) {
				if err := q.StartRead(bufs[tag], rng.Int64N(span/size)*size, tag); err != nil {
					b.Fatal(err)
				}
			}
			blockbench.KeepDepth(b, depth, size, start, func(done func(tag uint64)) {
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
			blockbench.ReadDevice(b, blockDevice(plainNS), depth, size, span, uint64(round))
		})
	}
}
