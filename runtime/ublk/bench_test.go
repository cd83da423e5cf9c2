package ublk_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/urgen/urgen/internal/blockbench"
	"github.com/urgen/urgen/runtime/ublk"
)

// BenchmarkBlockRead reads random 4 KiB blocks at queue depth 32 through
// the block layer (IORING_OP_READ, O_DIRECT) from a Go ublk memory device
// (2 queues) and from null_blk's memory-backed nullb0, the same offsets,
// in alternating rounds of one run: under TCG only the ratio means
// anything. One op is one read.
func BenchmarkBlockRead(b *testing.B) {
	const nullb = "/dev/nullb0"
	if _, err := os.Stat(nullb); err != nil {
		b.Skipf("needs iopoll_device: %v (the matrix VMs load null_blk)", err)
	}
	const size, depth, block = 64 << 20, 32, 4096
	d := newDevice(b, ublk.NewMemory(size), ublk.Options{Size: size, Queues: 2, Depth: 64})
	for round := 0; round <= 3; round++ { // round 0 warms up (TCG translates code on first use)
		for _, dev := range []struct{ name, path string }{{"ublk", d.BlockDevice()}, {"null_blk", nullb}} {
			b.Run(fmt.Sprintf("round=%d/%s", round, dev.name), func(b *testing.B) {
				blockbench.ReadDevice(b, dev.path, depth, block, size, uint64(round))
			})
		}
	}
}
