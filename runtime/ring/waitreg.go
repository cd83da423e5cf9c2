package ring

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// RegisterWaitRegion registers mem as the ring's region of wait arguments
// (IORING_REGISTER_MEM_REGION with IORING_MEM_REGION_REG_WAIT_ARG, Linux
// 6.13) and returns it as a slice of uapi.RegWait slots. The kernel accepts
// it only while the ring is still disabled (IORING_SETUP_R_DISABLED; call
// Enable afterwards). mem must be page aligned (e.g. from unix.Mmap) and
// stay mapped until Close. Fill a slot, then wait with WaitRegistered: the
// kernel reads the timeout and flags from the slot, with no copy per wait.
func (r *Ring) RegisterWaitRegion(mem []byte) ([]uapi.RegWait, error) {
	if len(mem) == 0 || uintptr(unsafe.Pointer(&mem[0]))%uintptr(os.Getpagesize()) != 0 || len(mem)%os.Getpagesize() != 0 {
		return nil, fmt.Errorf("ring: wait region must be whole pages, page aligned: %w", unix.EINVAL)
	}
	desc := &uapi.RegionDesc{
		UserAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
		Size:     uint64(len(mem)),
		Flags:    uapi.MemRegionTypeUser,
	}
	reg := &uapi.MemRegionReg{
		RegionUPtr: uint64(uintptr(unsafe.Pointer(desc))),
		Flags:      uapi.MemRegionRegWaitArg,
	}
	if _, err := r.Register(uapi.RegisterMemRegion, unsafe.Pointer(reg), 1); err != nil {
		return nil, err
	}
	r.waitRegion = mem
	return unsafe.Slice((*uapi.RegWait)(unsafe.Pointer(&mem[0])), len(mem)/uapi.SizeofRegWait), nil
}

// WaitRegistered waits for n completions like WaitCQEs, taking its
// arguments from slot i of the registered wait region
// (IORING_ENTER_EXT_ARG_REG). Set the slot's Flags to uapi.RegWaitTs for
// its timeout to count. It returns the first completion without consuming
// it; an expired timeout wraps unix.ETIME.
func (r *Ring) WaitRegistered(n uint32, i int) (*uapi.CQE, error) {
	if err := r.unusable("WaitRegistered"); err != nil {
		return nil, err
	}
	if i < 0 || (i+1)*uapi.SizeofRegWait > len(r.waitRegion) {
		return nil, fmt.Errorf("ring: wait slot %d outside the registered region: %w", i, unix.EINVAL)
	}
	for {
		if r.CQReady() >= n {
			if c := r.peek(); c != nil {
				return c, nil
			}
		}
		flags := r.enterFlags | uapi.EnterGetevents | uapi.EnterExtArg | uapi.EnterExtArgReg
		// The argument is the slot's byte offset in the region.
		_, errno := enterBlocking(r.enterFD, 0, n, flags, uintptr(i*uapi.SizeofRegWait), uapi.SizeofRegWait)
		switch errno {
		case 0, unix.EINTR:
			if c := r.peek(); c != nil && (errno == 0 || r.CQReady() >= n) {
				return c, nil
			}
		default:
			return nil, enterError(errno)
		}
	}
}
