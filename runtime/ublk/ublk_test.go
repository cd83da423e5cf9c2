package ublk_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	ublkabi "github.com/urgen/urgen/generated/ublk"
	"github.com/urgen/urgen/internal/blockbench"
	"github.com/urgen/urgen/runtime/ublk"
)

func needUblk(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(ublk.ControlPath); err != nil {
		t.Skipf("needs ublk: %v (the matrix VMs load ublk_drv)", err)
	}
}

// aligned returns n bytes aligned to 4096 (O_DIRECT needs it).
func aligned(n int) []byte { return blockbench.Aligned(n) }

// pattern returns n aligned pseudo-random bytes.
func pattern(n int, seed uint64) []byte { return blockbench.Pattern(n, seed) }

// nodes lists the ublk devices' nodes but the control device.
func nodes() []string {
	m, _ := filepath.Glob("/dev/ublk[bc]*")
	return m
}

func newDevice(t testing.TB, b ublk.Backend, o ublk.Options) *ublk.Device {
	t.Helper()
	needUblk(t)
	d, err := ublk.New(b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestMemoryDevice writes patterns to a memory-backed device through
// /dev/ublkbN with O_DIRECT from another goroutine, reads them back, checks
// the backend's bytes, and that Close leaves no ublk device node; in both
// data-copy modes.
func TestMemoryDevice(t *testing.T) {
	needUblk(t)
	feats, err := ublk.Features()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ublk_drv features: %v", feats)
	for _, mode := range []ublk.Mode{ublk.ModeCopy, ublk.ModeUserCopy} {
		t.Run(mode.String(), func(t *testing.T) {
			const size = 16 << 20
			mem := ublk.NewMemory(size)
			d, err := ublk.New(mem, ublk.Options{Size: size, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if d.Mode() != mode {
				t.Errorf("mode %v, want %v", d.Mode(), mode)
			}
			if got := d.Info().Flags; (got&ublkabi.FUserCopy != 0) != (mode == ublk.ModeUserCopy) {
				t.Errorf("device flags %v for %v", got, mode)
			}
			done := make(chan error)
			go func() { done <- roundTrips(d.BlockDevice(), mem, size) }()
			if err := <-done; err != nil {
				t.Error(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if n := nodes(); len(n) > 0 {
				t.Errorf("after Close: %v", n)
			}
		})
	}
}

// roundTrips writes and reads back patterns at several offsets and sizes
// through the block device with O_DIRECT, and checks mem.
func roundTrips(dev string, mem *ublk.Memory, size int64) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for i, tc := range []struct {
		off int64
		n   int
	}{{0, 4096}, {512 << 10, 64 << 10}, {1 << 20, 512 << 10}, {3<<20 + 4096, 1 << 20}, {size - 8192, 8192}} {
		want := pattern(tc.n, uint64(i))
		if n, err := f.WriteAt(want, tc.off); n != tc.n || err != nil {
			return fmt.Errorf("write %d at %d: %d, %v", tc.n, tc.off, n, err)
		}
		got := aligned(tc.n)
		if n, err := f.ReadAt(got, tc.off); n != tc.n || err != nil {
			return fmt.Errorf("read %d at %d: %d, %v", tc.n, tc.off, n, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("read at %d differs from what was written", tc.off)
		}
		if !bytes.Equal(mem.Bytes()[tc.off:tc.off+int64(tc.n)], want) {
			return fmt.Errorf("backend bytes at %d differ from what was written", tc.off)
		}
	}
	return nil
}

// tidBackend records the threads its requests arrive on.
type tidBackend struct {
	*ublk.Memory
	mu   sync.Mutex
	tids map[int]int
}

func (b *tidBackend) note() {
	b.mu.Lock()
	b.tids[unix.Gettid()]++
	b.mu.Unlock()
}

func (b *tidBackend) ReadAt(p []byte, off int64) (int, error) {
	b.note()
	return b.Memory.ReadAt(p, off)
}
func (b *tidBackend) WriteAt(p []byte, off int64) (int, error) {
	b.note()
	return b.Memory.WriteAt(p, off)
}

// TestConcurrentQueues runs 8 goroutines of O_DIRECT I/O at once on a
// device with 4 queues; the requests arrive on the queues' threads (as
// many as blk-mq maps CPUs to) and every byte comes back.
func TestConcurrentQueues(t *testing.T) {
	const size, workers, chunk = 32 << 20, 8, 256 << 10
	b := &tidBackend{Memory: ublk.NewMemory(size), tids: map[int]int{}}
	d := newDevice(t, b, ublk.Options{Size: size, Queues: 4, Depth: 16})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			f, err := os.OpenFile(d.BlockDevice(), os.O_RDWR|unix.O_DIRECT, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for round := range 8 {
				off := int64(w*size/workers + round*chunk)
				want := pattern(chunk, uint64(w*100+round))
				if _, err := f.WriteAt(want, off); err != nil {
					errs <- err
					return
				}
				got := aligned(chunk)
				if _, err := f.ReadAt(got, off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, want) {
					errs <- fmt.Errorf("worker %d round %d: data differs", w, round)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("requests by queue thread: %v", b.tids)
	if want := min(4, maxCPUs()); len(b.tids) < want {
		t.Errorf("requests came on %d queue threads, want %d (one per CPU's queue)", len(b.tids), want)
	}
}

func maxCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return 1
	}
	return set.Count()
}

// countingFile counts flushes, discards and zeroings of a file backend.
type countingFile struct {
	ublk.File
	flushes, discards, zeroes atomic.Int32
}

func (c *countingFile) Flush() error { c.flushes.Add(1); return c.File.Flush() }
func (c *countingFile) Discard(off, n int64) error {
	c.discards.Add(1)
	return c.File.Discard(off, n)
}
func (c *countingFile) WriteZeroes(off, n int64) error {
	c.zeroes.Add(1)
	return c.File.WriteZeroes(off, n)
}

// TestFileBackend serves a device from a file: data written through the
// device is in the file, fsync reaches Flush, BLKDISCARD Discard and
// BLKZEROOUT WriteZeroes, and the ranges read back as zeros.
func TestFileBackend(t *testing.T) {
	needUblk(t)
	const size = 8 << 20
	f, err := os.CreateTemp(t.TempDir(), "ublk-backend")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	b := &countingFile{File: ublk.File{F: f}}
	d := newDevice(t, b, ublk.Options{Size: size, BlockSize: 4096})
	bd, err := os.OpenFile(d.BlockDevice(), os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bd.Close()
	want := pattern(1<<20, 5)
	if _, err := bd.WriteAt(want, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := bd.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("backend file after a write through the device: %v (equal %v)", err, bytes.Equal(got, want))
	}
	if b.flushes.Load() == 0 {
		t.Error("fsync of the device did not reach Flush")
	}
	for _, op := range []struct {
		name string
		req  uint
		n    *atomic.Int32
		off  uint64
	}{{"BLKDISCARD", unix.BLKDISCARD, &b.discards, 1 << 20}, {"BLKZEROOUT", unix.BLKZEROOUT, &b.zeroes, 3 << 19}} {
		rng := [2]uint64{op.off, 64 << 10}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, bd.Fd(), uintptr(op.req), uintptr(unsafe.Pointer(&rng))); errno != 0 {
			t.Fatalf("%s: %v", op.name, errno)
		}
		if op.n.Load() == 0 {
			t.Errorf("%s did not reach the backend", op.name)
		}
		back := aligned(64 << 10)
		if _, err := bd.ReadAt(back, int64(op.off)); err != nil || !bytes.Equal(back, make([]byte, len(back))) {
			t.Errorf("after %s the range reads %v, nonzero %v", op.name, err, !bytes.Equal(back, make([]byte, len(back))))
		}
	}
}

// TestOptionErrors: bad options fail before anything reaches the kernel.
func TestOptionErrors(t *testing.T) {
	for _, o := range []ublk.Options{{}, {Size: 1000}, {Size: 1 << 20, BlockSize: 1000}, {Size: 1 << 20, Depth: 5000}, {Size: 1 << 20, MaxIO: 1000}} {
		if _, err := ublk.New(ublk.NewMemory(1<<20), o); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("New(%+v): %v, want an option error", o, err)
		}
	}
}

// serveEnv makes the test binary a ublk server (TestKilledServer's child).
const serveEnv = "URGEN_UBLK_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		d, err := ublk.New(ublk.NewMemory(4<<20), ublk.Options{Size: 4 << 20})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("device", d.ID())
		select {} // until killed
	}
	os.Exit(m.Run())
}

// TestKilledServer kills a server process and checks that its device does
// not get stuck: I/O on an open descriptor fails instead of hanging,
// /dev/ublkbN goes away, the device is dead (or, on 6.12, says its server
// is gone), and Delete frees it, leaving no node.
func TestKilledServer(t *testing.T) {
	needUblk(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var id uint64
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("the server printed nothing")
	}
	if _, err := fmt.Sscanf(sc.Text(), "device %d", &id); err != nil {
		t.Fatalf("server: %q", sc.Text())
	}
	dev := "/dev/ublkb" + strconv.FormatUint(id, 10)
	bd, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bd.Close()
	if _, err := bd.WriteAt(pattern(4096, 1), 0); err != nil {
		t.Fatalf("write while served: %v", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// I/O now must fail, not hang.
	ioDone := make(chan error, 1)
	go func() {
		_, err := bd.ReadAt(aligned(4096), 0)
		ioDone <- err
	}()
	select {
	case err := <-ioDone:
		if err == nil {
			t.Error("read after the server died succeeded")
		}
		t.Logf("read after the server died: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("read after the server died hangs")
	}
	bd.Close()
	waitGone(t, dev, 10*time.Second)
	info, err := ublk.DeviceInfo(uint32(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dead server's device: state %v, pid %d", info.State, info.UblksrvPID)
	// 7.x marks the device dead; 6.12 still says live, but names the
	// server that is gone (its disk is gone too, checked above).
	if info.State != ublkabi.DevStateDead && unix.Kill(int(info.UblksrvPID), 0) != unix.ESRCH {
		t.Errorf("device state %v with server pid %d alive, want UBLK_S_DEV_DEAD or a gone server", info.State, info.UblksrvPID)
	}
	if err := ublk.Delete(uint32(id)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "/dev/ublkc"+strconv.FormatUint(id, 10), 10*time.Second)
	if n := nodes(); len(n) > 0 {
		t.Errorf("after Delete: %v", n)
	}
}

func waitGone(t *testing.T, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there after %v", path, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
