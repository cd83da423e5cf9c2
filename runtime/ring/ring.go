package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Ring is one io_uring instance: its submission and completion queues mapped
// into this process.
//
// A Ring is not safe for concurrent use: one goroutine at a time submits and
// reaps (the same contract as liburing's struct io_uring). Rings created with
// IORING_SETUP_SINGLE_ISSUER (and so DEFER_TASKRUN) are bound to one kernel
// task; New locks the calling goroutine to its OS thread for them, and every
// later call, including Close, must come from that goroutine.
type Ring struct {
	sq submissionQueue
	cq completionQueue

	// enterFD is what io_uring_enter gets: the ring fd, or its registered
	// index when enterFlags has IORING_ENTER_REGISTERED_RING.
	// io_uring_register gets the index too when regOp is
	// IORING_REGISTER_USE_REGISTERED_RING (Linux 6.3), else the fd.
	enterFD    int
	enterFlags uapi.EnterFlags
	regOp      uapi.RegisterOp

	flags uapi.SetupFlags
	fd    int // -1 for REGISTERED_FD_ONLY rings

	// keep holds Go values referenced by in-flight requests, by user data.
	keep map[uint64]any

	// waitArg and waitTS live in the (heap-allocated) Ring so their
	// addresses stay valid while io_uring_enter reads them.
	waitArg uapi.GeteventsArg
	waitTS  uapi.KernelTimespec
	waitSig unix.Sigset_t

	params     uapi.Params
	ringMem    []byte // mmap of the SQ ring (and the CQ ring with SINGLE_MMAP)
	cqMem      []byte // separate CQ ring mapping on kernels without SINGLE_MMAP
	sqeMem     []byte
	ownMem     []byte // memory New mapped for NO_MMAP rings
	waitRegion []byte // registered wait arguments (caller memory)
	locked     bool   // New called runtime.LockOSThread
	regLocked  bool   // RegisterRingFD called runtime.LockOSThread
	state      state
	brokenErr  error // why the ring is stateBroken
	regIndex   int   // registered ring index, -1 when none
}

type submissionQueue struct {
	khead   *uint32
	ktail   *uint32
	kflags  *uint32
	kdrop   *uint32
	array   *uint32 // nil with IORING_SETUP_NO_SQARRAY
	sqes    unsafe.Pointer
	mask    uint32
	entries uint32
	shift   uint32 // 1 for SQE128 rings: slots are 128 bytes
	// sqeHead..sqeTail are SQEs handed out; ktail is published up to sqeTail
	// by flush.
	sqeHead uint32
	sqeTail uint32
	mixed   bool
	rewind  bool // IORING_SETUP_SQ_REWIND: entries always start at index 0
	// plainTail: no SQPOLL thread, so the tail is read only by
	// io_uring_enter on the submitting thread.
	plainTail bool
	// direct: plainTail, and neither IOPOLL nor SQ_REWIND, so Submit is
	// a single io_uring_enter of the pending entries.
	direct bool
}

type completionQueue struct {
	khead     *uint32
	ktail     *uint32
	kflags    *uint32
	koverflow *uint32
	cqes      unsafe.Pointer
	mask      uint32
	entries   uint32
	shift     uint32 // 1 for CQE32 rings: slots are 32 bytes
	mixed     bool   // IORING_SETUP_CQE_MIXED: 32-byte CQEs take two slots
}

// Option configures New.
type Option func(*config)

type config struct {
	p        uapi.Params
	mem      []byte
	huge     bool
	noSQArr  bool // NO_SQARRAY was asked for explicitly
	sqArray  bool // keep the SQ index array
	register bool // register the ring fd after setup
}

// WithFlags adds IORING_SETUP_* flags. Flags that need a parameter have their
// own options (WithCQSize, WithSQPoll, WithSQThreadCPU, WithAttachWQ,
// WithMemory), which set the flag themselves.
func WithFlags(f uapi.SetupFlags) Option {
	return func(c *config) { c.p.Flags |= f }
}

// WithCQSize asks for a completion queue of n entries (IORING_SETUP_CQSIZE);
// the default is twice the submission queue.
func WithCQSize(n uint32) Option {
	return func(c *config) { c.p.Flags |= uapi.SetupCqsize; c.p.CQEntries = n }
}

// WithSQPoll starts a kernel thread that polls the submission queue
// (IORING_SETUP_SQPOLL); it sleeps after idle without work, and Submit then
// wakes it (IORING_SQ_NEED_WAKEUP). idle is rounded to milliseconds; 0 keeps
// the kernel default (1 s).
func WithSQPoll(idle time.Duration) Option {
	return func(c *config) { c.p.Flags |= uapi.SetupSQPoll; c.p.SQThreadIdle = uint32(idle / time.Millisecond) }
}

// WithSQThreadCPU pins the SQPOLL thread to cpu (IORING_SETUP_SQ_AFF); use it
// together with WithSQPoll.
func WithSQThreadCPU(cpu uint32) Option {
	return func(c *config) { c.p.Flags |= uapi.SetupSQAff; c.p.SQThreadCPU = cpu }
}

// WithAttachWQ shares the async worker pool (and, with SQPOLL, the poll
// thread) of the ring whose fd is given (IORING_SETUP_ATTACH_WQ).
func WithAttachWQ(fd int) Option {
	return func(c *config) { c.p.Flags |= uapi.SetupAttachWQ; c.p.WQFD = uint32(fd) }
}

// WithMemory places the rings and SQEs in caller memory (IORING_SETUP_NO_MMAP).
// mem must be page aligned (e.g. from unix.Mmap, possibly MAP_HUGETLB) and at
// least MemorySize(...) bytes; it must stay mapped until Close returns and is
// not unmapped by Close. Kernels before 6.13 require each of the two regions
// (rings, SQEs) to be one page or lie within one huge page.
func WithMemory(mem []byte) Option {
	return func(c *config) { c.p.Flags |= uapi.SetupNoMMap; c.mem = mem }
}

// WithHugePages makes New allocate NO_MMAP ring memory itself from 2 MiB huge
// pages: hugetlb pages (MAP_HUGETLB) when some are reserved
// (vm.nr_hugepages), else a 2 MiB aligned region advised
// MADV_HUGEPAGE, which the kernel backs with a transparent huge page when it
// can. Either way multi-page rings sit in one huge page.
func WithHugePages() Option {
	return func(c *config) { c.p.Flags |= uapi.SetupNoMMap; c.huge = true }
}

// WithSQArray keeps the SQ index array. By default New sets
// IORING_SETUP_NO_SQARRAY when the kernel has it, because the array is an
// identity map here and only costs a cache line per submission.
func WithSQArray() Option {
	return func(c *config) { c.sqArray = true }
}

// WithRegisteredRing registers the ring fd with the kernel after setup (see
// RegisterRingFD), locking the calling goroutine to its OS thread.
func WithRegisteredRing() Option {
	return func(c *config) { c.register = true }
}

// New creates a ring with at least entries submission queue entries
// (rounded up to a power of two by the kernel).
func New(entries uint32, opts ...Option) (*Ring, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.p.Flags&uapi.SetupNoSqarray != 0 {
		c.noSQArr = true
	}
	r := &Ring{fd: -1, enterFD: -1, regIndex: -1}
	if c.p.Flags&(uapi.SetupSingleIssuer|uapi.SetupRegisteredFDOnly|uapi.SetupCoopTaskrun) != 0 || c.register {
		// The kernel binds these to the calling task (thread): the single
		// issuer, the registered fd table, and with COOP_TASKRUN the task
		// work that completes requests runs only when the submitting
		// thread enters the kernel.
		runtime.LockOSThread()
		r.locked = true
	}
	if err := r.setup(entries, &c); err != nil {
		r.release()
		return nil, err
	}
	r.state = stateOpen
	if c.register && r.regIndex < 0 {
		if err := r.RegisterRingFD(); err != nil {
			r.release()
			return nil, err
		}
	}
	return r, nil
}

func (r *Ring) setup(entries uint32, c *config) error {
	want := c.p
	tryNoSQArray := !c.sqArray && !c.noSQArr && want.Flags&uapi.SetupNoSqarray == 0
	for {
		p := want
		if tryNoSQArray {
			p.Flags |= uapi.SetupNoSqarray
		}
		if p.Flags&uapi.SetupNoMMap != 0 {
			if err := r.prepareMemory(entries, &p, c); err != nil {
				return err
			}
		}
		fd, err := setup(entries, &p)
		if err != nil {
			if tryNoSQArray && errors.Is(err, unix.EINVAL) {
				// Kernels before 6.6 reject the flag; retry without it.
				tryNoSQArray = false
				r.unmapOwn()
				continue
			}
			r.unmapOwn()
			return err
		}
		r.params = p
		r.flags = p.Flags
		if p.Flags&uapi.SetupRegisteredFDOnly != 0 {
			r.enterFD = fd
			r.regIndex = fd
			r.enterFlags = uapi.EnterRegisteredRing
			r.regOp = uapi.RegisterUseRegisteredRing
		} else {
			r.fd = fd
			r.enterFD = fd
		}
		return r.mapRings()
	}
}

// MemorySize returns how many bytes of NO_MMAP memory New needs for a ring of
// the given size and setup flags: the rings region, page aligned, then the
// SQE region. It is an upper bound (the kernel's ring header is not part of
// the UAPI). Leave uapi.SetupNoSqarray out of flags unless the ring is
// created with it explicitly: New adds it only where the kernel has it.
func MemorySize(entries uint32, cqEntries uint32, flags uapi.SetupFlags) int {
	rings, sqes := memoryLayout(entries, cqEntries, flags)
	return rings + sqes
}

func memoryLayout(entries, cqEntries uint32, flags uapi.SetupFlags) (rings, sqes int) {
	page := os.Getpagesize()
	sq := roundPow2(entries)
	if flags&uapi.SetupClamp != 0 && sq > 32768 {
		sq = 32768
	}
	cq := 2 * sq
	if flags&uapi.SetupCqsize != 0 {
		cq = roundPow2(cqEntries)
		if flags&uapi.SetupClamp != 0 && cq > 65536 {
			cq = 65536
		}
	}
	cqe := 16
	if flags&uapi.SetupCqe32 != 0 {
		cqe = 32
	}
	sqe := 64
	if flags&uapi.SetupSqe128 != 0 {
		sqe = 128
	}
	// 2048 bytes bound struct io_rings' header on every architecture
	// (head/tail pairs, masks, flags; cache-line aligned CQE array).
	r := 2048 + int(cq)*cqe
	if flags&uapi.SetupNoSqarray == 0 {
		r += 256 + int(sq)*4
	}
	return alignUp(r, page), alignUp(int(sq)*sqe, page)
}

func roundPow2(n uint32) uint32 {
	if n <= 1 {
		return 1
	}
	return 1 << (32 - bits.LeadingZeros32(n-1))
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

func (r *Ring) prepareMemory(entries uint32, p *uapi.Params, c *config) error {
	ringsSize, sqeSize := memoryLayout(entries, p.CQEntries, p.Flags)
	mem := c.mem
	if mem == nil {
		size := ringsSize + sqeSize
		flags := unix.MAP_SHARED | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
		if c.huge {
			const huge = 2 << 20
			size = alignUp(size, huge)
			flags |= unix.MAP_HUGETLB
		}
		m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
		if err != nil && c.huge && errors.Is(err, unix.ENOMEM) {
			// No hugetlb pages reserved: transparent huge pages instead.
			m, mem, err = thpMemory(size)
		} else if err == nil {
			mem = m
		}
		if err != nil {
			return &os.SyscallError{Syscall: "mmap ring memory", Err: err}
		}
		r.ownMem = m
	}
	if len(mem) < ringsSize+sqeSize {
		return fmt.Errorf("ring: NO_MMAP memory is %d bytes, need %d: %w", len(mem), ringsSize+sqeSize, unix.EINVAL)
	}
	base := unsafe.Pointer(&mem[0])
	if uintptr(base)%uintptr(os.Getpagesize()) != 0 {
		return fmt.Errorf("ring: NO_MMAP memory is not page aligned: %w", unix.EINVAL)
	}
	// The kernel takes the rings from cq_off.user_addr and the SQEs from
	// sq_off.user_addr.
	p.CQOff.UserAddr = uint64(uintptr(base))
	p.SQOff.UserAddr = uint64(uintptr(unsafe.Add(base, ringsSize)))
	r.ringMem = mem[:ringsSize:ringsSize]
	r.sqeMem = mem[ringsSize : ringsSize+sqeSize : ringsSize+sqeSize]
	return nil
}

func (r *Ring) unmapOwn() {
	if r.ownMem != nil {
		_ = unix.Munmap(r.ownMem)
		r.ownMem = nil
	}
	r.ringMem, r.sqeMem = nil, nil
}

func (r *Ring) mapRings() error {
	p := &r.params
	sqeSize := 64
	if p.Flags&uapi.SetupSqe128 != 0 {
		sqeSize = 128
		r.sq.shift = 1
	}
	cqeSize := 16
	if p.Flags&uapi.SetupCqe32 != 0 {
		cqeSize = 32
		r.cq.shift = 1
	}
	r.sq.mixed = p.Flags&uapi.SetupSQEMixed != 0
	r.sq.rewind = p.Flags&uapi.SetupSQRewind != 0
	r.sq.plainTail = p.Flags&uapi.SetupSQPoll == 0
	r.sq.direct = r.sq.plainTail && !r.sq.rewind && p.Flags&uapi.SetupIOPoll == 0
	r.cq.mixed = p.Flags&uapi.SetupCQEMixed != 0
	if p.Flags&uapi.SetupNoMMap == 0 {
		sqSize := int(p.SQOff.Array) + int(p.SQEntries)*4
		if p.Flags&uapi.SetupNoSqarray != 0 {
			// No array: the ring ends after its last scalar field.
			o := p.SQOff
			sqSize = int(max(o.Head, o.Tail, o.RingMask, o.RingEntries, o.Flags, o.Dropped)) + 4
		}
		cqSize := int(p.CQOff.CQEs) + int(p.CQEntries)*cqeSize
		single := p.Features&uapi.FeatSingleMMap != 0
		if single {
			sqSize = max(sqSize, cqSize)
		}
		m, err := unix.Mmap(r.fd, uapi.OffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return &os.SyscallError{Syscall: "mmap IORING_OFF_SQ_RING", Err: err}
		}
		r.ringMem = m
		if !single {
			m, err := unix.Mmap(r.fd, uapi.OffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
			if err != nil {
				return &os.SyscallError{Syscall: "mmap IORING_OFF_CQ_RING", Err: err}
			}
			r.cqMem = m
		}
		m, err = unix.Mmap(r.fd, uapi.OffSQEs, int(p.SQEntries)*sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return &os.SyscallError{Syscall: "mmap IORING_OFF_SQES", Err: err}
		}
		r.sqeMem = m
	}
	sqBase := unsafe.Pointer(&r.ringMem[0])
	cqBase := sqBase
	if r.cqMem != nil {
		cqBase = unsafe.Pointer(&r.cqMem[0])
	}
	at := func(b unsafe.Pointer, off uint32) *uint32 { return (*uint32)(unsafe.Add(b, off)) }
	r.sq.khead = at(sqBase, p.SQOff.Head)
	r.sq.ktail = at(sqBase, p.SQOff.Tail)
	r.sq.kflags = at(sqBase, p.SQOff.Flags)
	r.sq.kdrop = at(sqBase, p.SQOff.Dropped)
	r.sq.mask = *at(sqBase, p.SQOff.RingMask)
	r.sq.entries = *at(sqBase, p.SQOff.RingEntries)
	r.sq.sqes = unsafe.Pointer(&r.sqeMem[0])
	if p.Flags&uapi.SetupNoSqarray == 0 {
		r.sq.array = at(sqBase, p.SQOff.Array)
		// Identity map, written once: slot i always submits SQE i.
		arr := unsafe.Slice(r.sq.array, r.sq.entries)
		for i := range arr {
			arr[i] = uint32(i)
		}
	}
	r.cq.khead = at(cqBase, p.CQOff.Head)
	r.cq.ktail = at(cqBase, p.CQOff.Tail)
	r.cq.koverflow = at(cqBase, p.CQOff.Overflow)
	if p.CQOff.Flags != 0 {
		r.cq.kflags = at(cqBase, p.CQOff.Flags)
	}
	r.cq.mask = *at(cqBase, p.CQOff.RingMask)
	r.cq.entries = *at(cqBase, p.CQOff.RingEntries)
	r.cq.cqes = unsafe.Add(cqBase, p.CQOff.CQEs)
	// Start from the kernel's indices (0 for a new ring).
	r.sq.sqeHead = atomic.LoadUint32(r.sq.khead)
	r.sq.sqeTail = atomic.LoadUint32(r.sq.ktail)
	return nil
}

// Close unregisters the ring fd, unmaps the rings and closes the ring. When
// requests that Keep values for are still in flight, Close first cancels
// everything (IORING_REGISTER_SYNC_CANCEL) and reaps for up to 100 ms; the
// values of requests that still have not completed then stay reachable for
// good, because the kernel may write to them after Close returns.
// Completions not yet seen are discarded.
//
// Close is idempotent, and after it every method returns an error wrapping
// os.ErrClosed or does nothing (see Err); so does a Ring that New did not
// make.
func (r *Ring) Close() error {
	switch r.state {
	case stateZero, stateClosed:
		return nil
	}
	var err error
	if r.regIndex >= 0 && r.fd >= 0 {
		err = r.UnregisterRingFD()
	}
	if len(r.keep) > 0 && r.state == stateOpen {
		r.drainKept()
	}
	if len(r.keep) > 0 {
		retired.park(r.keep)
		r.keep = nil
	}
	if cerr := r.release(); err == nil {
		err = cerr
	}
	return err
}

// release gives back everything the ring holds; it is closed afterwards.
func (r *Ring) release() error {
	var err error
	r.state = stateClosed
	r.detach()
	for _, m := range []*[]byte{&r.sqeMem, &r.cqMem} {
		if *m != nil && r.flags&uapi.SetupNoMMap == 0 {
			_ = unix.Munmap(*m)
		}
		*m = nil
	}
	if r.ringMem != nil && r.flags&uapi.SetupNoMMap == 0 {
		_ = unix.Munmap(r.ringMem)
	}
	r.ringMem = nil
	if r.fd >= 0 {
		if cerr := unix.Close(r.fd); cerr != nil {
			err = &os.SyscallError{Syscall: "close", Err: cerr}
		}
		r.fd = -1
	} else if r.regIndex >= 0 && r.flags&uapi.SetupRegisteredFDOnly != 0 {
		// The ring lives only in the registered table: dropping the entry
		// releases it.
		err = r.unregisterIndex(r.regIndex)
	}
	r.regIndex = -1
	// Caller memory stays mapped; memory New mapped is released after the
	// ring (which pinned it) is gone.
	if r.ownMem != nil {
		_ = unix.Munmap(r.ownMem)
		r.ownMem = nil
	}
	if r.locked {
		runtime.UnlockOSThread()
		r.locked = false
	}
	if r.regLocked {
		runtime.UnlockOSThread()
		r.regLocked = false
	}
	return err
}

// FD returns the ring's file descriptor, or -1 for a ring created with
// IORING_SETUP_REGISTERED_FD_ONLY and after Close.
func (r *Ring) FD() int {
	if r.state == stateZero {
		return -1
	}
	return r.fd
}

// Params returns the io_uring_params the kernel filled in at setup: the
// actual ring sizes, the setup flags in effect and the kernel's features.
func (r *Ring) Params() uapi.Params { return r.params }

// Flags returns the setup flags the ring was created with (including
// IORING_SETUP_NO_SQARRAY when New added it).
func (r *Ring) Flags() uapi.SetupFlags { return r.flags }

// Features returns the IORING_FEAT_* flags of the running kernel.
func (r *Ring) Features() uapi.FeatureFlags { return r.params.Features }

// drainKept cancels all requests and reaps completions until no kept value
// is left or 100 ms have passed.
func (r *Ring) drainKept() {
	sc := &uapi.SyncCancelReg{
		FD:      -1,
		Flags:   uint32(uapi.AsyncCancelAny | uapi.AsyncCancelAll),
		Timeout: uapi.KernelTimespec{TvNsec: int64(100 * time.Millisecond)},
	}
	_, _ = r.Register(uapi.RegisterSyncCancel, unsafe.Pointer(sc), 1)
	deadline := time.Now().Add(100 * time.Millisecond)
	for len(r.keep) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		c, err := r.WaitCQEs(1, &WaitOptions{Timeout: left})
		if err != nil {
			return
		}
		r.CQESeen(c)
	}
}

// thpMemory maps size bytes (a multiple of 2 MiB) aligned to 2 MiB, advised
// MADV_HUGEPAGE and populated. It returns the whole mapping (to unmap) and
// the aligned part.
func thpMemory(size int) (mapping, mem []byte, err error) {
	const huge = 2 << 20
	m, err := unix.Mmap(-1, 0, size+huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, err
	}
	off := (huge - int(uintptr(unsafe.Pointer(&m[0]))%huge)) % huge
	mem = m[off : off+size : off+size]
	if err := unix.Madvise(mem, unix.MADV_HUGEPAGE); err != nil {
		unix.Munmap(m)
		return nil, nil, err
	}
	for i := 0; i < len(mem); i += os.Getpagesize() {
		mem[i] = 0 // fault in now, as huge pages where possible
	}
	return m, mem, nil
}
