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

	"github.com/urgen/urgen/generated/uapi"
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

// modes are the concrete data modes with the matrix feature that names
// each (internal/matrix/feature: detected by the driver's GET_FEATURES).
var modes = []struct {
	mode    ublk.Mode
	feature string
}{
	{ublk.ModeCopy, "ublk"},
	{ublk.ModeUserCopy, "ublk_user_copy"},
	{ublk.ModeZeroCopy, "ublk_zero_copy"},
	{ublk.ModeAutoBufReg, "ublk_auto_buf_reg"},
}

// eachMode runs f as a subtest per data mode, skipping with the feature's
// name where the driver lacks the mode.
func eachMode(t *testing.T, f func(t *testing.T, mode ublk.Mode)) {
	needUblk(t)
	for _, m := range modes {
		t.Run(m.mode.String(), func(t *testing.T) {
			if err := m.mode.Supported(); err != nil {
				t.Skipf("needs %s: %v", m.feature, err)
			}
			f(t, m.mode)
		})
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

func newMemory(t testing.TB, size int64) *ublk.Memory {
	t.Helper()
	m, err := ublk.NewMemory(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// newDevice starts a device that the test's cleanup closes (before the
// backend's cleanup, registered earlier, runs).
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

func openDirect(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestMemoryDevice writes patterns to a memory-backed device through
// /dev/ublkbN with O_DIRECT from another goroutine, reads them back, checks
// the backend's bytes byte by byte, and that Close leaves no ublk device
// node; in every data mode the driver has.
func TestMemoryDevice(t *testing.T) {
	needUblk(t)
	feats, err := ublk.Features()
	t.Logf("ublk_drv features: %v (%v)", feats, err)
	eachMode(t, func(t *testing.T, mode ublk.Mode) {
		const size = 16 << 20
		mem := newMemory(t, size)
		d, err := ublk.New(mem, ublk.Options{Size: size, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Mode() != mode {
			t.Errorf("mode %v, want %v", d.Mode(), mode)
		}
		flags := d.Info().Flags
		for f, in := range map[ublkabi.Flags]bool{
			ublkabi.FUserCopy:        mode == ublk.ModeUserCopy,
			ublkabi.FSupportZeroCopy: mode == ublk.ModeZeroCopy,
			ublkabi.FAutoBufReg:      mode == ublk.ModeAutoBufReg,
		} {
			if (flags&f != 0) != in {
				t.Errorf("device flags %v in %v: %v should be there %v", flags, mode, f, in)
			}
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
		if i := firstDiff(got, want); i >= 0 {
			return fmt.Errorf("read at %d differs from what was written at byte %d", tc.off, i)
		}
		if i := firstDiff(mem.Bytes()[tc.off:tc.off+int64(tc.n)], want); i >= 0 {
			return fmt.Errorf("backend bytes at %d differ from what was written at byte %d", tc.off, i)
		}
	}
	return nil
}

// firstDiff is the index of the first byte where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// tidBackend records the threads its requests arrive on, and how: by
// copies in ReadAt and WriteAt, or, in the zero-copy modes, as transfers
// through the ring in PrepFixed.
type tidBackend struct {
	*ublk.Memory
	mu            sync.Mutex
	tids          map[int]int
	copies, fixed int
}

func (b *tidBackend) note(fixed bool) {
	b.mu.Lock()
	b.tids[unix.Gettid()]++
	if fixed {
		b.fixed++
	} else {
		b.copies++
	}
	b.mu.Unlock()
}

func (b *tidBackend) ReadAt(p []byte, off int64) (int, error) {
	b.note(false)
	return b.Memory.ReadAt(p, off)
}
func (b *tidBackend) WriteAt(p []byte, off int64) (int, error) {
	b.note(false)
	return b.Memory.WriteAt(p, off)
}
func (b *tidBackend) PrepFixed(s *uapi.SQE, t ublk.Transfer) {
	b.note(true)
	b.Memory.PrepFixed(s, t)
}

// TestConcurrentQueues runs 8 goroutines of O_DIRECT I/O at once on a
// device with 4 queues, in each data mode; the requests arrive on the
// queues' threads (as many as blk-mq maps CPUs to), by the mode's path
// (copies, or fixed-buffer transfers), and every byte comes back.
func TestConcurrentQueues(t *testing.T) {
	eachMode(t, func(t *testing.T, mode ublk.Mode) {
		const size, workers, chunk = 32 << 20, 8, 256 << 10
		b := &tidBackend{Memory: newMemory(t, size), tids: map[int]int{}}
		d := newDevice(t, b, ublk.Options{Size: size, Queues: 4, Depth: 16, Mode: mode})
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
					if i := firstDiff(got, want); i >= 0 {
						errs <- fmt.Errorf("worker %d round %d: data differs at byte %d", w, round, i)
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
		t.Logf("requests by queue thread: %v; %d copies, %d fixed-buffer transfers", b.tids, b.copies, b.fixed)
		// The zero-copy modes never copy through the server's memory; the
		// copying modes never see a registered buffer.
		if zc := mode == ublk.ModeZeroCopy || mode == ublk.ModeAutoBufReg; zc && (b.copies != 0 || b.fixed == 0) {
			t.Errorf("%v: %d copies through ReadAt/WriteAt and %d fixed-buffer transfers, want none and some", mode, b.copies, b.fixed)
		} else if !zc && (b.fixed != 0 || b.copies == 0) {
			t.Errorf("%v: %d fixed-buffer transfers and %d copies, want none and some", mode, b.fixed, b.copies)
		}
		if want := min(4, maxCPUs()); len(b.tids) < want {
			t.Errorf("requests came on %d queue threads, want %d (one per CPU's queue)", len(b.tids), want)
		}
	})
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

// TestFileBackend serves a device from a file shorter than the device, in
// each data mode: data written through the device is in the file, fsync
// reaches Flush, BLKDISCARD Discard and BLKZEROOUT WriteZeroes, and the
// ranges read back as zeros; a read across the file's end returns the
// file's bytes, then zeros (in the zero-copy modes: a short fixed read,
// the rest of it, and /dev/zero for what lies beyond).
func TestFileBackend(t *testing.T) {
	eachMode(t, func(t *testing.T, mode ublk.Mode) {
		const size, fileSize = 8 << 20, 6<<20 + 1000
		f, err := os.CreateTemp(t.TempDir(), "ublk-backend")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(fileSize); err != nil {
			t.Fatal(err)
		}
		tail := pattern(1000, 9)
		if _, err := f.WriteAt(tail, 6<<20); err != nil {
			t.Fatal(err)
		}
		b := &countingFile{File: ublk.File{F: f}}
		d := newDevice(t, b, ublk.Options{Size: size, BlockSize: 4096, Mode: mode})
		bd := openDirect(t, d.BlockDevice())
		across := aligned(1 << 20)
		if _, err := bd.ReadAt(across, 6<<20); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(across, append(bytes.Clone(tail), make([]byte, len(across)-len(tail))...)); i >= 0 {
			t.Errorf("a read across the file's end differs at byte %d from the file's 1000 bytes and zeros", i)
		}
		want := pattern(1<<20, 5)
		if _, err := bd.WriteAt(want, 1<<20); err != nil {
			t.Fatal(err)
		}
		if err := bd.Sync(); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 1<<20); err != nil || firstDiff(got, want) >= 0 {
			t.Fatalf("backend file after a write through the device: %v (differs at %d)", err, firstDiff(got, want))
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
			if _, err := bd.ReadAt(back, int64(op.off)); err != nil || firstDiff(back, make([]byte, len(back))) >= 0 {
				t.Errorf("after %s the range reads %v, nonzero at %d", op.name, err, firstDiff(back, make([]byte, len(back))))
			}
		}
	})
}

// failingBackend fails every request that touches [badOff, badOff+badLen)
// with err: ReadAt and WriteAt return it, and in the zero-copy modes
// PrepFixed queues a NOP whose injected result is its errno
// (IORING_NOP_INJECT_RESULT), so the failure comes from the ring like a
// real one.
type failingBackend struct {
	*ublk.Memory
	err    error
	calls  atomic.Int32
	badOff int64
}

const badLen = 1 << 20

func (b *failingBackend) bad(off int64, n int) bool {
	return off < b.badOff+badLen && off+int64(n) > b.badOff
}

func (b *failingBackend) ReadAt(p []byte, off int64) (int, error) {
	if b.bad(off, len(p)) {
		b.calls.Add(1)
		return 0, b.err
	}
	return b.Memory.ReadAt(p, off)
}

func (b *failingBackend) WriteAt(p []byte, off int64) (int, error) {
	if b.bad(off, len(p)) {
		b.calls.Add(1)
		return 0, b.err
	}
	return b.Memory.WriteAt(p, off)
}

func (b *failingBackend) PrepFixed(s *uapi.SQE, t ublk.Transfer) {
	if !b.bad(t.Off, int(t.Len)) {
		b.Memory.PrepFixed(s, t)
		return
	}
	b.calls.Add(1)
	errno := unix.EIO
	errors.As(b.err, &errno)
	s.PrepNop()
	s.SetNopFlags(uint32(uapi.NopInjectResult))
	s.Len = uint32(-int32(errno))
}

// TestBackendErrors fails a backend's reads and writes of one range on
// purpose, in each data mode: an error that wraps an errno reaches the
// reader or writer of /dev/ublkbN as that errno where the block layer
// keeps it (ENOSPC, ENODATA as a medium error), any other error as EIO;
// the other ranges keep working, nothing hangs, and Close leaves no node.
func TestBackendErrors(t *testing.T) {
	eachMode(t, func(t *testing.T, mode ublk.Mode) {
		const size = 8 << 20
		for _, tc := range []struct {
			err  error
			want unix.Errno
		}{
			{errors.New("the disk is on fire"), unix.EIO},
			{fmt.Errorf("backend: %w", unix.ENOSPC), unix.ENOSPC},
			{unix.ENODATA, unix.ENODATA},
		} {
			b := &failingBackend{Memory: newMemory(t, size), err: tc.err, badOff: 2 << 20}
			d, err := ublk.New(b, ublk.Options{Size: size, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(d.BlockDevice(), os.O_RDWR|unix.O_DIRECT, 0)
			if err != nil {
				d.Close()
				t.Fatal(err)
			}
			done := make(chan error)
			go func() {
				buf := pattern(64<<10, 3)
				for _, op := range []string{"write", "read"} {
					var err error
					if op == "write" {
						_, err = f.WriteAt(buf, b.badOff+4096)
					} else {
						_, err = f.ReadAt(buf, b.badOff+badLen-4096)
					}
					if !errors.Is(err, tc.want) {
						done <- fmt.Errorf("%s in the failing range with a backend error %q: %v, want %v", op, tc.err, err, tc.want)
						return
					}
				}
				// Elsewhere the device works.
				if _, err := f.WriteAt(buf, 0); err != nil {
					done <- fmt.Errorf("write outside the failing range: %v", err)
					return
				}
				got := aligned(len(buf))
				if _, err := f.ReadAt(got, 0); err != nil || firstDiff(got, buf) >= 0 {
					done <- fmt.Errorf("read outside the failing range: %v (differs at %d)", err, firstDiff(got, buf))
					return
				}
				done <- nil
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("I/O on a device whose backend fails (%v) hangs", tc.err)
			}
			if b.calls.Load() == 0 {
				t.Errorf("the backend's failing range was never asked")
			}
			f.Close()
			if err := d.Close(); err != nil {
				t.Fatalf("Close after backend errors: %v", err)
			}
			if n := nodes(); len(n) > 0 {
				t.Errorf("after Close: %v", n)
			}
		}
	})
}

// TestAutoMode: ModeAuto serves a FixedBackend without copies where the
// driver can (auto buffer registration, else zero copy), and any other
// backend by copying.
func TestAutoMode(t *testing.T) {
	needUblk(t)
	feats, err := ublk.Features()
	if err != nil {
		feats = 0
	}
	want := ublk.ModeCopy
	switch {
	case feats&ublkabi.FAutoBufReg != 0:
		want = ublk.ModeAutoBufReg
	case feats&ublkabi.FSupportZeroCopy != 0:
		want = ublk.ModeZeroCopy
	}
	mem := newMemory(t, 1<<20)
	if d := newDevice(t, mem, ublk.Options{Size: 1 << 20}); d.Mode() != want {
		t.Errorf("ModeAuto with a FixedBackend on features %v: %v, want %v", feats, d.Mode(), want)
	}
	plain := struct{ ublk.Backend }{mem}
	if d := newDevice(t, plain, ublk.Options{Size: 1 << 20}); d.Mode() != ublk.ModeCopy {
		t.Errorf("ModeAuto with a Backend: %v, want copy", d.Mode())
	}
}

// TestOptionErrors: bad options fail before anything reaches the kernel.
func TestOptionErrors(t *testing.T) {
	mem := newMemory(t, 1<<20)
	for _, o := range []ublk.Options{{}, {Size: 1000}, {Size: 1 << 20, BlockSize: 1000}, {Size: 1 << 20, Depth: 5000}, {Size: 1 << 20, MaxIO: 1000}} {
		if _, err := ublk.New(mem, o); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("New(%+v): %v, want an option error", o, err)
		}
	}
	if _, err := ublk.NewMemory(0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("NewMemory(0): %v, want EINVAL", err)
	}
}

// TestModeErrors: a zero-copy mode needs a FixedBackend, and an unknown
// mode is refused; neither leaves a device behind.
func TestModeErrors(t *testing.T) {
	needUblk(t)
	plain := struct{ ublk.Backend }{newMemory(t, 1<<20)}
	for _, m := range []ublk.Mode{ublk.ModeZeroCopy, ublk.ModeAutoBufReg, ublk.Mode(99)} {
		_, err := ublk.New(plain, ublk.Options{Size: 1 << 20, Mode: m})
		if err == nil {
			t.Fatalf("New in %v with a plain Backend succeeded", m)
		}
		// Where the driver lacks the mode, that is the error; else the
		// backend is.
		if m.Supported() == nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("New in %v with a plain Backend: %v, want EINVAL", m, err)
		}
		t.Logf("%v: %v", m, err)
	}
	if n := nodes(); len(n) > 0 {
		t.Errorf("after refused modes: %v", n)
	}
}

// serveEnv makes the test binary a ublk server (TestKilledServer's
// child), in the mode it names.
const serveEnv = "URGEN_UBLK_SERVE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(serveEnv); mode != "" {
		os.Exit(serve(mode))
	}
	os.Exit(m.Run())
}

func serve(mode string) int {
	n, _ := strconv.Atoi(mode)
	mem, err := ublk.NewMemory(4 << 20)
	if err == nil {
		var d *ublk.Device
		if d, err = ublk.New(mem, ublk.Options{Size: 4 << 20, Mode: ublk.Mode(n)}); err == nil {
			fmt.Println("device", d.ID())
			select {} // until killed
		}
	}
	fmt.Println("error", err)
	return 1
}

// TestKilledServer kills a server process, in each data mode, and checks
// that its device does not get stuck: I/O on an open descriptor fails
// instead of hanging, /dev/ublkbN goes away, the device is dead (or, on
// 6.12, says its server is gone), and Delete frees it, leaving no node.
func TestKilledServer(t *testing.T) {
	eachMode(t, func(t *testing.T, mode ublk.Mode) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), serveEnv+"="+strconv.Itoa(int(mode)))
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
	})
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
