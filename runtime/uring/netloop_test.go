package uring

import (
	"testing"
	"time"
)

// withLoops serves the test's connections from new rings made with o, and
// at cleanup checks that every connection and listener let go of them and
// closes them.
func withLoops(t *testing.T, o NetOptions) {
	t.Helper()
	needNet(t)
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
			if h := l.br.Held(); h != 0 {
				t.Errorf("ring %d: %d provided buffers not returned", i, h)
			}
			if err := l.close(); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestModes runs the connection tests with each way of receiving.
func TestModes(t *testing.T) {
	for _, m := range []struct {
		name string
		o    NetOptions
	}{
		{"once", NetOptions{Rings: 2}},
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
