package sock

import (
	"github.com/urgen/urgen/generated/uapi"
)

// The SQE layouts below follow io_uring_enter(2) for each opcode. They are
// a stopgap until the generated builders (uapi.SQE.PrepX) land; then these
// helpers go and the callers use the builders.

func prepRW(s *uapi.SQE, op uapi.Op, fd int, addr uint64, n uint32, off uint64) {
	s.Opcode = op
	s.FD = int32(fd)
	s.Addr = addr
	s.Len = n
	s.Off = off
}

// prepSocket: fd = domain, off = type, len = protocol, file_index for a
// direct descriptor (slot+1, or IORING_FILE_INDEX_ALLOC).
func prepSocket(s *uapi.SQE, domain, typ, proto int) {
	prepRW(s, uapi.OpSocket, domain, 0, uint32(proto), uint64(typ))
}

// prepAccept: addr = sockaddr, addr2 = &addrlen, accept_flags = SOCK_*
// flags, ioprio = IORING_ACCEPT_*.
func prepAccept(s *uapi.SQE, fd int, addr, addrLen uint64, flags int) {
	prepRW(s, uapi.OpAccept, fd, addr, 0, addrLen)
	s.SetAcceptFlags(uint32(flags))
}

// setFileIndex stores a direct-descriptor slot: the kernel takes slot+1
// (0 means "not direct"), and IORING_FILE_INDEX_ALLOC as is.
func setFileIndex(s *uapi.SQE, slot uint32) {
	if slot != uapi.FileIndexAlloc {
		slot++
	}
	s.SetFileIndex(slot)
}

// prepCmdSock: a socket uring_cmd (IORING_OP_URING_CMD on a socket) with
// cmd_op = SOCKET_URING_OP_*, level/optname in the addr union, optval in
// addr3 and optlen in the splice_fd_in union.
func prepCmdSock(s *uapi.SQE, op uapi.SocketOp, fd int, level, name int, optval uint64, optlen uint32) {
	s.Opcode = uapi.OpUringCmd
	s.FD = int32(fd)
	s.SetCmdOp(uint32(op))
	s.SetLevel(uint32(level))
	s.SetOptname(uint32(name))
	s.SetOptval(optval)
	s.SetOptlen(optlen)
}
