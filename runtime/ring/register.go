package ring

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Register calls io_uring_register(2) on the ring: op with arg and nargs as
// the man page describes for that op. It honours a registered ring fd
// (IORING_REGISTER_USE_REGISTERED_RING) and retries EINTR. Errors name the
// op, e.g. "io_uring_register IORING_REGISTER_FILES: invalid argument", and
// wrap unix.Errno. The memory arg points to must stay valid during the call;
// Register keeps it alive until it returns.
func (r *Ring) Register(op uapi.RegisterOp, arg unsafe.Pointer, nargs uint32) (int, error) {
	if r.state != stateOpen {
		return 0, r.unusable("io_uring_register " + op.String())
	}
	fd := r.fd
	if r.regOp != 0 {
		fd = r.enterFD
	}
	return register(fd, op|r.regOp, arg, nargs)
}

// registerByIndex reports whether io_uring_register takes the ring's
// registered index (IORING_REGISTER_USE_REGISTERED_RING, Linux 6.3,
// IORING_FEAT_REG_REG_RING); before, only io_uring_enter does.
func (r *Ring) registerByIndex() bool { return r.params.Features&uapi.FeatRegRegRing != 0 }

// Enable starts a ring created with IORING_SETUP_R_DISABLED
// (IORING_REGISTER_ENABLE_RINGS). With SINGLE_ISSUER the calling thread
// becomes the submitter.
func (r *Ring) Enable() error {
	_, err := r.Register(uapi.RegisterEnableRings, nil, 0)
	return err
}

// RegisterRingFD registers the ring fd in the kernel's per-task table so
// io_uring_enter skips the fd lookup (IORING_REGISTER_RING_FDS, Linux 5.18).
// The table belongs to the calling OS thread, so RegisterRingFD locks the
// calling goroutine to its thread; use the ring only from this goroutine
// until UnregisterRingFD or Close, which unlock it.
func (r *Ring) RegisterRingFD() error {
	if err := r.unusable("RegisterRingFD"); err != nil {
		return err
	}
	if r.regIndex >= 0 {
		return fmt.Errorf("ring: ring fd already registered at %d: %w", r.regIndex, unix.EEXIST)
	}
	runtime.LockOSThread()
	up := uapi.RsrcUpdate{Offset: ^uint32(0), Data: uint64(r.fd)} // any free slot
	if _, err := register(r.fd, uapi.RegisterRingFDs, unsafe.Pointer(&up), 1); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	r.regLocked = true
	r.regIndex = int(up.Offset)
	r.enterFD = r.regIndex
	r.enterFlags |= uapi.EnterRegisteredRing
	if r.registerByIndex() {
		r.regOp = uapi.RegisterUseRegisteredRing
	}
	return nil
}

// UnregisterRingFD drops the registered ring fd and goes back to the plain
// fd. Without a registered fd (and after Close) it does nothing.
//
// Should the kernel refuse (the ring fd was closed or replaced underneath,
// on a kernel before 6.3, which finds the registration only through the
// fd), the registration, and the ring with it, live on in the thread's
// table: UnregisterRingFD then reports the error and leaves the goroutine
// locked to its thread, so that the thread ends with the goroutine and
// the kernel drops the registration.
func (r *Ring) UnregisterRingFD() error {
	if r.regIndex < 0 || r.state == stateZero {
		return nil
	}
	if r.fd < 0 {
		return fmt.Errorf("ring: a REGISTERED_FD_ONLY ring has no fd to go back to: %w", unix.EINVAL)
	}
	err := r.unregisterIndex(r.regIndex)
	r.regIndex = -1
	r.enterFD = r.fd
	r.enterFlags &^= uapi.EnterRegisteredRing
	r.regOp = 0
	if r.regLocked {
		r.regLocked = false
		if err == nil {
			runtime.UnlockOSThread()
		}
	}
	return err
}

func (r *Ring) unregisterIndex(idx int) error {
	up := uapi.RsrcUpdate{Offset: uint32(idx)}
	fd := r.fd
	op := uapi.UnregisterRingFDs
	if fd < 0 || r.registerByIndex() {
		// The kernel looks the ring up by its fd, or with the flag, by
		// index: which still finds the ring when its fd was closed or
		// replaced underneath (the registration would otherwise keep the
		// ring alive until the thread exits).
		fd, op = idx, op|uapi.RegisterUseRegisteredRing
	}
	_, err := register(fd, op, unsafe.Pointer(&up), 1)
	return err
}

// Probe lists the opcodes the running kernel supports
// (IORING_REGISTER_PROBE).
type Probe struct {
	last  uapi.Op
	flags [256]uint16
}

// Supported reports whether the kernel supports op.
func (p *Probe) Supported(op uapi.Op) bool {
	return op <= p.last && p.flags[op]&uapi.OpSupported != 0
}

// LastOp is the highest opcode the kernel knows.
func (p *Probe) LastOp() uapi.Op { return p.last }

// Probe asks the kernel which opcodes it supports.
func (r *Ring) Probe() (*Probe, error) {
	// struct io_uring_probe with room for all 256 opcodes.
	buf := make([]byte, uapi.SizeofProbe+256*uapi.SizeofProbeOp)
	hdr := (*uapi.Probe)(unsafe.Pointer(&buf[0]))
	if _, err := r.Register(uapi.RegisterProbe, unsafe.Pointer(hdr), 256); err != nil {
		return nil, err
	}
	p := &Probe{last: hdr.LastOp}
	for _, op := range hdr.Ops(int(hdr.OpsLen)) {
		p.flags[op.Op] = op.Flags
	}
	return p, nil
}

// KernelProbe probes the running kernel without a caller ring: it creates a
// minimal ring, probes it and closes it.
func KernelProbe() (*Probe, error) {
	r, err := New(1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Probe()
}
