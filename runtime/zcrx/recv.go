package zcrx

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// PrepRecv fills sqe with a multishot IORING_OP_RECV_ZC on socket fd for
// this queue (through the generated builder, which zeroes the SQE: set
// UserData after). limit caps the bytes the request delivers in total (0:
// no limit); when it is reached the request ends with a completion of res 0
// without IORING_CQE_F_MORE.
func (q *IFQ) PrepRecv(sqe *uapi.SQE, fd int, limit uint32) {
	sqe.PrepRecvZC(int32(fd), limit, q.id, 0)
}

// Buf is a zero-copy view of received bytes in a receive area. Data is
// valid until the Buf is released; after Release the kernel may reuse the
// memory for new data.
type Buf struct {
	// Data is the received bytes, in place in the area.
	Data []byte
	// Area is the index of the area that holds Data.
	Area int
	// Offset is the byte offset of Data within its area.
	Offset uint64
	off    uint64 // area token | offset, as the refill ring wants it
	n      uint32 // length; 0 for the empty Buf
}

// Len returns the number of bytes received into b (also for dma-buf
// areas, where Data is nil).
func (b Buf) Len() int { return int(b.n) }

// Buf decodes a RECV_ZC completion: the struct io_uring_zcrx_cqe in the
// upper half of the 32-byte CQE names the area (bits from
// IORING_ZCRX_AREA_SHIFT up) and the offset in it. A completion with res 0
// carries no data (the request ended: limit reached or peer closed) and
// returns an empty Buf. A negative res is returned as an error wrapping
// the errno. Every non-empty Buf must be released.
func (q *IFQ) Buf(c *uapi.CQE) (Buf, error) {
	if q.closed {
		return Buf{}, q.closedError("Buf")
	}
	if err := ring.ResultError("zcrx recv", c.Res); err != nil {
		return Buf{}, err
	}
	if c.Res == 0 {
		return Buf{}, nil
	}
	if !q.cqe32 && c.Flags&uapi.CQEF32 == 0 {
		return Buf{}, fmt.Errorf("zcrx %d: recv completion without the 32-byte zcrx part (flags %s): %w", q.id, c.Flags, unix.EPROTO)
	}
	off := ring.CQE32(c)[0]
	b, err := q.locate(off, uint64(c.Res))
	if err != nil {
		return Buf{}, err
	}
	q.acct.Buffers++
	q.acct.Bytes += uint64(b.n)
	return b, nil
}

// locate maps an area token|offset and a length to the area's memory.
func (q *IFQ) locate(off, n uint64) (Buf, error) {
	token := off & uapi.ZCRXAreaMask
	pos := off &^ uapi.ZCRXAreaMask
	for i := range q.sh.areas {
		a := &q.sh.areas[i]
		if a.token != token {
			continue
		}
		if pos > a.size || n > a.size-pos {
			return Buf{}, fmt.Errorf("zcrx %d: completion at offset %#x+%d outside area %d of %d bytes: %w", q.id, pos, n, i, a.size, unix.ERANGE)
		}
		b := Buf{Area: i, Offset: pos, off: off, n: uint32(n)}
		if a.mem != nil {
			b.Data = a.mem[pos : pos+n : pos+n]
		}
		return b, nil
	}
	return Buf{}, fmt.Errorf("zcrx %d: completion names unknown area token %#x: %w", q.id, token, unix.ERANGE)
}

// Release hands b's buffer back to the kernel through the refill ring. When
// the ring is full it flushes (ZCRX_CTRL_FLUSH_RQ) and retries.
func (q *IFQ) Release(b Buf) error {
	if q.closed {
		return q.closedError("Release")
	}
	if b.n == 0 {
		return nil // empty Buf: nothing to give back
	}
	if !q.sh.rq.push(b.off, b.n) {
		q.acct.FullFlushes++
		if err := q.flush(); err != nil {
			return err
		}
		if !q.sh.rq.push(b.off, b.n) {
			return fmt.Errorf("zcrx %d: refill ring still full (%d queued) after flush: %w", q.id, q.sh.rq.queued(), unix.EBUSY)
		}
	}
	q.acct.Released++
	return nil
}

// Event reports whether c is a zcrx event completion for this queue and
// which type fired. The type stays disarmed until ArmEvent.
func (q *IFQ) Event(c *uapi.CQE) (uapi.ZCRXEventType, bool) {
	if q.events == nil || c.UserData != q.events.UserData || c.Res < 0 {
		return 0, false
	}
	return uapi.ZCRXEventType(c.Res), true
}

func atomicLoad64(p *uint64) uint64 { return atomic.LoadUint64(p) }
