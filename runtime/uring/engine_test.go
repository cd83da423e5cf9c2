package uring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// settle waits for the goroutine count to drop to at most n.
func settle(n int) int {
	for range 200 {
		if g := runtime.NumGoroutine(); g <= n {
			return g
		}
		time.Sleep(5 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

func newEngine(t testing.TB, o Options) *Engine {
	t.Helper()
	e, err := NewEngine(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func testFile(t testing.TB, size int) (string, []byte) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "data")
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i/4096*7 + i)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name, data
}

// More goroutines than ring entries, on one P: they wait for slots
// (backpressure), none fails, every read returns its own bytes.
func TestBackpressureOneP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := newEngine(t, Options{Entries: 8, RingOnly: true})
	name, data := testFile(t, 64*4096)
	f, err := e.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 10000
	if testing.Short() {
		n = 2000
	}
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 4096)
			off := int64(g%64) * 4096
			if k, err := f.ReadAt(p, off); k != len(p) || err != nil || !bytes.Equal(p, data[off:off+4096]) {
				t.Errorf("ReadAt(%d) = %d, %v", off, k, err)
			}
		}()
	}
	wg.Wait()
}

// A read that blocks (an empty pipe) ends with its context: the request
// is cancelled in the kernel, the error wraps context.DeadlineExceeded as
// os wraps errors, and the File still works.
func TestContextCancelsBlockingRead(t *testing.T) {
	e := newEngine(t, Options{})
	var p [2]int
	if err := osPipe(&p); err != nil {
		t.Fatal(err)
	}
	r, w := e.NewFile(uintptr(p[0]), "pipe-r"), e.NewFile(uintptr(p[1]), "pipe-w")
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	buf := make([]byte, 10)
	start := time.Now()
	n, err := r.ReadContext(ctx, buf)
	var pe *fs.PathError
	if n != 0 || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &pe) || pe.Op != "read" || pe.Path != "pipe-r" {
		t.Fatalf("ReadContext = %d, %v; want 0 and a read PathError wrapping DeadlineExceeded", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("ReadContext took %v", d)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel2() }()
	if _, err := r.ReadContext(ctx2, buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadContext cancelled: %v", err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(buf); n != 5 || err != nil || string(buf[:5]) != "hello" {
		t.Fatalf("Read after cancellations = %d %q, %v", n, buf[:n], err)
	}
}

// Close of an Engine with requests in flight cancels them, waits for
// them, and leaves no goroutine and no descriptor behind.
func TestEngineCloseInFlight(t *testing.T) {
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	e, err := NewEngine(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := osPipe(&p); err != nil {
		t.Fatal(err)
	}
	r := e.NewFile(uintptr(p[0]), "pipe-r")
	const readers = 20
	errs := make(chan error, readers)
	for range readers {
		go func() {
			_, err := r.Read(make([]byte, 1))
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them block in the kernel
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for range readers {
		if err := <-errs; !errors.Is(err, os.ErrClosed) {
			t.Errorf("read during Engine.Close: %v, want ErrClosed", err)
		}
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after Engine.Close: %v", err)
	}
	name, _ := testFile(t, 100)
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A File of a closed Engine fails even where no ring is involved
	// (a page-cache read), and its Close still closes the descriptor.
	uf := e.NewFile(uintptr(fd), name)
	if _, err := uf.ReadAt(make([]byte, 10), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Engine.Close: %v", err)
	}
	if err := uf.Close(); err != nil {
		t.Errorf("File.Close after Engine.Close: %v", err)
	}
	r.Close()
	os.NewFile(uintptr(p[1]), "").Close()
	if g := settle(g0); g > g0 {
		t.Errorf("%d goroutines after Close, %d before", g, g0)
	}
	if fd := openFDs(t); fd != fd0 {
		t.Errorf("%d descriptors after Close, %d before", fd, fd0)
	}
}

// Completions that come after their io_uring_enter (pipe reads woken by a
// later write) are reaped by the reaper, which sleeps in the netpoller on
// the ring's eventfd: none of them may be missed, wherever it lands in
// the reaper's cycle of waking, reaping and waiting again. Eight readers
// on one ring, each with a writer that waits a random 0-40 us (busy, for
// sub-tick delays) before each byte; a missed wake-up leaves a Read
// blocked for good, since nothing else would complete on that ring.
func TestReaperMissesNoCompletion(t *testing.T) {
	e := newEngine(t, Options{Rings: 1})
	const rounds, readers = 3000, 8
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	var done [readers]atomic.Int64
	for i := range readers {
		var p [2]int
		if err := osPipe(&p); err != nil {
			t.Fatal(err)
		}
		r, w := e.NewFile(uintptr(p[0]), "pipe-r"), os.NewFile(uintptr(p[1]), "pipe-w")
		t.Cleanup(func() { r.Close(); w.Close() })
		ready := make(chan struct{})
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for range rounds {
				<-ready
				for until := time.Now().Add(time.Duration(rng.IntN(40_000))); time.Now().Before(until); {
				}
				if _, err := w.Write([]byte{byte(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			var b [1]byte
			for range rounds {
				ready <- struct{}{}
				if n, err := r.Read(b[:]); n != 1 || err != nil || b[0] != byte(i) {
					errs <- fmt.Errorf("reader %d: Read = %d %v, %v", i, n, b, err)
					return
				}
				done[i].Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		var got []int64
		for i := range done {
			got = append(got, done[i].Load())
		}
		t.Fatalf("reads stalled after %v of %d each: a completion woke nobody", got, rounds)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// edgeWait, the reaper's wait: it returns at once when ready reports work
// (the netpoller may have forgotten that work's edge), and otherwise on
// the next signal of the eventfd, which it never reads: each of 100
// signals of a count that only grows wakes a new wait, and none returns
// before its signal (a level-triggered wait would, the count being
// non-zero).
func TestEdgeWait(t *testing.T) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "eventfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// looked is sent to when await has consulted ready: its wait has
	// begun (the netpoller's reset is behind it), so a signal from then on
	// is one the contract says must wake it. A signal before that may be
	// forgotten, which is why the reaper's ready looks at the CQ.
	var workReady atomic.Bool
	looked := make(chan struct{}, 1)
	w := edgeWait{ready: func() bool {
		select {
		case looked <- struct{}{}:
		default:
		}
		return workReady.Load()
	}}
	await := func() <-chan error {
		c := make(chan error, 1)
		go func() { c <- w.await(rc) }()
		return c
	}
	signal := func() {
		if _, err := unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	workReady.Store(true)
	select {
	case err := <-await():
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("await with work ready and no signal did not return")
	}
	<-looked
	workReady.Store(false)
	for i := range 100 {
		c := await()
		<-looked
		time.Sleep(time.Millisecond)
		select {
		case err := <-c:
			t.Fatalf("wait %d returned before its signal: %v", i, err)
		default:
		}
		signal()
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("wait %d: the signal woke nobody", i)
		}
	}
	var count [8]byte
	if _, err := unix.Read(fd, count[:]); err != nil || count[0] != 100 {
		t.Fatalf("eventfd count %v (%v): want 100, never read", count, err)
	}
	c := await()
	<-looked
	f.Close()
	if err := <-c; err == nil {
		t.Fatal("await on a closed eventfd returned no error (the reaper would never exit)")
	}
}
