// Package files benchmarks runtime/uring's File and FS against package os
// on the same work, with the same goroutines, in one process and one run,
// interleaved: each round runs every peer once, FILES_ROUNDS rounds
// (default 5), and the medians are printed as
//
//	BENCH files <workload> <param> urgen_ops=<n> os_ops=<n> vs_os=<ratio> urgen_cpu_ns=<n> os_cpu_ns=<n> urgen_p99_us=<n> os_p99_us=<n>
//
// ops are operations per wall second, cpu_ns the CPU time of the whole
// process (getrusage: user and system, every thread, the kernel's io-wq
// workers included) per operation, p99_us the 99th percentile of one call's
// latency. Workloads:
//
//   - read <g>: random 4 KiB ReadAt of a page-cached file (FILES_SIZE,
//     default 512 MiB) from g = 1, 32 and 256 goroutines;
//   - read liburing-qd32 and liburing-<n>x32: liburing 2.15 (C, queue
//     depth 32) on the same file, on one thread and on n = GOMAXPROCS
//     threads with a ring each, the limits: liburing_ops, liburing_cpu_ns,
//     and vs_os against os at 32 goroutines;
//   - odirect 32: random 4 KiB O_DIRECT reads of the same file;
//   - fsync 32: 4 KiB appends to one O_APPEND file, each followed by an
//     fsync (urgen: WriteSync, a write linked to an fsync);
//   - smallfiles 10000: ReadFile (open, fstat, read, close) of each of
//     10,000 files of 1-8 KiB from 32 goroutines;
//   - copytree 2000: copying a tree of 2,000 files (ReadDir, ReadFile,
//     WriteFile, 32 goroutines) with each package.
//
// FILES_DIR holds the files (default: the system temp dir; O_DIRECT needs a
// filesystem that has it, such as ext4: tmpfs rows are skipped), FILES_TIME
// is each run's length (default 1s), FILES_ONLY a comma-separated list of
// workloads to run.
package files

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	benchpeer "github.com/urgen/urgen/bench/internal/peer"
	lu "github.com/urgen/urgen/bench/ring"
	"github.com/urgen/urgen/runtime/uring"
)

const block = 4096

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	n, err := strconv.Atoi(env(name, strconv.Itoa(def)))
	if err != nil {
		panic(name + ": " + err.Error())
	}
	return n
}

// result is one run of one peer.
type result struct{ ops, cpuNs, p99us float64 }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed runs op from g goroutines for d (or, with d == 0, until op finds
// no more work) and measures it. op gets the worker index and its call
// count and returns false when there was no work left (not counted).
func timed(g int, d time.Duration, op func(w, i int) (more bool, err error)) (result, error) {
	var stop atomic.Bool
	var total atomic.Int64
	var wg sync.WaitGroup
	lats := make([][]time.Duration, g)
	errs := make(chan error, g)
	start := make(chan struct{})
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			<-start
			i := 0
			for !stop.Load() {
				t0 := time.Now()
				more, err := op(w, i)
				if err != nil {
					errs <- err
					stop.Store(true)
					break
				}
				if !more {
					break
				}
				if i&7 == 0 || d == 0 {
					lat = append(lat, time.Since(t0))
				}
				i++
			}
			total.Add(int64(i))
			lats[w] = lat
		}()
	}
	c0, t0 := cpuTime(), time.Now()
	close(start)
	if d > 0 {
		time.Sleep(d)
		stop.Store(true)
	}
	wg.Wait()
	wall, cpu := time.Since(t0), cpuTime()-c0
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	n := float64(total.Load())
	r := result{ops: n / wall.Seconds(), cpuNs: float64(cpu.Nanoseconds()) / n}
	if len(all) > 0 {
		r.p99us = float64(all[len(all)*99/100].Nanoseconds()) / 1e3
	}
	return r, nil
}

// peer is one side of a comparison.
type peer struct {
	name string
	run  func() (result, error)
}

// compare runs the peers alternately, rounds times, in rotating order, and prints the BENCH
// line of the medians of the first two, urgen and os. Further peers (other
// configurations of urgen) are measured in the same rounds and logged
// (-v) with their medians.
func compare(b *testing.B, workload, param string, rounds int, urgen, osPeer func() (result, error), extra ...peer) (urgenMed, osMed result) {
	peers := append([]peer{{"urgen", urgen}, {"os", osPeer}}, extra...)
	res := make([][]result, len(peers))
	for round := range rounds {
		for _, i := range benchpeer.Order(round, len(peers)) {
			p := peers[i]
			r, err := p.run()
			if err != nil {
				b.Fatalf("%s %s %s: %v", workload, param, p.name, err)
			}
			res[i] = append(res[i], r)
			b.Logf("%s %s %s: %.0f ops/s, %.0f ns CPU/op, p99 %.1f us", workload, param, p.name, r.ops, r.cpuNs, r.p99us)
		}
	}
	for i, p := range peers {
		m := median(res[i])
		b.Logf("median %s %s %s: %.0f ops/s (%.2fx os), %.0f ns CPU/op, p99 %.1f us", workload, param, p.name, m.ops, m.ops/median(res[1]).ops, m.cpuNs, m.p99us)
	}
	u, o := median(res[0]), median(res[1])
	fmt.Printf("BENCH files %s %s urgen_ops=%.0f os_ops=%.0f vs_os=%.2f urgen_cpu_ns=%.0f os_cpu_ns=%.0f urgen_p99_us=%.1f os_p99_us=%.1f\n",
		workload, param, u.ops, o.ops, u.ops/o.ops, u.cpuNs, o.cpuNs, u.p99us, o.p99us)
	return u, o
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		ops:   pick(func(r result) float64 { return r.ops }),
		cpuNs: pick(func(r result) float64 { return r.cpuNs }),
		p99us: pick(func(r result) float64 { return r.p99us }),
	}
}

func want(w string) bool {
	only := os.Getenv("FILES_ONLY")
	return only == "" || slices.Contains(strings.Split(only, ","), w)
}

// dataFile creates (once) a file of size bytes in dir and reads it through
// the page cache.
func dataFile(b *testing.B, dir string, size int64) string {
	name := filepath.Join(dir, fmt.Sprintf("urgen-files-bench-%d", size))
	if fi, err := os.Stat(name); err != nil || fi.Size() != size {
		f, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for off := int64(0); off < size; off += int64(len(buf)) {
			for i := range buf {
				buf[i] = byte(off>>20) ^ byte(i)
			}
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	f, _ := os.Open(name)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		f.ReadAt(buf, off)
	}
	f.Close()
	return name
}

type readerAt interface {
	ReadAt(p []byte, off int64) (int, error)
}

// randomReads reads 4 KiB blocks at random offsets of r, from g goroutines.
func randomReads(r readerAt, blocks int64, g int, d time.Duration, bufs [][]byte) (result, error) {
	rngs := make([]*rand.Rand, g)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 42))
	}
	return timed(g, d, func(w, _ int) (bool, error) {
		off := rngs[w].Int64N(blocks) * block
		n, err := r.ReadAt(bufs[w], off)
		if err == nil && n != block {
			err = fmt.Errorf("short read %d at %d", n, off)
		}
		return true, err
	})
}

func buffers(g int, aligned bool) [][]byte {
	bufs := make([][]byte, g)
	for i := range bufs {
		if aligned {
			bufs[i] = uring.AlignedBuffer(block)
		} else {
			bufs[i] = make([]byte, block)
		}
	}
	return bufs
}

func BenchmarkFiles(b *testing.B) {
	if b.N > 1 {
		b.Skip("runs once: use -benchtime 1x")
	}
	dir := env("FILES_DIR", os.TempDir())
	d, err := time.ParseDuration(env("FILES_TIME", "1s"))
	if err != nil {
		b.Fatal(err)
	}
	rounds := envInt("FILES_ROUNDS", 5)
	size := int64(envInt("FILES_SIZE", 512<<20))
	blocks := size / block
	var name string
	if want("read") || want("odirect") {
		name = dataFile(b, dir, size)
	}

	if want("read") {
		of, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		uf, err := uring.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		// The ring for every read, batched across goroutines: measured
		// beside, it is what the RWF_NOWAIT system call won against.
		re, err := uring.NewEngine(uring.Options{RingOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		defer re.Close()
		rf, err := re.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		defer rf.Close()
		var os32 result
		for _, g := range []int{1, 32, 256} {
			bufs := buffers(g, false)
			_, o := compare(b, "read", strconv.Itoa(g), rounds,
				func() (result, error) { return randomReads(uf, blocks, g, d, bufs) },
				func() (result, error) { return randomReads(of, blocks, g, d, bufs) },
				peer{"urgen-ring", func() (result, error) { return randomReads(rf, blocks, g, d, bufs) }})
			if g == 32 {
				os32 = o
			}
		}
		// The limits: liburing at queue depth 32, same file, on one
		// thread and on one thread per CPU (each with its own ring), one
		// after the other in each round.
		threads := runtime.GOMAXPROCS(0)
		var lr, lt []result
		for range rounds {
			lr = append(lr, liburingReads(b, int(of.Fd()), blocks, d, 1))
			lt = append(lt, liburingReads(b, int(of.Fd()), blocks, d, threads))
		}
		for _, l := range []struct {
			param string
			r     result
		}{{"liburing-qd32", median(lr)}, {fmt.Sprintf("liburing-%dx32", threads), median(lt)}} {
			fmt.Printf("BENCH files read %s liburing_ops=%.0f os_ops=%.0f vs_os=%.2f liburing_cpu_ns=%.0f os_cpu_ns=%.0f\n",
				l.param, l.r.ops, os32.ops, l.r.ops/os32.ops, l.r.cpuNs, os32.cpuNs)
		}
		uf.Close()
		of.Close()
	}

	if want("odirect") {
		odirect(b, name, blocks, d, rounds)
	}
	if want("fsync") {
		fsyncAppends(b, dir, d, rounds)
	}
	if want("smallfiles") {
		smallFiles(b, dir, rounds)
	}
	if want("copytree") {
		copyTree(b, dir, rounds)
	}
	if want("mkdirremove") {
		mkdirRemove(b, dir, rounds)
	}
}

// liburingReads runs liburing's random reads at queue depth 32 on threads
// threads, about d's worth (at 1 M/s per thread).
func liburingReads(b *testing.B, fd int, blocks int64, d time.Duration, threads int) result {
	offs := make([]uint64, 1<<16)
	rng := rand.New(rand.NewPCG(7, 42))
	for i := range offs {
		offs[i] = uint64(rng.Int64N(blocks)) * block
	}
	per := int(d.Seconds() * 1e6)
	n := per * threads
	c0, t0 := cpuTime(), time.Now()
	got := lu.LiburingReadThreads(fd, threads, 32, per, offs)
	wall, cpu := time.Since(t0), cpuTime()-c0
	if got != n {
		b.Fatalf("liburing read on %d threads: %d of %d", threads, got, n)
	}
	return result{ops: float64(n) / wall.Seconds(), cpuNs: float64(cpu.Nanoseconds()) / float64(n)}
}

func odirect(b *testing.B, name string, blocks int64, d time.Duration, rounds int) {
	of, err := os.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		b.Logf("odirect: %v (skipped: the filesystem has no O_DIRECT)", err)
		return
	}
	defer of.Close()
	uf, err := uring.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer uf.Close()
	bufs := buffers(32, true)
	// Probe: some filesystems accept the flag and fail the read.
	if _, err := of.ReadAt(bufs[0], 0); err != nil {
		b.Logf("odirect: %v (skipped)", err)
		return
	}
	// Beside: the reaper polling 50 us after each completion before it
	// sleeps (Options.Spin), and batches submitted without the leader's
	// yield (Options.NoYield).
	// Each reads into buffers registered with its own Engine.
	variant := func(o uring.Options) (*uring.File, [][]byte) {
		e, err := uring.NewEngine(o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		f, err := e.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		bufs := make([][]byte, 32)
		for i := range bufs {
			bufs[i] = e.AlignedBuffer(block)
		}
		return f, bufs
	}
	sf, sbufs := variant(uring.Options{Spin: 50 * time.Microsecond})
	nf, nbufs := variant(uring.Options{NoYield: true})
	// And urgen reading into aligned memory that is not an AlignedBuffer,
	// so not registered with the rings: READ rather than READ_FIXED.
	plain := make([][]byte, len(bufs))
	for i := range plain {
		m := make([]byte, 2*block)
		off := (block - int(uintptr(unsafe.Pointer(&m[0]))%block)) % block
		plain[i] = m[off : off+block]
	}
	compare(b, "odirect", "32", rounds,
		func() (result, error) { return randomReads(uf, blocks, 32, d, bufs) },
		func() (result, error) { return randomReads(of, blocks, 32, d, bufs) },
		peer{"urgen-plainbuf", func() (result, error) { return randomReads(uf, blocks, 32, d, plain) }},
		peer{"urgen-spin50us", func() (result, error) { return randomReads(sf, blocks, 32, d, sbufs) }},
		peer{"urgen-noyield", func() (result, error) { return randomReads(nf, blocks, 32, d, nbufs) }})
}

func fsyncAppends(b *testing.B, dir string, d time.Duration, rounds int) {
	name := filepath.Join(dir, "urgen-files-bench-log")
	data := bytes.Repeat([]byte("log record\n"), block/11+1)[:block]
	open := func() (*os.File, error) {
		return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	}
	defer os.Remove(name)
	urgen := func(linked bool) func() (result, error) {
		return func() (result, error) {
			f, err := uring.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
			if err != nil {
				return result{}, err
			}
			defer f.Close()
			return timed(32, d, func(int, int) (bool, error) {
				if linked {
					_, err := f.WriteSync(data)
					return true, err
				}
				if _, err := f.Write(data); err != nil {
					return false, err
				}
				return true, f.Sync()
			})
		}
	}
	// Beside: the same Write then Sync as os, through this package (the
	// fsync through the ring, the write not linked to it).
	compare(b, "fsync", "32", rounds, urgen(true),
		func() (result, error) {
			f, err := open()
			if err != nil {
				return result{}, err
			}
			defer f.Close()
			return timed(32, d, func(int, int) (bool, error) {
				if _, err := f.Write(data); err != nil {
					return false, err
				}
				return true, f.Sync()
			})
		},
		peer{"urgen-write+sync", urgen(false)})
}

// smallTree writes n files of 1-8 KiB into dir/sub, 100 to a directory,
// and returns their paths.
func smallTree(b *testing.B, dir, sub string, n int) []string {
	root := filepath.Join(dir, sub)
	var names []string
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		p := filepath.Join(d, fmt.Sprintf("f%05d", i))
		if _, err := os.Stat(p); err != nil {
			data := make([]byte, 1024+rng.IntN(7*1024))
			for j := range data {
				data[j] = byte(i + j)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		names = append(names, p)
	}
	return names
}

func smallFiles(b *testing.B, dir string, rounds int) {
	names := smallTree(b, dir, "urgen-files-bench-small", 10000)
	const g = 32
	each := func(read func(string) ([]byte, error)) func() (result, error) {
		return func() (result, error) {
			var next atomic.Int64
			return timed(g, 0, func(int, int) (bool, error) {
				i := next.Add(1) - 1
				if i >= int64(len(names)) {
					return false, nil
				}
				data, err := read(names[i])
				if err == nil && len(data) < 1024 {
					err = fmt.Errorf("%s: %d bytes", names[i], len(data))
				}
				return true, err
			})
		}
	}
	compare(b, "smallfiles", "10000", rounds, each(uring.ReadFile), each(os.ReadFile))
}

// mkdirRemove creates and removes 10,000 directories in one directory
// from 32 goroutines: each operation is a Mkdir and a Remove of the same
// name (Remove as os's: unlink, then rmdir).
func mkdirRemove(b *testing.B, dir string, rounds int) {
	const n, g = 10000, 32
	each := func(mkdir func(string, fs.FileMode) error, remove func(string) error) func() (result, error) {
		return func() (result, error) {
			d, err := os.MkdirTemp(dir, "urgen-files-bench-mkdir")
			if err != nil {
				return result{}, err
			}
			defer os.RemoveAll(d)
			var next atomic.Int64
			return timed(g, 0, func(int, int) (bool, error) {
				i := next.Add(1) - 1
				if i >= n {
					return false, nil
				}
				p := filepath.Join(d, strconv.FormatInt(i, 10))
				if err := mkdir(p, 0o755); err != nil {
					return true, err
				}
				return true, remove(p)
			})
		}
	}
	// Beside: every request through the ring, none as the plain call.
	re, err := uring.NewEngine(uring.Options{RingOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer re.Close()
	compare(b, "mkdirremove", "10000", rounds, each(uring.Mkdir, uring.Remove), each(os.Mkdir, os.Remove),
		peer{"urgen-ringonly", each(re.Mkdir, re.Remove)})
}

// copier is the file API a tree copy uses.
type copier struct {
	readDir   func(string) ([]fs.DirEntry, error)
	readFile  func(string) ([]byte, error)
	writeFile func(string, []byte, fs.FileMode) error
}

func copyTree(b *testing.B, dir string, rounds int) {
	smallTree(b, dir, "urgen-files-bench-tree", 2000)
	// Beside: WriteFile with a context that can end, which is one chain
	// through the ring (open into the file table, write, close) rather
	// than the system calls.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chain := func(name string, data []byte, perm fs.FileMode) error {
		return uring.WriteFileContext(ctx, name, data, perm)
	}
	compare(b, "copytree", "2000", rounds,
		treeCopy(dir, copier{uring.ReadDir, uring.ReadFile, uring.WriteFile}),
		treeCopy(dir, copier{os.ReadDir, os.ReadFile, os.WriteFile}),
		peer{"urgen-chainwrite", treeCopy(dir, copier{uring.ReadDir, uring.ReadFile, chain})})
}

// treeCopy copies the tree smallTree made in dir with c: the directories
// first, then the files from 32 goroutines.
func treeCopy(dir string, c copier) func() (result, error) {
	src := filepath.Join(dir, "urgen-files-bench-tree")
	return func() (result, error) {
		dst, err := os.MkdirTemp(dir, "urgen-files-bench-copy")
		if err != nil {
			return result{}, err
		}
		defer os.RemoveAll(dst)
		var files []string
		dirs, err := c.readDir(src)
		if err != nil {
			return result{}, err
		}
		for _, d := range dirs {
			if err := os.Mkdir(filepath.Join(dst, d.Name()), 0o755); err != nil {
				return result{}, err
			}
			ents, err := c.readDir(filepath.Join(src, d.Name()))
			if err != nil {
				return result{}, err
			}
			for _, e := range ents {
				files = append(files, filepath.Join(d.Name(), e.Name()))
			}
		}
		var next atomic.Int64
		return timed(32, 0, func(int, int) (bool, error) {
			i := next.Add(1) - 1
			if i >= int64(len(files)) {
				return false, nil
			}
			data, err := c.readFile(filepath.Join(src, files[i]))
			if err == nil {
				err = c.writeFile(filepath.Join(dst, files[i]), data, 0o644)
			}
			return true, err
		})
	}
}
