// Package query asks the kernel what its io_uring supports, through
// io_uring_register(2) with IORING_REGISTER_QUERY (linux/io_uring/query.h).
//
// Every query op of the pinned header is covered: IO_URING_QUERY_OPCODES,
// IO_URING_QUERY_ZCRX, IO_URING_QUERY_SCQ and IO_URING_QUERY_ZCRX_EVENT. All
// of them travel as one chain of struct io_uring_query_hdr in a single
// system call, with a ring file descriptor or with -1 (no ring needed).
//
// The interface is forward compatible in both directions: each header carries
// the size of the caller's buffer, the kernel answers with the number of bytes
// it filled, and the bytes it did not fill read as zero. An older kernel that
// knows fewer ops answers the unknown ones with EOPNOTSUPP in the entry's own
// result, while the rest of the chain is still answered. A kernel without the
// query interface at all (before 6.18) fails the whole call with EINVAL; see
// [Available].
package query

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/heap"
)

// NoRing is the file descriptor to pass when no ring is at hand: the kernel
// answers queries "blind", without a ring.
const NoRing = -1

// Entry is one query of a chain: the op to ask and the caller's buffer for
// the answer. Run fills Size and Err.
type Entry struct {
	// Op is the IO_URING_QUERY_* opcode.
	Op uapi.QueryOp
	// Data is the answer buffer. Its bytes are also the query's input (the
	// kernel reads them first), so zero it unless an op documents input.
	// The kernel writes at most len(Data) bytes.
	Data []byte
	// Size is the number of bytes of Data the kernel filled. Run zeroes
	// Data[Size:], so fields a smaller (older) answer lacks read as zero.
	Size int
	// Err is the entry's own result: nil, or an error wrapping the
	// unix.Errno the kernel put in the header (EOPNOTSUPP for an op the
	// kernel does not know).
	Err error
}

// Run sends all entries as one chain in a single io_uring_register(2) call on
// ringFD (or NoRing) and fills each entry's Size and Err. The returned error
// reports a failure of the call itself (for example EINVAL from a kernel
// without the query interface); per-entry failures are in Entry.Err.
func Run(ringFD int, entries []Entry) error {
	return RunOn(fdRegistrar(ringFD), entries)
}

// Registrar is an io_uring_register(2) call bound to a ring, such as the
// method value ring.(*Ring).Register; it lets a ring that is reachable only
// through its registered index (IORING_REGISTER_USE_REGISTERED_RING) answer
// queries too.
type Registrar func(op uapi.RegisterOp, arg unsafe.Pointer, nargs uint32) (int, error)

func fdRegistrar(fd int) Registrar {
	return func(op uapi.RegisterOp, arg unsafe.Pointer, nargs uint32) (int, error) {
		for {
			r, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(op), uintptr(arg), uintptr(nargs), 0, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				return int(r), fmt.Errorf("io_uring_register %s: %w", op, errno)
			}
			return int(r), nil
		}
	}
}

// RunOn is Run through reg.
func RunOn(reg Registrar, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	// One allocation for all headers; the kernel follows next_entry, so the
	// headers and buffers must stay reachable until the call returns.
	hdrs := make([]uapi.QueryHdr, len(entries))
	for i := range entries {
		e := &entries[i]
		if uint64(len(e.Data)) > uint64(^uint32(0)) {
			return fmt.Errorf("io_uring query %s: buffer of %d bytes: %w", e.Op, len(e.Data), unix.EINVAL)
		}
		h := &hdrs[i]
		h.QueryOp = e.Op
		h.Size = uint32(len(e.Data))
		if len(e.Data) > 0 {
			p := unsafe.Pointer(&e.Data[0])
			heap.Escape(p)
			h.QueryData = uint64(uintptr(p))
		}
		if i+1 < len(entries) {
			h.NextEntry = uint64(uintptr(unsafe.Pointer(&hdrs[i+1])))
		}
	}
	// nr_args must be 0 for IORING_REGISTER_QUERY.
	_, err := reg(uapi.RegisterQuery, unsafe.Pointer(&hdrs[0]), 0)
	runtime.KeepAlive(hdrs)
	runtime.KeepAlive(entries)
	if err != nil {
		return err
	}
	for i := range entries {
		e, h := &entries[i], &hdrs[i]
		size := min(int(h.Size), len(e.Data))
		e.Size = size
		clear(e.Data[size:])
		e.Err = nil
		if h.Result < 0 {
			e.Err = fmt.Errorf("io_uring query %s: %w", e.Op, unix.Errno(-h.Result))
		}
	}
	return nil
}

// Answer is the typed answer to one query op.
type Answer[T any] struct {
	// Value holds the answer; bytes past Size are zero.
	Value T
	// Size is the number of bytes of Value the kernel filled.
	Size int
	// Err is nil when the kernel answered, or wraps the entry's errno
	// (EOPNOTSUPP: this kernel does not know the op).
	Err error
}

// OK reports whether the kernel answered the op.
func (a *Answer[T]) OK() bool { return a.Err == nil && a.Size > 0 }

// Covers reports whether the kernel's answer reaches the end offset end of
// Value, that is whether a field ending there was filled (and not zeroed
// because an older kernel's answer is shorter). Pass
// unsafe.Offsetof(field)+unsafe.Sizeof(field).
func (a *Answer[T]) Covers(end uintptr) bool { return a.Err == nil && uintptr(a.Size) >= end }

func (a *Answer[T]) entry(op uapi.QueryOp) Entry {
	var zero T
	a.Value = zero
	return Entry{Op: op, Data: unsafe.Slice((*byte)(unsafe.Pointer(&a.Value)), unsafe.Sizeof(a.Value))}
}

func (a *Answer[T]) take(e *Entry) { a.Size, a.Err = e.Size, e.Err }

// Info holds the answers to every query op of the pinned header.
type Info struct {
	// Opcodes answers IO_URING_QUERY_OPCODES: the numbers of request,
	// register and query opcodes and the feature, setup, enter and SQE flag
	// masks.
	Opcodes Answer[uapi.QueryOpcode]
	// ZCRX answers IO_URING_QUERY_ZCRX: zero-copy receive registration and
	// area flags, control ops, features and the refill ring header layout.
	ZCRX Answer[uapi.QueryZCRX]
	// SCQ answers IO_URING_QUERY_SCQ: the SQ/CQ ring header size and
	// alignment (for rings in caller memory).
	SCQ Answer[uapi.QuerySCQ]
	// ZCRXEvent answers IO_URING_QUERY_ZCRX_EVENT: zcrx event flags and the
	// size and alignment of the statistics block.
	ZCRXEvent Answer[uapi.QueryZCRXEvent]
}

// All asks every query op in one system call, on ringFD or NoRing.
// It fails only when the call itself fails; ops this kernel does not know
// carry their error in the matching Answer.
func All(ringFD int) (*Info, error) { return AllOn(fdRegistrar(ringFD)) }

// AllOn is All through reg.
func AllOn(reg Registrar) (*Info, error) {
	info := new(Info)
	entries := []Entry{
		info.Opcodes.entry(uapi.QueryOpOpcodes),
		info.ZCRX.entry(uapi.QueryOpZCRX),
		info.SCQ.entry(uapi.QueryOpSCQ),
		info.ZCRXEvent.entry(uapi.QueryOpZCRXEvent),
	}
	if err := RunOn(reg, entries); err != nil {
		return nil, err
	}
	info.Opcodes.take(&entries[0])
	info.ZCRX.take(&entries[1])
	info.SCQ.take(&entries[2])
	info.ZCRXEvent.take(&entries[3])
	return info, nil
}

// Available reports whether the running kernel has the query interface.
// The error is nil when it has; otherwise it says why not.
func Available() error {
	var a Answer[uapi.QueryOpcode]
	e := []Entry{a.entry(uapi.QueryOpOpcodes)}
	if err := Run(NoRing, e); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("kernel has no IORING_REGISTER_QUERY: %w", err)
		}
		return err
	}
	return e[0].Err
}

// Supports reports whether the kernel that produced info knows query op op.
// IO_URING_QUERY_OPCODES is known whenever the query interface exists; the
// others are counted by its nr_query_opcodes (which the first kernel with
// queries, 6.18, leaves zero).
func (info *Info) Supports(op uapi.QueryOp) bool {
	if op == uapi.QueryOpOpcodes {
		return info.Opcodes.OK()
	}
	return info.Opcodes.OK() && uint32(op) < info.Opcodes.Value.NrQueryOpcodes
}
