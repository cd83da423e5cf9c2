package ring

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Resize changes the sizes of the submission and completion queues of a live
// ring (IORING_REGISTER_RESIZE_RINGS, Linux 6.13); cqEntries 0 keeps the
// default of twice sqEntries. The kernel moves pending SQEs and unreaped
// CQEs into the new rings, which are then mapped in place of the old ones;
// CQEs returned before Resize are invalid after it. The kernel supports it
// for DEFER_TASKRUN rings only, and this package for rings it maps itself
// (not WithMemory or REGISTERED_FD_ONLY rings).
//
// When the kernel refuses, the ring is unchanged. Once it has agreed, the
// old rings are gone; if mapping the new ones then fails (ENOMEM, a low
// RLIMIT_AS), the ring is unusable: Resize and every later call return
// that failure, and Close releases what is left.
func (r *Ring) Resize(sqEntries, cqEntries uint32) error {
	if err := r.unusable("Resize"); err != nil {
		return err
	}
	if r.flags&uapi.SetupNoMMap != 0 {
		return fmt.Errorf("ring: Resize of a NO_MMAP ring: %w", unix.EOPNOTSUPP)
	}
	p := &uapi.Params{SQEntries: sqEntries}
	if cqEntries != 0 {
		p.CQEntries = cqEntries
		p.Flags |= uapi.SetupCqsize
	}
	// Publish everything handed out, so the kernel copies it across.
	atomic.StoreUint32(r.sq.ktail, r.sq.sqeTail)
	if _, err := r.Register(uapi.RegisterResizeRings, unsafe.Pointer(p), 1); err != nil {
		return err
	}
	old := [][]byte{r.ringMem, r.cqMem, r.sqeMem}
	r.ringMem, r.cqMem, r.sqeMem = nil, nil, nil
	np := r.params
	np.SQEntries, np.CQEntries = p.SQEntries, p.CQEntries
	np.SQOff, np.CQOff = p.SQOff, p.CQOff
	r.params = np
	mapErr := r.mapRings()
	if mapErr != nil {
		// What did get mapped goes too: nothing may point into the rings.
		r.detach()
		old = append(old, r.ringMem, r.cqMem, r.sqeMem)
		r.ringMem, r.cqMem, r.sqeMem = nil, nil, nil
		r.state = stateBroken
		r.brokenErr = fmt.Errorf("the kernel resized the rings to %d/%d entries but mapping them failed, so the ring is unusable (close it): %w",
			p.SQEntries, p.CQEntries, mapErr)
	}
	for _, m := range old {
		if m != nil {
			if err := unix.Munmap(m); err != nil && mapErr == nil {
				mapErr = &os.SyscallError{Syscall: "munmap", Err: err}
			}
		}
	}
	if r.state == stateBroken {
		return r.unusable("Resize")
	}
	return mapErr
}
