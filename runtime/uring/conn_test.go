package uring

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// needNet skips when the kernel lacks what the network layer needs:
// multishot accept and receive (Linux 6.0) and provided buffer rings.
func needNet(t testing.TB) {
	t.Helper()
	p, err := ring.KernelProbe()
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	for _, op := range []uapi.Op{uapi.OpRecv, uapi.OpAccept, uapi.OpPollAdd, uapi.OpAsyncCancel, uapi.OpSend} {
		if !p.Supported(op) {
			t.Skipf("needs opcode %v", op)
		}
	}
}

// pipe returns a connected pair: c1 accepted by our Listener, c2 dialled
// with our Dialer.
func pipe(t testing.TB, network, addr string) (c1, c2 net.Conn, stop func()) {
	t.Helper()
	return pipeOn(t, func() (net.Listener, error) { return Listen(network, addr) }, Dial, network)
}

// netPipe is pipe on package net, the reference.
func netPipe(t testing.TB) (c1, c2 net.Conn, stop func()) {
	t.Helper()
	return pipeOn(t, func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }, net.Dial, "tcp")
}

// pipeOn connects a client from dial to a listener from listen: c1 is the
// accepted side.
func pipeOn(t testing.TB, listen func() (net.Listener, error), dial func(network, addr string) (net.Conn, error), network string) (c1, c2 net.Conn, stop func()) {
	t.Helper()
	ln, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c2, err = dial(network, ln.Addr().String())
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	r := <-ch
	ln.Close()
	if r.err != nil {
		c2.Close()
		t.Fatal(r.err)
	}
	return r.c, c2, func() { r.c.Close(); c2.Close() }
}

// connTests run in every mode (TestModes).
var connTests = []struct {
	name string
	f    func(*testing.T)
}{
	{"Nettest", testNettest}, {"EchoNetworks", testEchoNetworks}, {"CloseUnblocksRead", testCloseUnblocksRead},
	{"DeadlineMovedWhileBlocked", testDeadlineMovedWhileBlocked}, {"SlowReader", testSlowReader},
	{"HTTP", testHTTP}, {"HTTPClientAgainstNet", testHTTPClientAgainstNet}, {"TLS", testTLS},
	{"ManyConnections", testManyConnections}, {"PeerVanishes", testPeerVanishes}, {"Exhaustion", testExhaustion},
	{"DeadlinesUnderLoad", testDeadlinesUnderLoad}, {"CloseUnblocksWrite", testCloseUnblocksWrite},
	{"DeadlineRacesSubmission", testDeadlineRacesSubmission}, {"CloseRacesReadWrite", testCloseRacesReadWrite},
	{"NoCrossTalk", testNoCrossTalk}, {"CloseBeforeSubmission", testCloseBeforeSubmission},
	{"ReadFrom", testReadFrom}, {"ReadFromBlocked", testReadFromBlocked},
	{"PassedDeadline", testPassedDeadline},
}

func testNettest(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			c1, c2, stop = pipe(t, "tcp", "127.0.0.1:0")
			return c1, c2, stop, nil
		})
	})
	t.Run("unix", func(t *testing.T) {
		dir := t.TempDir()
		n := 0
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			n++
			c1, c2, stop = pipe(t, "unix", filepath.Join(dir, "s"+string(rune('a'+n%26))))
			return c1, c2, stop, nil
		})
	})
	// Mixed peers: ours against net's, both ways.
	t.Run("tcp-with-net", func(t *testing.T) {
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			ln, err := Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, nil, nil, err
			}
			defer ln.Close()
			done := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				done <- c
			}()
			c2, err = net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return nil, nil, nil, err
			}
			c1 = <-done
			if c1 == nil {
				c2.Close()
				return nil, nil, nil, errors.New("accept failed")
			}
			return c1, c2, func() { c1.Close(); c2.Close() }, nil
		})
	})
}

func testEchoNetworks(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:0"}, {"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"tcp", ":0"},
		{"unix", filepath.Join(t.TempDir(), "echo.sock")},
	} {
		t.Run(tc.network+" "+tc.addr, func(t *testing.T) {
			if tc.network == "tcp6" {
				if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
					t.Skipf("needs ipv6: %v", err)
				} else {
					l.Close()
				}
			}
			ln, err := Listen(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						io.Copy(c, c)
					}()
				}
			}()
			addr := ln.Addr().String()
			if tc.addr == ":0" {
				addr = "127.0.0.1:" + addr[len(addr)-len(portOf(addr)):]
			}
			c, err := Dial(tc.network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 20 {
				msg := bytes.Repeat([]byte{byte(i)}, 1+i*3001)
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatal("echo differs")
				}
			}
			if la, ra := c.LocalAddr(), c.RemoteAddr(); la == nil || ra == nil || la.Network() != ln.Addr().Network() {
				t.Errorf("addresses %v %v", la, ra)
			}
		})
	}
}

// tcpRmemMax returns the largest TCP receive buffer the kernel grows a
// socket's to.
func tcpRmemMax(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_rmem")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sized returns full, or short with -short (the kernel matrix runs the
// tests under TCG, tens of times slower).
func sized(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

func testCloseUnblocksRead(t *testing.T) {
	c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	_ = c2
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c1.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("Read after Close: %#v, want a *net.OpError for read", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

// testPassedDeadline: once a deadline has passed, a Read fails with
// os.ErrDeadlineExceeded although data waits, and a Write fails having
// written nothing, as net's do; once the deadlines are cleared, the data
// is all there, and only that.
func testPassedDeadline(t *testing.T) {
	pairs := []struct {
		name string
		open func() (c1, c2 net.Conn, stop func())
	}{
		{"net", func() (net.Conn, net.Conn, func()) { return netPipe(t) }},
		{"urgen", func() (net.Conn, net.Conn, func()) { return pipe(t, "tcp", "127.0.0.1:0") }},
	}
	for _, pr := range pairs {
		t.Run(pr.name, func(t *testing.T) {
			c1, c2, stop := pr.open()
			defer stop()
			if _, err := c2.Write([]byte("first")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c1, buf[:1]); err != nil {
				t.Fatal(err)
			}
			// The rest has arrived with the first byte (one segment).
			c1.SetDeadline(time.Now().Add(-time.Second))
			if n, err := c1.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Read after the deadline with data waiting: %d, %v; want os.ErrDeadlineExceeded", n, err)
			}
			if n, err := c1.Write([]byte("late")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Write after the deadline: %d, %v; want os.ErrDeadlineExceeded", n, err)
			}
			c1.SetDeadline(time.Time{})
			if n, err := io.ReadFull(c1, buf[:4]); err != nil || string(buf[:n]) != "irst" {
				t.Errorf("Read after clearing the deadline: %q, %v; want \"irst\"", buf[:n], err)
			}
			if _, err := c1.Write([]byte("ok")); err != nil {
				t.Fatal(err)
			}
			c2.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := io.ReadFull(c2, buf[:2]); err != nil || string(buf[:n]) != "ok" {
				t.Errorf("the peer read %q, %v; want only \"ok\"", buf[:n], err)
			}
		})
	}
}

func testDeadlineMovedWhileBlocked(t *testing.T) {
	c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	c1.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c1.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	// Extend while blocked: the Read must wait for the new deadline.
	c1.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	err := <-errc
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("Read returned after %v, before the moved deadline", el)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v is not a net.Error with Timeout() true", err)
	}
	// Cleared deadline: the connection works again.
	c1.SetReadDeadline(time.Time{})
	go c2.Write([]byte("hi"))
	b := make([]byte, 2)
	if _, err := io.ReadFull(c1, b); err != nil || string(b) != "hi" {
		t.Fatalf("after the deadline: %q %v", b, err)
	}
}

// TestSlowReader: with a peer that reads slowly, Write blocks (in the
// netpoller or the ring, by mode, once the socket buffers are full) and
// nothing piles up on the
// writing side; on the reading side the connection pauses its receive and
// holds at most its ring's buffers. Both streams arrive intact.
func testSlowReader(t *testing.T) {
	c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	want := make([]byte, sized(16<<20, 4<<20))
	for i := range want {
		want[i] = byte(i*7 + i>>11)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var werr error
	go func() {
		defer wg.Done()
		_, werr = c2.Write(want)
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 4096)
	held, spilled, paused := 0, 0, false
	uc := c1.(*Conn)
	// The slow phase: read 4 KiB every 10 ms (far below the writer's
	// pace) until the multishot receive has paused, or for 300 ms.
	for slowUntil := time.Now().Add(300 * time.Millisecond); ; {
		time.Sleep(10 * time.Millisecond)
		uc.mu.Lock()
		held = max(held, len(uc.segs))
		spilled = max(spilled, len(uc.spill)-uc.spillOff)
		paused = paused || uc.paused
		uc.mu.Unlock()
		if (uc.multishot && paused) || (!uc.multishot && time.Now().After(slowUntil)) {
			break
		}
		if time.Now().After(slowUntil.Add(10 * time.Second)) {
			break // never paused: reported below
		}
		n, err := c1.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	for len(got) < len(want) {
		n, err := c1.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("stream corrupted")
	}
	if uc.multishot && !paused {
		t.Error("the slow reader's receive never paused")
	}
	if held > maxHeld {
		t.Errorf("the slow reader's connection held %d buffers, more than %d", held, maxHeld)
	}
	// What the kernel took before the pause landed: at most what the
	// socket's receive buffer can hold (tcp_rmem's maximum) and the
	// ring's buffers.
	if bound := tcpRmemMax(t) + uc.l.br.Len()*uc.l.br.BufSize(); spilled > bound {
		t.Errorf("the slow reader's connection copied %d bytes aside, more than %d", spilled, bound)
	}
	t.Logf("slow reader: at most %d buffers held (pause at %d, ring %d), %d bytes copied aside", held, maxHeld, uc.l.br.Len(), spilled)
}
