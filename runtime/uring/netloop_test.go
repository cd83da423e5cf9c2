package uring

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// withLoops serves the test's connections from new rings made with o, and
// at cleanup checks that every connection and listener let go of them and
// closes them.
func withLoops(t *testing.T, o NetOptions) {
	t.Helper()
	needNet(t)
	startNetpoller(t)
	fds, gs := openFDs(t), runtime.NumGoroutine()
	ls, err := startLoops(o)
	if err != nil {
		t.Fatal(err)
	}
	netLoops.mu.Lock()
	old := netLoops.loops
	netLoops.loops = ls
	netLoops.mu.Unlock()
	t.Cleanup(func() {
		netLoops.mu.Lock()
		netLoops.loops = old
		netLoops.mu.Unlock()
		for i, l := range ls {
			// Servers close their side when they see the client's EOF,
			// after the test's own end.
			for deadline := time.Now().Add(5 * time.Second); l.conns.Load() != 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if n := l.conns.Load(); n != 0 {
				t.Errorf("ring %d: %d connections still open", i, n)
			}
			l.tmu.RLock()
			live := len(l.targets) - len(l.free)
			l.tmu.RUnlock()
			if live != 0 {
				t.Errorf("ring %d: %d connections or listeners still registered", i, live)
			}
			// Completions nobody waited for (a poke's NOP) may still sit
			// in the CQ: drain, then count what the kernel still holds.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
				l.drain()
				if l.inflight.Load() == 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if n := l.inflight.Load(); n != 0 {
				t.Errorf("ring %d: %d requests still in flight", i, n)
			}
			if h := l.br.Held(); h != 0 {
				t.Errorf("ring %d: %d provided buffers not returned", i, h)
			}
			if err := l.close(); err != nil {
				t.Error(err)
			}
		}
		if n := openFDs(t); n != fds {
			t.Errorf("descriptors: %d before, %d after", fds, n)
		}
		// Goroutines the test started (servers, timers) may take a moment
		// to see their connections end.
		for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > gs && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > gs {
			buf := make([]byte, 1<<16)
			t.Errorf("goroutines: %d before, %d after:\n%s", gs, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

// startNetpoller makes Go's netpoller open its descriptors (epoll, the
// wake-up), which it does at first use and keeps, so that a test run
// alone does not count them as leaked.
func startNetpoller(t *testing.T) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
}

func openFDs(t *testing.T) int {
	t.Helper()
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// TestModes runs the connection tests with each way of receiving.
func TestModes(t *testing.T) {
	// The files layer's engine (the ReadFrom tests open Files) starts once
	// a process and stays: started before the leak checks count.
	f, err := Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, m := range []struct {
		name string
		o    NetOptions
	}{
		{"ready", NetOptions{Rings: 2}},
		{"once", NetOptions{Rings: 2, RingRecv: true}},
		{"multishot", NetOptions{Rings: 2, Multishot: true}},
		{"multishot-few-buffers", NetOptions{Rings: 1, Multishot: true, Buffers: 16, BufSize: 1024}},
	} {
		t.Run(m.name, func(t *testing.T) {
			for _, tc := range connTests {
				t.Run(tc.name, func(t *testing.T) {
					withLoops(t, m.o)
					tc.f(t)
				})
			}
		})
	}
}

// TestConnAllocs: in the default (readiness) mode a Write with room in
// the socket buffer and a Read that finds data allocate nothing, as with
// package net.
func TestConnAllocs(t *testing.T) {
	withLoops(t, NetOptions{Rings: 1})
	c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	if c2.(*Conn).rrc == nil {
		t.Fatal("the connection is not in readiness mode")
	}
	p := make([]byte, 64)
	allocs := testing.AllocsPerRun(1000, func() { exchange(t, c1, c2, p) })
	if allocs != 0 {
		t.Errorf("%v allocs per Write and Read, want 0", allocs)
	}
}

// exchange writes p to w and reads it back from r.
func exchange(t *testing.T, w, r net.Conn, p []byte) {
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
}

// TestDeadlineAllocs: in readiness mode setting, moving and clearing
// deadlines allocates nothing, as with package net; net/http does it
// several times per request (on every request and to abort its
// background Read).
func TestDeadlineAllocs(t *testing.T) {
	withLoops(t, NetOptions{Rings: 1})
	c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	if c1.(*Conn).rrc == nil {
		t.Fatal("the connection is not in readiness mode")
	}
	p := make([]byte, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := c1.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := c1.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		exchange(t, c2, c1, p)
		exchange(t, c1, c2, p)
		if err := c1.SetReadDeadline(time.Unix(1, 0)); err != nil { // net/http's abort
			t.Fatal(err)
		}
		if err := c1.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per round of deadlines set and cleared, want 0", allocs)
	}
}

// TestAbortReadAllocs: net/http's abort of its background Read (a Read
// waiting for data, failed by a deadline in the past) allocates no more
// than on package net's connection (the *net.OpError).
func TestAbortReadAllocs(t *testing.T) {
	withLoops(t, NetOptions{Rings: 1})
	abort := func(c net.Conn) float64 {
		start, done := make(chan struct{}), make(chan error)
		go func() {
			one := make([]byte, 1)
			for range start {
				_, err := c.Read(one)
				done <- err
			}
		}()
		defer close(start)
		return testing.AllocsPerRun(500, func() {
			c.SetReadDeadline(time.Time{})
			start <- struct{}{}
			time.Sleep(20 * time.Microsecond) // the Read waits, mostly
			c.SetReadDeadline(time.Unix(1, 0))
			if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("aborted Read: %v", err)
			}
		})
	}
	n1, _, nstop := netPipe(t)
	defer nstop()
	c1, _, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	if want, got := abort(n1), abort(c1); got > want {
		t.Errorf("%v allocs per aborted Read, package net %v", got, want)
	}
}
