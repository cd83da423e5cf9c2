package uring

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
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
