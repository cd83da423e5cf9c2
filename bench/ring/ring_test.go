package ring

// BenchmarkRing runs each workload for urgen, liburing (C) and giouring in
// turn, ROUNDS times (default 7), and prints the best round of each as
//
//	BENCH <workload> <param> urgen_ops=<n> liburing_ops=<n> giouring_ops=<n> vs_liburing=<r> vs_giouring=<r>
//
// Workloads: NOP in batches of 1, 8, 32 and 128 (submit, reap what is
// there, wait for the rest), and 4 KiB reads at random offsets of a
// page-cached 64 MiB file at queue depth 32. All three use the same ring
// size, flags (none: each library's defaults) and loop shape.
//
// Throughput is per second of the benchmarking thread's CPU time (see
// measure). Best of rounds rather than median: the machines this runs on are shared,
// and other load only ever slows a round down, so the fastest round is the
// one closest to what each implementation can do. Rounds are interleaved,
// so slow phases hit all three alike.

import (
	"runtime"
	"time"

	"fmt"
	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/pawelgaczynski/giouring"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

const (
	nopEntries  = 256
	readEntries = 64
	readQD      = 32
	fileSize    = 64 << 20
	blockSize   = 4096
)

type impl struct {
	name string
	nop  func(b *testing.B, batch uint32)
	read func(b *testing.B, fd int, offs []uint64)
}

var impls = []impl{
	{"urgen", urgenNop, urgenRead},
	{"liburing", liburingNop, liburingRead},
	{"giouring", giouringNop, giouringRead},
}

func urgenNop(b *testing.B, batch uint32) {
	r, err := ring.New(nopEntries)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	cqes := make([]*uapi.CQE, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += int(batch) {
		for range batch {
			r.NextSQE().PrepNop()
		}
		if _, err := r.Submit(); err != nil {
			b.Fatal(err)
		}
		for got := uint32(0); got < batch; {
			n := r.PeekBatch(cqes[:batch-got])
			if n == 0 {
				if _, err := r.WaitCQE(); err != nil {
					b.Fatal(err)
				}
				continue
			}
			r.CQAdvance(uint32(n))
			got += uint32(n)
		}
	}
}

func urgenRead(b *testing.B, fd int, offs []uint64) {
	r, err := ring.New(readEntries)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	// The zero-overhead path: bufs stays referenced for the whole run.
	bufs := make([]byte, readQD*blockSize)
	cqes := make([]*uapi.CQE, 256)
	k := 0
	prep := func(slot uint64) {
		s := r.NextSQE()
		s.PrepRead(int32(fd), bufs[slot*blockSize:(slot+1)*blockSize], offs[k%len(offs)])
		s.UserData = slot
		k++
	}
	b.ReportAllocs()
	b.ResetTimer()
	issued, done := 0, 0
	for slot := uint64(0); slot < readQD && issued < b.N; slot++ {
		prep(slot)
		issued++
	}
	for done < b.N {
		if _, err := r.Submit(); err != nil {
			b.Fatal(err)
		}
		n := r.PeekBatch(cqes)
		if n == 0 {
			if _, err := r.WaitCQE(); err != nil {
				b.Fatal(err)
			}
			n = r.PeekBatch(cqes)
		}
		for _, c := range cqes[:n] {
			if c.Res != blockSize {
				b.Fatalf("read res %d", c.Res)
			}
			done++
			if issued < b.N {
				prep(c.UserData)
				issued++
			}
		}
		r.CQAdvance(uint32(n))
	}
}

func liburingNop(b *testing.B, batch uint32) {
	if err := LiburingInit(nopEntries); err != nil {
		b.Fatal(err)
	}
	defer LiburingExit()
	b.ResetTimer()
	ops := (b.N + int(batch) - 1) / int(batch) * int(batch)
	if got := LiburingNop(batch, ops); got != ops {
		b.Fatalf("liburing NOP: %d of %d", got, ops)
	}
}

func liburingRead(b *testing.B, fd int, offs []uint64) {
	if err := LiburingInit(readEntries); err != nil {
		b.Fatal(err)
	}
	defer LiburingExit()
	b.ResetTimer()
	if got := LiburingRead(fd, readQD, b.N, offs); got != b.N {
		b.Fatalf("liburing read: %d of %d", got, b.N)
	}
}

func giouringNop(b *testing.B, batch uint32) {
	r, err := giouring.CreateRing(nopEntries)
	if err != nil {
		b.Fatal(err)
	}
	defer r.QueueExit()
	cqes := make([]*giouring.CompletionQueueEvent, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += int(batch) {
		for range batch {
			r.GetSQE().PrepareNop()
		}
		if _, err := r.Submit(); err != nil {
			b.Fatal(err)
		}
		for got := uint32(0); got < batch; {
			n := r.PeekBatchCQE(cqes[:batch-got])
			if n == 0 {
				if _, err := r.WaitCQE(); err != nil {
					b.Fatal(err)
				}
				continue
			}
			r.CQAdvance(n)
			got += n
		}
	}
}

func giouringRead(b *testing.B, fd int, offs []uint64) {
	r, err := giouring.CreateRing(readEntries)
	if err != nil {
		b.Fatal(err)
	}
	defer r.QueueExit()
	bufs := make([]byte, readQD*blockSize)
	cqes := make([]*giouring.CompletionQueueEvent, 256)
	k := 0
	prep := func(slot uint64) {
		s := r.GetSQE()
		s.PrepareRead(fd, uintptr(unsafe.Pointer(&bufs[slot*blockSize])), blockSize, offs[k%len(offs)])
		s.UserData = slot
		k++
	}
	b.ReportAllocs()
	b.ResetTimer()
	issued, done := 0, 0
	for slot := uint64(0); slot < readQD && issued < b.N; slot++ {
		prep(slot)
		issued++
	}
	for done < b.N {
		if _, err := r.Submit(); err != nil {
			b.Fatal(err)
		}
		n := r.PeekBatchCQE(cqes)
		if n == 0 {
			if _, err := r.WaitCQE(); err != nil {
				b.Fatal(err)
			}
			n = r.PeekBatchCQE(cqes)
		}
		for _, c := range cqes[:n] {
			if c.Res != blockSize {
				b.Fatalf("read res %d", c.Res)
			}
			done++
			if issued < b.N {
				prep(c.UserData)
				issued++
			}
		}
		r.CQAdvance(n)
	}
}

// readFile makes a 64 MiB file, reads it once so it is in the page cache,
// and returns it with a fixed table of random block offsets.
func readFile(b *testing.B) (*os.File, []uint64) {
	dir, err := os.MkdirTemp("", "bench-ring")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "bench-read")
	defer os.RemoveAll(dir) // the open file keeps the data
	data := make([]byte, fileSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.ReadAt(data, 0); err != nil {
		b.Fatal(err)
	}
	offs := make([]uint64, 1<<16)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range offs {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		offs[i] = x % (fileSize / blockSize) * blockSize
	}
	return f, offs
}

func best(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}

func rounds() int {
	if v, err := strconv.Atoi(os.Getenv("ROUNDS")); err == nil && v > 0 {
		return v
	}
	return 7
}

// measure runs one sub-benchmark and returns its operations per second.
// measure runs one sub-benchmark and returns its operations per second:
// per second of the benchmarking thread's CPU time (user + system, from
// getrusage(RUSAGE_THREAD)) by default, or of wall-clock time with
// BENCH_CLOCK=wall. Every workload here runs inline in the submitting
// thread (NOPs, page-cache reads), so on an idle machine the two agree; on
// a shared one, CPU time leaves out the time spent waiting for a CPU,
// which otherwise dominates the spread between rounds.
func measure(b *testing.B, name string, f func(b *testing.B)) float64 {
	var ops float64
	b.Run(name, func(b *testing.B) {
		runtime.LockOSThread() // RUSAGE_THREAD must see one thread
		defer runtime.UnlockOSThread()
		cpu0 := threadCPU(b)
		f(b)
		cpu := threadCPU(b) - cpu0
		// The last (largest) run counts; b.Elapsed excludes setup.
		wall := float64(b.N) / b.Elapsed().Seconds()
		ops = wall
		if os.Getenv("BENCH_CLOCK") != "wall" && cpu > 0 {
			ops = float64(b.N) / cpu.Seconds()
		}
		b.ReportMetric(wall, "wall_ops/s")
		b.ReportMetric(ops, "ops/s")
	})
	return ops
}

// threadCPU returns the calling thread's user plus system time.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(workload, param string, ops map[string][]float64) {
	u, l, g := best(ops["urgen"]), best(ops["liburing"]), best(ops["giouring"])
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	fmt.Printf("BENCH %s %s urgen_ops=%.0f liburing_ops=%.0f giouring_ops=%.0f vs_liburing=%.3f vs_giouring=%.3f\n",
		workload, param, u, l, g, ratio(u, l), ratio(u, g))
}

func BenchmarkRing(b *testing.B) {
	type result struct {
		workload, param string
		ops             map[string][]float64
	}
	var results []result
	for _, batch := range []uint32{1, 8, 32, 128} {
		ops := map[string][]float64{}
		for round := range rounds() {
			for _, im := range rotate(round) {
				ops[im.name] = append(ops[im.name], measure(b, fmt.Sprintf("nop/batch=%d/%s", batch, im.name), func(b *testing.B) { im.nop(b, batch) }))
			}
		}
		if len(ops) > 0 && ops["urgen"][0] > 0 { // the workload was selected
			results = append(results, result{"nop", "batch=" + strconv.Itoa(int(batch)), ops})
		}
	}
	var f *os.File
	var offs []uint64
	ops := map[string][]float64{}
	for round := range rounds() {
		for _, im := range rotate(round) {
			ops[im.name] = append(ops[im.name], measure(b, "read4k/qd=32/"+im.name, func(b *testing.B) {
				if f == nil { // made only when the read workload is selected
					f, offs = readFile(b)
				}
				im.read(b, int(f.Fd()), offs)
			}))
		}
	}
	if f != nil {
		f.Close()
		results = append(results, result{"read4k", "qd=32", ops})
	}
	for _, r := range results {
		report(r.workload, r.param, r.ops)
	}
}

// rotate returns the implementations in the order for round r: each goes
// first, second and third in turn, so whatever favours a position
// (warm caches, the scheduler) favours none of them.
func rotate(r int) []impl {
	n := len(impls)
	out := make([]impl, n)
	for i := range n {
		out[i] = impls[(i+r)%n]
	}
	return out
}
