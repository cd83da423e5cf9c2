package uring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// echoServer serves an echo on our Listener until the test ends; it
// returns the address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// testManyConnections opens and closes 10,000 connections (500 with
// -short, as the kernel matrix runs), each with one round trip, both ends
// ours, 50 at a time.
func testManyConnections(t *testing.T) {
	total, par := sized(10_000, 500), 50
	addr := echoServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for p := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range total / par {
				c, err := Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				msg := []byte{byte(p), byte(i), byte(i >> 8)}
				got := make([]byte, len(msg))
				_, err = c.Write(msg)
				if err == nil {
					_, err = io.ReadFull(c, got)
				}
				if err == nil && !bytes.Equal(got, msg) {
					err = errors.New("wrong echo")
				}
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
}

// testPeerVanishes: peers close mid-stream, half with a reset, with echo
// data pending in both directions; the server's Reads and Writes fail or
// end, it closes, and nothing leaks (withLoops checks).
func testPeerVanishes(t *testing.T) {
	addr := echoServer(t)
	for i := range 40 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go c.Write(bytes.Repeat([]byte("x"), 1<<20))
		time.Sleep(time.Millisecond)
		if i%2 == 0 {
			c.(*net.TCPConn).SetLinger(0) // RST
		}
		c.Close()
	}
	// Our side resetting: the server (ours) sees the reset peer's data
	// end, and nothing leaks either way.
	for range 10 {
		c, err := Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go c.Write(bytes.Repeat([]byte("y"), 1<<20))
		time.Sleep(time.Millisecond)
		if err := c.(*Conn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// Our client, the server's side vanishing: an accepted connection
	// closed with a reset while our Read waits.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err == nil {
			// Reset only once the client is connected for sure (a reset
			// racing the handshake fails the dial, in net as here).
			s.Read(make([]byte, 1))
			s.Write([]byte("partial"))
			s.(*net.TCPConn).SetLinger(0)
			s.Close()
		}
	}()
	c, err := Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("?")); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		// A reset after the data: ReadAll sees ECONNRESET (or the data
		// and EOF when the reset raced the FIN). Both are fine; a
		// timeout is not.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read from a vanished peer timed out after %q", b)
		}
	} else {
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Errorf("read from a reset peer: %#v, want a *net.OpError", err)
		}
	}
	// Writing to the vanished peer fails with an OpError, not a signal.
	for range 100 {
		if _, err = c.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Errorf("write to a reset peer: %v, want a write *net.OpError", err)
	}
}

// testExhaustion: many streams at once through a ring with few buffers
// (the multishot modes run dry: ENOBUFS, re-armed as buffers return);
// every stream arrives intact.
func testExhaustion(t *testing.T) {
	addr := echoServer(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
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
	var dry int64
	netLoops.mu.Lock()
	for _, l := range netLoops.loops {
		dry += l.dryEvents.Load()
	}
	multishot := netLoops.loops[0].multishot && netLoops.loops[0].br.Len() <= 16
	netLoops.mu.Unlock()
	if multishot && dry == 0 {
		t.Error("16 buffers for 16 streams never ran dry")
	}
	t.Logf("ENOBUFS %d times", dry)
}

// testDeadlinesUnderLoad: 32 connections echo continuously while 32 others
// block in Reads whose deadlines fire at staggered times; every timeout is
// os.ErrDeadlineExceeded at or after its deadline, the busy connections
// never fail, and a timed-out connection works again once its deadline is
// cleared.
func testDeadlinesUnderLoad(t *testing.T) {
	addr := echoServer(t)
	stop := make(chan struct{})
	var busy sync.WaitGroup
	for range 32 {
		c, err := Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		busy.Add(1)
		go func() {
			defer busy.Done()
			defer c.Close()
			msg := bytes.Repeat([]byte("load"), 256)
			got := make([]byte, len(msg))
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(msg); err != nil {
					t.Error(err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var idle sync.WaitGroup
	for i := range 32 {
		c, err := Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle.Add(1)
		go func() {
			defer idle.Done()
			defer c.Close()
			d := time.Duration(10+5*i) * time.Millisecond
			dl := time.Now().Add(d)
			c.SetReadDeadline(dl)
			_, err := c.Read(make([]byte, 16))
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("deadline %v: %v", d, err)
				return
			}
			if now := time.Now(); now.Before(dl) {
				t.Errorf("deadline %v fired %v early", d, dl.Sub(now))
			}
			c.SetReadDeadline(time.Time{})
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			msg := []byte(fmt.Sprint("after ", i))
			if _, err := c.Write(msg); err != nil {
				t.Error(err)
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("after the timeout: %q %v", got, err)
			}
		}()
	}
	idle.Wait()
	close(stop)
	busy.Wait()
}

// testCloseUnblocksWrite: a Write blocked on a full socket (the peer
// reads nothing) returns net.ErrClosed when another goroutine closes the
// connection, after the kernel has let go of its buffer.
func testCloseUnblocksWrite(t *testing.T) {
	c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
	defer stop()
	_ = c2
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Write(make([]byte, sized(64<<20, 16<<20)))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c1.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked Write after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock Write")
	}
}
