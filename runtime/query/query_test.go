package query_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/query"
)

// setup creates a ring with raw io_uring_setup(2), so the answers can be
// compared with what the kernel reports through its other interfaces.
func setup(t *testing.T, flags uapi.SetupFlags) (int, *uapi.Params, error) {
	t.Helper()
	p := &uapi.Params{Flags: flags}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, p, errno
	}
	t.Cleanup(func() { unix.Close(int(fd)) })
	return int(fd), p, nil
}

func probeLastOp(t *testing.T, fd int) uapi.Op {
	t.Helper()
	buf := make([]byte, uapi.SizeofProbe+256*uapi.SizeofProbeOp)
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(uapi.RegisterProbe),
		uintptr(unsafe.Pointer(&buf[0])), 256, 0, 0)
	if errno != 0 {
		t.Fatalf("probe: %v", errno)
	}
	return (*uapi.Probe)(unsafe.Pointer(&buf[0])).LastOp
}

func needQuery(t *testing.T) {
	t.Helper()
	if err := query.Available(); err != nil {
		t.Skipf("needs query: %v", err)
	}
}

func TestOpcodesMatchKernel(t *testing.T) {
	needQuery(t)
	fd, params, err := setup(t, 0)
	if err != nil {
		t.Fatalf("io_uring_setup: %v", err)
	}
	for _, ringFD := range []int{query.NoRing, fd} {
		info, err := query.All(ringFD)
		if err != nil {
			t.Fatalf("All(%d): %v", ringFD, err)
		}
		o := &info.Opcodes
		if !o.OK() {
			t.Fatalf("fd %d: opcodes not answered: size %d err %v", ringFD, o.Size, o.Err)
		}
		if o.Size != uapi.SizeofQueryOpcode && o.Size != int(unsafe.Offsetof(o.Value.NrQueryOpcodes)) {
			t.Errorf("fd %d: opcodes answer size %d, want %d (or the 6.18 size without nr_query_opcodes)", ringFD, o.Size, uapi.SizeofQueryOpcode)
		}
		end := unsafe.Offsetof(o.Value.NrQueryOpcodes) + unsafe.Sizeof(o.Value.NrQueryOpcodes)
		if o.Covers(end) != (o.Size >= int(end)) || o.Covers(uapi.SizeofQueryOpcode+1) {
			t.Errorf("fd %d: Covers disagrees with size %d", ringFD, o.Size)
		}
		if last := probeLastOp(t, fd); o.Value.NrRequestOpcodes != uint32(last)+1 {
			t.Errorf("fd %d: nr_request_opcodes %d, probe last_op %d", ringFD, o.Value.NrRequestOpcodes, last)
		}
		if uapi.FeatureFlags(o.Value.FeatureFlags) != params.Features {
			t.Errorf("fd %d: feature_flags %#x, io_uring_setup features %#x", ringFD, o.Value.FeatureFlags, params.Features)
		}
		t.Logf("fd %d: %d request ops, %d register ops, %d query ops, setup %#x enter %#x sqe %#x",
			ringFD, o.Value.NrRequestOpcodes, o.Value.NrRegisterOpcodes, o.Value.NrQueryOpcodes,
			o.Value.RingSetupFlags, o.Value.EnterFlags, o.Value.SQEFlags)
	}
}

// The setup flag mask must be exact: the lowest unreported bit is refused by
// io_uring_setup(2) with EINVAL.
func TestSetupFlagsMask(t *testing.T) {
	needQuery(t)
	info, err := query.All(query.NoRing)
	if err != nil {
		t.Fatal(err)
	}
	mask := info.Opcodes.Value.RingSetupFlags
	if mask == 0 || mask&(mask+1) != 0 {
		t.Fatalf("setup flags %#x: want a contiguous low mask", mask)
	}
	if _, _, err := setup(t, uapi.SetupFlags(mask+1)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("io_uring_setup with unreported flag %#x: %v, want EINVAL", mask+1, err)
	}
	// A reported flag that needs no privilege or special hardware works.
	if uapi.SetupFlags(mask)&uapi.SetupCqsize == 0 {
		t.Fatalf("setup flags %#x lack IORING_SETUP_CQSIZE", mask)
	}
}

// The enter flag mask must be exact too: io_uring_enter(2) refuses the
// lowest unreported bit.
func TestEnterFlagsMask(t *testing.T) {
	needQuery(t)
	info, err := query.All(query.NoRing)
	if err != nil {
		t.Fatal(err)
	}
	mask := info.Opcodes.Value.EnterFlags
	if mask&uint64(uapi.EnterGetevents) == 0 {
		t.Fatalf("enter flags %#x lack IORING_ENTER_GETEVENTS", mask)
	}
	fd, _, err := setup(t, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := (mask + 1) &^ mask
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), 0, 0, uintptr(bad), 0, 0)
	if errno != unix.EINVAL {
		t.Errorf("io_uring_enter with unreported flag %#x: %v, want EINVAL", bad, errno)
	}
	_, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), 0, 0, uintptr(uapi.EnterGetevents), 0, 0)
	if errno != 0 {
		t.Errorf("io_uring_enter GETEVENTS: %v", errno)
	}
}

// Every op of the pinned header is answered exactly when the kernel counts
// it, and unknown ops fail in their own entry without failing the chain.
func TestChainAllOps(t *testing.T) {
	needQuery(t)
	info, err := query.All(query.NoRing)
	if err != nil {
		t.Fatal(err)
	}
	answers := []struct {
		op   uapi.QueryOp
		size int
		want int
		err  error
	}{
		{uapi.QueryOpOpcodes, info.Opcodes.Size, uapi.SizeofQueryOpcode, info.Opcodes.Err},
		{uapi.QueryOpZCRX, info.ZCRX.Size, uapi.SizeofQueryZCRX, info.ZCRX.Err},
		{uapi.QueryOpSCQ, info.SCQ.Size, uapi.SizeofQuerySCQ, info.SCQ.Err},
		{uapi.QueryOpZCRXEvent, info.ZCRXEvent.Size, uapi.SizeofQueryZCRXEvent, info.ZCRXEvent.Err},
	}
	for _, a := range answers {
		if info.Supports(a.op) {
			if a.err != nil || a.size == 0 {
				t.Errorf("%s: kernel counts it but answered size %d err %v", a.op, a.size, a.err)
			}
			continue
		}
		if !errors.Is(a.err, unix.EOPNOTSUPP) || a.size != 0 {
			t.Errorf("%s: kernel does not count it but answered size %d err %v, want EOPNOTSUPP", a.op, a.size, a.err)
		}
	}
	// An op past the header's: EOPNOTSUPP in its entry; the neighbours are answered.
	var a, b uapi.QueryOpcode
	entries := []query.Entry{
		{Op: uapi.QueryOpOpcodes, Data: bytesOf(&a)},
		{Op: 200, Data: make([]byte, 64)},
		{Op: uapi.QueryOpOpcodes, Data: bytesOf(&b)},
	}
	if err := query.Run(query.NoRing, entries); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(entries[1].Err, unix.EOPNOTSUPP) {
		t.Errorf("op 200: %v, want EOPNOTSUPP", entries[1].Err)
	}
	if entries[0].Err != nil || entries[2].Err != nil || a != b || a.NrRequestOpcodes == 0 {
		t.Errorf("neighbours of an unknown op: %v %v, %+v vs %+v", entries[0].Err, entries[2].Err, a, b)
	}
}

// A caller with a smaller (older) struct gets exactly its size filled; a
// caller with a bigger (newer) one gets the tail zeroed and Size telling how
// much is real.
func TestSizeNegotiation(t *testing.T) {
	needQuery(t)
	full, err := query.All(query.NoRing)
	if err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 8)
	big := make([]byte, 4096)
	for i := range big {
		big[i] = 0xa5
	}
	entries := []query.Entry{{Op: uapi.QueryOpOpcodes, Data: small}, {Op: uapi.QueryOpOpcodes, Data: big}}
	if err := query.Run(query.NoRing, entries); err != nil {
		t.Fatal(err)
	}
	if entries[0].Size != 8 || entries[0].Err != nil {
		t.Fatalf("8-byte buffer: size %d err %v", entries[0].Size, entries[0].Err)
	}
	v := full.Opcodes.Value
	if got := *(*[2]uint32)(unsafe.Pointer(&small[0])); got != [2]uint32{v.NrRequestOpcodes, v.NrRegisterOpcodes} {
		t.Errorf("8-byte answer %v, want %d %d", got, v.NrRequestOpcodes, v.NrRegisterOpcodes)
	}
	if entries[1].Err != nil || entries[1].Size != full.Opcodes.Size {
		t.Fatalf("4096-byte buffer: size %d err %v, want size %d", entries[1].Size, entries[1].Err, full.Opcodes.Size)
	}
	// 0xa5 in the input must not survive: the kernel copied it in but the
	// answer is only the fields it knows; past Size everything is zero.
	for i, c := range big[entries[1].Size:] {
		if c != 0 {
			t.Fatalf("byte %d past the answer is %#x, want 0", entries[1].Size+i, c)
		}
	}
	if got := *(*uapi.QueryOpcode)(unsafe.Pointer(&big[0])); got != v {
		t.Errorf("big answer %+v, want %+v", got, v)
	}
	// An empty buffer is refused in its entry.
	e := []query.Entry{{Op: uapi.QueryOpOpcodes}}
	if err := query.Run(query.NoRing, e); err != nil || !errors.Is(e[0].Err, unix.EINVAL) {
		t.Errorf("empty buffer: call %v entry %v, want entry EINVAL", err, e[0].Err)
	}
}

// The SQ/CQ header the kernel reports is where the CQE array starts in a
// ring it sets up.
func TestSCQMatchesRingLayout(t *testing.T) {
	needQuery(t)
	info, err := query.All(query.NoRing)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Supports(uapi.QueryOpSCQ) {
		t.Skipf("needs query_scq: kernel has %d query ops, no IO_URING_QUERY_SCQ", info.Opcodes.Value.NrQueryOpcodes)
	}
	_, params, err := setup(t, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := info.SCQ.Value
	if s.HdrAlignment == 0 || s.HdrAlignment&(s.HdrAlignment-1) != 0 {
		t.Errorf("hdr_alignment %d is not a power of two", s.HdrAlignment)
	}
	if uint64(params.CQOff.CQEs) != s.HdrSize {
		t.Errorf("hdr_size %d, but the ring's cq_off.cqes is %d", s.HdrSize, params.CQOff.CQEs)
	}
}

func TestZCRXAnswers(t *testing.T) {
	needQuery(t)
	info, err := query.All(query.NoRing)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Supports(uapi.QueryOpZCRX) {
		t.Skipf("needs zcrx: kernel has %d query ops, no IO_URING_QUERY_ZCRX", info.Opcodes.Value.NrQueryOpcodes)
	}
	z := info.ZCRX.Value
	if z.RQHdrAlignment == 0 || z.RQHdrAlignment&(z.RQHdrAlignment-1) != 0 || z.RQHdrSize == 0 {
		t.Errorf("refill header size %d alignment %d", z.RQHdrSize, z.RQHdrAlignment)
	}
	if z.RegisterFlags&uint64(uapi.ZCRXRegImport) == 0 {
		t.Errorf("register_flags %#x lack ZCRX_REG_IMPORT", z.RegisterFlags)
	}
	t.Logf("zcrx: register %#x area %#x ctrl ops %d features %#x rq hdr %d/%d",
		z.RegisterFlags, z.AreaFlags, z.NrCtrlOpcodes, z.Features, z.RQHdrSize, z.RQHdrAlignment)
	if info.Supports(uapi.QueryOpZCRXEvent) {
		ev := info.ZCRXEvent.Value
		if ev.StatsOffAlignment == 0 || ev.StatsOffAlignment&(ev.StatsOffAlignment-1) != 0 {
			t.Errorf("zcrx event stats alignment %d", ev.StatsOffAlignment)
		}
		if ev.StatsSize != 0 && ev.StatsSize > uapi.SizeofZCRXStats {
			t.Logf("kernel zcrx_stats is %d bytes, header's %d (newer kernel)", ev.StatsSize, uapi.SizeofZCRXStats)
		}
	}
}

// A descriptor that is not a ring is refused by the call itself.
func TestNotARing(t *testing.T) {
	needQuery(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = query.All(int(f.Fd()))
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("query on /dev/null: %v, want EOPNOTSUPP", err)
	}
}

func bytesOf[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

func Example() {
	info, err := query.All(query.NoRing)
	if err != nil {
		fmt.Println("no query interface:", err)
		return
	}
	if info.Opcodes.OK() {
		fmt.Println("request opcodes known:", info.Opcodes.Value.NrRequestOpcodes > 0)
	}
	if !info.Supports(uapi.QueryOpZCRX) {
		fmt.Println("this kernel cannot describe zcrx")
	}
}

func BenchmarkAll(b *testing.B) {
	if err := query.Available(); err != nil {
		b.Skipf("needs query: %v", err)
	}
	for b.Loop() {
		if _, err := query.All(query.NoRing); err != nil {
			b.Fatal(err)
		}
	}
}
