package uring

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// freeSlots counts the free slots of every ring of e (quiescent e only).
func freeSlots(e *Engine) (free, total int) {
	for _, s := range e.shards {
		for h := uint32(s.slots.head.Load()); h != 0; h = s.slots.s[h-1].next.Load() {
			free++
		}
		total += len(s.slots.s)
	}
	return free, total
}

func checkSlots(t *testing.T, e *Engine) {
	t.Helper()
	if free, total := freeSlots(e); free != total {
		t.Errorf("%d of %d request slots still taken", total-free, total)
	}
}

// 100,000 open/close cycles (10,000 with -short), through the ring and
// the plain calls, with ReadFile and Stat between: no descriptor and no
// request slot is left behind.
func TestOpenCloseCycles(t *testing.T) {
	name, data := testFile(t, 3000)
	n := 100000
	if testing.Short() {
		n = 10000
	}
	for _, o := range []Options{{}, {RingOnly: true}} {
		e := newEngine(t, o)
		fds := openFDs(t)
		var wg sync.WaitGroup
		const g = 8
		for w := range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := make([]byte, 100)
				for i := w; i < n; i += g {
					f, err := e.Open(name)
					if err != nil {
						t.Error(err)
						return
					}
					if i%3 == 0 {
						if _, err := f.ReadAt(p, 50); err != nil || !bytes.Equal(p, data[50:150]) {
							t.Errorf("ReadAt: %v", err)
						}
					}
					if err := f.Close(); err != nil {
						t.Error(err)
						return
					}
					if i%7 == 0 {
						if b, err := e.ReadFile(name); err != nil || !bytes.Equal(b, data) {
							t.Errorf("ReadFile: %v", err)
						}
					}
				}
			}()
		}
		wg.Wait()
		if got := openFDs(t); got != fds {
			t.Errorf("RingOnly=%v: %d descriptors after %d cycles, %d before", o.RingOnly, got, n, fds)
		}
		checkSlots(t, e)
	}
}

// Close while reads are in flight: on a regular file they finish or fail
// with ErrClosed; on a pipe they are blocked in the kernel and Close
// cancels them. Close returns after all of them, and nothing leaks.
func TestCloseWhileInFlight(t *testing.T) {
	g0 := runtime.NumGoroutine()
	e := newEngine(t, Options{})
	fds := openFDs(t)
	name, data := testFile(t, 1<<20)
	f, err := e.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := osPipe(&p); err != nil {
		t.Fatal(err)
	}
	pr, pw := e.NewFile(uintptr(p[0]), "pipe"), e.NewFile(uintptr(p[1]), "pipe-w")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 100 {
		wg.Add(2)
		go func() { // regular file: loops until Close stops it
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := 0; ; i++ {
				off := int64((g*13+i)%256) * 4096
				n, err := f.ReadAt(buf, off)
				if err != nil {
					errs <- err
					return
				}
				if n != 4096 || !bytes.Equal(buf, data[off:off+4096]) {
					errs <- errors.New("wrong data")
					return
				}
			}
		}()
		go func() { // pipe: blocked until Close
			defer wg.Done()
			_, err := pr.Read(make([]byte, 10))
			errs <- err
		}()
	}
	time.Sleep(30 * time.Millisecond)
	t0 := time.Now()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := pr.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close of the file with reads in flight took %v, of the pipe with reads blocked %v", t1.Sub(t0), time.Since(t1))
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("in flight during Close: %v, want ErrClosed", err)
		}
	}
	pw.Close()
	checkSlots(t, e)
	if got := openFDs(t); got != fds {
		t.Errorf("%d descriptors after Close, %d before", got, fds)
	}
	e.Close()
	if g := settle(g0); g > g0 {
		t.Errorf("%d goroutines after Close, %d before", g, g0)
	}
}

// 10,000 goroutines on one file, through each path: every read returns
// its own block, and all slots come back.
func TestTenThousandGoroutines(t *testing.T) {
	name, data := testFile(t, 1<<20)
	n := 10000
	if testing.Short() {
		n = 2000
	}
	for _, o := range []Options{{}, {RingOnly: true}, {RingOnly: true, Entries: 16}} {
		e := newEngine(t, o)
		f, err := e.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := make([]byte, 4096)
				<-start
				for i := range 3 {
					off := int64((g+i*97)%256) * 4096
					if k, err := f.ReadAt(p, off); k != 4096 || err != nil || !bytes.Equal(p, data[off:off+4096]) {
						t.Errorf("ReadAt(%d) = %d, %v", off, k, err)
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		f.Close()
		checkSlots(t, e)
	}
}
