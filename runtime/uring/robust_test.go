package uring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	// Fixed socket buffers (no autotuning, which grows them to several
	// MiB each on loopback), so that what the sockets and, in multishot
	// mode, the peer's provided buffers (8 MiB by default, filled before
	// its receive pauses when the machine is slow) can hold is well short
	// of the Write: it must block.
	if err := c1.(*Conn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := c2.(*Conn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Write(make([]byte, sized(64<<20, 16<<20)))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("the Write returned before Close (%v): the sockets held all of it", err)
	default:
	}
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

// testDeadlineRacesSubmission: Reads whose deadlines pass while they are
// being submitted, 8 connections at a time; every one times out. The
// deadline's cancellation once reached the kernel ahead of the receive it
// was meant for (the receive was marked in flight before it was queued),
// found nothing, and the receive waited forever: on the host every
// connection hung within a few hundred rounds, in the matrix VMs
// DeadlinesUnderLoad did.
func testDeadlineRacesSubmission(t *testing.T) {
	const conns = 8
	rounds := sized(2000, 300)
	var wg sync.WaitGroup
	for range conns {
		c1, _, stop := pipe(t, "tcp", "127.0.0.1:0")
		defer stop()
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			for range rounds {
				c1.SetReadDeadline(time.Now().Add(time.Duration(rand.IntN(100)) * time.Microsecond))
				if err := within(20*time.Second, func() error {
					_, err := c1.Read(buf)
					return err
				}); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("Read with a deadline passing as it starts: %v, want os.ErrDeadlineExceeded", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// errHung is within's error for a call that did not return in time.
var errHung = errors.New("call did not return")

// within runs f and returns its error, or errHung if it has not returned
// after d (it is then left running).
func within(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errHung
	}
}

// testCloseRacesReadWrite: Close at a random moment while a Read loop and
// a Write loop run on the connection (the peer echoes, so both block now
// and then); both end with net.ErrClosed. A Write that had passed its
// check for Close once submitted its send after Close had let go of the
// connection: the completion found no connection to go to, and the Write
// waited forever (the nettest CloseTimeout hang of the matrix's 7.3.4
// column; with GOMAXPROCS=2 beside two CPU burners, every few hundred
// rounds).
func testCloseRacesReadWrite(t *testing.T) {
	for range sized(300, 50) {
		c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
		echo := make(chan struct{})
		go func() {
			defer close(echo)
			buf := make([]byte, 1024)
			for {
				n, err := c2.Read(buf)
				if err != nil {
					return
				}
				if _, err := c2.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
		loop := func(f func([]byte) (int, error)) func() error {
			return func() error {
				buf := make([]byte, 1024)
				for {
					if _, err := f(buf); err != nil {
						return err
					}
				}
			}
		}
		errs := make(chan error, 2)
		go func() { errs <- within(20*time.Second, loop(c1.Read)) }()
		go func() { errs <- within(20*time.Second, loop(c1.Write)) }()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		c1.Close()
		for range 2 {
			if err := <-errs; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Read or Write racing Close: %v, want net.ErrClosed", err)
			}
		}
		stop()
		<-echo
	}
}

// testNoCrossTalk: pairs of connections come and go, 8 at a time, each
// side writing bytes that name its pair while the other reads, and one
// side closes at a random moment during both. Every byte a Read returns
// must be its own pair's: descriptor numbers and connection ids are
// reused all the time, so a request of a closed connection that reached
// the kernel late (nettest's PresentTimeout once read 1024 bytes of
// another connection's Writes) would show here as a foreign byte.
func testNoCrossTalk(t *testing.T) {
	const pairs = 8
	rounds := sized(60, 20)
	for p := range pairs {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			t.Parallel()
			for r := range rounds {
				tag := byte(p*rounds + r)
				c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
				errs := make(chan error, 4)
				side := func(c net.Conn, f func(net.Conn) error) {
					go func() { errs <- within(20*time.Second, func() error { return f(c) }) }()
				}
				write := func(c net.Conn) error {
					buf := bytes.Repeat([]byte{tag}, 1+rand.IntN(4096))
					for {
						if _, err := c.Write(buf); err != nil {
							return err
						}
					}
				}
				read := func(c net.Conn) error {
					buf := make([]byte, 1+rand.IntN(4096))
					for {
						n, err := c.Read(buf)
						for _, b := range buf[:n] {
							if b != tag {
								return fmt.Errorf("read byte %d of another connection, want %d", b, tag)
							}
						}
						if err != nil {
							return err
						}
					}
				}
				side(c1, read)
				side(c1, write)
				side(c2, read)
				side(c2, write)
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				c1.Close()
				c2.Close()
				for range 4 {
					err := <-errs
					if errors.Is(err, errHung) || (err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET)) {
						t.Errorf("pair %d round %d: %v", p, r, err)
					}
				}
				stop()
				if t.Failed() {
					return
				}
			}
		})
	}
}

// testCloseBeforeSubmission: Close comes after a Read (in the modes where
// a Read submits a receive of its own) or a Write (its send through the
// ring, the socket buffer being full) has checked for Close but before
// its request is submitted; the call returns net.ErrClosed. Such a
// request used to reach the kernel after Close had closed the descriptor:
// it failed with EBADF, or hit another connection that had been given the
// same descriptor number since.
func testCloseBeforeSubmission(t *testing.T) {
	calls := []struct {
		name string
		f    func(c, peer net.Conn) error
	}{
		{"Read", func(c, _ net.Conn) error {
			_, err := c.Read(make([]byte, 64))
			return err
		}},
		{"Write", func(c, _ net.Conn) error {
			// The peer reads nothing: the socket buffer fills and the
			// Write goes through the ring.
			buf := make([]byte, 1<<20)
			for {
				if _, err := c.Write(buf); err != nil {
					return err
				}
			}
		}},
	}
	a, _, stop := pipe(t, "tcp", "127.0.0.1:0")
	switch ac := a.(*Conn); {
	case ac.rrc != nil:
		// Readiness mode submits neither: its calls hold the descriptor
		// through the netpoller's reference (CloseRacesReadWrite,
		// NoCrossTalk).
		calls = nil
	case ac.multishot:
		calls = calls[1:] // a Read submits nothing of its own then
	}
	stop()
	for _, call := range calls {
		t.Run(call.name, func(t *testing.T) {
			a, b, stop := pipe(t, "tcp", "127.0.0.1:0")
			defer stop()
			c := a.(*Conn)
			paused, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			testHookSubmit = func(hc *Conn) {
				if hc == c {
					once.Do(func() { close(paused); <-release })
				}
			}
			defer func() { testHookSubmit = nil }()
			errc := make(chan error, 1)
			go func() { errc <- call.f(c, b) }()
			<-paused
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			close(release)
			if err := within(10*time.Second, func() error { return <-errc }); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("%s that Close overtook before its submission: %v, want net.ErrClosed", call.name, err)
			}
		})
	}
}
