package ring

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/heap"
	"github.com/urgen/urgen/runtime/bpf"
	"github.com/urgen/urgen/runtime/query"
)

// RegisterEventfd makes the kernel signal eventfd efd whenever it posts a
// completion to this ring (IORING_REGISTER_EVENTFD).
func (r *Ring) RegisterEventfd(efd int) error {
	fd := int32(efd)
	_, err := r.Register(uapi.RegisterEventfd, unsafe.Pointer(&fd), 1)
	return err
}

// RegisterEventfdAsync is RegisterEventfd for completions of requests that
// went asynchronous only, not those completed inline during submission
// (IORING_REGISTER_EVENTFD_ASYNC).
func (r *Ring) RegisterEventfdAsync(efd int) error {
	fd := int32(efd)
	_, err := r.Register(uapi.RegisterEventfdAsync, unsafe.Pointer(&fd), 1)
	return err
}

// UnregisterEventfd stops eventfd notification (IORING_UNREGISTER_EVENTFD).
func (r *Ring) UnregisterEventfd() error {
	_, err := r.Register(uapi.UnregisterEventfd, nil, 0)
	return err
}

// RegisterPersonality records the calling thread's credentials in the ring
// and returns their id (IORING_REGISTER_PERSONALITY). An SQE whose
// Personality field holds the id runs with those credentials.
func (r *Ring) RegisterPersonality() (uint16, error) {
	id, err := r.Register(uapi.RegisterPersonality, nil, 0)
	return uint16(id), err
}

// UnregisterPersonality forgets personality id
// (IORING_UNREGISTER_PERSONALITY).
func (r *Ring) UnregisterPersonality(id uint16) error {
	_, err := r.Register(uapi.UnregisterPersonality, nil, uint32(id))
	return err
}

// SetIOWQAffinity sets the CPUs the ring's io-wq workers may run on
// (IORING_REGISTER_IOWQ_AFF). io-wq belongs to the submitting task, which in
// Go is an OS thread: without SQPOLL this changes the io-wq of the calling
// thread, so lock the goroutine (runtime.LockOSThread) to the thread that
// submits. With SQPOLL it changes the SQ thread's io-wq.
func (r *Ring) SetIOWQAffinity(cpus *unix.CPUSet) error {
	_, err := r.Register(uapi.RegisterIOWQAff, unsafe.Pointer(cpus), uint32(unsafe.Sizeof(*cpus)))
	return err
}

// ClearIOWQAffinity restores the default io-wq CPU affinity
// (IORING_UNREGISTER_IOWQ_AFF); the same thread caveat as SetIOWQAffinity.
func (r *Ring) ClearIOWQAffinity() error {
	_, err := r.Register(uapi.UnregisterIOWQAff, nil, 0)
	return err
}

// SetIOWQMaxWorkers limits the number of bounded (regular file and block
// I/O) and unbounded (sockets, pipes ...) io-wq workers per NUMA node
// (IORING_REGISTER_IOWQ_MAX_WORKERS); 0 leaves a limit as it is, so (0, 0)
// only reads them. It returns the previous limits, or zeros if the calling
// thread has no io-wq yet. The same thread caveat as SetIOWQAffinity.
func (r *Ring) SetIOWQMaxWorkers(bounded, unbounded uint32) (prevBounded, prevUnbounded uint32, err error) {
	counts := [2]uint32{bounded, unbounded}
	_, err = r.Register(uapi.RegisterIOWQMaxWorkers, unsafe.Pointer(&counts), 2)
	return counts[0], counts[1], err
}

// Cancel selects requests for SyncCancel, as the fields of
// IORING_OP_ASYNC_CANCEL do.
type Cancel struct {
	// Flags are IORING_ASYNC_CANCEL_* flags choosing the key: user data
	// (the default), FD, FD_FIXED, OP, ANY, and ALL for every match.
	Flags uapi.CancelFlags
	// UserData matches requests with this user data.
	UserData uint64
	// FD matches requests on this file (with AsyncCancelFD).
	FD int32
	// Op matches requests of this opcode (with AsyncCancelOp).
	Op uapi.Op
	// Timeout bounds the wait for the cancelations; 0 waits forever.
	Timeout time.Duration
}

// SyncCancel cancels matching requests and waits until they are gone
// (IORING_REGISTER_SYNC_CANCEL). Their CQEs are still posted, usually with
// -ECANCELED. It fails with ENOENT if nothing matched, EALREADY if a match
// is running and cannot be interrupted, ETIME on timeout.
func (r *Ring) SyncCancel(c Cancel) error {
	arg := uapi.SyncCancelReg{Addr: c.UserData, FD: c.FD, Flags: uint32(c.Flags), Opcode: uint8(c.Op)}
	if c.Timeout > 0 {
		arg.Timeout.TvSec = int64(c.Timeout / time.Second)
		arg.Timeout.TvNsec = int64(c.Timeout % time.Second)
	} else {
		arg.Timeout.TvSec, arg.Timeout.TvNsec = -1, -1
	}
	_, err := r.Register(uapi.RegisterSyncCancel, unsafe.Pointer(&arg), 1)
	return err
}

// NAPI is the busy-poll setting of a ring (struct io_uring_napi).
type NAPI struct {
	// BusyPollTimeout is how long to busy poll, in microseconds.
	BusyPollTimeout uint32
	// PreferBusyPoll sets SO_PREFER_BUSY_POLL behaviour.
	PreferBusyPoll bool
	// Tracking chooses how NAPI ids are collected: dynamically from the
	// sockets the ring uses, statically (AddNAPIID), or not at all.
	Tracking uapi.NAPITrackingStrategy
}

// RegisterNAPI turns on NAPI busy polling for the ring (IORING_REGISTER_NAPI
// with IO_URING_NAPI_REGISTER_OP) and returns the previous setting.
func (r *Ring) RegisterNAPI(n NAPI) (NAPI, error) {
	arg := uapi.NAPI{BusyPollTo: n.BusyPollTimeout, Opcode: uint8(uapi.NAPIRegisterOp), OpParam: uint32(n.Tracking)}
	if n.PreferBusyPoll {
		arg.PreferBusyPoll = 1
	}
	_, err := r.Register(uapi.RegisterNAPI, unsafe.Pointer(&arg), 1)
	return napiOf(&arg), err
}

func napiOf(a *uapi.NAPI) NAPI {
	return NAPI{BusyPollTimeout: a.BusyPollTo, PreferBusyPoll: a.PreferBusyPoll != 0, Tracking: uapi.NAPITrackingStrategy(a.OpParam)}
}

// UnregisterNAPI turns busy polling off (IORING_UNREGISTER_NAPI) and returns
// the setting it had.
func (r *Ring) UnregisterNAPI() (NAPI, error) {
	var arg uapi.NAPI
	_, err := r.Register(uapi.UnregisterNAPI, unsafe.Pointer(&arg), 1)
	return napiOf(&arg), err
}

// AddNAPIID adds a NAPI id to a ring using static tracking
// (IO_URING_NAPI_STATIC_ADD_ID).
func (r *Ring) AddNAPIID(id uint32) error { return r.napiID(uapi.NAPIStaticAddID, id) }

// DelNAPIID removes a NAPI id added with AddNAPIID
// (IO_URING_NAPI_STATIC_DEL_ID).
func (r *Ring) DelNAPIID(id uint32) error { return r.napiID(uapi.NAPIStaticDelID, id) }

func (r *Ring) napiID(op uapi.NAPIOp, id uint32) error {
	arg := uapi.NAPI{Opcode: uint8(op), OpParam: id}
	_, err := r.Register(uapi.RegisterNAPI, unsafe.Pointer(&arg), 1)
	if err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	return nil
}

// SetClock chooses the clock of the ring's wait timeouts
// (IORING_REGISTER_CLOCK): unix.CLOCK_MONOTONIC (the default) or
// unix.CLOCK_BOOTTIME.
func (r *Ring) SetClock(clockid int32) error {
	arg := uapi.ClockRegister{Clockid: uint32(clockid)}
	_, err := r.Register(uapi.RegisterClock, unsafe.Pointer(&arg), 0)
	return err
}

// SendMsgRing posts a CQE with result res and user data userData to the ring
// with file descriptor targetFD, without a ring of the caller's own
// (IORING_REGISTER_SEND_MSG_RING, a ring-less "blind" register call on fd -1
// carrying an IORING_OP_MSG_RING SQE). flags may hold
// IORING_MSG_RING_FLAGS_PASS, then cqeFlags become the CQE's flags.
func SendMsgRing(targetFD int, res int32, userData uint64, flags uapi.MsgRingFlags, cqeFlags uint32) error {
	var sqe uapi.SQE
	sqe.Opcode = uapi.OpMsgRing
	sqe.FD = int32(targetFD)
	sqe.Addr = uint64(uapi.MsgData)
	sqe.Len = uint32(res)
	sqe.Off = userData
	sqe.SetMsgRingFlags(uint32(flags))
	sqe.SetFileIndex(cqeFlags)
	return blind(uapi.RegisterSendMsgRing, unsafe.Pointer(&sqe), 1)
}

// blind is io_uring_register(2) without a ring (fd -1).
func blind(op uapi.RegisterOp, arg unsafe.Pointer, nargs uint32) error {
	_, err := register(-1, op, arg, nargs)
	return err
}

// MemRegionFlags are IORING_REGISTER_MEM_REGION flags.
type MemRegionFlags uint64

// MemRegionWaitArg exposes the region as registered wait arguments
// (struct io_uring_reg_wait array) for io_uring_enter with
// IORING_ENTER_EXT_ARG_REG (IORING_MEM_REGION_REG_WAIT_ARG). Only rings
// still disabled (IORING_SETUP_R_DISABLED) accept it.
const MemRegionWaitArg MemRegionFlags = uapi.MemRegionRegWaitArg

// RegisterMemRegion registers mem, page-aligned caller memory (for example
// from unix.Mmap), as the ring's memory region (IORING_REGISTER_MEM_REGION
// with IORING_MEM_REGION_TYPE_USER). The kernel pins it until the ring is
// closed; Go memory is kept reachable that long. A ring has at most one
// region (EBUSY).
func (r *Ring) RegisterMemRegion(mem []byte, flags MemRegionFlags) error {
	if len(mem) == 0 {
		return fmt.Errorf("io_uring_register %s: empty region: %w", uapi.RegisterMemRegion, unix.EINVAL)
	}
	desc := uapi.RegionDesc{UserAddr: ptrOf(mem), Size: uint64(len(mem)), Flags: uapi.MemRegionTypeUser}
	if err := r.registerRegion(&desc, flags); err != nil {
		return err
	}
	p := r.pins()
	p.mu.Lock()
	p.region = mem
	p.mu.Unlock()
	return nil
}

// RegisterMemRegionKernel has the kernel allocate a size-byte region
// (IORING_REGISTER_MEM_REGION without TYPE_USER) and maps it; the region
// can be mapped again at offset mmapOffset of the ring fd. The caller unmaps
// the returned memory with unix.Munmap when done with it.
func (r *Ring) RegisterMemRegionKernel(size int, flags MemRegionFlags) (mem []byte, mmapOffset int64, err error) {
	if err := r.unusable("RegisterMemRegionKernel"); err != nil {
		return nil, 0, err
	}
	if r.fd < 0 {
		return nil, 0, fmt.Errorf("ring: kernel region: a REGISTERED_FD_ONLY ring has no fd to map it: %w", unix.EBADF)
	}
	desc := uapi.RegionDesc{Size: uint64(size)}
	if err := r.registerRegion(&desc, flags); err != nil {
		return nil, 0, err
	}
	mmapOffset = int64(desc.MMapOffset)
	mem, err = unix.Mmap(r.fd, mmapOffset, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, 0, fmt.Errorf("ring: map region at offset %#x: %w", mmapOffset, err)
	}
	return mem, mmapOffset, nil
}

func (r *Ring) registerRegion(desc *uapi.RegionDesc, flags MemRegionFlags) error {
	heap.Escape(unsafe.Pointer(desc))
	reg := uapi.MemRegionReg{RegionUPtr: uint64(uintptr(unsafe.Pointer(desc))), Flags: uint64(flags)}
	_, err := r.Register(uapi.RegisterMemRegion, unsafe.Pointer(&reg), 1)
	return err
}

// Query asks the kernel every IORING_REGISTER_QUERY op through this ring
// (see package query; query.All(query.NoRing) needs no ring).
func (r *Ring) Query() (*query.Info, error) {
	return query.AllOn(r.Register)
}

// RegisterBPFFilters attaches BPF filters to this ring
// (IORING_REGISTER_BPF_FILTER; see package bpf). Filters stack and cannot be
// removed; DenyRest on a filter denies every opcode without one.
func (r *Ring) RegisterBPFFilters(filters ...bpf.Filter) error {
	if err := r.unusable("RegisterBPFFilters"); err != nil {
		return err
	}
	for _, f := range filters {
		if err := bpf.RegisterOn(r.Register, f); err != nil {
			return err
		}
	}
	return nil
}
