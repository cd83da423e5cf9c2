package zcrx

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/query"
	"github.com/urgen/urgen/runtime/ring"
)

// These tests run the real receive path: a ZCRX_REG_NODEV instance (copy
// mode, no NIC) receiving a loopback TCP stream. They need a 7.x kernel
// (the matrix VMs) and CAP_NET_ADMIN; elsewhere they skip with the reason.

// needNoDev returns the kernel's zcrx capabilities or skips.
func needNoDev(t testing.TB) *Caps {
	t.Helper()
	caps, err := QueryCaps(query.NoRing)
	if err != nil {
		t.Skipf("needs zcrx_nodev: %v", err)
	}
	if !caps.NoDev() {
		t.Skipf("needs zcrx_nodev: IO_URING_QUERY_ZCRX register_flags %#x lack ZCRX_REG_NODEV", uint64(caps.RegisterFlags))
	}
	if !hasNetAdmin() {
		t.Skipf("needs CAP_NET_ADMIN: zcrx registration requires it")
	}
	return caps
}

// hasNetAdmin reads the effective capability set of this process.
func hasNetAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return os.Geteuid() == 0
	}
	var eff uint64
	for _, line := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(line, "CapEff:\t%x", &eff); err == nil {
			return eff&(1<<unix.CAP_NET_ADMIN) != 0
		}
	}
	return os.Geteuid() == 0
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// zcrxRing sets up a ring zcrx accepts: DEFER_TASKRUN (with SINGLE_ISSUER)
// and 32-byte CQEs, either all of them (CQE32) or mixed (CQE_MIXED).
func zcrxRing(t testing.TB, big uapi.SetupFlags) *ring.Ring {
	t.Helper()
	r, err := ring.New(64, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer|uapi.SetupSubmitAll|big), ring.WithCQSize(1024))
	if err != nil {
		t.Fatalf("ring.New: %v", err)
	}
	return r
}

// tcpPair returns a connected loopback TCP pair as raw blocking sockets:
// rx is the receiving end, tx the sending one.
func tcpPair(t testing.TB) (rx, tx int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	tx, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := unix.Connect(tx, sa); err != nil {
		t.Fatalf("connect: %v", err)
	}
	rx, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() {
		// shutdown, not just close, wakes a sender blocked in write.
		unix.Shutdown(rx, unix.SHUT_RDWR)
		unix.Shutdown(tx, unix.SHUT_RDWR)
		unix.Close(rx)
		unix.Close(tx)
	})
	return rx, tx
}

// pattern is the known stream: byte i of the stream is pattern(i).
func pattern(i uint64) byte {
	x := (i + 0x9e37) * 0x2545f4914f6cdd1d
	return byte(x>>56) ^ byte(i)
}

// sendStream writes n bytes of the pattern to fd in chunks of varied sizes
// (1 byte to 64 KiB, fixed seed) from another goroutine; the returned
// channel yields the chunk count, or an error.
func sendStream(fd int, start, n uint64, seed uint64) <-chan error {
	done := make(chan error, 1)
	go func() {
		rnd := rand.New(rand.NewPCG(seed, 7))
		buf := make([]byte, 64<<10)
		for pos := start; pos < start+n; {
			size := uint64(1 + rnd.IntN(len(buf)))
			if rnd.IntN(4) == 0 {
				size = uint64(1 + rnd.IntN(100)) // many small segments too
			}
			size = min(size, start+n-pos)
			for i := range size {
				buf[i] = pattern(pos + i)
			}
			for off := uint64(0); off < size; {
				w, err := unix.Write(fd, buf[off:size])
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					done <- fmt.Errorf("send at %d: %w", pos+off, err)
					return
				}
				off += uint64(w)
			}
			pos += size
		}
		done <- nil
	}()
	return done
}

// rxResult is what receive saw.
type rxResult struct {
	bytes   uint64
	bufs    uint64
	rearms  int            // requests resubmitted after the area ran dry (ENOMEM)
	areas   map[int]uint64 // buffers per area index
	events  []uapi.ZCRXEventType
	final   uapi.CQE // the completion that ended the last request
	termErr error    // its error, if any
}

// receive reads total bytes of the pattern stream (from position start) on
// fd through q, checking every byte. Each request asks for the bytes still
// missing (the read limit). With release set every buffer goes straight
// back; with rearm set, a request that ends because the area ran out of
// free buffers (ENOMEM: the kernel received more than the area holds before
// the buffers came back) is flushed and submitted again. Without release
// the buffers are appended to held and the first request's end is
// returned.
func receive(t testing.TB, r *ring.Ring, q *IFQ, fd int, start, total uint64, release, rearm bool, held *[]Buf) rxResult {
	t.Helper()
	const ud = 0x5a
	res := rxResult{areas: map[int]uint64{}}
	pos := start
	for {
		sqe := r.SQE()
		q.PrepRecv(sqe, fd, uint32(total-res.bytes))
		sqe.UserData = ud
		if _, err := r.Submit(); err != nil {
			t.Fatalf("submit: %v", err)
		}
		for {
			c, err := r.WaitCQETimeout(20 * time.Second)
			if err != nil {
				t.Fatalf("wait after %d bytes: %v", res.bytes, err)
			}
			if ev, ok := q.Event(c); ok {
				res.events = append(res.events, ev)
				r.CQESeen(c)
				continue
			}
			if c.UserData != ud {
				t.Fatalf("unexpected completion user_data %#x res %d", c.UserData, c.Res)
			}
			more := c.Flags&uapi.CQEFMore != 0
			b, err := q.Buf(c)
			if err != nil || c.Res == 0 || !more {
				res.final, res.termErr = *c, err
				r.CQESeen(c)
				if err == nil && c.Res > 0 {
					t.Fatalf("data completion (res %d) without IORING_CQE_F_MORE", c.Res)
				}
				break
			}
			r.CQESeen(c)
			for i, got := range b.Data {
				if want := pattern(pos + uint64(i)); got != want {
					t.Fatalf("stream byte %d (area %d offset %d+%d): got %#x, want %#x", pos+uint64(i), b.Area, b.Offset, i, got, want)
				}
			}
			pos += uint64(len(b.Data))
			res.bytes += uint64(len(b.Data))
			res.bufs++
			res.areas[b.Area]++
			if release {
				if err := q.Release(b); err != nil {
					t.Fatalf("release: %v", err)
				}
			} else if held != nil {
				*held = append(*held, b)
			}
		}
		if rearm && release && errors.Is(res.termErr, unix.ENOMEM) && res.bytes < total {
			res.rearms++
			if err := q.Flush(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		return res
	}
}

func TestNoDevStream(t *testing.T) {
	caps := needNoDev(t)
	for _, mode := range []struct {
		name string
		big  uapi.SetupFlags
	}{{"CQE32", uapi.SetupCqe32}, {"CQE_MIXED", uapi.SetupCQEMixed}} {
		t.Run(mode.name, func(t *testing.T) {
			r := zcrxRing(t, mode.big)
			// 64 pages of area through a 16-entry refill ring: the 6 MiB
			// stream needs every buffer back many times over, and the ring
			// wraps around about a hundred times.
			q, err := Register(r, Config{NoDev: true, Entries: 16, AreaSize: 64 * os.Getpagesize(), Caps: caps})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				r.Close()
				if err := q.Close(); err != nil {
					t.Error(err)
				}
			}()
			rx, tx := tcpPair(t)
			const total = 6 << 20
			sent := sendStream(tx, 0, total, 1)
			res := receive(t, r, q, rx, 0, total, true, true, nil)
			if res.termErr != nil || res.final.Res != 0 {
				unix.Shutdown(tx, unix.SHUT_RDWR)
				t.Fatalf("request ended with res %d (%v) after %d of %d bytes", res.final.Res, res.termErr, res.bytes, total)
			}
			if res.bytes != total {
				t.Fatalf("received %d bytes, want %d", res.bytes, total)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			a := q.Accounting()
			if a.Outstanding() != 0 || a.Released != res.bufs {
				t.Fatalf("accounting %+v: %d buffers received, want all released", a, res.bufs)
			}
			if err := q.Flush(); err != nil {
				t.Fatal(err)
			}
			if n := q.Queued(); n != 0 {
				t.Fatalf("after flush the kernel left %d refill entries", n)
			}
			wraps := res.bufs / uint64(q.Entries())
			t.Logf("%s: %d bytes verified in %d buffers (%d refill wraparounds, %d flushes, %d when full, %d rearms after ENOMEM); %d area pages",
				mode.name, res.bytes, res.bufs, wraps, a.Flushes, a.FullFlushes, res.rearms, len(q.Area(0))/os.Getpagesize())
			if wraps < 2 {
				t.Fatalf("refill ring wrapped %d times, want several", wraps)
			}
		})
	}
}
