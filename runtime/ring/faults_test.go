package ring_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/fault"
	"github.com/urgen/urgen/internal/matrix/feature"
	"github.com/urgen/urgen/runtime/ring"
)

// The faults a machine inflicts when it runs out of something, and the
// ring's answer: an error that names the system call and wraps the errno,
// and nothing lost or leaked (descriptors, mappings, locked memory,
// completions).

// wantErr fails unless err wraps errno and names call.
func wantErr(t testing.TB, what string, err error, errno unix.Errno, call string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %v from %s", what, errno, call)
	case !errors.Is(err, errno):
		t.Errorf("%s: %v, want %v", what, err, errno)
	case !strings.Contains(err.Error(), call):
		t.Errorf("%s: %q does not name %s", what, err, call)
	}
}

// nopRoundTrip submits one NOP and reaps its completion: the ring works.
func nopRoundTrip(t testing.TB, r *ring.Ring, ud uint64) {
	t.Helper()
	if res, others := run(t, r, ud, nop); res != 0 || len(others) != 0 {
		t.Errorf("NOP: res %d, other completions %v", res, others)
	}
}

// TestFaultSetupNoFile: with every descriptor in use (RLIMIT_NOFILE), New
// fails with EMFILE from io_uring_setup, and leaves no descriptor, no
// mapping and no NO_MMAP memory behind; once a descriptor is free, New
// works again.
func TestFaultSetupNoFile(t *testing.T) {
	cases := []struct {
		name string
		opts []ring.Option
	}{
		{"plain", nil},
		{"sq_array", []ring.Option{ring.WithSQArray()}},
		{"registered_ring", []ring.Option{ring.WithRegisteredRing()}},
	}
	// NO_MMAP maps the ring memory (here huge pages) before
	// io_uring_setup: a failed setup must unmap it.
	if feature.Has("no_mmap") {
		cases = append(cases, struct {
			name string
			opts []ring.Option
		}{"no_mmap", []ring.Option{ring.WithHugePages()}})
	} else {
		t.Run("no_mmap", func(t *testing.T) {
			feature.Need(t, "no_mmap", "IORING_SETUP_NO_MMAP (Linux 6.5): the case whose failed setup must unmap its memory")
		})
	}
	fds := fault.OpenFDs(t)
	maps, _ := fault.Mappings(t)
	// Each case fails 100 times: a mapping left behind each time stands
	// out from the few the Go heap may add meanwhile.
	const tries = 100
	restore := fault.ExhaustFDs(t, 0)
	for _, c := range cases {
		for range tries {
			r, err := ring.New(8, c.opts...)
			if err == nil {
				r.Close()
				t.Errorf("%s: New succeeded with no free descriptor", c.name)
				break
			}
			wantErr(t, c.name, err, unix.EMFILE, "io_uring_setup")
		}
	}
	restore()
	if n := fault.OpenFDs(t); n != fds {
		t.Errorf("open descriptors %d before, %d after the failed setups", fds, n)
	}
	if n, _ := fault.Mappings(t); n > maps+tries/10 {
		t.Errorf("mappings %d before, %d after %d failed setups per case", maps, n, tries)
	}
	for _, c := range cases {
		r, err := ring.New(8, c.opts...)
		if err != nil {
			t.Fatalf("%s: New once descriptors are free again: %v", c.name, err)
		}
		nopRoundTrip(t, r, 1)
		r.Close()
	}
}

// TestFaultMemlockBuffers: without CAP_IPC_LOCK the kernel charges
// registered buffers to RLIMIT_MEMLOCK. Over the limit, registration fails
// with ENOMEM from IORING_REGISTER_BUFFERS, the ring keeps nothing and
// still works, and what is unregistered is uncharged (registering the
// limit's worth twenty times over never fails).
func TestFaultMemlockBuffers(t *testing.T) {
	const limit = 64 << 10
	huge, small := fault.Pages(t, 1<<20), fault.Pages(t, 32<<10)
	fault.OnThreadWithoutIPCLock(t, limit, func() {
		r, err := ring.New(8)
		if err != nil {
			t.Errorf("8-entry ring under a %d KiB RLIMIT_MEMLOCK: %v", limit>>10, err)
			return
		}
		defer r.Close()
		err = r.RegisterBuffers([][]byte{huge})
		wantErr(t, "1 MiB buffer", err, unix.ENOMEM, "IORING_REGISTER_BUFFERS")
		if n := len(r.RegisteredBuffersForTest()); n != 0 {
			t.Errorf("a refused registration left %d buffers pinned by the ring", n)
		}
		nopRoundTrip(t, r, 1)
		for i := range 20 {
			if err := r.RegisterBuffers([][]byte{small}); err != nil {
				t.Errorf("registration %d of 32 KiB: %v (the earlier ones stayed charged)", i, err)
				return
			}
			if err := r.UnregisterBuffers(); err != nil {
				t.Errorf("unregister %d: %v", i, err)
				return
			}
		}
	})
}

// TestFaultMemlockRing: where the kernel charges the rings themselves to
// RLIMIT_MEMLOCK (without CAP_IPC_LOCK), a ring larger than the limit
// fails with ENOMEM from io_uring_setup and leaves no descriptor behind,
// while a small one still sets up.
func TestFaultMemlockRing(t *testing.T) {
	feature.Need(t, "rings_memlock", "ring memory charged to RLIMIT_MEMLOCK (elsewhere only the memory cgroup limits it)")
	const limit = 64 << 10
	fds := fault.OpenFDs(t)
	fault.OnThreadWithoutIPCLock(t, limit, func() {
		big, err := ring.New(32768)
		if err == nil {
			big.Close()
			t.Error("32768-entry ring set up under a 64 KiB RLIMIT_MEMLOCK")
			return
		}
		wantErr(t, "32768-entry ring", err, unix.ENOMEM, "io_uring_setup")
		r, err := ring.New(8)
		if err != nil {
			t.Errorf("8-entry ring under a %d KiB RLIMIT_MEMLOCK: %v", limit>>10, err)
			return
		}
		nopRoundTrip(t, r, 1)
		r.Close()
	})
	if n := fault.OpenFDs(t); n != fds {
		t.Errorf("descriptors: %d before, %d after the refused ring", fds, n)
	}
}

// TestFaultThousandRings holds 1,000 rings open at once in one process,
// moves a NOP through each, and closes them all: every descriptor and
// mapping is returned.
func TestFaultThousandRings(t *testing.T) {
	const n = 1000
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < n+64 {
		t.Skipf("RLIMIT_NOFILE is %d, too low for %d rings", lim.Cur, n)
	}
	fds := fault.OpenFDs(t)
	maps, urings := fault.Mappings(t)
	rings := make([]*ring.Ring, 0, n)
	defer func() {
		for _, r := range rings {
			r.Close()
		}
	}()
	for i := range n {
		r, err := ring.New(8)
		if err != nil {
			if errors.Is(err, unix.ENOMEM) && !hasIPCLock() {
				t.Skipf("ring %d: %v: without CAP_IPC_LOCK the rings' memory exceeds RLIMIT_MEMLOCK", i, err)
			}
			t.Fatalf("ring %d of %d: %v", i, n, err)
		}
		rings = append(rings, r)
	}
	if got := fault.OpenFDs(t) - fds; got != n {
		t.Errorf("%d rings hold %d descriptors", n, got)
	}
	for i, r := range rings {
		if s := r.SQE(); s != nil {
			s.Opcode = uapi.OpNop
			s.UserData = uint64(i)
		}
		if _, err := r.Submit(); err != nil {
			t.Fatalf("ring %d: %v", i, err)
		}
	}
	for i, r := range rings {
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatalf("ring %d: %v", i, err)
		}
		if c.UserData != uint64(i) || c.Res != 0 {
			t.Errorf("ring %d: completion %+v", i, *c)
		}
		r.CQESeen(c)
	}
	for _, r := range rings {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	rings = nil
	if got := fault.OpenFDs(t); got != fds {
		t.Errorf("descriptors: %d before, %d after closing %d rings", fds, got, n)
	}
	// Exactly for the rings' own mappings; others within what the Go
	// heap may have grown by.
	if got, gotUring := fault.Mappings(t); got > maps+n/100 || gotUring != urings {
		t.Errorf("mappings: %d (%d io_uring) before, %d (%d) after closing %d rings", maps, urings, got, gotUring, n)
	}
}

// TestFaultSignalStorm interrupts every wait with a signal every 100 us
// (EINTR): each wait still returns exactly its completions, a timeout
// still expires on time, and no EINTR reaches the caller; on a plain ring
// and on a DEFER_TASKRUN ring (whose completions run as task work inside
// the wait).
func TestFaultSignalStorm(t *testing.T) {
	for _, kind := range []struct {
		name string
		opts []ring.Option
	}{
		{"plain", nil},
		{"defer_taskrun", []ring.Option{ring.WithFlags(uapi.SetupSingleIssuer | uapi.SetupDeferTaskrun)}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			// The signals go to the thread that waits.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r := newRing(t, kind.opts...)
			stop := fault.SignalStorm(unix.Gettid(), 100*time.Microsecond)
			defer stop()
			timeout := func(ud uint64, d time.Duration) *uapi.KernelTimespec {
				ts := &uapi.KernelTimespec{TvNsec: int64(d)}
				s := r.SQE()
				s.PrepTimeout(ts, 0, 0)
				s.UserData = ud
				r.Keep(ud, ts)
				return ts
			}
			expect := func(what string, c *uapi.CQE, err error, ud uint64) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if c.UserData != ud || c.Res != -int32(unix.ETIME) {
					t.Fatalf("%s: completion %+v, want user data %d with -ETIME", what, *c, ud)
				}
				r.CQESeen(c)
			}

			timeout(1, 20*time.Millisecond)
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
			c, err := r.WaitCQE()
			expect("WaitCQE", c, err, 1)

			start := time.Now()
			_, err = r.WaitCQETimeout(50 * time.Millisecond)
			took := time.Since(start)
			wantErr(t, "WaitCQETimeout with nothing pending", err, unix.ETIME, "io_uring_enter")
			if took < 50*time.Millisecond || took > 5*time.Second {
				t.Errorf("a 50 ms WaitCQETimeout took %v under the storm", took)
			}

			for i := range 3 {
				timeout(uint64(10+i), time.Duration(i+1)*10*time.Millisecond)
			}
			n, c, err := r.SubmitAndWaitTimeout(3, &ring.WaitOptions{Timeout: 10 * time.Second})
			if err != nil || n != 3 {
				t.Fatalf("SubmitAndWaitTimeout(3): submitted %d, %v", n, err)
			}
			if r.CQReady() < 3 {
				t.Fatalf("SubmitAndWaitTimeout(3) returned with %d completions ready", r.CQReady())
			}
			// All three, each once, in any order: timers that expire in
			// the same tick may complete either way round (Linux 6.1 runs
			// the newest task work first).
			seen := map[uint64]bool{}
			for i := range 3 {
				if i > 0 {
					c, err = r.WaitCQE()
				}
				if err == nil && !seen[c.UserData] && c.UserData >= 10 && c.UserData < 13 {
					seen[c.UserData] = true
					expect("SubmitAndWaitTimeout", c, err, c.UserData)
					continue
				}
				expect("SubmitAndWaitTimeout", c, err, uint64(10+i))
			}

			// A register op under the storm: cancel a read waiting for data.
			rd, _ := socketpair(t)
			buf := make([]byte, 8)
			s := r.SQE()
			s.PrepRead(int32(rd), buf, ^uint64(0))
			s.UserData = 20
			r.Keep(20, &buf[0])
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
			if err := r.SyncCancel(ring.Cancel{UserData: 20, Timeout: 5 * time.Second}); err != nil {
				t.Fatalf("SyncCancel under the storm: %v", err)
			}
			c, err = r.WaitCQE()
			if err != nil || c.UserData != 20 || c.Res != -int32(unix.ECANCELED) {
				t.Fatalf("cancelled read: %+v, %v", c, err)
			}
			r.CQESeen(c)
			if _, ok := r.PeekCQE(); ok || r.Kept() != 0 {
				t.Errorf("after the storm: a completion too many, or %d requests still keep memory", r.Kept())
			}
			t.Logf("%d signals", stop())
		})
	}
}

// TestFaultRingFDReplaced replaces the ring's descriptor underneath it, as
// a stray dup2 or close elsewhere in the program would, with a read in
// flight: every call fails with an error naming the system call (EBADF,
// or EOPNOTSUPP for a descriptor that is no io_uring), nothing crashes,
// Close returns the mappings, and the orphaned read, cancelled with its
// ring, takes none of the data written afterwards. A ring that entered
// through its registered descriptor keeps working (and from Linux 6.3,
// which unregisters by index, also closes cleanly).
func TestFaultRingFDReplaced(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []ring.Option
		replace func(t *testing.T, fd int)
		errno   unix.Errno // what io_uring_enter then fails with; 0: it works
	}{
		{"dup2", nil, dupNullOver, unix.EOPNOTSUPP},
		{"close", nil, func(t *testing.T, fd int) { unix.Close(fd) }, unix.EBADF},
		{"dup2 registered ring", []ring.Option{ring.WithRegisteredRing()}, dupNullOver, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.opts) > 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			_, uringMaps := fault.Mappings(t)
			r, err := ring.New(8, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			rd, wr := socketpair(t)
			buf := make([]byte, 8)
			s := r.SQE()
			s.PrepRead(int32(rd), buf, ^uint64(0))
			s.UserData = 1
			r.Keep(1, &buf[0])
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
			fd := r.FD()
			regByIndex := r.Features()&uapi.FeatRegRegRing != 0
			tc.replace(t, fd)

			s = r.SQE()
			s.Opcode = uapi.OpNop
			s.UserData = 2
			_, err = r.Submit()
			if tc.errno == 0 {
				if err != nil {
					t.Fatalf("Submit through the registered ring fd: %v", err)
				}
				c, err := r.WaitCQE()
				if err != nil || c.UserData != 2 {
					t.Fatalf("NOP through the registered ring fd: %+v, %v", c, err)
				}
				r.CQESeen(c)
			} else {
				wantErr(t, "Submit", err, tc.errno, "io_uring_enter")
				_, err = r.WaitCQE()
				wantErr(t, "WaitCQE", err, tc.errno, "io_uring_enter")
				_, err = r.WaitCQETimeout(time.Millisecond)
				wantErr(t, "WaitCQETimeout", err, tc.errno, "io_uring_enter")
				_, err = r.Probe()
				wantErr(t, "Probe", err, tc.errno, "io_uring_register IORING_REGISTER_PROBE")
				if _, ok := r.PeekCQE(); ok {
					t.Error("PeekCQE found a completion nobody posted")
				}
			}
			err = r.Close()
			switch {
			case tc.errno == 0 && !regByIndex:
				// Before Linux 6.3 the registration is found only through
				// the fd, which is gone: Close says so, and the ring lives
				// until this goroutine's thread (kept locked) exits.
				wantErr(t, "Close", err, unix.EOPNOTSUPP, "IORING_UNREGISTER_RING_FDS")
				return
			case tc.name == "close":
				// Close closes the ring's number, which is already closed.
				wantErr(t, "Close", err, unix.EBADF, "close")
			case err != nil:
				t.Errorf("Close: %v", err)
			}
			if tc.name != "close" {
				// Close closed what sat at the ring's number: the /dev/null.
				if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
					t.Errorf("descriptor %d still open after Close: %v", fd, err)
				}
			}
			if _, n := fault.Mappings(t); n != uringMaps {
				t.Errorf("io_uring mappings: %d before, %d after Close", uringMaps, n)
			}
			// The ring is gone, and its read with it: the data is the socket's.
			if _, err := unix.Write(wr, []byte("after")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, rd, 5); got != "after" {
				t.Errorf("socket read %q after the ring died", got)
			}
		})
	}
}

// dupNullOver puts /dev/null at descriptor fd.
func dupNullOver(t *testing.T, fd int) {
	t.Helper()
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	if err := unix.Dup3(null, fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
}

// hasIPCLock reports whether this thread has CAP_IPC_LOCK in effect.
func hasIPCLock() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if unix.Capget(&hdr, &caps[0]) != nil {
		return false
	}
	return caps[0].Effective&(1<<unix.CAP_IPC_LOCK) != 0
}
