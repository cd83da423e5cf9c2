package ring

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
)

// nops queues n NOPs with user data base, base+1, ...
func nops(t testing.TB, r *Ring, base uint64, n int) {
	t.Helper()
	for i := range n {
		s := sqe(t, r)
		s.PrepNop()
		s.UserData = base + uint64(i)
	}
}

// roundTrip submits n NOPs and checks that each completes once.
func roundTrip(t testing.TB, r *Ring, n int) {
	t.Helper()
	nops(t, r, 1000, n)
	res := submitReap(t, r, n)
	for i := range n {
		if c, ok := res[1000+uint64(i)]; !ok || c.res != 0 {
			t.Fatalf("NOP %d: %+v %v", i, c, ok)
		}
	}
}

// kernelSetupFlags returns the setup flags the running kernel accepts, as
// far as a test can tell: a flag is taken to be unsupported when a minimal
// ring with it fails with EINVAL.
func setupOK(t *testing.T, f uapi.SetupFlags, opts ...Option) (*Ring, error) {
	t.Helper()
	r, err := New(4, append([]Option{WithFlags(f)}, opts...)...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { r.Close() })
	return r, nil
}

func TestDefaultNoSQArray(t *testing.T) {
	r := newRing(t, 8)
	if r.Flags()&uapi.SetupNoSqarray == 0 {
		// Linux < 6.6: no NO_SQARRAY, and New must have fallen back.
		t.Logf("kernel without IORING_SETUP_NO_SQARRAY; flags %v", r.Flags())
	}
	roundTrip(t, r, 8)
	a := newRing(t, 8, WithSQArray())
	if a.Flags()&uapi.SetupNoSqarray != 0 {
		t.Fatal("WithSQArray ring has NO_SQARRAY")
	}
	// Several wraps through the index array.
	for range 5 {
		roundTrip(t, a, 8)
	}
}

func TestSetupCQSizeAndClamp(t *testing.T) {
	r := newRing(t, 4, WithCQSize(100))
	if p := r.Params(); p.SQEntries != 4 || p.CQEntries != 128 {
		t.Fatalf("CQSIZE 100: sq %d cq %d, want 4/128", p.SQEntries, p.CQEntries)
	}
	// The kernel maxima: 32768 SQ entries, twice that in the CQ.
	if _, err := New(1 << 20); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("2^20 entries without CLAMP: %v, want EINVAL", err)
	}
	c := newRing(t, 1<<20, WithFlags(uapi.SetupClamp), WithCQSize(1<<22))
	if p := c.Params(); p.SQEntries != 32768 || p.CQEntries != 65536 {
		t.Fatalf("CLAMP: sq %d cq %d, want 32768/65536", p.SQEntries, p.CQEntries)
	}
	// CQ smaller than SQ is invalid.
	if _, err := New(64, WithCQSize(8)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("CQ smaller than SQ: %v, want EINVAL", err)
	}
}

func TestSetupSQPoll(t *testing.T) {
	r := newRing(t, 8, WithSQPoll(5*time.Millisecond), WithSQThreadCPU(0))
	if r.Flags()&(uapi.SetupSQPoll|uapi.SetupSQAff) != uapi.SetupSQPoll|uapi.SetupSQAff {
		t.Fatalf("flags %v", r.Flags())
	}
	roundTrip(t, r, 4)
	// Let the poll thread go idle: it then asks for a wakeup.
	deadline := time.Now().Add(5 * time.Second)
	for r.SQRingFlags()&uapi.SQNeedWakeup == 0 {
		if time.Now().After(deadline) {
			t.Fatal("SQPOLL thread never set IORING_SQ_NEED_WAKEUP")
		}
		time.Sleep(time.Millisecond)
	}
	// Submit must wake it, or the NOPs never complete.
	roundTrip(t, r, 8)
	// Fill the SQ faster than the thread drains it, waiting for room.
	for i := range 200 {
		if r.SQSpace() == 0 {
			if err := r.WaitSQSpace(); err != nil {
				t.Fatal(err)
			}
			if r.SQSpace() == 0 {
				t.Fatal("WaitSQSpace returned with a full SQ")
			}
		}
		s := sqe(t, r)
		s.PrepNop()
		s.UserData = uint64(i)
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			// Reap now and then so the 16-entry CQ does not overflow much.
			for {
				c, ok := r.PeekCQE()
				if !ok {
					break
				}
				r.CQESeen(c)
			}
		}
	}
	// An SQ_AFF cpu that does not exist is refused.
	if _, err := New(4, WithSQPoll(0), WithSQThreadCPU(4096)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("SQ_AFF cpu 4096: %v, want EINVAL", err)
	}
}

func TestSetupIOPoll(t *testing.T) {
	r := newRing(t, 4, WithFlags(uapi.SetupIOPoll))
	f, _ := tempFile(t, []byte("buffered"))
	buf := make([]byte, 8)
	// io_uring_setup(2): IOPOLL needs O_DIRECT files on a polling-capable
	// device; a buffered file is refused with EOPNOTSUPP.
	rw(sqe(t, r), uapi.OpRead, int(f.Fd()), ptr(&buf[0]), 8, 0, 1)
	r.Keep(1, buf)
	if res := submitReap(t, r, 1); res[1].res != -int32(unix.EOPNOTSUPP) {
		t.Fatalf("buffered read on an IOPOLL ring: %d, want EOPNOTSUPP", res[1].res)
	}
	// HYBRID_IOPOLL needs IOPOLL.
	if _, err := New(4, WithFlags(uapi.SetupHybridIOPoll)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("HYBRID_IOPOLL alone: %v, want EINVAL", err)
	}
	h, err := New(4, WithFlags(uapi.SetupIOPoll|uapi.SetupHybridIOPoll))
	if err != nil {
		t.Skipf("needs hybrid_iopoll: IORING_SETUP_HYBRID_IOPOLL (Linux 6.13): %v", err)
	}
	defer h.Close()
	if h.Flags()&uapi.SetupHybridIOPoll == 0 {
		t.Fatal("hybrid flag lost")
	}
}

func TestSetupAttachWQ(t *testing.T) {
	a := newRing(t, 4)
	b := newRing(t, 4, WithAttachWQ(a.FD()))
	roundTrip(t, b, 4)
	// With SQPOLL the attached ring shares the poll thread: both submit.
	sa := newRing(t, 4, WithSQPoll(10*time.Millisecond))
	sb := newRing(t, 4, WithSQPoll(10*time.Millisecond), WithAttachWQ(sa.FD()))
	roundTrip(t, sa, 4)
	roundTrip(t, sb, 4)
	roundTrip(t, sa, 4)
	p := pipe(t)
	if _, err := New(4, WithAttachWQ(p[0])); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("ATTACH_WQ to a pipe: %v, want EINVAL", err)
	}
	// The kernel answers ENXIO (6.18) or EBADF for a closed wq_fd.
	if _, err := New(4, WithAttachWQ(1<<20)); !errors.Is(err, unix.ENXIO) && !errors.Is(err, unix.EBADF) {
		t.Fatalf("ATTACH_WQ to a closed fd: %v, want ENXIO or EBADF", err)
	}
}

func TestSetupRDisabled(t *testing.T) {
	r := newRing(t, 4, WithFlags(uapi.SetupRDisabled))
	nops(t, r, 1, 1)
	if _, err := r.Submit(); !errors.Is(err, unix.EBADFD) || !strings.HasPrefix(err.Error(), "io_uring_enter: ") {
		t.Fatalf("submit on a disabled ring: %v, want io_uring_enter: EBADFD", err)
	}
	if err := r.Enable(); err != nil {
		t.Fatal(err)
	}
	if err := r.Enable(); !errors.Is(err, unix.EBADFD) {
		t.Fatalf("enabling twice: %v, want EBADFD", err)
	}
	res := submitReap(t, r, 1)
	if res[1].res != 0 {
		t.Fatalf("NOP after enable: %+v", res)
	}
}

func TestSetupSubmitAll(t *testing.T) {
	for _, all := range []bool{false, true} {
		var opts []Option
		if all {
			opts = append(opts, WithFlags(uapi.SetupSubmitAll))
		}
		r := newRing(t, 4, opts...)
		nops(t, r, 1, 1)
		rw(sqe(t, r), uapi.Op(250), -1, nil, 0, 0, 2) // invalid opcode
		nops(t, r, 3, 1)
		n, err := r.Submit()
		if err != nil {
			t.Fatal(err)
		}
		// Without SUBMIT_ALL submission stops after the failing entry.
		want := 2
		if all {
			want = 3
		}
		if n != want || int(r.SQReady()) != 3-want {
			t.Fatalf("SUBMIT_ALL=%v: submitted %d (left %d), want %d", all, n, r.SQReady(), want)
		}
		res := map[uint64]result{}
		for _, c := range reap(t, r, want) {
			res[c.ud] = c
		}
		if res[2].res != -int32(unix.EINVAL) {
			t.Fatalf("invalid opcode: %+v", res)
		}
	}
}

func TestSetupTaskrunFlags(t *testing.T) {
	if _, err := New(4, WithFlags(uapi.SetupTaskrunFlag)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("TASKRUN_FLAG alone: %v, want EINVAL", err)
	}
	// DEFER_TASKRUN needs SINGLE_ISSUER.
	if _, err := New(4, WithFlags(uapi.SetupDeferTaskrun)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("DEFER_TASKRUN alone: %v, want EINVAL", err)
	}
	for _, f := range []uapi.SetupFlags{
		uapi.SetupCoopTaskrun | uapi.SetupTaskrunFlag,
		uapi.SetupSingleIssuer | uapi.SetupDeferTaskrun | uapi.SetupTaskrunFlag,
	} {
		t.Run(f.String(), func(t *testing.T) {
			r := newRing(t, 4, WithFlags(f))
			p := socketpair(t)
			buf := make([]byte, 4)
			rw(sqe(t, r), uapi.OpRead, p[0], ptr(&buf[0]), 4, 0, 1)
			r.Keep(1, buf)
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
			if _, err := unix.Write(p[1], []byte("abcd")); err != nil {
				t.Fatal(err)
			}
			// The completion waits as task work; the kernel flags it.
			deadline := time.Now().Add(5 * time.Second)
			for r.SQRingFlags()&uapi.SQTaskrun == 0 && r.CQReady() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("IORING_SQ_TASKRUN never set")
				}
				time.Sleep(time.Millisecond)
			}
			// PeekCQE sees the flag and flushes without sleeping.
			var c *uapi.CQE
			for c == nil {
				c, _ = r.PeekCQE()
				if time.Now().After(deadline) {
					t.Fatal("PeekCQE never returned the read")
				}
			}
			if c.UserData != 1 || c.Res != 4 || string(buf) != "abcd" {
				t.Fatalf("read %+v %q", *c, buf)
			}
			r.CQESeen(c)
		})
	}
}

func TestSetupSingleIssuer(t *testing.T) {
	r := newRing(t, 4, WithFlags(uapi.SetupSingleIssuer|uapi.SetupDeferTaskrun))
	roundTrip(t, r, 4)
	// Another thread may not submit: EEXIST.
	var wg sync.WaitGroup
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread() // surely not the thread New locked
		defer runtime.UnlockOSThread()
		nops(t, r, 1, 1)
		_, err = r.Submit()
	}()
	wg.Wait()
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("submit from another thread: %v, want EEXIST", err)
	}
	// The entry is still queued: the owner submits it.
	res := submitReap(t, r, 1)
	if res[1].res != 0 {
		t.Fatalf("%+v", res)
	}
	// DEFER_TASKRUN: completions appear only when the issuer waits. A
	// socket, not a pipe: Linux 6.1 hands pipe reads to io-wq, whose
	// completion may come after any sleep; a socket's comes from the
	// write's wake-up, as task work queued for the issuer.
	p := socketpair(t)
	buf := make([]byte, 1)
	rw(sqe(t, r), uapi.OpRead, p[0], ptr(&buf[0]), 1, 0, 2)
	r.Keep(2, buf)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	unix.Write(p[1], []byte("x"))
	time.Sleep(10 * time.Millisecond)
	if n := r.CQReady(); n != 0 {
		t.Fatalf("DEFER_TASKRUN posted %d CQEs without a wait", n)
	}
	if _, ok := r.PeekCQE(); ok {
		t.Fatal("PeekCQE found a DEFER_TASKRUN completion nobody waited for")
	}
	if err := r.GetEvents(); err != nil {
		t.Fatal(err)
	}
	if n := r.CQReady(); n != 1 {
		t.Fatalf("GetEvents flushed %d CQEs, want 1", n)
	}
	if got := reap(t, r, 1)[0]; got.ud != 2 || got.res != 1 {
		t.Fatalf("%+v", got)
	}
}

func TestSetupSQE128(t *testing.T) {
	r := newRing(t, 4, WithFlags(uapi.SetupSqe128))
	for round := range 3 {
		var prev uintptr
		for i := range 4 {
			s := r.SQE()
			s.Opcode = uapi.OpNop
			s.UserData = uint64(round*4 + i)
			cmd := s.Cmd(80)
			for j := range cmd {
				cmd[j] = 0xff // must stay inside this 128-byte slot
			}
			if i > 0 && uintptr(unsafe.Pointer(s))-prev != 128 {
				t.Fatalf("SQE stride %d, want 128", uintptr(unsafe.Pointer(s))-prev)
			}
			prev = uintptr(unsafe.Pointer(s))
		}
		res := submitReap(t, r, 4)
		for i := range 4 {
			if c := res[uint64(round*4+i)]; c.res != 0 {
				t.Fatalf("round %d NOP %d: %+v", round, i, c)
			}
		}
	}
	if r.SQE128() == nil {
		t.Fatal("SQE128 on an SQE128 ring returned nil")
	}
}

func TestSetupCQE32(t *testing.T) {
	r := newRing(t, 4, WithFlags(uapi.SetupCqe32))
	// 3 rounds through an 8-slot CQ: the 32-byte stride must hold.
	for round := range 3 {
		nops(t, r, uint64(round*4), 4)
		if _, err := r.SubmitAndWait(4); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			c, err := r.WaitCQE()
			if err != nil {
				t.Fatal(err)
			}
			if c.UserData != uint64(round*4+i) {
				t.Fatalf("CQE user data %d, want %d", c.UserData, round*4+i)
			}
			r.CQESeen(c)
		}
	}
	t.Run("nop_cqe32", func(t *testing.T) {
		s := sqe(t, r)
		rw(s, uapi.OpNop, -1, nil, 0, 100, 77)
		s.Addr = 200 // echoed in the second extra word
		s.SetNopFlags(uint32(uapi.NopCqe32))
		if _, err := r.SubmitAndWait(1); err != nil {
			t.Fatal(err)
		}
		c, _ := r.WaitCQE()
		defer r.CQESeen(c)
		if c.Res == -int32(unix.EINVAL) {
			t.Skipf("needs cqe_mixed: IORING_NOP_CQE32 (Linux 6.18) rejected")
		}
		if x := CQE32(c); c.UserData != 77 || x != [2]uint64{100, 200} {
			t.Fatalf("NOP CQE32: %+v extra %v, want extra [100 200]", *c, x)
		}
	})
}

func TestSetupCQEMixed(t *testing.T) {
	r, err := setupOK(t, uapi.SetupCQEMixed)
	if err != nil {
		t.Skipf("needs cqe_mixed: IORING_SETUP_CQE_MIXED (Linux 6.18): %v", err)
	}
	cqSlots := r.Params().CQEntries // 8
	big := func(ud uint64) {
		s := sqe(t, r)
		rw(s, uapi.OpNop, -1, nil, 0, ud, ud)
		s.Addr = ud * 2
		s.SetNopFlags(uint32(uapi.NopCqe32))
	}
	// Walk the CQ (5 slots a round, so every start position comes up) so
	// that 32-byte CQEs also land on the last slot: the kernel then posts an
	// IORING_CQE_F_SKIP filler there and the big CQE at slot 0.
	fillers := 0
	for pos := range 2 * cqSlots {
		before := *r.cq.khead
		nops(t, r, 1, 1)
		big(500 + uint64(pos))
		nops(t, r, 2, 2)
		if _, err := r.SubmitAndWait(4); err != nil {
			t.Fatal(err)
		}
		cqes := make([]*uapi.CQE, 8)
		n := r.PeekBatch(cqes)
		if n != 4 {
			t.Fatalf("pos %d: PeekBatch = %d, want 4 (filler skipped)", pos, n)
		}
		b := cqes[1]
		if b.UserData != 500+uint64(pos) || b.Flags&uapi.CQEF32 == 0 || CQE32(b) != [2]uint64{b.UserData, 2 * b.UserData} {
			t.Fatalf("pos %d: big CQE %+v %v", pos, *b, CQE32(b))
		}
		if cqes[0].UserData != 1 || cqes[2].UserData != 2 || cqes[3].UserData != 3 {
			t.Fatalf("pos %d: small CQEs %d %d %d", pos, cqes[0].UserData, cqes[2].UserData, cqes[3].UserData)
		}
		r.CQAdvance(uint32(n))
		if r.CQReady() != 0 {
			t.Fatalf("pos %d: %d slots left after advance", pos, r.CQReady())
		}
		switch used := *r.cq.khead - before; used {
		case 5:
		case 6:
			fillers++
		default:
			t.Fatalf("pos %d: round used %d slots, want 5 or 6", pos, used)
		}
	}
	if fillers == 0 {
		t.Fatal("no IORING_CQE_F_SKIP filler was ever posted")
	}
	// The same through WaitCQE/CQESeen, one big CQE at a time.
	fillers = 0
	for i := range 2 * cqSlots {
		if i%3 == 0 {
			roundTrip(t, r, 1) // shift the parity
		}
		before := *r.cq.khead
		big(600 + uint64(i))
		if _, err := r.SubmitAndWait(1); err != nil {
			t.Fatal(err)
		}
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatal(err)
		}
		if c.UserData != 600+uint64(i) || c.Flags&uapi.CQEF32 == 0 {
			t.Fatalf("big %d: %+v", i, *c)
		}
		r.CQESeen(c)
		if *r.cq.khead-before == 3 {
			fillers++
		}
	}
	if fillers == 0 {
		t.Fatal("WaitCQE never stepped over a filler")
	}
}

func TestSetupSQEMixed(t *testing.T) {
	r, err := setupOK(t, uapi.SetupSQEMixed)
	if err != nil {
		t.Skipf("needs sqe_mixed: IORING_SETUP_SQE_MIXED: %v", err)
	}
	if !probeOf(t, r).Supported(uapi.OpNop128) {
		t.Skip("needs nop128: IORING_OP_NOP128 not in the probe")
	}
	entries := r.Params().SQEntries // 4
	// Place a 128-byte NOP at every position, including the last slot,
	// where SQE128 must insert a skip NOP first.
	for pos := range entries {
		if pos > 0 {
			roundTrip(t, r, 1)
		}
		_ = pos
		s := r.SQE128()
		if s == nil {
			t.Fatalf("pos %d: SQE128 nil", pos)
		}
		s.Opcode = uapi.OpNop128
		s.UserData = 700 + uint64(pos)
		if _, err := r.SubmitAndWait(1); err != nil {
			t.Fatal(err)
		}
		got := reap(t, r, 1)[0]
		if got.ud != 700+uint64(pos) || got.res != 0 {
			t.Fatalf("pos %d: %+v (a skip NOP must not post a CQE)", pos, got)
		}
		if r.CQReady() != 0 {
			t.Fatalf("pos %d: extra CQEs", pos)
		}
	}
}

func TestSetupSQRewind(t *testing.T) {
	r, err := setupOK(t, uapi.SetupSQRewind|uapi.SetupNoSqarray)
	if err != nil {
		t.Skipf("needs sq_rewind: IORING_SETUP_SQ_REWIND: %v", err)
	}
	for round := range 5 {
		nops(t, r, uint64(round*10), 3)
		res := submitReap(t, r, 3)
		for i := range 3 {
			if res[uint64(round*10+i)].res != 0 {
				t.Fatalf("round %d: %v", round, res)
			}
		}
		if h, tl := *r.sq.khead, *r.sq.ktail; h != 0 || tl != 0 {
			t.Fatalf("SQ_REWIND head/tail %d/%d, want 0/0", h, tl)
		}
	}
}

func TestSetupNoMMap(t *testing.T) {
	feature.Need(t, "no_mmap", "IORING_SETUP_NO_MMAP (Linux 6.5)")
	t.Run("caller memory", func(t *testing.T) {
		size := MemorySize(64, 0, uapi.SetupNoSqarray)
		mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(mem)
		r := newRing(t, 64, WithMemory(mem))
		if r.Flags()&uapi.SetupNoMMap == 0 {
			t.Fatal("NO_MMAP not set")
		}
		// The SQEs the kernel reads are in mem: the first SQE handed out
		// is the one after the rings region.
		s := r.SQE()
		rings, _ := memoryLayout(64, 0, r.Flags())
		if uintptr(unsafe.Pointer(s)) != uintptr(unsafe.Pointer(&mem[rings])) {
			t.Fatal("SQE not in caller memory")
		}
		s.Opcode = uapi.OpNop
		s.UserData = 1
		reap(t, r, 0)
		submitReap(t, r, 1)
		for range 4 {
			roundTrip(t, r, 64)
		}
		// Too little memory is refused before setup.
		if _, err := New(64, WithMemory(mem[:os.Getpagesize()])); !errors.Is(err, unix.EINVAL) {
			t.Fatalf("short memory: %v", err)
		}
	})
	t.Run("ExampleWithMemory", func(t *testing.T) {
		mem, err := unix.Mmap(-1, 0, MemorySize(16, 0, 0), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(mem)
		r := newRing(t, 16, WithMemory(mem))
		if r.Params().SQEntries != 16 || r.Flags()&uapi.SetupNoMMap == 0 {
			t.Fatalf("%d entries, flags %v; want 16 with NO_MMAP", r.Params().SQEntries, r.Flags())
		}
	})
	t.Run("ring memory", func(t *testing.T) {
		// 64 entries: one page per region, which every kernel takes.
		r := newRing(t, 64, WithFlags(uapi.SetupNoMMap))
		for range 3 {
			roundTrip(t, r, 64)
		}
	})
	t.Run("transparent huge page", func(t *testing.T) {
		// Caller memory in one 2 MiB transparent huge page: multi-page
		// rings then sit in a single folio, which kernels before 6.13
		// require for NO_MMAP.
		const huge = 2 << 20
		raw, err := unix.Mmap(-1, 0, 2*huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(raw)
		off := (huge - int(uintptr(unsafe.Pointer(&raw[0]))%huge)) % huge
		mem := raw[off : off+huge]
		if err := unix.Madvise(mem, unix.MADV_HUGEPAGE); err != nil {
			t.Skipf("no transparent huge pages (madvise MADV_HUGEPAGE): %v", err)
		}
		for i := 0; i < len(mem); i += os.Getpagesize() {
			mem[i] = 1
		}
		if kb := anonHugeKB(t, uintptr(unsafe.Pointer(&mem[0]))); kb < 2048 {
			t.Skipf("the kernel backed the region with small pages (AnonHugePages %d kB; THP disabled or memory fragmented)", kb)
		}
		clear(mem)
		const entries = 4096 // rings of ~100 KiB and SQEs of 256 KiB: many pages each
		if MemorySize(entries, 0, 0) > huge {
			t.Fatalf("ring needs %d bytes, more than a huge page", MemorySize(entries, 0, 0))
		}
		r := newRing(t, entries, WithMemory(mem))
		for range 3 {
			roundTrip(t, r, entries)
		}
	})
	t.Run("huge pages", func(t *testing.T) {
		r, err := New(1024, WithHugePages(), WithFlags(uapi.SetupCqe32))
		if err != nil {
			// Kernels before 6.13 refuse multi-page regions that are
			// not one folio, i.e. when no huge page could be had.
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EFAULT) {
				t.Skipf("no huge page backing the ring memory, which this kernel needs for multi-page NO_MMAP rings: %v", err)
			}
			t.Fatal(err)
		}
		defer r.Close()
		addr := uintptr(unsafe.Pointer(&r.ringMem[0]))
		if kb := anonHugeKB(t, addr); kb < 2048 && !hugetlb(t, addr) {
			t.Skipf("neither hugetlb pages reserved nor a transparent huge page given (AnonHugePages %d kB)", kb)
		}
		for range 2 {
			roundTrip(t, r, 1024)
		}
	})
}

func TestSetupRegisteredFDOnly(t *testing.T) {
	feature.Need(t, "registered_fd_only", "IORING_SETUP_REGISTERED_FD_ONLY (Linux 6.5)")
	// REGISTERED_FD_ONLY needs NO_MMAP.
	if _, err := New(4, WithFlags(uapi.SetupRegisteredFDOnly)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("REGISTERED_FD_ONLY without NO_MMAP: %v, want EINVAL", err)
	}
	r := newRing(t, 8, WithFlags(uapi.SetupRegisteredFDOnly|uapi.SetupNoMMap))
	if r.FD() != -1 {
		t.Fatalf("FD() = %d, want -1", r.FD())
	}
	roundTrip(t, r, 8)
	if _, err := r.Probe(); err != nil {
		t.Fatalf("register through the index: %v", err)
	}
}

// anonHugeKB returns the AnonHugePages of the mapping holding addr, from
// /proc/self/smaps.
func anonHugeKB(t *testing.T, addr uintptr) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			var kb int
			fmt.Sscanf(strings.TrimPrefix(line, "AnonHugePages:"), "%d", &kb)
			return kb
		}
	}
	return 0
}

// hugetlb reports whether the mapping holding addr uses 2 MiB kernel pages.
func hugetlb(t *testing.T, addr uintptr) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "KernelPageSize:") {
			return strings.Contains(line, " 2048 kB")
		}
	}
	return false
}

// TestSQArrayDropped sends an SQ array entry with an index past the ring:
// the kernel drops it and counts it in sq_dropped.
func TestSQArrayDropped(t *testing.T) {
	r := newRing(t, 4, WithSQArray())
	if r.sq.array == nil {
		t.Fatal("WithSQArray ring without an SQ array")
	}
	nops(t, r, 1, 2)
	slot := r.sq.sqeTail & r.sq.mask // the next slot; fill it, then break its index
	nops(t, r, 3, 1)
	arr := unsafe.Slice(r.sq.array, r.sq.entries)
	arr[slot] = r.sq.entries + 5
	n, err := r.Submit()
	if err != nil {
		t.Fatal(err)
	}
	arr[slot] = slot
	if d := r.Dropped(); d != 1 {
		t.Fatalf("Dropped = %d after an invalid index, want 1 (submitted %d)", d, n)
	}
	got := reap(t, r, 2)
	if got[0].ud != 1 || got[1].ud != 2 {
		t.Fatalf("completions %+v, want the two valid NOPs", got)
	}
	// The ring goes on.
	roundTrip(t, r, 4)
}
