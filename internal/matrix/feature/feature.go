// Package feature detects, by io_uring's own probe and query, the kernel
// features that the matrix knows by name: the names that tests use in skip
// messages of the form "needs <feature>: <reason>".
//
// The matrix runner uses it to learn the host kernel's features; the
// harness self-test uses it inside every VM to prove that the feature list
// of the kernel's kernels.txt row is what the kernel really has.
//
// It uses raw system calls and the generated UAPI types only, so it works
// before (and independently of) the runtime packages it helps to test.
package feature

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/generated/ublk"
	"github.com/urgen/urgen/internal/kernelversion"
	"golang.org/x/sys/unix"
)

// Names lists every feature the matrix knows, with how it is detected.
// Adding a feature is one more entry here and one more word in the
// kernels.txt rows of the kernels that have it.
var Names = []string{
	"io_uring",      // io_uring_setup works (not disabled, not compiled out)
	"query",         // IORING_REGISTER_QUERY answers IO_URING_QUERY_OPCODES
	"query_scq",     // the query answers IO_URING_QUERY_SCQ
	"zcrx",          // the query answers IO_URING_QUERY_ZCRX
	"zcrx_nodev",    // ... and its register_flags hold ZCRX_REG_NODEV
	"zcrx_add_area", // ... and its nr_ctrl_opcodes cover ZCRX_CTRL_ADD_AREA
	"zcrx_events",   // ... its features hold ZCRX_FEATURE_EVENT, its ctrl ops ZCRX_CTRL_ARM_EVENT, and the query answers IO_URING_QUERY_ZCRX_EVENT
	"bpf_filter",    // the query counts IORING_REGISTER_BPF_FILTER among the register opcodes
	"hybrid_iopoll", // IORING_SETUP_HYBRID_IOPOLL is a known setup flag (see setupFlag)
	"cqe_mixed",     // IORING_SETUP_CQE_MIXED is a known setup flag
	"sqe_mixed",     // IORING_SETUP_SQE_MIXED is a known setup flag
	"sq_rewind",     // IORING_SETUP_SQ_REWIND is a known setup flag
	"no_iowait",     // io_uring_setup reports IORING_FEAT_NO_IOWAIT
	"resize_rings",  // IORING_REGISTER_RESIZE_RINGS is a known register opcode (see registerOp)
	"reg_wait",      // IORING_REGISTER_MEM_REGION (which brought registered wait arguments) is known
	"nop128",        // the probe marks IORING_OP_NOP128 supported
	"uring_cmd128",  // the probe marks IORING_OP_URING_CMD128 supported
	// Found by setup, register or trial where neither probe nor query
	// tells, on kernels from Linux 6.1 on (see trials.go):
	"recvsend_bundle",    // io_uring_setup reports IORING_FEAT_RECVSEND_BUNDLE (Linux 6.10)
	"timeout_multishot",  // IORING_TIMEOUT_MULTISHOT is accepted (Linux 6.4)
	"cancel_op",          // IORING_ASYNC_CANCEL_OP is accepted (Linux 6.6)
	"pbuf_ring_mmap",     // IOU_PBUF_RING_MMAP buffer rings register (Linux 6.4)
	"pbuf_ring_inc",      // IOU_PBUF_RING_INC buffer rings register (Linux 6.12)
	"pbuf_status",        // IORING_REGISTER_PBUF_STATUS is a known register opcode (Linux 6.8)
	"bpf_filter_connect", // BPF filters on IORING_OP_CONNECT see its address (not on 7.0, 7.1)
	"no_mmap",            // IORING_SETUP_NO_MMAP rings set up in caller memory (Linux 6.5)
	"registered_fd_only", // IORING_SETUP_REGISTERED_FD_ONLY rings set up (Linux 6.5)
	"min_timeout",        // io_uring_setup reports IORING_FEAT_MIN_TIMEOUT (Linux 6.12)
	"abs_timer",          // io_uring_enter takes IORING_ENTER_ABS_TIMER (Linux 6.12)
	"nop_inject",         // a NOP with IORING_NOP_INJECT_RESULT completes with the result given (Linux 6.10)
	"clone_buffers",      // IORING_REGISTER_CLONE_BUFFERS is a known register opcode (Linux 6.12)
	"clone_buffer_range", // ... and clones part of a table: source and destination offsets (Linux 6.13)
	"register_clock",     // IORING_REGISTER_CLOCK is a known register opcode (Linux 6.12)
	"napi",               // IORING_REGISTER_NAPI is a known register opcode (Linux 6.9; a kernel without CONFIG_NET_RX_BUSY_POLL refuses it)
	"napi_static",        // ... and takes static NAPI tracking (Linux 6.13)
	"send_msg_ring",      // IORING_REGISTER_SEND_MSG_RING, io_uring_register without a ring (fd -1), is known (Linux 6.13)
	"unregister_tags",    // unregistering a tagged file table posts the tags' completions (Linux 6.13)
	// Networking, found by trial (see net.go):
	"ipv6",              // a TCP socket binds to [::1] (the loopback has IPv6)
	"send_vectorized",   // IORING_OP_SEND takes IORING_SEND_VECTORIZED
	"sock_cmd",          // socket uring_cmds exist: SOCKET_URING_OP_SIOCINQ works (Linux 6.7)
	"sock_tx_timestamp", // the socket uring_cmd SOCKET_URING_OP_TX_TIMESTAMP exists
	"sock_getsockname",  // the socket uring_cmd SOCKET_URING_OP_GETSOCKNAME exists
	// Scheduler, found by trial (see sched.go):
	"sched_slice", // a SCHED_OTHER thread's sched_runtime (its slice request) reads back
	// Block devices (see devices.go; in the matrix VMs from qemu's NVMe
	// controller and the modules /init loads):
	"nvme_passthrough", // an NVMe generic char device /dev/ngXnY answers Identify Controller passthrough
	"ublk",             // /dev/ublk-control opens (ublk_drv)
	// ublk data modes, by the driver's UBLK_U_CMD_GET_FEATURES:
	"ublk_user_copy",    // UBLK_F_USER_COPY (Linux 6.5)
	"ublk_zero_copy",    // UBLK_F_SUPPORT_ZERO_COPY (Linux 6.15: UBLK_U_IO_REGISTER_IO_BUF)
	"ublk_auto_buf_reg", // UBLK_F_AUTO_BUF_REG (Linux 6.16)
	"iopoll_device",     // a block device's queue polls (/sys/block/*/queue/io_poll is 1)
	"nvme_poll",         // nvme_passthrough on Linux 6.8 or later, whose passthrough polling cannot crash the kernel (see nvme.ErrPollUnsafe; by version: a trial could crash it)
	// Read/write attributes (Linux 6.16):
	"rw_attr",      // io_uring_setup reports IORING_FEAT_RW_ATTR (protection information on reads and writes)
	"write_stream", // block queues have the max_write_streams attribute (the SQE's write_stream)
	// Memory accounting, found by trial (see memlock.go):
	"rings_memlock", // without CAP_IPC_LOCK, ring memory is charged to RLIMIT_MEMLOCK (seen on 6.18, 7.0, 7.1; not 6.1, 6.12, 7.2, 7.3)
}

// Known reports whether name is one of Names.
func Known(name string) bool { return slices.Contains(Names, name) }

// Kernel is what Detect found out about the running kernel.
type Kernel struct {
	LastOp   uapi.Op  // the probe's last_op: highest opcode the kernel knows
	Features []string // the detected members of Names, in the order of Names
	// Unsupported are the opcodes up to LastOp that the probe does not
	// mark supported (compiled out, such as the futex ops without
	// CONFIG_FUTEX). The matrix kernels have none; the self-test checks.
	Unsupported []uapi.Op
}

// Has reports whether the feature was detected.
func (k Kernel) Has(name string) bool { return slices.Contains(k.Features, name) }

// SupportsOp reports whether the probe marks opcode op supported.
func (k Kernel) SupportsOp(op uapi.Op) bool {
	return op <= k.LastOp && !slices.Contains(k.Unsupported, op)
}

// Detect probes and queries the running kernel. It fails only if no ring
// can be set up or the probe fails; a kernel without the query interface
// lacks the features only the query reports (IO_URING_QUERY_*, register
// opcodes: all newer than the query itself), and its setup flags are
// found by trying them.
func Detect() (Kernel, error) {
	var k Kernel
	// The kernel reads and writes these structs after the syscall starts;
	// mmap'd memory is outside the Go heap and never moves.
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return k, fmt.Errorf("feature: mmap: %w", err)
	}
	defer unix.Munmap(mem)

	params := (*uapi.Params)(unsafe.Pointer(&mem[0]))
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(params)), 0)
	if errno != 0 {
		return k, fmt.Errorf("feature: io_uring_setup: %w", errno)
	}
	defer unix.Close(int(fd))
	k.Features = append(k.Features, "io_uring")
	ringFeatures := params.Features

	clear(mem)
	const maxOps = 256 // last_op is a __u8
	probe := (*uapi.Probe)(unsafe.Pointer(&mem[0]))
	if err := register(int(fd), uapi.RegisterProbe, unsafe.Pointer(probe), maxOps); err != nil {
		return k, err
	}
	k.LastOp = probe.LastOp
	ops := probe.Ops(int(probe.OpsLen))
	supported := func(op uapi.Op) bool { return int(op) < len(ops) && ops[op].Flags&uapi.OpSupported != 0 }
	for op := range k.LastOp + 1 {
		if !supported(op) {
			k.Unsupported = append(k.Unsupported, op)
		}
	}

	clear(mem)
	hdr := (*uapi.QueryHdr)(unsafe.Pointer(&mem[0]))
	opcodes := (*uapi.QueryOpcode)(unsafe.Pointer(&mem[512]))
	zcrx := (*uapi.QueryZCRX)(unsafe.Pointer(&mem[1024]))
	hasQuery := query(hdr, uapi.QueryOpOpcodes, unsafe.Pointer(opcodes), uapi.SizeofQueryOpcode) == nil
	hasZCRX := hasQuery && query(hdr, uapi.QueryOpZCRX, unsafe.Pointer(zcrx), uapi.SizeofQueryZCRX) == nil
	hasSCQ := hasQuery && query(hdr, uapi.QueryOpSCQ, unsafe.Pointer(&mem[1536]), uapi.SizeofQuerySCQ) == nil
	hasZCRXEvent := hasZCRX && query(hdr, uapi.QueryOpZCRXEvent, unsafe.Pointer(&mem[1792]), uapi.SizeofQueryZCRXEvent) == nil
	// registerOp reports whether the kernel knows a register opcode: by the
	// query, or without one by trying it (registerOpKnown).
	registerOp := func(op uapi.RegisterOp) bool {
		if hasQuery {
			return opcodes.NrRegisterOpcodes > uint32(op)
		}
		return registerOpKnown(op, registerNArgs(op))
	}
	// IORING_REGISTER_SEND_MSG_RING takes no ring, so registerOp's trial
	// on one does not apply.
	sendMsgRing := hasQuery && opcodes.NrRegisterOpcodes > uint32(uapi.RegisterSendMsgRing)
	if !hasQuery {
		sendMsgRing = blindRegisterOpKnown(uapi.RegisterSendMsgRing)
	}
	// setupFlag reports whether the kernel knows flag f: by the query, or
	// without one by whether a ring with f (and the flags it needs) sets up.
	setupFlag := func(f, needs uapi.SetupFlags) bool {
		if hasQuery {
			return uapi.SetupFlags(opcodes.RingSetupFlags)&f != 0
		}
		p := (*uapi.Params)(unsafe.Pointer(&mem[2048]))
		*p = uapi.Params{Flags: f | needs}
		fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(p)), 0)
		if errno == 0 {
			unix.Close(int(fd))
		}
		return errno == 0
	}
	has := map[string]bool{
		"query":         hasQuery,
		"query_scq":     hasSCQ,
		"zcrx":          hasZCRX,
		"zcrx_nodev":    hasZCRX && zcrx.RegisterFlags&uint64(uapi.ZCRXRegNodev) != 0,
		"zcrx_add_area": hasZCRX && zcrx.NrCtrlOpcodes > uint32(uapi.ZCRXCtrlOpAddArea),
		"zcrx_events": hasZCRXEvent && uapi.ZCRXFeatures(zcrx.Features)&uapi.ZCRXFeatureEvent != 0 &&
			zcrx.NrCtrlOpcodes > uint32(uapi.ZCRXCtrlOpArmEvent),
		"bpf_filter":    hasQuery && opcodes.NrRegisterOpcodes > uint32(uapi.RegisterBPFFilter),
		"hybrid_iopoll": setupFlag(uapi.SetupHybridIOPoll, uapi.SetupIOPoll),
		"cqe_mixed":     setupFlag(uapi.SetupCQEMixed, 0),
		"sqe_mixed":     setupFlag(uapi.SetupSQEMixed, 0),
		"sq_rewind":     setupFlag(uapi.SetupSQRewind, uapi.SetupNoSqarray),
		"no_iowait":     ringFeatures&uapi.FeatNoIowait != 0,
		"resize_rings":  registerOp(uapi.RegisterResizeRings),
		"reg_wait":      registerOp(uapi.RegisterMemRegion),
		"nop128":        supported(uapi.OpNop128),
		"uring_cmd128":  supported(uapi.OpUringCmd128),

		"recvsend_bundle":    ringFeatures&uapi.FeatRecvsendBundle != 0,
		"timeout_multishot":  hasTimeoutMultishot(),
		"cancel_op":          hasCancelOp(),
		"pbuf_ring_mmap":     hasPBufRingFlags(0),
		"pbuf_ring_inc":      hasPBufRingFlags(uapi.IouPBufRingInc),
		"pbuf_status":        registerOp(uapi.RegisterPBufStatus),
		"bpf_filter_connect": hasQuery && opcodes.NrRegisterOpcodes > uint32(uapi.RegisterBPFFilter) && hasBPFConnectContext(),
		"no_mmap":            hasCallerMemoryRing(0),
		"registered_fd_only": hasCallerMemoryRing(uapi.SetupRegisteredFDOnly),
		"min_timeout":        ringFeatures&uapi.FeatMinTimeout != 0,
		"abs_timer":          hasAbsTimer(int(fd)),
		"nop_inject":         hasNopInject(),
		"clone_buffers":      registerOp(uapi.RegisterCloneBuffers),
		"clone_buffer_range": hasCloneBufferRange(),
		"register_clock":     registerOp(uapi.RegisterClock),
		"napi":               registerOp(uapi.RegisterNAPI),
		"napi_static":        hasNAPIStatic(),
		"send_msg_ring":      sendMsgRing,
		"unregister_tags":    hasUnregisterTags(),
	}
	for name, ok := range netFeatures() {
		has[name] = ok
	}
	has["sched_slice"] = hasSchedSlice()
	has["nvme_passthrough"] = hasNVMePassthrough()
	var ublkFeats ublk.Flags
	has["ublk"], ublkFeats = ublkFeatures()
	has["ublk_user_copy"] = ublkFeats&ublk.FUserCopy != 0
	has["ublk_zero_copy"] = ublkFeats&ublk.FSupportZeroCopy != 0
	has["ublk_auto_buf_reg"] = ublkFeats&ublk.FAutoBufReg != 0
	has["iopoll_device"] = len(PollingBlockDevices()) > 0
	v, err := kernelversion.Current()
	has["nvme_poll"] = has["nvme_passthrough"] && err == nil && v.AtLeast(6, 8)
	has["rw_attr"] = ringFeatures&uapi.FeatRwAttr != 0
	has["write_stream"] = hasWriteStreams()
	has["rings_memlock"] = ringsChargedToMemlock()
	for _, name := range Names[1:] {
		if has[name] {
			k.Features = append(k.Features, name)
		}
	}
	return k, nil
}

// register calls io_uring_register(2).
func register(fd int, op uapi.RegisterOp, arg unsafe.Pointer, nargs uint32) error {
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(op), uintptr(arg), uintptr(nargs), 0, 0)
	if errno != 0 {
		return fmt.Errorf("feature: io_uring_register %v: %w", op, errno)
	}
	return nil
}

// query asks one IORING_REGISTER_QUERY question (no ring needed: fd -1,
// nr_args 0), with the answer going to data. An unknown query opcode fails
// the entry (hdr.result), not the call.
func query(hdr *uapi.QueryHdr, op uapi.QueryOp, data unsafe.Pointer, size uint32) error {
	*hdr = uapi.QueryHdr{QueryData: uint64(uintptr(data)), QueryOp: op, Size: size}
	if err := register(-1, uapi.RegisterQuery, unsafe.Pointer(hdr), 0); err != nil {
		return err
	}
	if hdr.Result < 0 {
		return fmt.Errorf("feature: query %v: %w", op, unix.Errno(-hdr.Result))
	}
	return nil
}

// registerNArgs is the nr_args a register opcode that takes one struct by
// pointer wants: 1, but 0 for IORING_REGISTER_CLOCK.
func registerNArgs(op uapi.RegisterOp) uintptr {
	if op == uapi.RegisterClock {
		return 0
	}
	return 1
}

// registerOpKnown tries a register opcode that takes one struct by pointer
// (IORING_REGISTER_RESIZE_RINGS, IORING_REGISTER_MEM_REGION ...) with
// nargs, pointing it at a PROT_NONE page, on a SINGLE_ISSUER|DEFER_TASKRUN
// ring (what resizing requires): a kernel that knows the opcode fails
// copying the argument (EFAULT), one that does not rejects the opcode
// (EINVAL). A NULL argument would not do: the kernel rejects it with
// EINVAL before the copy.
func registerOpKnown(op uapi.RegisterOp, nargs uintptr) bool {
	noAccess, err := unix.Mmap(-1, 0, 4096, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(noAccess)
	// SINGLE_ISSUER: only the thread that set the ring up may register.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := new(uapi.Params)
	p.Flags = uapi.SetupSingleIssuer | uapi.SetupDeferTaskrun
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return false
	}
	defer unix.Close(int(fd))
	_, _, errno = unix.Syscall6(unix.SYS_IO_URING_REGISTER, fd, uintptr(op), uintptr(unsafe.Pointer(&noAccess[0])), nargs, 0, 0)
	return errors.Is(errno, unix.EFAULT)
}

// blindRegisterOpKnown tries a register opcode that takes no ring
// (io_uring_register with fd -1, Linux 6.13), pointing it at a PROT_NONE
// page: a kernel that knows it fails copying the argument (EFAULT); an
// older one looks for a ring with fd -1 (EBADF).
func blindRegisterOpKnown(op uapi.RegisterOp) bool {
	noAccess, err := unix.Mmap(-1, 0, 4096, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(noAccess)
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, ^uintptr(0), uintptr(op), uintptr(unsafe.Pointer(&noAccess[0])), 1, 0, 0)
	return errors.Is(errno, unix.EFAULT)
}

var (
	detectOnce sync.Once
	detected   Kernel
)

// Has reports whether the running kernel has the named feature: by the
// matrix's list for it (URGEN_FEATURES: in a VM, the kernels.txt row that
// the self-test proves) when the matrix sets one, else by Detect (once
// per process). Tests use it for what neither a ring's probe nor its
// setup tells them.
func Has(name string) bool {
	if list, ok := os.LookupEnv("URGEN_FEATURES"); ok {
		return slices.Contains(strings.Split(list, ","), name)
	}
	detectOnce.Do(func() { detected, _ = Detect() })
	return detected.Has(name)
}

// Need skips the test, with the matrix's "needs <feature>: why" message,
// unless the running kernel has the feature (Has).
func Need(t testing.TB, name, why string) {
	t.Helper()
	if !Has(name) {
		t.Skipf("needs %s: %s", name, why)
	}
}
