// Package bpf builds and registers io_uring BPF filters
// (linux/io_uring/bpf_filter.h, IORING_REGISTER_BPF_FILTER).
//
// A filter is a classic BPF program attached to one request opcode. Before
// the kernel issues a request of that opcode it fills a struct
// io_uring_bpf_ctx (uapi.BPFCtx: user_data, opcode, SQE flags and, for
// sockets, opens and connects, the arguments) and runs every program attached
// to the opcode; if any returns 0 the request completes with -EACCES without
// taking effect. Programs stack: registering another filter for the same
// opcode adds to the set, it never replaces or loosens it.
//
// Filters attach to one ring (Register with the ring's fd) or to the calling
// task (Register with Task): task filters apply to every ring the task and its
// children create afterwards, are inherited across fork and exec, and cannot
// be removed, only extended. Registering task filters requires no_new_privs
// (unix.Prctl PR_SET_NO_NEW_PRIVS) or CAP_SYS_ADMIN. For the kernel a task is
// one thread, and a Go program runs on several: register task filters from a
// goroutine locked to its thread (runtime.LockOSThread) and create the rings
// and start the child processes from that goroutine; other threads of the
// process that existed before are not covered.
//
// Program is the builder; DenyOp, SocketInetOnly, OpenBeneath and
// ConnectPorts are ready-made policies.
package bpf

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/heap"
	"github.com/urgen/urgen/runtime/query"
)

// Task is the file descriptor that registers a filter for the calling task
// instead of one ring.
const Task = -1

// Flags are IO_URING_BPF_FILTER_* registration flags.
type Flags uint32

const (
	// DenyRest denies, at registration, every opcode that has no filter yet
	// (IO_URING_BPF_FILTER_DENY_REST): an allow-list.
	DenyRest Flags = uapi.BPFFilterDenyRest
	// SizeStrict fails the registration with EMSGSIZE unless the kernel's
	// context size for the opcode equals the filter's PDUSize
	// (IO_URING_BPF_FILTER_SZ_STRICT). Without it a filter that reads less
	// than the kernel provides is accepted; one that reads more never is.
	SizeStrict Flags = uapi.BPFFilterSzStrict
)

// Filter is one program for one opcode, ready to register.
type Filter struct {
	// Op is the request opcode the program runs for.
	Op uapi.Op
	// Program is the classic BPF program; it returns 0 to deny.
	Program []unix.SockFilter
	// PDUSize is the size of the opcode-specific part of io_uring_bpf_ctx
	// the program reads.
	PDUSize uint8
	// Flags are registration flags.
	Flags Flags
}

// New assembles p into a filter for op.
func New(op uapi.Op, p *Program, flags Flags) (Filter, error) {
	insns, err := p.Assemble()
	if err != nil {
		return Filter{}, fmt.Errorf("bpf filter for %s: %w", op, err)
	}
	return Filter{Op: op, Program: insns, PDUSize: p.PDUSize(), Flags: flags}, nil
}

// PDUSizeError reports that the kernel's context for an opcode has a
// different size than the filter expects. It wraps unix.EMSGSIZE.
type PDUSizeError struct {
	Op     uapi.Op
	Filter uint8 // the filter's PDUSize
	Kernel uint8 // the kernel's size for the opcode
}

// Error names the register op, the operation and both context sizes.
func (e *PDUSizeError) Error() string {
	return fmt.Sprintf("io_uring_register %s: %s: filter reads %d bytes of context, kernel provides %d: %v",
		uapi.RegisterBPFFilter, e.Op, e.Filter, e.Kernel, unix.EMSGSIZE)
}

// Unwrap returns unix.EMSGSIZE.
func (e *PDUSizeError) Unwrap() error { return unix.EMSGSIZE }

// Register attaches f to the ring with file descriptor fd, or to the calling
// task with Task. The kernel copies the program; f may be reused. On a
// kernel without per-task filters, Register with Task fails with an error
// that matches both ErrNoTask and the kernel's errno.
func Register(fd int, f Filter) error {
	return RegisterOn(func(op uapi.RegisterOp, arg unsafe.Pointer, nargs uint32) (int, error) {
		for {
			r, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(op), uintptr(arg), uintptr(nargs), 0, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				if fd == Task {
					return int(r), TaskError(op, f.Op.String(), errno)
				}
				return int(r), fmt.Errorf("io_uring_register %s: %s: %w", op, f.Op, errno)
			}
			return int(r), nil
		}
	}, f)
}

// ErrNoTask is matched (errors.Is) by the error of a per-task registration
// (Register with Task, ring.RestrictTask) on a kernel that has no per-task
// io_uring restrictions and filters. Such kernels refuse the ring-less call
// on fd -1 with different errnos, which the error wraps as well: EINVAL if
// the kernel does not know the register opcode or handles ring-less calls
// (6.13 and later), EBADF if it knows the opcode only for rings (6.12 and
// IORING_REGISTER_RESTRICTIONS).
var ErrNoTask = errors.New("kernel has no per-task io_uring restrictions or filters")

// TaskError is the error for a failed per-task registration of register
// opcode op (what names the request, may be empty) that failed with errno.
// If the kernel has no per-task support, it matches ErrNoTask and says
// why; it always matches errno.
func TaskError(op uapi.RegisterOp, what string, errno unix.Errno) error {
	prefix := fmt.Sprintf("io_uring_register %s for the task", op)
	if what != "" {
		prefix += ": " + what
	}
	// Only EINVAL and EBADF are how kernels without the feature refuse
	// fd -1; any other errno came from a kernel that looked at the call.
	if errno == unix.EINVAL || errno == unix.EBADF {
		// Per-task support came with the filters; asking the query beats
		// trying a task registration, which could not be undone.
		if why := Available(); why != nil {
			return fmt.Errorf("%s: %w (%v): %w", prefix, ErrNoTask, why, errno)
		}
	}
	return fmt.Errorf("%s: %w", prefix, errno)
}

// RegisterOn registers f through reg, an io_uring_register(2) call bound to
// a ring such as the method value ring.(*Ring).Register.
func RegisterOn(reg query.Registrar, f Filter) error {
	if len(f.Program) == 0 {
		return fmt.Errorf("io_uring_register %s: %s: empty program: %w", uapi.RegisterBPFFilter, f.Op, unix.EINVAL)
	}
	prog := unsafe.Pointer(&f.Program[0])
	heap.Escape(prog)
	arg := &uapi.BPF{CmdType: uapi.BPFCmdFilter}
	arg.Filter = uapi.BPFFilter{
		Opcode:    uint32(f.Op),
		Flags:     uint32(f.Flags),
		FilterLen: uint32(len(f.Program)),
		PDUSize:   f.PDUSize,
		FilterPtr: uint64(uintptr(prog)),
	}
	_, err := reg(uapi.RegisterBPFFilter, unsafe.Pointer(arg), 1)
	runtime.KeepAlive(f.Program)
	runtime.KeepAlive(arg)
	if errors.Is(err, unix.EMSGSIZE) {
		// The kernel wrote its own size back into the argument.
		return &PDUSizeError{Op: f.Op, Filter: f.PDUSize, Kernel: arg.Filter.PDUSize}
	}
	return err
}

// RegisterAll registers filters in order, stopping at the first error.
func RegisterAll(fd int, filters ...Filter) error {
	for _, f := range filters {
		if err := Register(fd, f); err != nil {
			return err
		}
	}
	return nil
}

// Available reports whether the running kernel has io_uring BPF filters: nil
// if it has, otherwise an error saying why not. It asks the query interface
// (registering a probe filter for the task could not be undone).
func Available() error {
	info, err := query.All(query.NoRing)
	if err != nil {
		return fmt.Errorf("no query interface, so no BPF filters: %w", err)
	}
	if !info.Opcodes.OK() {
		return fmt.Errorf("query opcodes: %w", info.Opcodes.Err)
	}
	if n := info.Opcodes.Value.NrRegisterOpcodes; n <= uint32(uapi.RegisterBPFFilter) {
		return fmt.Errorf("kernel knows %d register opcodes, IORING_REGISTER_BPF_FILTER is %d", n, uapi.RegisterBPFFilter)
	}
	return nil
}

// DenyOp returns a filter denying every request of opcode op.
func DenyOp(op uapi.Op) Filter {
	return must(New(op, NewProgram().Deny(), 0))
}

// SocketInetOnly returns a filter allowing IORING_OP_SOCKET only for the
// AF_INET and AF_INET6 domains.
func SocketInetOnly() Filter {
	p := NewProgram().
		Load(SocketFamily).
		Jump(Eq, unix.AF_INET, "allow", "").
		Jump(Eq, unix.AF_INET6, "allow", "").
		Deny().
		Label("allow").Allow()
	return must(New(uapi.OpSocket, p, 0))
}

// OpenBeneath returns filters for IORING_OP_OPENAT and IORING_OP_OPENAT2
// denying every open that does not resolve with RESOLVE_BENEATH. OPENAT has
// no resolve flags, so it is denied outright; OPENAT2 passes when its
// open_how.resolve has RESOLVE_BENEATH.
func OpenBeneath() []Filter {
	var out []Filter
	for _, op := range []uapi.Op{uapi.OpOpenat, uapi.OpOpenat2} {
		p := NewProgram().
			Load(OpenResolve.Low()).
			Jump(Set, unix.RESOLVE_BENEATH, "", "deny").
			Allow().
			Label("deny").Deny()
		out = append(out, must(New(op, p, 0)))
	}
	return out
}

// ConnectPorts returns a filter allowing IORING_OP_CONNECT only to AF_INET
// or AF_INET6 addresses with a port in [lo, hi]. Other families are denied,
// and so is an address too short to hold a port (the kernel fills fields
// only as far as addr_len reaches, leaving the port 0).
func ConnectPorts(lo, hi uint16) Filter {
	p := NewProgram().
		Load(ConnectFamily).
		Jump(Eq, unix.AF_INET, "port", "").
		Jump(Eq, unix.AF_INET6, "port", "deny").
		Label("port").
		Load(ConnectPort).
		Jump(Lt, uint32(lo), "deny", "").
		Jump(Gt, uint32(hi), "deny", "").
		Allow().
		Label("deny").Deny()
	return must(New(uapi.OpConnect, p, 0))
}

// must is for the fixed policies above, whose programs are known good; a
// failure is a bug in this package.
func must(f Filter, err error) Filter {
	if err != nil {
		panic(err)
	}
	return f
}
