/*
Package ring drives io_uring instances: setup with every IORING_SETUP_* flag,
the submission and completion queues, waiting, registration and probing. It
is pure Go on golang.org/x/sys/unix and uses the generated bindings in
github.com/urgen/urgen/generated/uapi for every kernel type and constant.

# Core API (stable; other runtime packages build on it)

	r, err := ring.New(entries, opts...)   // *Ring; options: WithFlags, WithCQSize,
	                                       // WithSQPoll, WithSQThreadCPU, WithAttachWQ,
	                                       // WithMemory, WithHugePages, WithSQArray,
	                                       // WithRegisteredRing
	defer r.Close()

	r.FD() int                     // ring fd (-1 for REGISTERED_FD_ONLY rings)
	r.Params() uapi.Params         // what the kernel filled in: sizes, Flags, Features
	r.Flags(), r.Features()

	sqe := r.SQE()                 // next free *uapi.SQE, zeroed; nil when the SQ is full
	sqe := r.NextSQE()             // the same without zeroing: for the Prep builders, which write every byte
	sqe := r.SQE128()              // 128-byte entry (SQE128 rings; SQE_MIXED rings)
	n, err := r.Submit()           // hand queued SQEs to the kernel
	n, err := r.SubmitAndWait(k)   // ... and wait for k completions

	cqe, err := r.WaitCQE()        // next completion, sleeping if needed
	cqe, ok := r.PeekCQE()         // next completion if any, never sleeps
	err := r.CQESeen(cqe)          // consume it (refused unless it is the next one)
	n := r.PeekBatch(cqes)         // up to len(cqes) completions
	err := r.CQAdvance(uint32(n))  // consume them (refused beyond what is ready)
	n, err := ring.Result("read", cqe) // the result, or an *OpError naming the operation
	cqe, err := r.WaitCQETimeout(d) // d <= 0 polls once (ETIME); ring.Forever waits
	cqe, err := r.WaitCQEs(k, &ring.WaitOptions{Timeout, Absolute, MinWait, NoIOWait, Sigmask})

	n, err := r.Register(op, arg, nargs) // raw io_uring_register(2)
	r.Enable()                           // IORING_REGISTER_ENABLE_RINGS (R_DISABLED rings)
	r.RegisterRingFD(), r.UnregisterRingFD()
	p, err := r.Probe()                  // p.Supported(uapi.OpRead), p.LastOp()
	p, err := ring.KernelProbe()         // without a caller ring

	r.Keep(userData, v)            // keep Go memory alive until its final CQE
	err := r.Err()                 // nil while usable; os.ErrClosed after Close

# More

	n, cqe, err := r.SubmitAndWaitTimeout(k, &ring.WaitOptions{...})
	slots, err := r.RegisterWaitRegion(mem) // IORING_MEM_REGION_REG_WAIT_ARG (before Enable)
	cqe, err := r.WaitRegistered(k, slot)   // IORING_ENTER_EXT_ARG_REG
	err := r.Resize(sq, cq)                 // IORING_REGISTER_RESIZE_RINGS (DEFER_TASKRUN rings)
	err := r.WaitSQSpace()                  // SQPOLL: IORING_ENTER_SQ_WAIT
	err := r.GetEvents()                    // run task work, flush overflow; never sleeps
	r.SQReady(), r.SQSpace(), r.CQReady(), r.SQRingFlags(), r.Overflow(), r.Dropped()
	ring.CQE32(cqe)                         // the extra 16 bytes of a 32-byte CQE
	ring.MemorySize(entries, cqEntries, flags) // bytes of NO_MMAP memory to supply

Setup flags: every IORING_SETUP_* flag goes through WithFlags; those with
parameters have options. New adds IORING_SETUP_NO_SQARRAY when the kernel
has it (WithSQArray keeps the array). SQE128 rings hand out 128-byte slots;
SQE_MIXED rings hand out 64-byte slots from SQE and 128-byte pairs from
SQE128, which pads with a CQE-less NOP when a pair would wrap. CQE32 rings
have 32-byte CQEs; on CQE_MIXED rings PeekCQE, PeekBatch, CQESeen and
CQAdvance step over IORING_CQE_F_SKIP fillers and two-slot IORING_CQE_F_32
entries. SQ_REWIND rings take SQEs from index 0 at every submission.

# Errors

Every error from a system call wraps the unix.Errno the kernel returned
(errors.Is(err, unix.EINVAL) works) and names the call:
"io_uring_setup entries=65536 flags=0: invalid argument (more than 32768
SQ entries: ...)", "io_uring_enter", "io_uring_register
IORING_REGISTER_FILES". Arguments the kernel would refuse without saying why
(RegisterFiles(nil), a sparse table of 0 slots) are refused before the
system call, naming the method. EINTR is retried inside the package. Submit
reports EAGAIN (the kernel is out of memory for requests) and EBUSY
(completions are backed up in the overflow list and the CQ ring is full)
unchanged: the caller reaps completions and submits again, as
io_uring_enter(2) describes. A completion's own result becomes an error
through Result or ResultError: an *OpError naming the operation and
wrapping the errno, the one form every package above this one uses.

# Misuse

A closed Ring, and a Ring that New did not make, never faults: every method
that can fail returns an error wrapping os.ErrClosed, the others do nothing
(SQE returns nil, counts are 0), and Close is idempotent. A closed ring
keeps no descriptor, so a later ring that gets the same number is never
reached through it. CQESeen and CQAdvance check, at the cost of a compare,
that they consume only completions that are there: CQESeen of a CQE that is
not this ring's next unseen one (seen already, of another ring, nil) and
CQAdvance beyond what is ready change nothing and return an error wrapping
os.ErrInvalid.

# Threads

A Ring is used by one goroutine at a time. The kernel ties some things to
the submitting task, which in Go is an OS thread: SINGLE_ISSUER (and
DEFER_TASKRUN) rings, COOP_TASKRUN rings (their completions run as task
work of the submitting thread, only when it enters the kernel),
REGISTERED_FD_ONLY rings and registered ring fds. For those, New or
RegisterRingFD lock the calling goroutine to its thread with
runtime.LockOSThread, and the ring must then be used, and closed, from that
goroutine.

# Go memory handed to the kernel

The kernel reads and writes memory an SQE points to until the request's
completion is posted. Go's heap does not move objects, but it frees
unreachable ones, and goroutine stacks move when they grow. Keep(userData,
v) is the safe default: it keeps v reachable (and, being stored in the
ring, on the heap) until CQESeen or CQAdvance consumes the final completion
(no IORING_CQE_F_MORE) for userData. Not calling Keep is the zero-overhead
path, with a contract: everything an in-flight SQE references is heap
allocated and stays reachable until its completion is reaped.

# System calls

io_uring_enter goes through unix.RawSyscall6 when it cannot sleep (submit
only, no wait), saving the scheduler hand-off, and through unix.Syscall6
when it waits, so other goroutines run meanwhile.
*/
package ring
