package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

func needRing(t *testing.T) {
	t.Helper()
	p, err := ring.KernelProbe()
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	if !p.Supported(uapi.OpRecv) || !p.Supported(uapi.OpAccept) {
		t.Skipf("needs io_uring: the probe lacks recv or accept")
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// direct makes start's servers use direct descriptors (see TestDirect).
var direct bool

// TestDirect runs the suite again with connections as direct descriptors:
// accepted into the file table, passed between rings with
// IORING_MSG_SEND_FD, closed through the ring.
func TestDirect(t *testing.T) {
	direct = true
	defer func() { direct = false }()
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Echo", TestEcho}, {"PeerDisconnect", TestPeerDisconnect}, {"SlowReader", TestSlowReader},
		{"Exhaustion", TestExhaustion}, {"CancelOnClose", TestCancelOnClose}, {"Pack", TestPack},
		{"ManyConnections", TestManyConnections},
	} {
		t.Run(tc.name, tc.f)
	}
	t.Run("NoProcessDescriptors", func(t *testing.T) {
		s := start(t, Config{})
		before := openFDs(t)
		for range 20 {
			dial(t, s)
		}
		waitStats(t, s, "20 connections", func(st Stats) bool { return st.Open == 20 })
		if got := openFDs(t) - before; got != 20 {
			t.Errorf("20 connections added %d descriptors to the process, want 20 (the clients' own)", got)
		}
	})
}

// start runs a server and, at cleanup, closes it and checks that nothing
// leaked: connections, requests, buffers, descriptors.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	needRing(t)
	before := openFDs(t)
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Entries == 0 {
		cfg.Entries = 256
	}
	if cfg.Buffers == 0 {
		cfg.Buffers = 256
	}
	if cfg.BufSize == 0 {
		cfg.BufSize = 4096
	}
	if direct {
		cfg.Direct = true
	}
	if cfg.Slots == 0 {
		cfg.Slots = 1024 // TestManyConnections reuses each slot about ten times
	}
	if !cfg.Addr.IsValid() {
		cfg.Addr = netip.MustParseAddrPort("127.0.0.1:0")
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		st := s.Stats()
		if st.Open != 0 || st.Inflight != 0 || st.HeldBufs != 0 {
			t.Errorf("after Close: %d open connections, %d requests in flight, %d buffers held", st.Open, st.Inflight, st.HeldBufs)
		}
		if after := openFDs(t); after != before {
			t.Errorf("descriptors: %d before the server, %d after", before, after)
		}
	})
	return s
}

// waitStats polls until cond holds (the workers publish every few loops).
func waitStats(t *testing.T, s *Server, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t *testing.T, s *Server) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from the message")
	}
}

func TestEcho(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			ap := netip.MustParseAddrPort(addr)
			if ap.Addr().Is6() {
				l, err := net.Listen("tcp6", "[::1]:0")
				if err != nil {
					t.Skipf("needs ipv6: cannot listen on [::1]: %v", err)
				}
				l.Close()
			}
			s := start(t, Config{Addr: ap, Spin: 3 * time.Microsecond})
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := dial(t, s)
					for j := range 50 {
						msg := bytes.Repeat([]byte{byte(i + j)}, 1+(i*1000+j*333)%20000)
						roundTrip(t, c, msg)
					}
				}()
			}
			wg.Wait()
			waitStats(t, s, "16 connections accepted", func(st Stats) bool { return st.Accepted == 16 })
		})
	}
}

// TestPeerDisconnect: clients vanish mid-stream, some with a reset, some
// with unread echo data pending; the server must drop them cleanly.
func TestPeerDisconnect(t *testing.T) {
	s := start(t, Config{})
	for i := range 40 {
		c := dial(t, s)
		big := bytes.Repeat([]byte("x"), 200_000)
		go c.Write(big) // the echo piles up unread
		time.Sleep(time.Millisecond)
		if i%2 == 0 {
			c.SetLinger(0) // RST instead of FIN
		}
		c.Close()
	}
	waitStats(t, s, "all peers gone", func(st Stats) bool {
		return st.Accepted == 40 && st.Open == 0 && st.HeldBufs == 0
	})
	// Still serving.
	roundTrip(t, dial(t, s), []byte("still here"))
}

// TestSlowReader: a client that reads slowly makes the server's sends wait
// (socket buffer full); the stream must still arrive intact and in order.
func TestSlowReader(t *testing.T) {
	s := start(t, Config{Buffers: 64})
	c := dial(t, s)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.SetReadBuffer(64 << 10)
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i*131 + i>>9)
	}
	go func() {
		c.Write(want)
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 64<<10)
	slow := time.Now().Add(300 * time.Millisecond)
	for len(got) < len(want) {
		p := buf
		if time.Now().Before(slow) {
			// Slow: 4 KiB every 20 ms, far less than the socket buffers
			// between us and the server's 64 buffers can absorb.
			time.Sleep(20 * time.Millisecond)
			p = buf[:4096]
		}
		n, err := c.Read(p)
		if err != nil {
			t.Fatalf("after %d bytes: %v (server %+v)", len(got), err, s.Stats())
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the slow reader got a corrupted stream")
	}
	// The back pressure reached the server: its sends stalled, its 64
	// buffers piled up and the receive ran dry.
	waitStats(t, s, "ENOBUFS while the reader was slow", func(st Stats) bool { return st.DryEvents > 0 })
}

// TestExhaustion: with far fewer buffers than data in flight the ring runs
// dry (ENOBUFS ends the multishot recv); the server re-arms and loses
// nothing.
func TestExhaustion(t *testing.T) {
	s := start(t, Config{Workers: 1, Buffers: 4, BufSize: 1024})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, s)
			want := bytes.Repeat([]byte{byte(i)}, 300_000)
			go c.Write(want)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Error("stream corrupted under buffer exhaustion")
			}
		}()
	}
	wg.Wait()
	st := waitStats(t, s, "published", func(st Stats) bool { return st.Accepted == 8 })
	if st.DryEvents == 0 {
		t.Errorf("4 buffers for 8 streams never ran dry (stats %+v)", st)
	}
	t.Logf("ENOBUFS %d times, %d re-arms", st.DryEvents, st.Rearms)
}

// TestCancelOnClose: closing the server cancels the multishot accept and
// every armed multishot recv of idle connections.
func TestCancelOnClose(t *testing.T) {
	s := start(t, Config{})
	for range 20 {
		dial(t, s)
	}
	st := waitStats(t, s, "20 idle connections", func(st Stats) bool { return st.Open == 20 && st.Inflight == 21 })
	// Without Pack the acceptor deals each connection to the least loaded
	// worker: 10 each.
	for i, n := range st.OpenPerWorker {
		if n != 10 {
			t.Errorf("worker %d serves %d connections, want 10 (%v)", i, n, st.OpenPerWorker)
		}
	}
	// start's cleanup closes the server and checks for leaks; the clients
	// see the connection end.
}

// TestPack: the acceptor's ring serves the first Pack connections alone,
// then the least loaded worker gets each new one; closed connections no
// longer count.
func TestPack(t *testing.T) {
	s := start(t, Config{Pack: 15})
	for round := range 2 {
		var cs []*net.TCPConn
		for range 20 {
			cs = append(cs, dial(t, s))
		}
		st := waitStats(t, s, "20 connections", func(st Stats) bool { return st.Open == 20 })
		if !slices.Equal(st.OpenPerWorker, []int64{15, 5}) {
			t.Errorf("round %d: connections per worker %v, want [15 5]", round, st.OpenPerWorker)
		}
		for _, c := range cs {
			c.Close()
		}
		waitStats(t, s, "all closed", func(st Stats) bool { return st.Open == 0 })
	}
}

// TestSlice: every worker thread asks the scheduler for Config.Slice, and
// gives it back when the server closes: the threads return to Go's
// scheduler as they were (run with -count=3 to see it).
func TestSlice(t *testing.T) {
	const slice = 150 * time.Microsecond
	if !threadSlice(t) {
		t.Skip("needs sched_slice: sched_getattr does not read back a SCHED_OTHER thread's sched_runtime (Linux 6.12)")
	}
	asking := func() int {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			if a, err := unix.SchedGetAttr(tid, 0); err == nil && a.Runtime == uint64(slice) {
				n++
			}
		}
		return n
	}
	if n := asking(); n != 0 {
		t.Fatalf("%d threads ask for a %v slice before the server starts", n, slice)
	}
	s := start(t, Config{Slice: slice})
	if n, want := asking(), len(s.workers); n != want {
		t.Errorf("%d threads ask for a %v slice, want %d (one per worker)", n, slice, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := asking(); n != 0 {
		t.Errorf("%d threads still ask for a %v slice after Close, want 0", n, slice)
	}
}

// threadSlice reports whether the kernel keeps a thread's slice request,
// trying on a thread that then exits.
func threadSlice(t *testing.T) bool {
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.SchedSetAttr(0, &unix.SchedAttr{Runtime: 300_000}, 0); err != nil {
			t.Log(err)
		}
		a, err := unix.SchedGetAttr(0, 0)
		ok <- err == nil && a.Runtime == 300_000
	}()
	return <-ok
}

// TestManyConnections opens and closes 10,000 connections (1,000 with
// -short), each with one round trip, and checks that nothing leaked.
func TestManyConnections(t *testing.T) {
	total, par := 10_000, 50
	if testing.Short() {
		total = 1_000 // the kernel matrix runs -short under TCG, 10-50x slower
	}
	s := start(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for p := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range total / par {
				c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(s.Addr()))
				if err != nil {
					errs <- err
					return
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				msg := []byte{byte(p), byte(i)}
				buf := make([]byte, 2)
				_, err = c.Write(msg)
				if err == nil {
					_, err = io.ReadFull(c, buf)
				}
				if err == nil && !bytes.Equal(buf, msg) {
					err = errors.New("wrong echo")
				}
				c.SetLinger(0) // no TIME_WAIT pile-up on the client ports
				c.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := waitStats(t, s, "all closed", func(st Stats) bool {
		return st.Accepted == int64(total) && st.Open == 0 && st.HeldBufs == 0 && st.Inflight == 1
	})
	t.Logf("stats after %d connections: %+v", total, st)
}
