package uring

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/fault"
	"github.com/urgen/urgen/internal/matrix/feature"
)

// The goroutine layer when the process runs out of descriptors or is
// hammered by signals: errors as os and net give them, naming the call,
// and nothing lost or leaked.

// wantPathErr fails unless err is an *fs.PathError for op and path
// wrapping errno.
func wantPathErr(t *testing.T, what string, err error, op, path string, errno unix.Errno) {
	t.Helper()
	var pe *fs.PathError
	switch {
	case !errors.As(err, &pe):
		t.Errorf("%s: %v (%T), want an *fs.PathError", what, err, err)
	case pe.Op != op || pe.Path != path || !errors.Is(err, errno):
		t.Errorf("%s: %v, want %s %s: %v", what, err, op, path, errno)
	}
}

// TestFaultOpenNoFile: with RLIMIT_NOFILE exhausted, Open, OpenFile and
// an FS's Open fail with *fs.PathError "open" wrapping EMFILE, as os's
// do; a create that failed left no file; no descriptor leaks; and once
// one is free the same calls work. ReadFile and WriteFile, which open a
// direct descriptor (the ring's file table, not the process's), still
// work. Through the rings and through the system-call path alike.
func TestFaultOpenNoFile(t *testing.T) {
	for _, o := range []struct {
		name string
		opts Options
	}{{"default", Options{}}, {"ring_only", Options{RingOnly: true}}} {
		t.Run(o.name, func(t *testing.T) {
			e := newEngine(t, o.opts)
			name, data := testFile(t, 8192)
			dir := filepath.Dir(name)
			fresh := filepath.Join(dir, "fresh")
			fsys := e.DirFS(dir)
			fds := fault.OpenFDs(t)

			restore := fault.ExhaustFDs(t, 0)
			_, err := e.Open(name)
			wantPathErr(t, "Open", err, "open", name, unix.EMFILE)
			_, err = e.OpenFile(fresh, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			wantPathErr(t, "OpenFile O_CREATE", err, "open", fresh, unix.EMFILE)
			if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the refused create left %s behind: %v", fresh, err)
			}
			_, err = fsys.Open("data")
			if !errors.Is(err, unix.EMFILE) {
				t.Errorf("FS.Open: %v, want EMFILE", err)
			}
			if got, err := e.ReadFile(name); err != nil || !bytes.Equal(got, data) {
				t.Errorf("ReadFile (direct descriptors) with the table full: %d bytes, %v", len(got), err)
			}
			if err := e.WriteFile(fresh, data[:100], 0o644); err != nil {
				t.Errorf("WriteFile (direct descriptors) with the table full: %v", err)
			}
			restore()
			if got, err := os.ReadFile(fresh); err != nil || !bytes.Equal(got, data[:100]) {
				t.Errorf("WriteFile with the table full wrote %q, %v", got, err)
			}
			if n := fault.OpenFDs(t); n != fds {
				t.Errorf("descriptors: %d before, %d after the refused opens", fds, n)
			}
			f, err := e.Open(name)
			if err != nil {
				t.Fatalf("Open once a descriptor is free: %v", err)
			}
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("read %d bytes, %v; want the file's %d", len(got), err, len(data))
			}
			if err := f.Close(); err != nil {
				t.Error(err)
			}
			if n := fault.OpenFDs(t); n != fds {
				t.Errorf("descriptors: %d before, %d after", fds, n)
			}
		})
	}
}

// TestFaultAcceptNoFile: with RLIMIT_NOFILE exhausted, Accept fails as
// net's does, with an *net.OpError "accept" wrapping EMFILE, instead of
// waiting; the listener does not spin meanwhile; the connection stays in
// the backlog, and the next Accept, once a descriptor is free, returns
// it with the bytes its client sent.
func TestFaultAcceptNoFile(t *testing.T) {
	withLoops(t, NetOptions{Rings: 1})
	// The kernel takes the limit when the multishot accept is armed:
	// lower it first, so the table the accept meets is full.
	lim := fault.LowerFDLimit(t, 64)
	restore := lim.Restore
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The client's socket exists before the table fills (connect needs
	// no descriptor).
	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cfd)
	addr := ln.Addr().(*net.TCPAddr)

	lim.Fill(0)
	if _, err := Dial("tcp", ln.Addr().String()); !errors.Is(err, unix.EMFILE) {
		t.Errorf("Dial with no descriptor free: %v, want EMFILE", err)
	}
	if err := unix.Connect(cfd, &unix.SockaddrInet4{Addr: [4]byte(addr.IP.To4()), Port: addr.Port}); err != nil {
		restore()
		t.Fatal(err)
	}
	unix.Write(cfd, []byte("queued"))
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	var r result
	select {
	case r = <-accepted:
	case <-time.After(5 * time.Second):
		restore()
		r = <-accepted
		t.Fatalf("Accept waited with no descriptor free instead of failing (after: %v, %v)", r.c, r.err)
	}
	var oe *net.OpError
	if !errors.As(r.err, &oe) || oe.Op != "accept" || !errors.Is(r.err, unix.EMFILE) {
		t.Errorf("Accept with no descriptor free: %v, %v; want an *net.OpError accept wrapping EMFILE", r.c, r.err)
	}
	// Nothing retries in the background while the table stays full. A
	// spinning listener takes the CPU in every window; work that ends (a
	// GC cycle, earlier tests' goroutines winding down, slow under TCG)
	// does not, so one quiet window of ten is enough.
	runtime.GC()
	var spent []time.Duration
	for range 10 {
		before := cpuTime(t)
		time.Sleep(100 * time.Millisecond)
		spent = append(spent, cpuTime(t)-before)
		if spent[len(spent)-1] < 33*time.Millisecond {
			break
		}
	}
	if last := spent[len(spent)-1]; last >= 33*time.Millisecond {
		t.Errorf("CPU in each of ten 100 ms windows with the descriptor table full: %v: the listener spins", spent)
	}
	restore()

	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	select {
	case r = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("Accept never returned the waiting connection")
	}
	if r.err != nil {
		t.Fatalf("Accept once a descriptor is free: %v", r.err)
	}
	defer r.c.Close()
	sa, _ := unix.Getsockname(cfd)
	if want := sa.(*unix.SockaddrInet4).Port; r.c.RemoteAddr().(*net.TCPAddr).Port != want {
		t.Errorf("accepted %v, the waiting client is port %d", r.c.RemoteAddr(), want)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 6)
	if _, err := io.ReadFull(r.c, buf); err != nil || string(buf) != "queued" {
		t.Errorf("the accepted connection reads %q, %v; want the bytes sent while the table was full", buf, err)
	}
}

// cpuTime returns the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFaultSignalStorm sends SIGURG to the process every 100 us (each
// lands on some thread and interrupts whatever system call sleeps there)
// while goroutines block in the layer's calls: a File's Read of a pipe,
// ReadAt, a Conn's Read and Write and a Listener's Accept. Every call
// returns its own data, in order, and none fails with EINTR.
func TestFaultSignalStorm(t *testing.T) {
	withLoops(t, NetOptions{Rings: 1})
	e := newEngine(t, Options{Rings: 1})
	name, data := testFile(t, 1<<20)
	stop := fault.SignalStorm(0, 100*time.Microsecond)
	defer stop()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		if err != nil {
			errs <- err
		}
	}
	// Files: reads of a pipe that block until a writer comes, and page
	// cache reads.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	pr := e.NewFile(uintptr(p[0]), "pipe")
	defer pr.Close()
	wg.Go(func() {
		buf := make([]byte, 4)
		for i := range 50 {
			if _, err := io.ReadFull(pr, buf); err != nil {
				fail(err)
				return
			}
			if buf[0] != byte(i) {
				fail(errors.New("pipe read out of order"))
				return
			}
		}
	})
	wg.Go(func() {
		for i := range 50 {
			time.Sleep(time.Millisecond)
			unix.Write(p[1], []byte{byte(i), 1, 2, 3})
		}
	})
	f, err := e.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wg.Go(func() {
		buf := make([]byte, 4096)
		for i := range 200 {
			off := int64(i*7919) % int64(len(data)-len(buf))
			if _, err := f.ReadAt(buf, off); err != nil {
				fail(err)
				return
			}
			if !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
				fail(errors.New("ReadAt returned other bytes"))
				return
			}
		}
	})
	// Network: an echo through Accept, Read and Write.
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			fail(err)
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		fail(err)
	})
	wg.Go(func() {
		time.Sleep(20 * time.Millisecond) // Accept blocks first
		c, err := Dial("tcp", ln.Addr().String())
		if err != nil {
			fail(err)
			return
		}
		defer c.Close()
		want := make([]byte, 256<<10)
		for i := range want {
			want[i] = byte(i * 31)
		}
		go func() {
			for p := want; len(p) > 0; p = p[min(len(p), 1000):] {
				if _, err := c.Write(p[:min(len(p), 1000)]); err != nil {
					fail(err)
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
			c.(*Conn).CloseWrite()
		}()
		got, err := io.ReadAll(c)
		fail(err)
		if !bytes.Equal(got, want) {
			fail(errors.New("echo returned other bytes"))
		}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("calls still blocked after 60 s of the storm")
	}
	close(errs)
	for err := range errs {
		if errors.Is(err, unix.EINTR) {
			t.Errorf("EINTR reached the caller: %v", err)
		} else {
			t.Error(err)
		}
	}
	t.Logf("%d signals", stop())
}

// injectEnterFaults makes the next n submissions fail before they reach
// the kernel, alternately with EBUSY and EAGAIN (every third), and
// returns how many were failed so far.
func injectEnterFaults(t *testing.T, n int64) (failed func() int64) {
	t.Helper()
	var calls, hits atomic.Int64
	f := func() error {
		c := calls.Add(1)
		if c > 2*n || c%2 == 0 {
			return nil
		}
		hits.Add(1)
		if c%3 == 0 {
			return unix.EAGAIN
		}
		return unix.EBUSY
	}
	faultEnter.Store(&f)
	t.Cleanup(func() { faultEnter.Store(nil) })
	return hits.Load
}

// TestFaultEnterBusyFiles: io_uring_enter failing with EBUSY and EAGAIN
// (injected) while 32 goroutines read through one small ring: every
// request is retried after reaping, none is dropped, every read returns
// its bytes and none sees the error.
func TestFaultEnterBusyFiles(t *testing.T) {
	e := newEngine(t, Options{Rings: 1, Entries: 8, RingOnly: true})
	name, data := testFile(t, 1<<20)
	f, err := e.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	failed := injectEnterFaults(t, 300)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := range 32 {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for i := range 50 {
				off := int64((g*50+i)*4099) % int64(len(data)-len(buf))
				n, err := f.ReadAt(buf, off)
				if err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+int64(n)]) {
					if bad.Add(1) == 1 {
						t.Errorf("ReadAt at %d: %d bytes, %v", off, n, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if failed() < 100 {
		t.Errorf("only %d submissions were failed: the test proves little", failed())
	}
	t.Logf("%d submissions failed with EBUSY or EAGAIN, all retried", failed())
}

// TestFaultCQOverflowNet: echoes on 16 connections through one ring whose
// CQ (16 entries) overflows under multishot receives: every byte comes
// back in order, nothing surfaces as an error, and the kernel dropped
// nothing (IORING_FEAT_NODROP keeps the overflow until it is reaped).
func TestFaultCQOverflowNet(t *testing.T) {
	withLoops(t, NetOptions{Rings: 1, Entries: 8, Multishot: true, Buffers: 64, BufSize: 1024})
	addr := echoServer(t)
	l := netLoops.loops[0]
	var overflowed atomic.Bool
	stopWatch, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			if l.r.SQRingFlags()&uapi.SQCQOverflow != 0 {
				overflowed.Store(true)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	echoEach(t, addr, 16, 64<<10)
	close(stopWatch)
	<-watched
	if n := l.r.Overflow(); n != 0 {
		t.Errorf("the kernel dropped %d completions", n)
	}
	t.Logf("CQ overflowed: %v", overflowed.Load())
}

// echoEach sends size patterned bytes on each of conns connections to the
// echo server at addr at once, and checks that every byte comes back in
// order.
func echoEach(t *testing.T, addr string, conns, size int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			want := make([]byte, size)
			for j := range want {
				want[j] = byte(j*7 + i)
			}
			go func() {
				c.Write(want)
				c.(*Conn).CloseWrite()
			}()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("connection %d: %d of %d bytes back, %v", i, len(got), len(want), err)
			}
		})
	}
	wg.Wait()
}

// TestFaultEnterBusyNet: io_uring_enter failing with EBUSY and EAGAIN
// (injected) on the one network ring while 16 connections echo 256 KiB
// each (in rounds, until 100 have failed), in each receive mode that goes
// through the ring: every submission is retried after draining, none is
// dropped, every byte comes back in order and no call sees the error. The
// default readiness mode is left out: its reads and writes are system
// calls that never enter the ring.
func TestFaultEnterBusyNet(t *testing.T) {
	for _, m := range []struct {
		name string
		o    NetOptions
	}{
		{"once", NetOptions{Rings: 1, Entries: 8, RingRecv: true}},
		{"multishot", NetOptions{Rings: 1, Entries: 8, Multishot: true, Buffers: 16, BufSize: 1024}},
	} {
		t.Run(m.name, func(t *testing.T) {
			withLoops(t, m.o)
			addr := echoServer(t)
			failed := injectEnterFaults(t, 300)
			// Rounds until 100 submissions have failed: how many enters
			// a round makes depends on how the requests batch.
			rounds := 0
			for ; failed() < 100 && rounds < 50 && !t.Failed(); rounds++ {
				echoEach(t, addr, 16, 256<<10)
			}
			if failed() < 100 {
				t.Errorf("only %d submissions were failed in %d rounds: the test proves little", failed(), rounds)
			}
			t.Logf("%d submissions failed with EBUSY or EAGAIN in %d rounds, all retried", failed(), rounds)
		})
	}
}

// TestFaultResetDuringReads: a peer that sends and then resets (SO_LINGER
// 0) while the Conn's reader is still behind: in each receive mode, Read
// returns every byte that reached this side, in order, then an
// *net.OpError "read" wrapping ECONNRESET, as net's does; the next
// Read fails too; nothing leaks (withLoops checks).
func TestFaultResetDuringReads(t *testing.T) {
	for _, m := range []struct {
		name string
		o    NetOptions
	}{
		{"ready", NetOptions{Rings: 1}},
		{"once", NetOptions{Rings: 1, RingRecv: true}},
		{"multishot", NetOptions{Rings: 1, Multishot: true, Buffers: 64, BufSize: 1024}},
	} {
		t.Run(m.name, func(t *testing.T) {
			withLoops(t, m.o)
			ln, err := Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			peer, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := make([]byte, 200<<10)
			for i := range want {
				want[i] = byte(i * 13)
			}
			// Half is read as it comes; the rest is queued here when the
			// reset arrives behind it.
			go func() {
				peer.Write(want)
			}()
			got := make([]byte, 0, len(want))
			buf := make([]byte, 4096)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for len(got) < len(want)/2 {
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("Read before the reset: %v", err)
				}
				got = append(got, buf[:n]...)
			}
			time.Sleep(50 * time.Millisecond) // the rest reaches this side
			peer.(*net.TCPConn).SetLinger(0)
			peer.Close()
			var rerr error
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					rerr = err
					break
				}
			}
			var oe *net.OpError
			if !errors.As(rerr, &oe) || oe.Op != "read" || !errors.Is(rerr, unix.ECONNRESET) {
				t.Errorf("Read after the reset: %v, want an *net.OpError read wrapping ECONNRESET", rerr)
			}
			if !bytes.Equal(got, want[:len(got)]) {
				t.Errorf("%d bytes read before the reset are not what was sent", len(got))
			}
			if _, err := c.Read(buf); err == nil {
				t.Error("a Read after the reset error succeeded")
			}
			t.Logf("%d of %d bytes read before the reset", len(got), len(want))
		})
	}
}

// TestFaultKernelCancel: a request that the kernel cancels before it runs
// (Linux 6.1 does that to work it punts to io-wq when creating a worker
// thread is interrupted by signals) is retried, whatever call made it:
// opens, reads and writes, fsync and ftruncate, statx, the namespace
// operations, close, and the chains of WriteSync, ReadFile and WriteFile.
// Every first, third, fifth ... request of each opcode is cancelled; every
// call must still succeed and leave what os sees.
func TestFaultKernelCancel(t *testing.T) {
	feature.Need(t, "nop_inject", "the test's cancellations are NOPs with IORING_NOP_INJECT_RESULT")
	e := newEngine(t, Options{RingOnly: true})
	var mu sync.Mutex
	seen, cancelled := map[uapi.Op]int{}, map[uapi.Op]int{}
	pick := func(op uapi.Op) bool {
		mu.Lock()
		defer mu.Unlock()
		seen[op]++
		if seen[op]%2 == 0 {
			return false
		}
		cancelled[op]++
		return true
	}
	faultCancel.Store(&pick)
	defer faultCancel.Store(nil)
	// A context that can end: Stat and the namespace calls then take the
	// ring too.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	data := bytes.Repeat([]byte("kernel cancel "), 1000)
	f, err := e.OpenFileContext(ctx, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.WriteAtContext(ctx, data, 0); err != nil || n != len(data) {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	got := make([]byte, len(data))
	if n, err := f.ReadAtContext(ctx, got, 0); err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt: %d, %v (equal: %v)", n, err, bytes.Equal(got, data))
	}
	if err := f.SyncContext(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if n, err := f.WriteAtSyncContext(ctx, data[:100], int64(len(data))); err != nil || n != 100 {
		t.Fatalf("WriteAtSync: %d, %v", n, err)
	}
	// Again, with only the fsync of the chain cancelled (its write runs).
	onlyFsync := func(op uapi.Op) bool { return op == uapi.OpFsync && pick(op) }
	faultCancel.Store(&onlyFsync)
	count := func() int { mu.Lock(); defer mu.Unlock(); return cancelled[uapi.OpFsync] }
	fsyncs := count()
	if n, err := f.WriteAtSyncContext(ctx, data[:100], int64(len(data))); err != nil || n != 100 {
		t.Fatalf("WriteAtSync, its fsync cancelled: %d, %v", n, err)
	}
	if count() == fsyncs {
		t.Errorf("the second WriteAtSync's fsync was not cancelled")
	}
	faultCancel.Store(&pick)
	if err := f.TruncateContext(ctx, int64(len(data))+50); err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	if fi, err := f.StatContext(ctx); err != nil || fi.Size() != int64(len(data))+50 {
		t.Fatalf("Stat: %v, %v", fi, err)
	}
	fd := int(f.Fd())
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("descriptor %d after Close: %v, want EBADF (closed)", fd, err)
	}
	want := append(append([]byte(nil), data...), data[:50]...)
	if b, err := os.ReadFile(name); err != nil || !bytes.Equal(b, want) {
		t.Errorf("the file as os reads it: %d bytes, %v; want %d bytes", len(b), err, len(want))
	}

	if b, err := e.ReadFile(name); err != nil || !bytes.Equal(b, want) {
		t.Errorf("ReadFile: %d bytes, %v; want %d bytes", len(b), err, len(want))
	}
	other := filepath.Join(dir, "g")
	if err := e.WriteFile(other, data, 0o644); err != nil {
		t.Errorf("WriteFile: %v", err)
	} else if b, err := os.ReadFile(other); err != nil || !bytes.Equal(b, data) {
		t.Errorf("after WriteFile, os reads %d bytes, %v; want %d bytes", len(b), err, len(data))
	}
	sub := filepath.Join(dir, "d")
	if err := e.MkdirContext(ctx, sub, 0o755); err != nil {
		t.Errorf("Mkdir: %v", err)
	}
	if err := e.RemoveContext(ctx, sub); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := os.Stat(sub); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Remove, os.Stat: %v", err)
	}

	// Each kind of request was cancelled at least once: the retries ran.
	mu.Lock()
	defer mu.Unlock()
	for _, op := range []uapi.Op{uapi.OpOpenat2, uapi.OpWrite, uapi.OpRead, uapi.OpFsync, uapi.OpStatx, uapi.OpClose, uapi.OpMkdirat, uapi.OpUnlinkat} {
		if cancelled[op] == 0 {
			t.Errorf("no %v request was cancelled (%d seen)", op, seen[op])
		}
	}
	t.Logf("cancelled by the fault, by opcode: %v", cancelled)
}
