package ring

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
)

// suiteOpts are added to every ring newRing creates: TestRingKinds reruns
// the operation tests on rings of other kinds.
var suiteOpts []Option

func newRing(t testing.TB, entries uint32, opts ...Option) *Ring {
	t.Helper()
	r, err := New(entries, append(opts[:len(opts):len(opts)], suiteOpts...)...)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			t.Skipf("needs io_uring: %v", err)
		}
		t.Fatalf("New(%d): %v", entries, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func TestNopRoundTrip(t *testing.T) {
	r := newRing(t, 8)
	p := r.Params()
	if p.SQEntries != 8 || p.CQEntries != 16 {
		t.Fatalf("entries sq=%d cq=%d, want 8/16", p.SQEntries, p.CQEntries)
	}
	for i := range 8 {
		s := r.SQE()
		if s == nil {
			t.Fatalf("SQE %d: nil on a ring with 8 entries", i)
		}
		s.Opcode = uapi.OpNop
		s.UserData = uint64(100 + i)
	}
	if s := r.SQE(); s != nil {
		t.Fatal("SQE on a full ring returned an entry")
	}
	n, err := r.SubmitAndWait(8)
	if err != nil || n != 8 {
		t.Fatalf("SubmitAndWait = %d, %v; want 8", n, err)
	}
	if got := r.CQReady(); got != 8 {
		t.Fatalf("CQReady = %d, want 8", got)
	}
	for i := range 8 {
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatal(err)
		}
		if c.UserData != uint64(100+i) || c.Res != 0 {
			t.Fatalf("CQE %d = {%d %d}, want {%d 0}", i, c.UserData, c.Res, 100+i)
		}
		r.CQESeen(c)
	}
	if _, ok := r.PeekCQE(); ok {
		t.Fatal("PeekCQE on an empty CQ returned a CQE")
	}
}

func TestPeekBatchAndAdvance(t *testing.T) {
	r := newRing(t, 32)
	seen := map[uint64]bool{}
	for round := range 5 {
		for i := range 32 {
			s := sqe(t, r)
			s.Opcode = uapi.OpNop
			s.UserData = uint64(round*32 + i)
		}
		if _, err := r.SubmitAndWait(32); err != nil {
			t.Fatal(err)
		}
		cqes := make([]*uapi.CQE, 64)
		n := r.PeekBatch(cqes)
		if n != 32 {
			t.Fatalf("round %d: PeekBatch = %d, want 32", round, n)
		}
		for _, c := range cqes[:n] {
			if seen[c.UserData] {
				t.Fatalf("user data %d twice", c.UserData)
			}
			seen[c.UserData] = true
		}
		r.CQAdvance(uint32(n))
		if r.CQReady() != 0 {
			t.Fatalf("CQReady after advance = %d", r.CQReady())
		}
	}
	if len(seen) != 160 {
		t.Fatalf("saw %d completions, want 160", len(seen))
	}
}

func TestNopInjectedResult(t *testing.T) {
	r := newRing(t, 4)
	s := r.SQE()
	s.Opcode = uapi.OpNop
	s.SetNopFlags(uint32(uapi.NopInjectResult))
	res := -int32(unix.EBADMSG)
	s.Len = uint32(res)
	s.UserData = 7
	if _, err := r.SubmitAndWait(1); err != nil {
		t.Fatal(err)
	}
	c, err := r.WaitCQE()
	if err != nil {
		t.Fatal(err)
	}
	defer r.CQESeen(c)
	// Kernels without IORING_NOP_INJECT_RESULT (Linux 6.10) ignore the
	// flag and return 0, or refuse it (EINVAL).
	if c.Res == 0 || c.Res == -int32(unix.EINVAL) {
		t.Skipf("needs nop_inject: IORING_NOP_INJECT_RESULT gave %d", c.Res)
	}
	if c.Res != -int32(unix.EBADMSG) {
		t.Fatalf("res = %d, want %d", c.Res, -int32(unix.EBADMSG))
	}
}

func TestRegisterErrorNamesOp(t *testing.T) {
	r := newRing(t, 4)
	// A descriptor that is not open: io_uring_register(2) fails with EBADF.
	fds := []int32{1 << 20}
	_, err := r.Register(uapi.RegisterFiles, unsafe.Pointer(&fds[0]), 1)
	if err == nil {
		t.Fatal("IORING_REGISTER_FILES with a closed fd succeeded")
	}
	if !errors.Is(err, unix.EBADF) {
		t.Fatalf("err = %v, want EBADF", err)
	}
	if want := "io_uring_register IORING_REGISTER_FILES: bad file descriptor"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	// An op number the kernel does not know.
	_, err = r.Register(uapi.RegisterLast+20, nil, 0)
	if !errors.Is(err, unix.EINVAL) || !strings.HasPrefix(err.Error(), "io_uring_register RegisterOp(58): ") {
		t.Fatalf("unknown op: err = %v, want EINVAL naming RegisterOp(58)", err)
	}
}

func TestSetupErrorWraps(t *testing.T) {
	// 0 entries is rejected with EINVAL by io_uring_setup(2).
	_, err := New(0)
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("New(0) = %v, want EINVAL", err)
	}
	if !strings.HasPrefix(err.Error(), "io_uring_setup") {
		t.Fatalf("error %q does not name io_uring_setup", err)
	}
}

func TestProbe(t *testing.T) {
	r := newRing(t, 4)
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	if !p.Supported(uapi.OpNop) || !p.Supported(uapi.OpReadv) {
		t.Fatalf("probe says NOP/READV unsupported (last op %v)", p.LastOp())
	}
	if p.LastOp() < uapi.OpRead {
		t.Fatalf("last op %d", p.LastOp())
	}
	if p.Supported(uapi.Op(255)) {
		t.Fatal("op 255 reported supported")
	}
	kp, err := KernelProbe()
	if err != nil {
		t.Fatal(err)
	}
	if kp.LastOp() != p.LastOp() {
		t.Fatalf("KernelProbe last op %v != ring probe %v", kp.LastOp(), p.LastOp())
	}
	// Truth: an op the probe calls unsupported must fail with EINVAL, one
	// it supports must not (NOP at LastOp+1 is checked below).
	if p.LastOp() < 254 {
		s := r.SQE()
		s.Opcode = p.LastOp() + 1
		s.UserData = 1
		if _, err := r.SubmitAndWait(1); err != nil {
			t.Fatal(err)
		}
		c, _ := r.WaitCQE()
		if c.Res != -int32(unix.EINVAL) {
			t.Fatalf("op %d past last_op: res %d, want EINVAL", p.LastOp()+1, c.Res)
		}
		r.CQESeen(c)
	}
	t.Logf("kernel last op %v (%d)", p.LastOp(), p.LastOp())
}

func TestRegisteredRingFD(t *testing.T) {
	r := newRing(t, 4)
	// Registered ring fds are Linux 5.18: every supported kernel has them.
	if err := r.RegisterRingFD(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s := r.SQE()
		s.Opcode = uapi.OpNop
		s.UserData = uint64(i)
		if _, err := r.SubmitAndWait(1); err != nil {
			t.Fatal(err)
		}
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatal(err)
		}
		r.CQESeen(c)
	}
	// Register through the registered index too.
	if _, err := r.Probe(); err != nil {
		t.Fatalf("probe through registered ring: %v", err)
	}
	if err := r.UnregisterRingFD(); err != nil {
		t.Fatal(err)
	}
	s := r.SQE()
	s.Opcode = uapi.OpNop
	if _, err := r.SubmitAndWait(1); err != nil {
		t.Fatal(err)
	}
	c, _ := r.WaitCQE()
	r.CQESeen(c)
}

// TestRingKinds runs the operation tests again on rings created with
// SQPOLL, DEFER_TASKRUN+SINGLE_ISSUER, NO_MMAP, and with big SQEs and CQEs.
func TestRingKinds(t *testing.T) {
	kinds := []struct {
		name    string
		opts    []Option
		feature string // a feature the kind needs (all have Linux 6.1's)
	}{
		{"sqpoll", []Option{WithSQPoll(50 * time.Millisecond)}, ""},
		{"defer_taskrun", []Option{WithFlags(uapi.SetupSingleIssuer | uapi.SetupDeferTaskrun)}, ""},
		{"no_mmap", []Option{WithFlags(uapi.SetupNoMMap)}, "no_mmap"},
		{"sqe128_cqe32_sqarray", []Option{WithFlags(uapi.SetupSqe128 | uapi.SetupCqe32), WithSQArray()}, ""},
		{"coop_taskrun_registered", []Option{WithFlags(uapi.SetupCoopTaskrun | uapi.SetupTaskrunFlag), WithRegisteredRing()}, ""},
	}
	tests := []struct {
		name string
		f    func(*testing.T)
	}{
		{"NopRoundTrip", TestNopRoundTrip},
		{"PeekBatchAndAdvance", TestPeekBatchAndAdvance},
		{"ReadWrite", TestReadWrite},
		{"ReadvWritev", TestReadvWritev},
		{"FixedBuffers", TestFixedBuffers},
		{"Fsync", TestFsync},
		{"OpenStatCloseUnlink", TestOpenStatCloseUnlink},
		{"SpliceTee", TestSpliceTee},
		{"Timeouts", TestTimeouts},
		{"MultishotTimeout", TestMultishotTimeout},
		{"LinkTimeout", TestLinkTimeout},
		{"LinksAndDrain", TestLinksAndDrain},
		{"CancelByEveryKey", TestCancelByEveryKey},
		{"MultishotPoll", TestMultishotPoll},
		{"MsgRing", TestMsgRing},
		{"CQOverflowLosesNothing", TestCQOverflowLosesNothing},
		{"KeepUnderGCPressure", TestKeepUnderGCPressure},
		{"WaitTimeout", TestWaitTimeout},
	}
	defer func() { suiteOpts = nil }()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if k.feature != "" {
				feature.Need(t, k.feature, k.name+" rings")
			}
			suiteOpts = k.opts
			for _, tc := range tests {
				t.Run(tc.name, tc.f)
			}
		})
	}
}
