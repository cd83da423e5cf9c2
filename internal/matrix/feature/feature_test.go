package feature

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
	"golang.org/x/sys/unix"
)

func TestDetect(t *testing.T) {
	k, err := Detect()
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	t.Logf("last_op %v, features %v", k.LastOp, k.Features)
	if len(k.Features) == 0 || k.Features[0] != "io_uring" {
		t.Errorf("features %v do not start with io_uring", k.Features)
	}
	last := -1
	for _, f := range k.Features {
		i := slices.Index(Names, f)
		if i <= last {
			t.Errorf("feature %q unknown or out of the order of Names", f)
		}
		last = i
	}
	// The probe's last_op and its per-opcode flags come from the same answer.
	if k.Has("uring_cmd128") != (k.LastOp >= uapi.OpUringCmd128) {
		t.Errorf("uring_cmd128 detected %v, but last_op is %d", k.Has("uring_cmd128"), k.LastOp)
	}
	// SupportsOp against a ring's own probe, through a NOP: always there.
	if !k.SupportsOp(uapi.OpNop) || k.SupportsOp(k.LastOp+1) {
		t.Errorf("SupportsOp: NOP %v, last_op+1 (%d) %v", k.SupportsOp(uapi.OpNop), k.LastOp+1, k.SupportsOp(k.LastOp+1))
	}
	if len(k.Unsupported) > 0 {
		t.Logf("opcodes up to last_op the probe does not support: %v", k.Unsupported)
	}
}

// TestTrialsMatchQuery checks the trials Detect falls back on where there
// is no query (kernels before 6.18) against the query's own answer, on a
// kernel that has both: each trial must agree with the query, whichever
// way.
func TestTrialsMatchQuery(t *testing.T) {
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	hdr := (*uapi.QueryHdr)(unsafe.Pointer(&mem[0]))
	opcodes := (*uapi.QueryOpcode)(unsafe.Pointer(&mem[512]))
	if err := query(hdr, uapi.QueryOpOpcodes, unsafe.Pointer(opcodes), uapi.SizeofQueryOpcode); err != nil {
		t.Skipf("needs query: nothing to check the trials against: %v", err)
	}
	for _, op := range []uapi.RegisterOp{uapi.RegisterResizeRings, uapi.RegisterMemRegion, uapi.RegisterPBufStatus, uapi.RegisterCloneBuffers, uapi.RegisterClock, uapi.RegisterNAPI} {
		if got, want := registerOpKnown(op, registerNArgs(op)), opcodes.NrRegisterOpcodes > uint32(op); got != want {
			t.Errorf("trial says %v known %v; the query (%d register opcodes) says %v",
				op, got, opcodes.NrRegisterOpcodes, want)
		}
	}
	if got, want := blindRegisterOpKnown(uapi.RegisterSendMsgRing), opcodes.NrRegisterOpcodes > uint32(uapi.RegisterSendMsgRing); got != want {
		t.Errorf("trial without a ring says IORING_REGISTER_SEND_MSG_RING known %v; the query says %v", got, want)
	}
}
