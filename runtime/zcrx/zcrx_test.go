package zcrx

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// simKernel plays the kernel's side of a refill ring the way the header
// describes it: acquire-load the tail, read the entries up to it, then
// publish the new head.
type simKernel struct {
	rq   *refill
	head uint32
	got  []uapi.ZCRXRQE
}

func (k *simKernel) consume(max int) int {
	tail := atomic.LoadUint32(k.rq.ktail)
	n := 0
	for k.head != tail && n < max {
		k.got = append(k.got, k.rq.rqes[k.head&k.rq.mask])
		k.head++
		n++
	}
	atomic.StoreUint32(k.rq.khead, k.head)
	return n
}

// fakeRegion maps one page laid out as the kernel lays out a refill region
// (head and tail on their own cache lines, entries after), returning the
// refill ring of entries entries over it.
func fakeRegion(t testing.TB, entries uint32) refill {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return newRefill(mem, uapi.ZCRXOffsets{Head: 0, Tail: 64, RQEs: 128}, entries)
}

// TestRefillConcurrentKernel pushes through a small ring while a separate
// goroutine consumes like the kernel does, wrapping the ring many times:
// every entry must arrive once, in order, intact.
func TestRefillConcurrentKernel(t *testing.T) {
	rq := fakeRegion(t, 8)
	const n = 20000
	done := make(chan []uapi.ZCRXRQE)
	go func() {
		k := &simKernel{rq: &rq}
		for len(k.got) < n {
			if k.consume(1+len(k.got)%5) == 0 {
				runtime.Gosched()
			}
		}
		done <- k.got
	}()
	full := 0
	for i := range n {
		for !rq.push(uint64(i)<<12|3<<uapi.ZCRXAreaShift, uint32(i%4096+1)) {
			full++
			runtime.Gosched()
		}
	}
	got := <-done
	for i, e := range got {
		if e.Off != uint64(i)<<12|3<<uapi.ZCRXAreaShift || e.Len != uint32(i%4096+1) || e.Pad != 0 {
			t.Fatalf("entry %d: got %+v", i, e)
		}
	}
	if rq.queued() != 0 {
		t.Fatalf("%d entries left queued", rq.queued())
	}
	t.Logf("%d entries through 8 slots (%d wraparounds), producer found the ring full %d times", n, n/8, full)
}

// fakeIFQ is an IFQ over fake memory: two areas (ids 0 and 1) and a refill
// ring whose flush is the simulated kernel taking everything queued.
func fakeIFQ(t testing.TB, entries uint32, cqe32 bool) (*IFQ, *simKernel, *int) {
	t.Helper()
	rq := fakeRegion(t, entries)
	page := os.Getpagesize()
	sh := &shared{rq: rq, areas: []area{
		{mem: make([]byte, 4*page), size: uint64(4 * page), token: 0},
		{mem: make([]byte, 2*page), size: uint64(2 * page), token: 1 << uapi.ZCRXAreaShift},
	}}
	q := &IFQ{id: 3, sh: sh, cqe32: cqe32}
	k := &simKernel{rq: &q.sh.rq}
	flushes := new(int)
	q.flush = func() error { *flushes++; k.consume(1 << 30); return nil }
	return q, k, flushes
}

// bigCQE returns a 32-byte completion as the kernel writes a RECV_ZC one:
// struct io_uring_cqe, then struct io_uring_zcrx_cqe.
func bigCQE(res int32, flags uapi.CQEFlags, off uint64) *uapi.CQE {
	mem := new([4]uint64)
	c := (*uapi.CQE)(unsafe.Pointer(mem))
	c.UserData, c.Res, c.Flags = 7, res, flags
	(*uapi.ZCRXCQE)(unsafe.Pointer(&mem[2])).Off = off
	return c
}

func TestBufDecode(t *testing.T) {
	q, _, _ := fakeIFQ(t, 8, true)
	page := uint64(os.Getpagesize())
	b, err := q.Buf(bigCQE(100, uapi.CQEFMore, 1<<uapi.ZCRXAreaShift|page+5))
	if err != nil {
		t.Fatal(err)
	}
	if b.Area != 1 || b.Offset != page+5 || len(b.Data) != 100 || &b.Data[0] != &q.Area(1)[page+5] {
		t.Fatalf("decoded %+v (data at %p), want area 1 offset %d, 100 bytes in place", b, &b.Data[0], page+5)
	}
	if cap(b.Data) != 100 {
		t.Fatalf("view capacity %d reaches past the received bytes", cap(b.Data))
	}
	if b, err := q.Buf(bigCQE(0, 0, 0)); err != nil || b.Data != nil {
		t.Fatalf("res 0: %+v, %v; want an empty Buf", b, err)
	}
	if err := q.Release(Buf{}); err != nil || q.Queued() != 0 {
		t.Fatalf("releasing the empty Buf: %v, %d queued", err, q.Queued())
	}
	for _, c := range []struct {
		name string
		cqe  *uapi.CQE
		want error
	}{
		{"negative res", bigCQE(-int32(unix.ECONNRESET), 0, 0), unix.ECONNRESET},
		{"past the area end", bigCQE(2, uapi.CQEFMore, 1<<uapi.ZCRXAreaShift|2*page-1), unix.ERANGE},
		{"offset past the area", bigCQE(1, uapi.CQEFMore, 9*page), unix.ERANGE},
		{"unknown area", bigCQE(1, uapi.CQEFMore, 2<<uapi.ZCRXAreaShift), unix.ERANGE},
	} {
		if _, err := q.Buf(c.cqe); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// On a CQE_MIXED ring the zcrx part exists only with IORING_CQE_F_32.
	m, _, _ := fakeIFQ(t, 8, false)
	if _, err := m.Buf(bigCQE(10, uapi.CQEFMore, 0)); !errors.Is(err, unix.EPROTO) {
		t.Errorf("16-byte CQE on a mixed ring: got %v, want EPROTO", err)
	}
	if _, err := m.Buf(bigCQE(10, uapi.CQEFMore|uapi.CQEF32, 0)); err != nil {
		t.Errorf("32-byte CQE on a mixed ring: %v", err)
	}
}

// TestReleaseFlushesWhenFull releases more buffers than the refill ring
// holds; Release must flush exactly when the ring is full and the simulated
// kernel must receive every buffer once, with its area token and length.
func TestReleaseFlushesWhenFull(t *testing.T) {
	q, k, flushes := fakeIFQ(t, 8, true)
	const n = 100
	var want []uapi.ZCRXRQE
	for i := range n {
		area := uint64(i % 2)
		off := area<<uapi.ZCRXAreaShift | uint64(i%7)*512
		b, err := q.Buf(bigCQE(int32(i%500+1), uapi.CQEFMore, off))
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Release(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, uapi.ZCRXRQE{Off: off, Len: uint32(i%500 + 1)})
	}
	a := q.Accounting()
	if a.Outstanding() != 0 || a.Released != n || a.FullFlushes != uint64(*flushes) {
		t.Fatalf("accounting %+v, %d flushes", a, *flushes)
	}
	// The ring holds 8: the 9th, 17th, ... release finds it full.
	if *flushes != (n-1)/8 {
		t.Fatalf("%d flushes, want %d", *flushes, (n-1)/8)
	}
	k.consume(1 << 30)
	if len(k.got) != n {
		t.Fatalf("kernel got %d entries, want %d", len(k.got), n)
	}
	for i := range want {
		if k.got[i] != want[i] {
			t.Fatalf("entry %d: got %+v, want %+v", i, k.got[i], want[i])
		}
	}

	// A kernel that takes nothing back leaves Release no room: EBUSY.
	q.flush = func() error { return nil }
	for i := range 8 {
		if err := q.Release(Buf{n: 1, off: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Release(Buf{n: 1}); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("release into a stuck full ring: %v, want EBUSY", err)
	}
}

// TestPrepRecv checks the RECV_ZC request bytes at the offsets of the
// generated layout: zcrx_ifq_idx shares the word of splice_fd_in, the read
// limit is len, and the kernel requires IORING_RECV_MULTISHOT in ioprio.
func TestPrepRecv(t *testing.T) {
	var sqe uapi.SQE
	sqe.Addr, sqe.Off, sqe.RwFlags = 1, 2, 3 // stale values must be cleared
	q, _, _ := fakeIFQ(t, 8, true)
	q.id = 5
	q.PrepRecv(&sqe, 9, 4096)
	raw := (*[uapi.SizeofSQE]byte)(unsafe.Pointer(&sqe))
	if uapi.Op(raw[0]) != uapi.OpRecvZC {
		t.Errorf("opcode %d, want IORING_OP_RECV_ZC", raw[0])
	}
	if sqe.FD != 9 || sqe.Len != 4096 || sqe.Addr != 0 || sqe.Off != 0 || sqe.RwFlags != 0 {
		t.Errorf("sqe %+v", sqe)
	}
	if uapi.RecvSendFlags(sqe.Ioprio) != uapi.RecvMultishot {
		t.Errorf("ioprio %#x, want IORING_RECV_MULTISHOT", sqe.Ioprio)
	}
	if sqe.ZCRXIFQIdx() != 5 || *(*uint32)(unsafe.Pointer(&raw[44])) != 5 {
		t.Errorf("zcrx_ifq_idx %d", sqe.ZCRXIFQIdx())
	}
}

// TestRegisterRejectsBadConfig covers the checks Register makes before the
// system call; each error names the problem and wraps EINVAL.
func TestRegisterRejectsBadConfig(t *testing.T) {
	plain, err := ring.New(4)
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	defer plain.Close()
	_, err = Register(plain, Config{NoDev: true, AreaSize: 4096})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "DEFER_TASKRUN") {
		t.Errorf("ring without DEFER_TASKRUN: %v", err)
	}
	small, err := ring.New(4, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer))
	if err != nil {
		t.Skipf("needs io_uring: DEFER_TASKRUN ring: %v", err)
	}
	defer small.Close()
	_, err = Register(small, Config{NoDev: true, AreaSize: 4096})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "CQE32") {
		t.Errorf("ring without CQE32: %v", err)
	}
	r := zcrxRing(t, uapi.SetupCqe32)
	defer r.Close()
	page := os.Getpagesize()
	mem, _, err := MapArea(4*page, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	caps := &Caps{RQHdrSize: 128, RQHdrAlign: 64}
	for _, c := range []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"no area", Config{}, "no receive area"},
		{"misaligned area", Config{Area: mem[1 : 1+page]}, "page-aligned"},
		{"partial page", Config{Area: mem[:page+1]}, "page-aligned"},
		{"area twice", Config{Area: mem, AreaSize: page}, "both"},
		{"dma-buf and memory", Config{Area: mem, DMABuf: &DMABuf{FD: 0, Len: 4096}}, "both"},
		{"too many entries", Config{Area: mem, Entries: maxEntries + 1}, "refill entries"},
		{"small region", Config{Area: mem, Region: mem[:page], Entries: 1024}, "refill region"},
	} {
		c.cfg.Caps = caps
		_, err := Register(r, c.cfg)
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want EINVAL mentioning %q", c.name, err, c.msg)
		}
	}
	// Capabilities the kernel lacks are refused before the kernel sees them.
	_, err = Register(r, Config{NoDev: true, Area: mem, Caps: caps})
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("NODEV without ZCRX_REG_NODEV in the caps: %v", err)
	}
	_, err = Register(r, Config{NoDev: true, Area: mem, Caps: &Caps{RegisterFlags: uapi.ZCRXRegNodev}, Events: &EventConfig{}})
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("events without ZCRX_FEATURE_EVENT in the caps: %v", err)
	}
}

// TestNoDevCapsMatchKernel checks the capability answer against the kernel
// itself: a raw NODEV registration must succeed exactly when the query says
// ZCRX_REG_NODEV is supported.
func TestNoDevCapsMatchKernel(t *testing.T) {
	r, err := ring.New(8, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer|uapi.SetupCqe32))
	if err != nil {
		t.Skipf("needs io_uring: DEFER_TASKRUN|CQE32 ring: %v", err)
	}
	defer r.Close()
	caps, qerr := QueryCaps(r.FD())
	page := os.Getpagesize()
	mem, _, err := MapArea(8*page, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	// Region memory: a page for the header and 64 entries, in user memory,
	// sized the way the pre-query kernels need (header within one page).
	region, _, err := MapArea(2*page, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(region)
	areg := &uapi.ZCRXAreaReg{Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))), Len: uint64(len(mem))}
	rd := &uapi.RegionDesc{UserAddr: uint64(uintptr(unsafe.Pointer(&region[0]))), Size: uint64(len(region)), Flags: uapi.MemRegionTypeUser}
	reg := &uapi.ZCRXIFQReg{Flags: uint32(uapi.ZCRXRegNodev), RQEntries: 64,
		AreaPtr: uint64(uintptr(unsafe.Pointer(areg))), RegionPtr: uint64(uintptr(unsafe.Pointer(rd)))}
	_, kerr := r.Register(uapi.RegisterZCRXIFQ, unsafe.Pointer(reg), 1)
	runtime.KeepAlive(areg)
	runtime.KeepAlive(rd)
	claimed := qerr == nil && caps.NoDev()
	t.Logf("query: nodev=%v (%v); kernel NODEV registration: %v", claimed, qerr, kerr)
	if errors.Is(kerr, unix.EPERM) {
		t.Skipf("needs zcrx_nodev: registration needs CAP_NET_ADMIN: %v", kerr)
	}
	if claimed != (kerr == nil) {
		t.Fatalf("query says NODEV supported=%v, kernel registration: %v", claimed, kerr)
	}
	if kerr != nil {
		var se *os.SyscallError
		if !errors.As(kerr, &se) || !strings.Contains(kerr.Error(), "IORING_REGISTER_ZCRX_IFQ") {
			t.Fatalf("kernel error %v does not name the operation", kerr)
		}
		return
	}
	if reg.RQEntries != 64 || reg.Offsets.RQEs == 0 || areg.RQAreaToken&^uapi.ZCRXAreaMask != 0 {
		t.Fatalf("kernel answer: entries %d offsets %+v token %#x", reg.RQEntries, reg.Offsets, areg.RQAreaToken)
	}
	// The query's layout must be the kernel's.
	l, err := caps.Layout(64, false)
	if err != nil {
		t.Fatal(err)
	}
	if int(reg.Offsets.RQEs) != l.RQEs {
		t.Fatalf("kernel put the entries at %d, Layout at %d", reg.Offsets.RQEs, l.RQEs)
	}
}
