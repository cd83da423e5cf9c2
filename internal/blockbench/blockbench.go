// Package blockbench holds what the block device tests and benchmarks
// share (runtime/nvme, runtime/ublk): aligned and patterned buffers, a
// fixed number of requests in flight, and random O_DIRECT reads of a block
// device through a ring.
package blockbench

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/runtime/ring"
)

// Aligned returns n bytes aligned to 4096, as O_DIRECT needs.
func Aligned(n int) []byte {
	b := make([]byte, n+4096)
	off := (4096 - int(uintptr(unsafe.Pointer(&b[0]))%4096)) % 4096
	return b[off : off+n : off+n]
}

// Pattern returns n pseudo-random bytes from seed, aligned like Aligned.
func Pattern(n int, seed uint64) []byte {
	b := Aligned(n)
	rng := rand.New(rand.NewPCG(seed, 42))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// KeepDepth runs b.N requests of size bytes with depth in flight: start
// queues the request of a tag; reap waits for completions and calls done
// with each tag, which starts the next request on it while any remain.
// Beside the time it reports the CPU time per request (ReportCPU).
func KeepDepth(b *testing.B, depth, size int, start func(tag uint64), reap func(done func(tag uint64))) {
	b.SetBytes(int64(size))
	b.ResetTimer()
	defer ReportCPU(b)()
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

// ReadDevice reads random size-byte blocks of the first span bytes of the
// block device at path with O_DIRECT, depth at a time, through a ring
// (IORING_OP_READ). seed picks the offsets, so that peers read the same.
func ReadDevice(b *testing.B, path string, depth, size int, span int64, seed uint64) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := ring.New(uint32(2 * depth))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	bufs := make([][]byte, depth)
	for i := range bufs {
		bufs[i] = Aligned(size)
	}
	rng := rand.New(rand.NewPCG(1, seed))
	start := func(tag uint64) {
		s := r.NextSQE()
		s.PrepRead(int32(f.Fd()), bufs[tag], uint64(rng.Int64N(span/int64(size)))*uint64(size))
		s.UserData = tag
	}
	KeepDepth(b, depth, size, start, func(done func(tag uint64)) {
		if _, err := r.SubmitAndWait(1); err != nil {
			b.Fatal(err)
		}
		for {
			c, ok := r.PeekCQE()
			if !ok {
				return
			}
			if int(c.Res) != size {
				b.Fatalf("read of %s: %d", path, c.Res)
			}
			tag := c.UserData
			r.CQESeen(c)
			done(tag)
		}
	})
}

// ReportCPU starts counting CPU time; the function it returns reports it
// per op: proc-ns/op, this process's user and system time (the benchmark
// and, for a ublk device, its server; from getrusage, exact), and
// cpu-ns/op, the whole machine's busy time (every CPU, every thread and
// the kernel's workers and interrupts, from /proc/stat). The latter is
// sampled at the scheduler tick, so it is coarse (10 ms steps) and under
// qemu TCG, which loses ticks, can come out below proc-ns/op: compare it
// only between peers of one run.
func ReportCPU(b *testing.B) func() {
	busy0, proc0 := machineBusy(), processCPU()
	return func() {
		if b.N == 0 {
			return
		}
		b.ReportMetric(float64(machineBusy()-busy0)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(processCPU()-proc0)/float64(b.N), "proc-ns/op")
	}
}

// machineBusy is the time all CPUs spent on anything but idling and
// waiting for I/O, in nanoseconds (the "cpu" line of /proc/stat).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	var busy int64
	for i, f := range fields[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / time.Duration(clockTicks)
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// processCPU is the process's user and system time.
func processCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Rounds is how many measured rounds the block device benchmarks run,
// each after the other peers' (interleaved), after one round of warm-up:
// report each peer's median and its per-round ratios.
const Rounds = 6
