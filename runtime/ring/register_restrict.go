package ring

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bpf"
)

// Restrictions are allow-lists of register opcodes, SQE opcodes and SQE
// flags (struct io_uring_restriction). Anything not listed is refused:
// a register call with EACCES, an SQE with a CQE whose result is -EACCES.

// AllowRegisterOp allows io_uring_register(2) opcode op
// (IORING_RESTRICTION_REGISTER_OP).
func AllowRegisterOp(op uapi.RegisterOp) uapi.Restriction {
	r := uapi.Restriction{Opcode: uint16(uapi.RestrictionRegisterOp)}
	r.RegisterOp = uint8(op)
	return r
}

// AllowOp allows SQE opcode op (IORING_RESTRICTION_SQE_OP).
func AllowOp(op uapi.Op) uapi.Restriction {
	r := uapi.Restriction{Opcode: uint16(uapi.RestrictionSQEOp)}
	r.SetSQEOp(uint8(op))
	return r
}

// AllowSQEFlags allows SQEs to carry the IOSQE_* flags in f
// (IORING_RESTRICTION_SQE_FLAGS_ALLOWED); without it no flag is allowed.
func AllowSQEFlags(f uapi.SQEFlags) uapi.Restriction {
	r := uapi.Restriction{Opcode: uint16(uapi.RestrictionSQEFlagsAllowed)}
	r.SetSQEFlags(uint8(f))
	return r
}

// RequireSQEFlags requires every SQE to carry the IOSQE_* flags in f
// (IORING_RESTRICTION_SQE_FLAGS_REQUIRED), e.g. IOSQE_FIXED_FILE so that
// requests reach only registered files.
func RequireSQEFlags(f uapi.SQEFlags) uapi.Restriction {
	r := uapi.Restriction{Opcode: uint16(uapi.RestrictionSQEFlagsRequired)}
	r.SetSQEFlags(uint8(f))
	return r
}

// RegisterRestrictions restricts the ring to res
// (IORING_REGISTER_RESTRICTIONS). The ring must have been created with
// IORING_SETUP_R_DISABLED and not yet enabled (else EBADFD); restrictions
// are registered once (else EBUSY) and take effect at Enable, after which
// they cannot be lifted. Register anything else the ring needs (files,
// buffers) before Enable or allow its register opcode.
func (r *Ring) RegisterRestrictions(res ...uapi.Restriction) error {
	if len(res) == 0 {
		return noArgs("RegisterRestrictions", "no restrictions")
	}
	_, err := r.Register(uapi.RegisterRestrictions, unsafe.Pointer(unsafe.SliceData(res)), uint32(len(res)))
	runtime.KeepAlive(res)
	return err
}

// RestrictTask restricts every ring the calling task creates from now on,
// and those of its children, to res (IORING_REGISTER_RESTRICTIONS on fd -1
// with struct io_uring_task_restriction). The restrictions are inherited
// across fork and exec and cannot be replaced or lifted: a second call fails
// with EPERM; a task may only add BPF filters (bpf.Register(bpf.Task, ...)),
// which narrow further. Like seccomp it needs no_new_privs
// (unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) or CAP_SYS_ADMIN,
// otherwise EACCES.
//
// The task is the calling OS thread: call it from the main goroutine before
// starting others, or lock the goroutine to its thread (runtime.LockOSThread)
// and create rings and children from there. Threads created by the Go
// runtime later are clones of some existing thread and inherit what that
// thread had. On kernels without task restrictions (6.18 and older) the
// error matches bpf.ErrNoTask and the kernel's errno (EINVAL since 6.13,
// EBADF before: those kernels take fd -1 for a bad ring descriptor).
func RestrictTask(res ...uapi.Restriction) error {
	if len(res) > int(^uint16(0)) {
		return fmt.Errorf("io_uring_register %s: %d restrictions: %w", uapi.RegisterRestrictions, len(res), unix.EINVAL)
	}
	buf := make([]byte, uapi.SizeofTaskRestriction+len(res)*uapi.SizeofRestriction)
	tr := (*uapi.TaskRestriction)(unsafe.Pointer(&buf[0]))
	tr.NrRes = uint16(len(res))
	copy(tr.Restrictions(len(res)), res)
	_, err := register(bpf.Task, uapi.RegisterRestrictions, unsafe.Pointer(tr), 1)
	runtime.KeepAlive(buf)
	var errno unix.Errno
	if errors.As(err, &errno) {
		return bpf.TaskError(uapi.RegisterRestrictions, fmt.Sprintf("%d restrictions", len(res)), errno)
	}
	return err
}
