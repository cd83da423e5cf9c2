package ublk_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/blockbench"
	"github.com/urgen/urgen/runtime/ublk"
)

// BenchmarkBlockRead reads random 4 KiB blocks at queue depth 32 through
// the block layer (IORING_OP_READ, O_DIRECT) from null_blk's
// memory-backed nullb0 and from a Go ublk memory device (2 queues) in each
// data mode the driver has, the same offsets, in alternating rounds of one
// run: under TCG only the ratios mean anything. One op is one read.
func BenchmarkBlockRead(b *testing.B) {
	const nullb = "/dev/nullb0"
	if _, err := os.Stat(nullb); err != nil {
		b.Skipf("needs iopoll_device: %v (the matrix VMs load null_blk)", err)
	}
	needUblk(b)
	const size, depth, block = 64 << 20, 32, 4096
	devs := []struct{ name, path string }{{"null_blk", nullb}}
	// The queue rings as New sets them up, and (-plainring) without
	// SINGLE_ISSUER|DEFER_TASKRUN.
	defaults := ublk.SetRingFlagsForTest(0)
	defer ublk.SetRingFlagsForTest(defaults)
	for _, rf := range []struct {
		name  string
		flags uapi.SetupFlags
	}{{"", defaults}, {"-plainring", 0}} {
		ublk.SetRingFlagsForTest(rf.flags)
		for _, m := range modes {
			if m.mode.Supported() != nil {
				continue
			}
			d := newDevice(b, newMemory(b, size), ublk.Options{Size: size, Queues: 2, Depth: 64, Mode: m.mode})
			devs = append(devs, struct{ name, path string }{"ublk-" + m.mode.String() + rf.name, d.BlockDevice()})
		}
	}
	for round := 0; round <= blockbench.Rounds; round++ { // round 0 warms up (TCG translates code on first use)
		for _, dev := range devs {
			b.Run(fmt.Sprintf("round=%d/%s", round, dev.name), func(b *testing.B) {
				blockbench.ReadDevice(b, dev.path, depth, block, size, uint64(round))
			})
		}
	}
}
