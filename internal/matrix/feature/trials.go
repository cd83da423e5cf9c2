package feature

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Features that neither the probe nor the query reports, each found by
// trying it once on a throw-away ring: a kernel that does not know a flag
// refuses it with EINVAL.

// hasTimeoutMultishot arms a one-hour IORING_TIMEOUT_MULTISHOT (Linux
// 6.4): a kernel without it fails the request at once with EINVAL, one
// with it posts nothing until the ring's close cancels it.
func hasTimeoutMultishot() bool {
	res, done := tryOne(0, func(s *uapi.SQE, mem []byte) {
		ts := (*uapi.KernelTimespec)(unsafe.Pointer(&mem[0]))
		*ts = uapi.KernelTimespec{TvSec: 3600}
		s.PrepTimeout(ts, 0, uapi.TimeoutMultishot)
	})
	return !done || res != -int32(unix.EINVAL)
}

// hasCancelOp cancels by opcode (IORING_ASYNC_CANCEL_OP, Linux 6.6) a
// read waiting on an empty pipe: a kernel with the key cancels it (the
// cancel's result 0); one without either refuses the flag (EINVAL) or,
// like Linux 6.1, ignores it and looks for user data 0 (ENOENT).
func hasCancelOp() bool {
	var fds [2]int
	if unix.Pipe2(fds[:], unix.O_CLOEXEC) != nil {
		return false
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	posted := try(0, false, func(s *uapi.SQE, mem []byte) {
		s.PrepRead(int32(fds[0]), mem[:8], ^uint64(0))
	}, func(s *uapi.SQE, _ []byte) {
		s.PrepCancelOp(uapi.OpRead, uapi.AsyncCancelOp)
	})
	for _, c := range posted {
		if c.UserData == 2 { // the cancel
			return c.Res == 0
		}
	}
	return false
}

// hasPBufRingFlags registers a two-entry provided-buffer ring with flags
// on a fresh ring: IOU_PBUF_RING_MMAP (Linux 6.4, the kernel allocates
// the ring) or with it IOU_PBUF_RING_INC (Linux 6.12, incremental
// consumption).
func hasPBufRingFlags(flags uapi.RegisterPBufRingFlags) bool {
	var p uapi.Params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 2, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return false
	}
	defer unix.Close(int(fd))
	reg := &uapi.BufReg{RingEntries: 2, Bgid: 1, Flags: uint16(flags | uapi.IouPBufRingMMap)}
	return register(int(fd), uapi.RegisterPBufRing, unsafe.Pointer(reg), 1) == nil
}

// hasBPFConnectContext registers a strict filter for IORING_OP_CONNECT
// claiming one byte of opcode context: the kernel refuses it with
// EMSGSIZE and writes back the size it provides, which is 0 where CONNECT
// filters see no address and port (Linux 7.0 and 7.1). Only meaningful
// where bpf_filter is.
func hasBPFConnectContext() bool {
	var p uapi.Params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 2, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return false
	}
	defer unix.Close(int(fd))
	// One instruction: return 1 (allow).
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 1}}
	arg := &uapi.BPF{CmdType: uapi.BPFCmdFilter}
	arg.Filter = uapi.BPFFilter{
		Opcode:    uint32(uapi.OpConnect),
		Flags:     uapi.BPFFilterSzStrict,
		FilterLen: 1,
		PDUSize:   1,
		FilterPtr: uint64(uintptr(unsafe.Pointer(&prog[0]))),
	}
	_, _, errno = unix.Syscall6(unix.SYS_IO_URING_REGISTER, fd, uintptr(uapi.RegisterBPFFilter), uintptr(unsafe.Pointer(arg)), 1, 0, 0)
	runtime.KeepAlive(prog)
	return errors.Is(errno, unix.EMSGSIZE) && arg.Filter.PDUSize > 0
}

// hasCallerMemoryRing sets up a two-entry IORING_SETUP_NO_MMAP ring (Linux
// 6.5) in two pages of its own, with extra flags (REGISTERED_FD_ONLY: the
// ring then lives only in the registered-ring table of the thread that
// made it, so the trial runs on a thread of its own, which exits
// afterwards and takes the ring with it).
func hasCallerMemoryRing(extra uapi.SetupFlags) bool {
	ok := make(chan bool)
	go func() {
		// Never unlocked: the thread exits with this goroutine.
		runtime.LockOSThread()
		mem, err := unix.Mmap(-1, 0, 2*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
		if err != nil {
			ok <- false
			return
		}
		p := &uapi.Params{Flags: uapi.SetupNoMMap | extra}
		p.CQOff.UserAddr = uint64(uintptr(unsafe.Pointer(&mem[0])))
		p.SQOff.UserAddr = uint64(uintptr(unsafe.Pointer(&mem[4096])))
		fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 2, uintptr(unsafe.Pointer(p)), 0)
		if errno == 0 && extra&uapi.SetupRegisteredFDOnly == 0 {
			unix.Close(int(fd))
		}
		// The ring pins the memory; unmapping after its close is fine.
		defer unix.Munmap(mem)
		ok <- errno == 0
	}()
	return <-ok
}

// hasAbsTimer waits on ring fd for one completion with an absolute
// timeout of 0 (IORING_ENTER_ABS_TIMER, Linux 6.12): long past, so a
// kernel that knows the flag fails the wait at once with ETIME; one that
// does not refuses the flag (EINVAL).
func hasAbsTimer(fd int) bool {
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(mem)
	ts := (*uapi.KernelTimespec)(unsafe.Pointer(&mem[0]))
	arg := (*uapi.GeteventsArg)(unsafe.Pointer(&mem[64]))
	arg.Ts = uint64(uintptr(unsafe.Pointer(ts)))
	flags := uapi.EnterGetevents | uapi.EnterExtArg | uapi.EnterAbsTimer
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), 0, 1, uintptr(flags), uintptr(unsafe.Pointer(arg)), uapi.SizeofGeteventsArg)
	return errno == unix.ETIME
}

// hasNopInject submits a NOP that asks to complete with -EBADMSG
// (IORING_NOP_INJECT_RESULT, Linux 6.10): older kernels complete it with
// 0, or refuse the flag.
func hasNopInject() bool {
	res, done := tryOne(0, func(s *uapi.SQE, _ []byte) {
		s.Opcode = uapi.OpNop
		s.SetNopFlags(uint32(uapi.NopInjectResult))
		res := -int32(unix.EBADMSG)
		s.Len = uint32(res)
	})
	return done && res == -int32(unix.EBADMSG)
}

// withBareRings sets up n two-entry rings (n at most 4) with their
// parameters in pages of memory outside the Go heap, runs f with the ring
// descriptors and the memory's free part (all but its first 2048 bytes)
// for f's arguments, and closes the rings: false if a setup fails.
func withBareRings(n, pages int, f func(rings []int, mem []byte) bool) bool {
	mem, err := unix.Mmap(-1, 0, pages*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(mem)
	rings := make([]int, n)
	for i := range rings {
		p := (*uapi.Params)(unsafe.Pointer(&mem[i*512]))
		fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 2, uintptr(unsafe.Pointer(p)), 0)
		if errno != 0 {
			return false
		}
		defer unix.Close(int(fd))
		rings[i] = int(fd)
	}
	return f(rings, mem[2048:])
}

// hasUnregisterTags registers a one-file table with a tag and unregisters
// it: a kernel that posts the tags of a table being unregistered (Linux
// 6.13) posts one completion; an older one posts none, and the wait for
// it times out (ETIME) after a second.
func hasUnregisterTags() bool {
	return withBareRings(1, 1, func(rings []int, mem []byte) bool {
		rfd := rings[0]
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // any file but a ring's own does
		if err != nil {
			return false
		}
		defer unix.Close(efd)
		fds := (*[1]int32)(unsafe.Pointer(&mem[0]))
		fds[0] = int32(efd)
		tags := (*[1]uint64)(unsafe.Pointer(&mem[64]))
		tags[0] = 7
		reg := (*uapi.RsrcRegister)(unsafe.Pointer(&mem[128]))
		*reg = uapi.RsrcRegister{Nr: 1, Data: uint64(uintptr(unsafe.Pointer(fds))), Tags: uint64(uintptr(unsafe.Pointer(tags)))}
		if register(rfd, uapi.RegisterFiles2, unsafe.Pointer(reg), uapi.SizeofRsrcRegister) != nil ||
			register(rfd, uapi.UnregisterFiles, nil, 0) != nil {
			return false
		}
		ts := (*uapi.KernelTimespec)(unsafe.Pointer(&mem[512]))
		*ts = uapi.KernelTimespec{TvSec: 1}
		arg := (*uapi.GeteventsArg)(unsafe.Pointer(&mem[576]))
		*arg = uapi.GeteventsArg{Ts: uint64(uintptr(unsafe.Pointer(ts)))}
		for {
			_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(rfd), 0, 1, uintptr(uapi.EnterGetevents|uapi.EnterExtArg),
				uintptr(unsafe.Pointer(arg)), uapi.SizeofGeteventsArg)
			if errno != unix.EINTR { // a signal (Go's preemption) cuts the wait short
				return errno == 0
			}
		}
	})
}

// hasNAPIStatic turns on busy polling with static NAPI tracking
// (IO_URING_NAPI_TRACKING_STATIC, Linux 6.13) on a fresh ring: older
// kernels find the opcode and tracking mode in what were padding bytes,
// and refuse them (EINVAL). Only meaningful where napi is.
func hasNAPIStatic() bool {
	return withBareRings(1, 1, func(rings []int, mem []byte) bool {
		napi := (*uapi.NAPI)(unsafe.Pointer(&mem[0]))
		*napi = uapi.NAPI{BusyPollTo: 10, Opcode: uint8(uapi.NAPIRegisterOp), OpParam: uint32(uapi.NAPITrackingStatic)}
		return register(rings[0], uapi.RegisterNAPI, unsafe.Pointer(napi), 1) == nil
	})
}

// hasCloneBufferRange clones the second of two registered buffers alone
// (a source offset, Linux 6.13) into a fresh ring: Linux 6.12 clones only
// whole tables and refuses an offset (EINVAL). Only meaningful where
// clone_buffers is.
func hasCloneBufferRange() bool {
	return withBareRings(2, 3, func(rings []int, mem []byte) bool {
		iovs := (*[2]unix.Iovec)(unsafe.Pointer(&mem[0]))
		for i := range iovs {
			iovs[i].Base = &mem[2048+i*4096]
			iovs[i].SetLen(4096)
		}
		if register(rings[0], uapi.RegisterBuffers, unsafe.Pointer(iovs), 2) != nil {
			return false
		}
		clone := (*uapi.CloneBuffers)(unsafe.Pointer(&mem[512]))
		*clone = uapi.CloneBuffers{SrcFD: uint32(rings[0]), SrcOff: 1, Nr: 1}
		return register(rings[1], uapi.RegisterCloneBuffers, unsafe.Pointer(clone), 1) == nil
	})
}
