package zcrx

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

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
		t.Skipf("needs zcrx_nodev: registration needs CAP_NET_ADMIN, which this process lacks")
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
		if rearm && errors.Is(res.termErr, unix.ENOSPC) && res.bytes < total {
			res.rearms++ // the CQ was full; all before it is consumed
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

// register registers a NODEV queue or fails the test; the ring is closed
// and the IFQ's memory released at cleanup.
func register(t testing.TB, r *ring.Ring, c Config) *IFQ {
	t.Helper()
	c.NoDev = true
	q, err := Register(r, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if err := q.Close(); err != nil {
			t.Error(err)
		}
	})
	return q
}

// pagesUsed is the set of distinct (area, page) pairs the buffers touched.
func pagesUsed(bufs []Buf) map[[2]uint64]bool {
	page := uint64(os.Getpagesize())
	m := map[[2]uint64]bool{}
	for _, b := range bufs {
		for p := b.Offset / page; p <= (b.Offset+uint64(len(b.Data))-1)/page; p++ {
			m[[2]uint64{uint64(b.Area), p}] = true
		}
	}
	return m
}

// TestNoDevEveryBufferComesBack exhausts the area without releasing (the
// request ends with ENOMEM once every page holds data), releases and
// flushes everything, and exhausts it again: the second round must be able
// to fill every page of the area again, so no buffer was lost, and the
// stream must continue without a gap.
func TestNoDevEveryBufferComesBack(t *testing.T) {
	caps := needNoDev(t)
	r := zcrxRing(t, uapi.SetupCqe32)
	const pages = 32
	q := register(t, r, Config{Entries: 64, AreaSize: pages * os.Getpagesize(), Caps: caps})
	rx, tx := tcpPair(t)
	const total = 4 << 20
	sent := sendStream(tx, 0, total, 2)
	var pos uint64
	for round := range 2 {
		var held []Buf
		res := receive(t, r, q, rx, pos, total-pos, false, false, &held)
		if !errors.Is(res.termErr, unix.ENOMEM) {
			t.Fatalf("round %d: request ended with res %d (%v) after %d bytes, want ENOMEM once the area is full", round, res.final.Res, res.termErr, res.bytes)
		}
		used := pagesUsed(held)
		if len(used) != pages {
			t.Fatalf("round %d: data landed in %d distinct pages of %d before ENOMEM", round, len(used), pages)
		}
		if a := q.Accounting(); a.Outstanding() != uint64(len(held)) {
			t.Fatalf("round %d: %d outstanding, %d held", round, a.Outstanding(), len(held))
		}
		for _, b := range held {
			if err := q.Release(b); err != nil {
				t.Fatal(err)
			}
		}
		// A NODEV queue takes the entries back only on flush.
		if n := q.Queued(); n != uint32(len(held)) {
			t.Fatalf("round %d: %d entries queued before the flush, want %d", round, n, len(held))
		}
		if err := q.Flush(); err != nil {
			t.Fatal(err)
		}
		if n := q.Queued(); n != 0 {
			t.Fatalf("round %d: %d entries left after the flush", round, n)
		}
		pos += res.bytes
		t.Logf("round %d: %d bytes in %d buffers filled all %d pages; all released and flushed", round, res.bytes, len(held), pages)
	}
	// The rest of the stream, buffers going straight back.
	res := receive(t, r, q, rx, pos, total-pos, true, true, nil)
	if res.termErr != nil || pos+res.bytes != total {
		t.Fatalf("tail: %d+%d of %d bytes, end res %d (%v)", pos, res.bytes, total, res.final.Res, res.termErr)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if q.Accounting().Outstanding() != 0 {
		t.Fatalf("outstanding %d", q.Accounting().Outstanding())
	}
}

// TestNoDevExportImport exports a queue from one ring and receives through
// it on a second ring.
func TestNoDevExportImport(t *testing.T) {
	caps := needNoDev(t)
	if !caps.Import() || !caps.Ctrl(uapi.ZCRXCtrlOpExport) {
		t.Fatalf("kernel has NODEV but no import/export (register flags %#x, %d ctrl ops)", uint64(caps.RegisterFlags), caps.CtrlOps)
	}
	r1 := zcrxRing(t, uapi.SetupCqe32)
	q1 := register(t, r1, Config{Entries: 32, AreaSize: 64 * os.Getpagesize(), Caps: caps})
	r2 := zcrxRing(t, uapi.SetupCQEMixed)
	defer r2.Close()

	if _, err := Import(r2, -1, q1); err == nil {
		t.Fatal("import of fd -1 succeeded")
	} else {
		t.Logf("import of fd -1: %v", err)
	}
	fd, err := q1.Export()
	if err != nil {
		t.Fatal(err)
	}
	q2, err := Import(r2, fd, q1)
	if err != nil {
		t.Fatal(err)
	}
	// The import holds its own reference: the exported fd can go.
	if err := unix.Close(fd); err != nil {
		t.Fatal(err)
	}
	if q2.ID() != 0 {
		t.Fatalf("imported zcrx id %d on a fresh ring, want 0 (the failed import must not hold an id)", q2.ID())
	}
	rx, tx := tcpPair(t)
	const total = 2 << 20
	sent := sendStream(tx, 0, total, 3)
	res := receive(t, r2, q2, rx, 0, total, true, true, nil)
	if res.termErr != nil || res.bytes != total {
		t.Fatalf("received %d of %d bytes through the import, end res %d (%v)", res.bytes, total, res.final.Res, res.termErr)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := q2.Flush(); err != nil {
		t.Fatal(err)
	}
	if q2.Queued() != 0 || q2.Accounting().Outstanding() != 0 {
		t.Fatalf("queued %d outstanding %d", q2.Queued(), q2.Accounting().Outstanding())
	}
	// Closing the import leaves the exporter's memory alone.
	r2.Close()
	if err := q2.Close(); err != nil {
		t.Fatal(err)
	}
	_ = q1.Area(0)[len(q1.Area(0))-1] // faults if the import unmapped it
	t.Logf("%d bytes verified through an imported zcrx (%d buffers, %d rearms)", res.bytes, res.bufs, res.rearms)
}

// TestNoDevInvalidRejected hands the kernel parameters it must refuse and
// checks that each error names the operation and wraps the errno, and that
// nothing stays registered: the first valid registration afterwards gets
// id 0 and ids beyond it do not exist.
func TestNoDevInvalidRejected(t *testing.T) {
	caps := needNoDev(t)
	page := os.Getpagesize()
	ro, err := unix.Mmap(-1, 0, 8*page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(ro)
	// Memory whose second half is unmapped (raw mmap: the slice-based
	// helpers only unmap whole mappings).
	hp, err := unix.MmapPtr(-1, 0, nil, uintptr(16*page), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.MunmapPtr(hp, uintptr(8*page))
	if err := unix.MunmapPtr(unsafe.Add(hp, 8*page), uintptr(8*page)); err != nil {
		t.Fatal(err)
	}
	holey := unsafe.Slice((*byte)(hp), 16*page)
	l, err := caps.Layout(16, false)
	if err != nil {
		t.Fatal(err)
	}
	roRegion, err := unix.Mmap(-1, 0, l.Size, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(roRegion)

	r := zcrxRing(t, uapi.SetupCqe32)
	defer r.Close()
	cases := []struct {
		name string
		cfg  Config
	}{
		{"read-only area", Config{Area: ro}},
		{"area running into unmapped memory", Config{Area: holey[:16*page]}},
		{"read-only refill region", Config{AreaSize: 8 * page, Region: roRegion}},
		{"rx_buf_len 2 GiB", Config{AreaSize: 8 * page, RXBufLen: 1 << 31}},
		{"dma-buf without a device", Config{DMABuf: &DMABuf{FD: -1, Len: uint64(8 * page)}}},
	}
	for _, c := range cases {
		c.cfg.NoDev, c.cfg.Entries, c.cfg.Caps = true, 16, caps
		q, err := Register(r, c.cfg)
		if err == nil {
			t.Errorf("%s: registered (zcrx %d)", c.name, q.ID())
			continue
		}
		var errno unix.Errno
		if !errors.As(err, &errno) || !strings.Contains(err.Error(), "IORING_REGISTER_ZCRX_IFQ") {
			t.Errorf("%s: error %q does not name the operation or carry an errno", c.name, err)
		}
		t.Logf("%s: %v", c.name, err)
	}
	// The kernel agrees with Register's own checks on ring flags.
	plain, err := ring.New(4, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := rawNoDev(plain, caps); !errors.Is(err, unix.EINVAL) {
		t.Errorf("kernel registration on a ring without CQE32/CQE_MIXED: %v, want EINVAL as Register's check says", err)
	}
	// Nothing of the failures stayed: a valid queue is the ring's first.
	q, err := Register(r, Config{NoDev: true, Entries: 16, AreaSize: 8 * page, Caps: caps})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.Close(); q.Close() }()
	if q.ID() != 0 {
		t.Fatalf("first valid zcrx got id %d, want 0: a failed registration left one behind", q.ID())
	}
	ghost := &IFQ{r: r, id: 1}
	if err := ghost.Flush(); err == nil {
		t.Fatal("flush of zcrx id 1 succeeded; only id 0 should exist")
	} else if !strings.Contains(err.Error(), "ZCRX_CTRL_FLUSH_RQ") {
		t.Fatalf("ctrl error %q does not name the op", err)
	}
}

// rawNoDev registers a NODEV queue directly, bypassing Register's checks.
func rawNoDev(r *ring.Ring, caps *Caps) error {
	page := os.Getpagesize()
	mem, _, err := MapArea(8*page, false)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	l, err := caps.Layout(16, false)
	if err != nil {
		return err
	}
	areg := &uapi.ZCRXAreaReg{Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))), Len: uint64(len(mem))}
	rd := &uapi.RegionDesc{Size: uint64(l.Size)}
	reg := &uapi.ZCRXIFQReg{Flags: uint32(uapi.ZCRXRegNodev), RQEntries: 16,
		AreaPtr: uint64(uintptr(unsafe.Pointer(areg))), RegionPtr: uint64(uintptr(unsafe.Pointer(rd)))}
	_, err = r.Register(uapi.RegisterZCRXIFQ, unsafe.Pointer(reg), 1)
	runtime.KeepAlive(areg)
	runtime.KeepAlive(rd)
	return err
}

// addAreaQueue registers a NODEV queue with a tiny area and maps an extra
// area for AddArea, after checking that a misaligned one is refused.
func addAreaQueue(t *testing.T, caps *Caps) (*ring.Ring, *IFQ, []byte) {
	t.Helper()
	page := os.Getpagesize()
	r := zcrxRing(t, uapi.SetupCqe32)
	q := register(t, r, Config{Entries: 32, AreaSize: 2 * page, Caps: caps})
	extra, _, err := MapArea(32*page, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(extra) }) // after the ring's cleanup
	if _, err := q.AddArea(extra[1:]); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("misaligned area: %v", err)
	}
	return r, q, extra
}

// TestNoDevAddAreaUnsupported: a kernel with NODEV but without
// ZCRX_CTRL_ADD_AREA (7.2) refuses AddArea with an errno and an error
// naming the op, and the queue keeps its one area.
func TestNoDevAddAreaUnsupported(t *testing.T) {
	caps := needNoDev(t)
	if caps.Ctrl(uapi.ZCRXCtrlOpAddArea) {
		t.Skipf("this kernel has ZCRX_CTRL_ADD_AREA (%d ctrl ops); the refusal path is for older ones", caps.CtrlOps)
	}
	_, q, extra := addAreaQueue(t, caps)
	_, err := q.AddArea(extra)
	var errno unix.Errno
	if err == nil || !errors.As(err, &errno) || !strings.Contains(err.Error(), "ZCRX_CTRL_ADD_AREA") || q.Areas() != 1 {
		t.Fatalf("AddArea on a kernel with %d ctrl ops: %v (%d areas)", caps.CtrlOps, err, q.Areas())
	}
	t.Logf("kernel has %d ctrl ops, no ZCRX_CTRL_ADD_AREA; AddArea refused: %v", caps.CtrlOps, err)
}

// TestNoDevAddArea starts with a tiny area, adds a second one and checks
// that data lands in both and arrives intact.
func TestNoDevAddArea(t *testing.T) {
	caps := needNoDev(t)
	if !caps.Ctrl(uapi.ZCRXCtrlOpAddArea) {
		t.Skipf("needs zcrx_add_area: IO_URING_QUERY_ZCRX counts %d ctrl ops, ZCRX_CTRL_ADD_AREA is %d", caps.CtrlOps, uapi.ZCRXCtrlOpAddArea)
	}
	r, q, extra := addAreaQueue(t, caps)
	i, err := q.AddArea(extra)
	if err != nil {
		t.Fatal(err)
	}
	if i != 1 || q.AreaToken(1) == q.AreaToken(0) || q.AreaToken(1)&^uapi.ZCRXAreaMask != 0 {
		t.Fatalf("added area %d with token %#x (first %#x)", i, q.AreaToken(1), q.AreaToken(0))
	}
	rx, tx := tcpPair(t)
	const total = 1 << 20
	sent := sendStream(tx, 0, total, 4)
	res := receive(t, r, q, rx, 0, total, true, true, nil)
	if res.termErr != nil || res.bytes != total {
		t.Fatalf("received %d of %d bytes, end res %d (%v)", res.bytes, total, res.final.Res, res.termErr)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if res.areas[1] == 0 {
		t.Fatalf("no buffer came from the added area: %v", res.areas)
	}
	t.Logf("%d bytes verified; buffers per area %v, token of area 1 %#x", res.bytes, res.areas, q.AreaToken(1))
}

// TestNoDevEventsAndStats asks for the copy event and the statistics block:
// in NODEV mode every byte is a copy fallback, so the stats must count
// exactly what was received, and the event fires once until re-armed.
func TestNoDevEventsAndStats(t *testing.T) {
	caps := needNoDev(t)
	if !caps.Events() {
		t.Skipf("needs zcrx_events: features %v, %d ctrl ops, event query answered %v", caps.Features, caps.CtrlOps, caps.EventQueried)
	}
	if !caps.EventType(uapi.ZCRXEventCopy) || !caps.Stats() {
		t.Fatalf("kernel has zcrx events but copy event %v (types %#x), stats %v", caps.EventType(uapi.ZCRXEventCopy), caps.EventTypes, caps.Stats())
	}
	r := zcrxRing(t, uapi.SetupCqe32)
	const ud = 0xe7e7
	q := register(t, r, Config{Entries: 32, AreaSize: 64 * os.Getpagesize(), Caps: caps,
		Events: &EventConfig{UserData: ud, Types: []uapi.ZCRXEventType{uapi.ZCRXEventCopy}, Stats: true}})
	if s, ok := q.Stats(); !ok || s.CopyCount != 0 || s.CopyBytes != 0 {
		t.Fatalf("fresh stats %+v (%v)", s, ok)
	}
	rx, tx := tcpPair(t)
	const first, second = 256 << 10, 64 << 10
	sent := sendStream(tx, 0, first+second, 5)
	res := receive(t, r, q, rx, 0, first, true, true, nil)
	if res.termErr != nil || res.bytes != first {
		t.Fatalf("received %d of %d bytes (%v)", res.bytes, first, res.termErr)
	}
	s, _ := q.Stats()
	checkCopyStats(t, s, uapi.ZCRXStats{}, res.bytes, res.bufs)
	if events := awaitEvent(t, r, q, res.events); len(events) != 1 || events[0] != uapi.ZCRXEventCopy {
		t.Fatalf("events %v, want one %s", events, uapi.ZCRXEventCopy)
	}
	if err := q.ArmEvent(uapi.ZCRXEventCopy); err != nil {
		t.Fatal(err)
	}
	res2 := receive(t, r, q, rx, first, second, true, true, nil)
	if res2.termErr != nil || res2.bytes != second {
		t.Fatalf("second part: %d of %d bytes (%v)", res2.bytes, second, res2.termErr)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if events := awaitEvent(t, r, q, res2.events); len(events) != 1 || events[0] != uapi.ZCRXEventCopy {
		t.Fatalf("after re-arming: events %v, want one %s", events, uapi.ZCRXEventCopy)
	}
	s2, _ := q.Stats()
	checkCopyStats(t, s2, s, res2.bytes, res2.bufs)
	t.Logf("stats %+v; copy event fired once per arming", s2)
}

// checkCopyStats checks the statistics s, read after a receive of bytes
// in completions that began when they read before. In NODEV mode every
// byte is a copy, but the kernel counts only copies from page fragments
// (see IFQ.Stats), so the counted bytes may fall short of the received
// ones, never exceed them. copy_count counts copy operations, each of
// which fills one completion or more.
func checkCopyStats(t testing.TB, s, before uapi.ZCRXStats, bytes, completions uint64) {
	t.Helper()
	copied, copies := s.CopyBytes-before.CopyBytes, s.CopyCount-before.CopyCount
	if s.CopyBytes < before.CopyBytes || s.CopyCount < before.CopyCount ||
		copied == 0 || copied > bytes || copies == 0 || copies > completions {
		t.Fatalf("stats %+v (before %+v) after %d bytes in %d completions", s, before, bytes, completions)
	}
	if copied < bytes {
		t.Logf("%d of %d bytes uncounted: copied from packets' linear areas", bytes-copied, bytes)
	}
}

// awaitEvent returns the events seen so far, waiting up to two seconds for
// one if there is none yet: the kernel posts events through task work,
// which may run after the request's last completion.
func awaitEvent(t testing.TB, r *ring.Ring, q *IFQ, seen []uapi.ZCRXEventType) []uapi.ZCRXEventType {
	t.Helper()
	if len(seen) > 0 {
		return seen
	}
	c, err := r.WaitCQETimeout(2 * time.Second)
	if err != nil {
		return seen
	}
	if ev, ok := q.Event(c); ok {
		seen = append(seen, ev)
	} else {
		t.Errorf("unexpected completion user_data %#x res %d", c.UserData, c.Res)
	}
	r.CQESeen(c)
	return seen
}

// TestNoDevCallerRegionAndHugePages registers with a refill region in
// caller memory sized by Layout (so the kernel's offsets must match
// Layout's) and an area asking for huge pages.
func TestNoDevCallerRegionAndHugePages(t *testing.T) {
	caps := needNoDev(t)
	l, err := caps.Layout(64, false)
	if err != nil {
		t.Fatal(err)
	}
	region, _, err := MapArea(l.Size, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(region) })
	reserveHugePages(t, 2)
	r := zcrxRing(t, uapi.SetupCqe32)
	q := register(t, r, Config{Entries: 64, Region: region, AreaSize: 2 << 20, HugePages: true, Caps: caps})
	if int(q.Offsets().RQEs) != l.RQEs {
		t.Fatalf("kernel placed the entries at %d, Layout at %d", q.Offsets().RQEs, l.RQEs)
	}
	t.Logf("layout %+v, kernel offsets %+v, area on huge pages: %v", l, q.Offsets(), q.HugePages())
	rx, tx := tcpPair(t)
	const total = 1 << 20
	sent := sendStream(tx, 0, total, 6)
	res := receive(t, r, q, rx, 0, total, true, true, nil)
	if res.termErr != nil || res.bytes != total {
		t.Fatalf("received %d of %d bytes (%v)", res.bytes, total, res.termErr)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// reserveHugePages makes sure n 2 MiB huge pages are reserved when this
// process may do so (root in the matrix VMs), and says what it got.
func reserveHugePages(t testing.TB, n int) {
	const path = "/proc/sys/vm/nr_hugepages"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("huge pages: %v", err)
		return
	}
	var have int
	fmt.Sscan(string(b), &have)
	if have >= n {
		return
	}
	if err := os.WriteFile(path, []byte(fmt.Sprint(n)), 0); err != nil {
		t.Logf("huge pages: cannot reserve: %v (the area falls back to normal pages)", err)
		return
	}
	t.Cleanup(func() { os.WriteFile(path, b, 0) })
}

// TestNoDevReceiveLoop runs IFQ.Receive over a stream larger than the area,
// once with a limit and once until the peer closes.
func TestNoDevReceiveLoop(t *testing.T) {
	caps := needNoDev(t)
	r := zcrxRing(t, uapi.SetupCQEMixed)
	q := register(t, r, Config{Entries: 64, AreaSize: 32 * os.Getpagesize(), Caps: caps})
	rx, tx := tcpPair(t)
	const first, second = 3 << 20, 1 << 20
	sent := sendStream(tx, 0, first+second, 8)
	var pos uint64
	check := func(b Buf) error {
		for i, got := range b.Data {
			if want := pattern(pos + uint64(i)); got != want {
				return fmt.Errorf("stream byte %d: got %#x, want %#x", pos+uint64(i), got, want)
			}
		}
		pos += uint64(len(b.Data))
		return nil
	}
	n, reqs, err := q.Receive(Loop{FD: rx, Limit: first, UserData: 1, Data: check})
	if err != nil || n != first {
		t.Fatalf("Receive with limit: %d of %d bytes: %v", n, first, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	unix.Shutdown(tx, unix.SHUT_WR) // EOF after the second part
	n2, reqs2, err := q.Receive(Loop{FD: rx, UserData: 2, Data: check})
	if err != nil || n2 != second {
		t.Fatalf("Receive to EOF: %d of %d bytes: %v", n2, second, err)
	}
	if a := q.Accounting(); a.Outstanding() != 0 || a.Bytes != first+second {
		t.Fatalf("accounting %+v", a)
	}
	t.Logf("%d bytes verified through Receive (%d and %d requests)", pos, reqs, reqs2)
}
