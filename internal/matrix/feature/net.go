package feature

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// netFeatures detects the networking features that neither the probe nor
// the query reports, by trying each once: a request the kernel does not
// know fails inline with EINVAL or EOPNOTSUPP.
func netFeatures() map[string]bool {
	return map[string]bool{
		"ipv6":              hasIPv6(),
		"send_vectorized":   hasSendVectorized(),
		"sock_cmd":          hasSockCmd(uapi.SocketUringOpSIOCINQ),
		"sock_tx_timestamp": hasSockCmd(uapi.SocketUringOpTXTimestamp),
		"sock_getsockname":  hasSockCmd(uapi.SocketUringOpGetsockname),
	}
}

// hasIPv6 reports whether a TCP socket binds to the IPv6 loopback address.
func hasIPv6() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}) == nil
}

// hasSendVectorized sends one byte over a socketpair with
// IORING_SEND_VECTORIZED (Linux 6.17).
func hasSendVectorized() bool {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	res, done := tryOne(0, func(s *uapi.SQE, mem []byte) {
		iov := (*unix.Iovec)(unsafe.Pointer(&mem[0]))
		iov.Base = &mem[64]
		iov.SetLen(1)
		s.Opcode = uapi.OpSend
		s.FD = int32(fds[0])
		s.Addr = uint64(uintptr(unsafe.Pointer(iov)))
		s.Len = 1
		s.Ioprio = uint16(uapi.SendVectorized)
	})
	return done && res == 1
}

// hasSockCmd issues socket uring_cmd op on a UDP socket (on a CQE32 ring,
// which TX_TIMESTAMP needs). An unknown op completes at once with
// EOPNOTSUPP (so does every op on kernels without socket uring_cmds);
// TX_TIMESTAMP arms itself and posts nothing, SIOCINQ and GETSOCKNAME
// succeed.
func hasSockCmd(op uapi.SocketOp) bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	res, done := tryOne(uapi.SetupCqe32, func(s *uapi.SQE, mem []byte) {
		s.Opcode = uapi.OpUringCmd
		s.FD = int32(fd)
		s.SetCmdOp(uint32(op))
		if op == uapi.SocketUringOpGetsockname {
			alen := (*uint32)(unsafe.Pointer(&mem[0]))
			*alen = unix.SizeofSockaddrAny
			s.Addr = uint64(uintptr(unsafe.Pointer(&mem[64])))
			s.Addr3 = uint64(uintptr(unsafe.Pointer(alen)))
		}
	})
	if op == uapi.SocketUringOpTXTimestamp {
		return !done
	}
	return done && res == 0
}

// tryOne sets up a small ring (with SQE128, of 128-byte entries), submits
// the one SQE fill writes (with mem, a page outside the Go heap, for its
// arguments) and returns the completion the submission posted, if any.
// Closing the ring cancels a request left armed.
func tryOne(flags uapi.SetupFlags, fill func(s *uapi.SQE, mem []byte)) (res int32, done bool) {
	return tryOneWait(flags, false, fill)
}

// tryOneWait is tryOne that, with wait, also waits for the completion: for
// requests that the kernel may hand to its workers (io-wq) and complete
// later, such as ublk's control commands on 6.12.
func tryOneWait(flags uapi.SetupFlags, wait bool, fill func(s *uapi.SQE, mem []byte)) (res int32, done bool) {
	posted := try(flags, wait, fill)
	if len(posted) == 0 {
		return 0, false
	}
	return posted[0].Res, true
}

// try submits one SQE per fill (at most four), in order, with user data
// its index + 1, in a single io_uring_enter on a fresh ring, and returns
// the completions that submission posted; with wait it first waits for
// one. mem, a page outside the Go heap, holds the arguments of them all.
// Closing the ring cancels requests left armed.
func try(flags uapi.SetupFlags, wait bool, fills ...func(s *uapi.SQE, mem []byte)) []uapi.CQE {
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	defer unix.Munmap(mem)
	p := (*uapi.Params)(unsafe.Pointer(&mem[2048]))
	*p = uapi.Params{Flags: flags}
	rfd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return nil
	}
	defer unix.Close(int(rfd))
	cqeSize := uint32(uapi.SizeofCQE)
	if flags&uapi.SetupCqe32 != 0 {
		cqeSize *= 2
	}
	sqSize := int(p.SQOff.Array + p.SQEntries*4)
	cqSize := int(p.CQOff.CQEs + p.CQEntries*cqeSize)
	sq, err := unix.Mmap(int(rfd), uapi.OffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil
	}
	defer unix.Munmap(sq)
	cq, err := unix.Mmap(int(rfd), uapi.OffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil
	}
	defer unix.Munmap(cq)
	sqeSize := uapi.SizeofSQE
	if flags&uapi.SetupSqe128 != 0 {
		sqeSize *= 2
	}
	sqes, err := unix.Mmap(int(rfd), uapi.OffSQEs, int(p.SQEntries)*sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil
	}
	defer unix.Munmap(sqes)

	for i, fill := range fills {
		clear(sqes[i*sqeSize : (i+1)*sqeSize])
		s := (*uapi.SQE)(unsafe.Pointer(&sqes[i*sqeSize]))
		fill(s, mem[:2048])
		s.UserData = uint64(i) + 1 // never 0: a cancel trial may look for user data 0
		*(*uint32)(unsafe.Pointer(&sq[p.SQOff.Array+uint32(i)*4])) = uint32(i)
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&sq[p.SQOff.Tail])), uint32(len(fills)))
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, rfd, uintptr(len(fills)), 0, 0, 0, 0); errno != 0 {
		return nil
	}
	head := atomic.LoadUint32((*uint32)(unsafe.Pointer(&cq[p.CQOff.Head])))
	tail := func() uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&cq[p.CQOff.Tail]))) }
	for wait && head == tail() {
		// A signal (Go's preemption) may cut the wait short.
		if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, rfd, 0, 1, uintptr(uapi.EnterGetevents), 0, 0); errno != 0 && errno != unix.EINTR {
			return nil
		}
	}
	var posted []uapi.CQE
	for end := tail(); head != end; head++ {
		posted = append(posted, *(*uapi.CQE)(unsafe.Pointer(&cq[p.CQOff.CQEs+(head&(p.CQEntries-1))*cqeSize])))
	}
	return posted
}
