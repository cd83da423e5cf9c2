package zcrx

import (
	"sync/atomic"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// refill is the user side of the refill queue: a single-producer ring of
// struct io_uring_zcrx_rqe whose tail the application advances and whose
// head the kernel advances as it takes buffers back.
type refill struct {
	khead *uint32 // written by the kernel
	ktail *uint32 // written by us, read by the kernel
	rqes  []uapi.ZCRXRQE
	mask  uint32
	tail  uint32 // our copy of *ktail
}

// newRefill maps the ring onto region mem at the offsets the kernel
// returned in struct io_uring_zcrx_offsets.
func newRefill(mem []byte, off uapi.ZCRXOffsets, entries uint32) refill {
	base := unsafe.Pointer(&mem[0])
	q := refill{
		khead: (*uint32)(unsafe.Add(base, off.Head)),
		ktail: (*uint32)(unsafe.Add(base, off.Tail)),
		rqes:  unsafe.Slice((*uapi.ZCRXRQE)(unsafe.Add(base, off.RQEs)), entries),
		mask:  entries - 1,
	}
	q.tail = atomic.LoadUint32(q.ktail)
	return q
}

// queued is the number of entries the kernel has not taken yet.
func (q *refill) queued() uint32 { return q.tail - atomic.LoadUint32(q.khead) }

// push queues one buffer (area token | offset, length). It reports false
// when the ring is full.
func (q *refill) push(off uint64, n uint32) bool {
	if q.queued() >= uint32(len(q.rqes)) {
		return false
	}
	e := &q.rqes[q.tail&q.mask]
	e.Off = off
	e.Len = n
	e.Pad = 0
	q.tail++
	// The header asks for a release store of the tail: the entry must be
	// visible before the kernel can see the new tail. Go's atomic store is
	// sequentially consistent, which includes release.
	atomic.StoreUint32(q.ktail, q.tail)
	return true
}
