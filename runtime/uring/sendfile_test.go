package uring

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// sendData writes size random bytes to a file of t's and returns its name
// and contents.
func sendData(t testing.TB, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{7})
	rng.Read(data)
	name := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name, data
}

// receiveAll reads c until EOF into a buffer, on its own goroutine.
func receiveAll(c net.Conn) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		out <- b
	}()
	return out
}

// testReadFrom: io.Copy to a Conn from regular files (an *os.File, a
// *File, both behind an io.LimitedReader too), from a pipe and from a
// reader: the peer gets exactly the bytes from the file position on, and
// the position moves past them, as with net.TCPConn.
func testReadFrom(t *testing.T) {
	const size, start = 5<<20 + 123, 1000
	name, data := sendData(t, size)
	type source struct {
		name  string
		open  func(t *testing.T) (io.Reader, func() int64) // the reader and its position afterwards
		limit int64                                        // 0: all
	}
	osFile := func(t *testing.T) (io.Reader, func() int64) {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		return f, func() int64 { p, _ := f.Seek(0, io.SeekCurrent); return p }
	}
	ourFile := func(t *testing.T) (io.Reader, func() int64) {
		f, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		return f, func() int64 { p, _ := f.Seek(0, io.SeekCurrent); return p }
	}
	sources := []source{
		{"os.File", osFile, 0},
		{"File", ourFile, 0},
		{"LimitedOSFile", osFile, 3<<20 + 7},
		{"LimitedFile", ourFile, 3<<20 + 7},
		{"pipe", func(t *testing.T) (io.Reader, func() int64) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			go func() { w.Write(data[start:]); w.Close() }()
			return r, func() int64 { return -1 }
		}, 0},
		{"reader", func(t *testing.T) (io.Reader, func() int64) {
			return bytes.NewReader(data[start:]), func() int64 { return -1 }
		}, 0},
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			c1, c2, stop := pipe(t, "tcp", "127.0.0.1:0")
			defer stop()
			r, pos := s.open(t)
			want := data[start:]
			if s.limit > 0 {
				r = io.LimitReader(r, s.limit)
				want = want[:s.limit]
			}
			got := receiveAll(c2)
			n, err := io.Copy(c1, r)
			if err != nil || n != int64(len(want)) {
				t.Fatalf("io.Copy: %d, %v; want %d, nil", n, err, len(want))
			}
			c1.(*Conn).CloseWrite()
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("the peer got %d bytes that differ from the %d sent", len(b), len(want))
			}
			if p := pos(); p >= 0 && p != start+int64(len(want)) {
				t.Fatalf("file position %d after sending, want %d", p, start+int64(len(want)))
			}
			if lr, ok := r.(*io.LimitedReader); ok && lr.N != 0 {
				t.Fatalf("LimitedReader.N = %d after sending all, want 0", lr.N)
			}
		})
	}
}

// testReadFromBlocked: a ReadFrom of a file to a peer that reads nothing
// fills the socket and waits; a write deadline ends it with a timeout and
// the count sent so far, and a Close from another goroutine with
// net.ErrClosed.
func testReadFromBlocked(t *testing.T) {
	name, _ := sendData(t, 64<<20)
	for _, end := range []string{"deadline", "close"} {
		t.Run(end, func(t *testing.T) {
			c1, _, stop := pipe(t, "tcp", "127.0.0.1:0")
			defer stop()
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if end == "deadline" {
				c1.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			} else {
				time.AfterFunc(200*time.Millisecond, func() { c1.Close() })
			}
			var n int64
			err = within(10*time.Second, func() (err error) {
				n, err = c1.(*Conn).ReadFrom(f)
				return err
			})
			var ne net.Error
			switch {
			case end == "deadline" && !(errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()):
				t.Fatalf("ReadFrom past the write deadline: %v, want a timeout", err)
			case end == "close" && !errors.Is(err, net.ErrClosed):
				t.Fatalf("ReadFrom during Close: %v, want net.ErrClosed", err)
			case n <= 0 || n >= 64<<20:
				t.Fatalf("ReadFrom sent %d bytes before it was stopped, want some but not all", n)
			}
			if p, _ := f.Seek(0, io.SeekCurrent); p != n {
				t.Fatalf("file position %d, want the %d bytes sent", p, n)
			}
		})
	}
}

// BenchmarkReadFrom sends a page-cached 16 MiB file over loopback TCP to
// a peer of package net that discards it: io.Copy to our Conn (sendfile),
// to our Conn through a buffer, and to a net.TCPConn (net's sendfile).
// Run with -count to interleave them; cpu-ns/op is the process's CPU time.
func BenchmarkReadFrom(b *testing.B) {
	const size = 16 << 20
	name, _ := sendData(b, size)
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	peers := []struct {
		name string
		dial func() (net.Conn, error)
		wrap func(net.Conn) io.Writer
	}{
		{"urgen", func() (net.Conn, error) { return Dial("tcp", sink.Addr().String()) }, func(c net.Conn) io.Writer { return c }},
		{"urgen-buffered", func() (net.Conn, error) { return Dial("tcp", sink.Addr().String()) }, func(c net.Conn) io.Writer { return onlyWriter{c} }},
		{"net", func() (net.Conn, error) { return net.Dial("tcp", sink.Addr().String()) }, func(c net.Conn) io.Writer { return c }},
	}
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			c, err := p.dial()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w := p.wrap(c)
			b.SetBytes(size)
			cpu0 := cpuNow()
			b.ResetTimer()
			for b.Loop() {
				f.Seek(0, io.SeekStart)
				if n, err := io.Copy(w, f); err != nil || n != size {
					b.Fatalf("io.Copy: %d, %v", n, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuNow()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuNow is the process's CPU time so far.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
