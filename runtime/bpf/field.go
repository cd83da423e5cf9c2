package bpf

import (
	"encoding/binary"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// Field is a field of struct io_uring_bpf_ctx (uapi.BPFCtx) that a program
// can load into the accumulator. Offsets and sizes come from the generated
// layout, never from hand-typed numbers.
type Field struct {
	name string
	off  uint32 // byte offset in io_uring_bpf_ctx
	size uint32 // 1, 2, 4 or 8 bytes
	// net marks a big-endian (network order) field; Load converts it to a
	// number so that comparisons and ranges work on any host.
	net bool
	// pdu is the size of the opcode-specific union member the field lives
	// in, or 0 for the common fields; a program reading it must register
	// with at least that pdu_size.
	pdu uint8
}

// Name returns the C name of the field, e.g. "connect.port".
func (f Field) Name() string { return f.name }

// Offset returns the byte offset of the field in struct io_uring_bpf_ctx.
func (f Field) Offset() uint32 { return f.off }

// Size returns the size of the field in bytes.
func (f Field) Size() uint32 { return f.size }

// Low returns the low 32 bits of a 64-bit field as a loadable field.
func (f Field) Low() Field {
	if f.size != 8 {
		return f
	}
	h := f
	h.name, h.size = f.name+".low", 4
	if !littleEndian {
		h.off += 4
	}
	return h
}

// High returns the high 32 bits of a 64-bit field as a loadable field.
func (f Field) High() Field {
	if f.size != 8 {
		return Field{name: f.name + ".high", size: 0}
	}
	h := f
	h.name, h.size = f.name+".high", 4
	if littleEndian {
		h.off += 4
	}
	return h
}

// Word returns the 32-bit word n (0-3) of the 16-byte field connect.v6_addr,
// in network order like the address itself: Word(0) holds the first four
// bytes of the address as a big-endian number.
func (f Field) Word(n int) Field {
	if f.size != 16 || n < 0 || n > 3 {
		return Field{name: f.name + ".word", size: 0}
	}
	h := f
	h.name, h.size = f.name+".word", 4
	h.off += uint32(n) * 4
	return h
}

var littleEndian = func() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}()

// ctxOffsets derives the union offsets from the generated accessors, which
// the generator emits at the header's true offsets.
var ctx uapi.BPFCtx

func offsetIn(base, p unsafe.Pointer) uint32 { return uint32(uintptr(p) - uintptr(base)) }

var (
	unionOff = offsetIn(unsafe.Pointer(&ctx), unsafe.Pointer(ctx.Socket()))
	addrOff  = offsetIn(unsafe.Pointer(ctx.Connect()), unsafe.Pointer(ctx.Connect().V6Addr()))
)

// The fields of struct io_uring_bpf_ctx.
var (
	// UserData is the SQE's user_data (64 bits; load Low or High).
	UserData = Field{name: "user_data", off: uint32(unsafe.Offsetof(ctx.UserData)), size: uint32(unsafe.Sizeof(ctx.UserData))}
	// Opcode is the request's IORING_OP_* opcode.
	Opcode = Field{name: "opcode", off: uint32(unsafe.Offsetof(ctx.Opcode)), size: uint32(unsafe.Sizeof(ctx.Opcode))}
	// SQEFlags holds the request's IOSQE_* flags.
	SQEFlags = Field{name: "sqe_flags", off: uint32(unsafe.Offsetof(ctx.SQEFlags)), size: uint32(unsafe.Sizeof(ctx.SQEFlags))}
	// PDUSize is the size of the opcode-specific data the kernel filled in.
	PDUSize = Field{name: "pdu_size", off: uint32(unsafe.Offsetof(ctx.PDUSize)), size: uint32(unsafe.Sizeof(ctx.PDUSize))}

	// SocketFamily is the domain argument of IORING_OP_SOCKET.
	SocketFamily = unionField("socket.family", unsafe.Offsetof(uapi.BPFCtxSocket{}.Family), unsafe.Sizeof(uapi.BPFCtxSocket{}.Family), false, uapi.SizeofBPFCtxSocket)
	// SocketType is the type argument of IORING_OP_SOCKET (with SOCK_* flags).
	SocketType = unionField("socket.type", unsafe.Offsetof(uapi.BPFCtxSocket{}.Type), unsafe.Sizeof(uapi.BPFCtxSocket{}.Type), false, uapi.SizeofBPFCtxSocket)
	// SocketProtocol is the protocol argument of IORING_OP_SOCKET.
	SocketProtocol = unionField("socket.protocol", unsafe.Offsetof(uapi.BPFCtxSocket{}.Protocol), unsafe.Sizeof(uapi.BPFCtxSocket{}.Protocol), false, uapi.SizeofBPFCtxSocket)

	// OpenFlags are the O_* flags of IORING_OP_OPENAT/OPENAT2 (64 bits).
	OpenFlags = unionField("open.flags", unsafe.Offsetof(uapi.BPFCtxOpen{}.Flags), unsafe.Sizeof(uapi.BPFCtxOpen{}.Flags), false, uapi.SizeofBPFCtxOpen)
	// OpenMode is the creation mode of IORING_OP_OPENAT/OPENAT2 (64 bits).
	OpenMode = unionField("open.mode", unsafe.Offsetof(uapi.BPFCtxOpen{}.Mode), unsafe.Sizeof(uapi.BPFCtxOpen{}.Mode), false, uapi.SizeofBPFCtxOpen)
	// OpenResolve holds the RESOLVE_* flags of IORING_OP_OPENAT2 (zero for
	// OPENAT) (64 bits).
	OpenResolve = unionField("open.resolve", unsafe.Offsetof(uapi.BPFCtxOpen{}.Resolve), unsafe.Sizeof(uapi.BPFCtxOpen{}.Resolve), false, uapi.SizeofBPFCtxOpen)

	// ConnectFamily is the address family of IORING_OP_CONNECT.
	ConnectFamily = unionField("connect.family", unsafe.Offsetof(uapi.BPFCtxConnect{}.Family), unsafe.Sizeof(uapi.BPFCtxConnect{}.Family), false, uapi.SizeofBPFCtxConnect)
	// ConnectPort is the IPv4/IPv6 port of IORING_OP_CONNECT; Load yields
	// it as a number (the kernel stores it in network order).
	ConnectPort = unionField("connect.port", unsafe.Offsetof(uapi.BPFCtxConnect{}.Port), unsafe.Sizeof(uapi.BPFCtxConnect{}.Port), true, uapi.SizeofBPFCtxConnect)
	// ConnectV4Addr is the IPv4 address of IORING_OP_CONNECT; Load yields it
	// as a number, 127.0.0.1 being 0x7f000001.
	ConnectV4Addr = unionField("connect.v4_addr", uintptr(addrOff), 4, true, uapi.SizeofBPFCtxConnect)
	// ConnectV6Addr is the 16-byte IPv6 address of IORING_OP_CONNECT; load
	// it a word at a time with Word.
	ConnectV6Addr = unionField("connect.v6_addr", uintptr(addrOff), unsafe.Sizeof(*ctx.Connect().V6Addr()), true, uapi.SizeofBPFCtxConnect)
)

func unionField(name string, off, size uintptr, net bool, pdu uintptr) Field {
	return Field{name: name, off: unionOff + uint32(off), size: uint32(size), net: net, pdu: uint8(pdu)}
}
