/*
Package bufring manages io_uring provided buffer rings
(IORING_REGISTER_PBUF_RING): a ring of buffer descriptors the application
fills and the kernel consumes when a request carries IOSQE_BUFFER_SELECT
and a buffer group ID. Receives then pick a buffer only when data arrives,
so thousands of idle connections need no buffer each.

	br, err := bufring.New(r, group, 256, 4096) // 256 buffers of 4 KiB
	...
	// after a recv CQE with IORING_CQE_F_BUFFER:
	data, bid, done, err := br.Data(cqe) // the received bytes
	use(data)
	if done {
		br.Return(bid) // hand the buffer back
	}

(Example shows it whole.) Both the descriptor ring and the buffers live in
memory mapped outside the Go heap, so the garbage collector never moves or
frees what the kernel may write; Close unregisters the ring and unmaps it.
After Close, Data, Bundle and Head return an error wrapping os.ErrClosed,
Buf returns nil, the counts are 0 and Put, Advance and Return do nothing.

# Memory ordering

The kernel reads descriptors up to the ring's 16-bit tail. Put writes a
descriptor, Advance publishes it with an atomic store of the tail (a store
release on every architecture Go supports), so the kernel never sees a tail
that covers a descriptor not yet written.

# Incremental consumption

With Incremental (IOU_PBUF_RING_INC, Linux 6.12) the kernel consumes a
buffer piece by piece: a short receive leaves the rest of the buffer in the
ring and sets IORING_CQE_F_BUF_MORE. Data returns the piece at the right
offset; the caller returns a buffer only when its last completion arrives
(no BUF_MORE), which Data reports.

# Bundles

A receive or send with IORING_RECVSEND_BUNDLE (Linux 6.10) may consume
several buffers in one completion; the CQE names the first buffer and the
byte count. Bundle walks the ring entries the kernel consumed, in order.

# Running dry

When a request needs a buffer and the ring is empty, it fails with ENOBUFS
(a multishot request terminates: no IORING_CQE_F_MORE). Dry reports that
case; the caller returns buffers and re-arms the request.

A Ring is used by one goroutine at a time, like the io_uring ring it belongs
to.
*/
package bufring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// Ring is one registered provided buffer ring (a buffer group).
type Ring struct {
	r       *ring.Ring
	group   uint16
	entries uint16 // power of two, at most 32768
	mask    uint16
	size    int // bytes per buffer
	inc     bool
	kmem    bool // the kernel allocated the descriptor ring (IOU_PBUF_RING_MMAP)

	descMem []byte     // the io_uring_buf_ring mapping
	descs   []uapi.Buf // descMem as descriptors
	tailw   *uint32    // the aligned 32-bit word holding the tail
	tailHi  bool       // tail is the word's high half (little endian)
	bufMem  []byte     // nbufs*size bytes of buffers
	tail    uint16     // local tail: descriptors written so far
	slotOf  []uint16   // ring slot (full 16-bit index) each bid was last put at
	off     []uint32   // bytes of each buffer already consumed (incremental)
	blen    []uint32   // length each buffer was put with
	out     []bool     // bid is with the kernel (true) or the caller
	inRing  int        // buffers currently published or staged
	nbufs   int
	closed  bool
}

// Option configures New.
type Option func(*config)

type config struct {
	flags    uapi.RegisterPBufRingFlags
	nbufs    int
	unfilled bool
}

// KernelMemory asks the kernel to allocate the descriptor ring
// (IOU_PBUF_RING_MMAP, Linux 6.4); it is then mapped from the ring fd.
func KernelMemory() Option {
	return func(c *config) { c.flags |= uapi.IouPBufRingMMap }
}

// Incremental enables incremental buffer consumption (IOU_PBUF_RING_INC,
// Linux 6.12).
func Incremental() Option {
	return func(c *config) { c.flags |= uapi.IouPBufRingInc }
}

// Buffers sets how many buffers to allocate (default: as many as ring
// entries). Fewer buffers than entries is how tests exhaust a ring.
func Buffers(n int) Option {
	return func(c *config) { c.nbufs = n }
}

// Unfilled leaves every buffer with the caller after New: for a group that
// sends (the caller fills buffers and queues them with PutLen).
func Unfilled() Option {
	return func(c *config) { c.unfilled = true }
}

// New allocates entries descriptors (a power of two, at most 32768) and the
// buffers (bufSize bytes each), registers the ring as buffer group group on
// r, and hands every buffer to the kernel (unless Unfilled).
func New(r *ring.Ring, group uint16, entries int, bufSize int, opts ...Option) (*Ring, error) {
	c := config{nbufs: entries}
	for _, o := range opts {
		o(&c)
	}
	if entries < 1 || entries > 1<<15 || entries&(entries-1) != 0 {
		return nil, fmt.Errorf("bufring: %d entries: not a power of two in [1, 32768]: %w", entries, unix.EINVAL)
	}
	if bufSize < 1 || bufSize > 1<<31-1 || c.nbufs < 0 || c.nbufs > entries {
		return nil, fmt.Errorf("bufring: %d buffers of %d bytes for %d entries: %w", c.nbufs, bufSize, entries, unix.EINVAL)
	}
	b := &Ring{
		r:       r,
		group:   group,
		entries: uint16(entries),
		mask:    uint16(entries - 1),
		size:    bufSize,
		inc:     c.flags&uapi.IouPBufRingInc != 0,
		kmem:    c.flags&uapi.IouPBufRingMMap != 0,
		nbufs:   c.nbufs,
		slotOf:  make([]uint16, c.nbufs),
		off:     make([]uint32, c.nbufs),
		blen:    make([]uint32, c.nbufs),
		out:     make([]bool, c.nbufs),
	}
	descBytes := entries * uapi.SizeofBuf
	var err error
	if !b.kmem {
		// The kernel pins this memory; it must be page aligned, which an
		// anonymous mapping is.
		b.descMem, err = unix.Mmap(-1, 0, descBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("bufring: mmap %d bytes: %w", descBytes, err)
		}
	}
	if err := r.RegisterPBufRing(group, uint32(entries), b.descMem, c.flags); err != nil {
		b.unmap()
		return nil, fmt.Errorf("bufring: register (%d entries, flags %v): %w", entries, c.flags, err)
	}
	if b.kmem {
		b.descMem, err = r.MapPBufRing(group, uint32(entries))
		if err != nil {
			b.unregister()
			return nil, fmt.Errorf("bufring: %w", err)
		}
	}
	if c.nbufs > 0 {
		b.bufMem, err = unix.Mmap(-1, 0, c.nbufs*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			b.unregister()
			b.unmap()
			return nil, fmt.Errorf("bufring: mmap %d buffers of %d bytes: %w", c.nbufs, bufSize, err)
		}
	}
	b.descs = unsafe.Slice((*uapi.Buf)(unsafe.Pointer(&b.descMem[0])), entries)
	// The 16-bit tail overlays bufs[0].resv at offset 14; Go has no 16-bit
	// atomics, so the tail is published through the 32-bit word at offset
	// 12, whose other half (bufs[0].bid) only this side ever writes.
	b.tailw = (*uint32)(unsafe.Pointer(&b.descMem[12]))
	b.tailHi = isLittleEndian()
	if !c.unfilled {
		for bid := range c.nbufs {
			b.Put(uint16(bid))
		}
		b.Advance()
	} else {
		b.inRing = 0
	}
	return b, nil
}

func isLittleEndian() bool {
	var x uint16 = 1
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// Group returns the buffer group ID that SQEs name in buf_group.
func (b *Ring) Group() uint16 { return b.group }

// BufSize returns the size of every buffer.
func (b *Ring) BufSize() int { return b.size }

// Len returns how many buffers the ring owns (0 after Close).
func (b *Ring) Len() int {
	if b.closed {
		return 0
	}
	return b.nbufs
}

// Entries returns the number of descriptor slots.
func (b *Ring) Entries() int { return int(b.entries) }

// Buf returns the whole of buffer bid (nil after Close).
func (b *Ring) Buf(bid uint16) []byte {
	if b.closed || int(bid) >= b.nbufs {
		return nil
	}
	o := int(bid) * b.size
	return b.bufMem[o : o+b.size : o+b.size]
}

// Put stages buffer bid (its whole length) for the kernel; Advance
// publishes staged buffers. Putting a buffer the kernel still holds
// corrupts the ring: only put buffers a completion handed back.
func (b *Ring) Put(bid uint16) { b.PutLen(bid, b.size) }

// PutLen stages the first n bytes of buffer bid: for a send that selects
// its data from the group (SendBundle), n is how much the buffer holds.
func (b *Ring) PutLen(bid uint16, n int) {
	if b.closed {
		return
	}
	if int(bid) >= b.nbufs || b.out[bid] {
		panic(fmt.Sprintf("bufring: Put(%d): buffer not held by the caller", bid))
	}
	if n < 0 || n > b.size {
		panic(fmt.Sprintf("bufring: PutLen(%d, %d): length outside the %d-byte buffer", bid, n, b.size))
	}
	d := &b.descs[b.tail&b.mask]
	d.Addr = uint64(uintptr(unsafe.Pointer(&b.bufMem[int(bid)*b.size])))
	d.Len = uint32(n)
	d.Bid = bid
	b.slotOf[bid] = b.tail
	b.off[bid] = 0
	b.blen[bid] = uint32(n)
	b.out[bid] = true
	b.inRing++
	b.tail++
}

// Advance publishes the buffers staged by Put to the kernel.
func (b *Ring) Advance() {
	if b.closed {
		return
	}
	w := atomic.LoadUint32(b.tailw)
	if b.tailHi {
		w = w&0xffff | uint32(b.tail)<<16
	} else {
		w = w&^0xffff | uint32(b.tail)
	}
	atomic.StoreUint32(b.tailw, w)
}

// Return puts buffer bid back and publishes it at once.
func (b *Ring) Return(bid uint16) {
	b.Put(bid)
	b.Advance()
}

// Available returns how many buffers are in the ring, not yet consumed by
// a completion the caller has processed with Data or Bundle.
func (b *Ring) Available() int {
	if b.closed {
		return 0
	}
	return b.inRing
}

// Held returns how many buffers the caller holds (handed out by Data or
// Bundle and not returned yet).
func (b *Ring) Held() int {
	if b.closed {
		return 0
	}
	return b.nbufs - b.inRing
}

// Head asks the kernel for its consumer head (IORING_REGISTER_PBUF_STATUS,
// Linux 6.8).
func (b *Ring) Head() (uint16, error) {
	if b.closed {
		return 0, b.closedError("Head")
	}
	h, err := b.r.PBufStatus(b.group)
	if err != nil {
		return 0, fmt.Errorf("bufring: status: %w", err)
	}
	return uint16(h), nil
}

// ErrNoBuffer reports a CQE that carries no buffer (no IORING_CQE_F_BUFFER).
var ErrNoBuffer = errors.New("bufring: completion carries no buffer")

// Dry reports whether c failed because the buffer group ran out of
// buffers (-ENOBUFS). A multishot request that ran dry has ended: return
// buffers, then submit it again.
func Dry(c *uapi.CQE) bool { return c.Res == -int32(unix.ENOBUFS) }

// BufferID returns the buffer ID a completion carries.
func BufferID(c *uapi.CQE) (uint16, bool) {
	if c.Flags&uapi.CQEFBuffer == 0 {
		return 0, false
	}
	return uint16(c.Flags >> uapi.CQEBufferShift), true
}

// Data returns the bytes a single-buffer completion (recv, read) placed in
// its buffer and the buffer's ID. done is false only for incremental rings
// when the kernel keeps using the buffer (IORING_CQE_F_BUF_MORE); when done
// is true the buffer belongs to the caller until Return. Data must see
// every buffer completion of the group, in CQE order.
func (b *Ring) Data(c *uapi.CQE) (data []byte, bid uint16, done bool, err error) {
	if b.closed {
		return nil, 0, false, b.closedError("Data")
	}
	bid, ok := BufferID(c)
	if !ok {
		return nil, 0, false, ErrNoBuffer
	}
	if int(bid) >= b.nbufs || !b.out[bid] {
		return nil, bid, false, fmt.Errorf("bufring: group %d: completion names buffer %d, which the kernel does not hold: %w", b.group, bid, unix.EINVAL)
	}
	n := max(int(c.Res), 0)
	if room := int(b.blen[bid]) - int(b.off[bid]); n > room {
		return nil, bid, false, fmt.Errorf("bufring: group %d: completion of %d bytes into buffer %d, which has %d left: %w", b.group, n, bid, max(room, 0), unix.EINVAL)
	}
	o := int(bid)*b.size + int(b.off[bid])
	data = b.bufMem[o : o+n : o+n]
	if b.inc && c.Flags&uapi.CQEFBufMore != 0 {
		b.off[bid] += uint32(n)
		return data, bid, false, nil
	}
	b.release(bid)
	return data, bid, true, nil
}

func (b *Ring) release(bid uint16) {
	b.out[bid] = false
	b.inRing--
}

// Bundle calls fn for each buffer of a bundle completion
// (IORING_RECVSEND_BUNDLE), in the order the kernel filled them, with the
// bytes each holds. Buffers for which done is true belong to the caller
// afterwards (return them with Put/Advance or Return); for an incremental
// ring the last one may stay with the kernel (done false). Process a bundle
// before returning buffers of later completions: the walk reads the ring
// slots the kernel consumed, which later Puts may overwrite.
func (b *Ring) Bundle(c *uapi.CQE, fn func(data []byte, bid uint16, done bool)) error {
	if b.closed {
		return b.closedError("Bundle")
	}
	bid, ok := BufferID(c)
	if !ok {
		return ErrNoBuffer
	}
	if int(bid) >= b.nbufs || !b.out[bid] {
		return fmt.Errorf("bufring: group %d: bundle starts at buffer %d, which the kernel does not hold: %w", b.group, bid, unix.EINVAL)
	}
	left := max(int(c.Res), 0)
	slot := b.slotOf[bid]
	for first := true; first || left > 0; first = false {
		id := b.descs[slot&b.mask].Bid
		if int(id) >= b.nbufs || !b.out[id] {
			return fmt.Errorf("bufring: group %d: bundle walks into buffer %d, which the kernel does not hold: %w", b.group, id, unix.EINVAL)
		}
		// Clamped: whatever the kernel reported before, the walk stays
		// inside the buffer.
		off := min(b.off[id], b.blen[id])
		n := min(int(b.blen[id]-off), left)
		o := int(id)*b.size + int(off)
		left -= n
		last := left == 0
		if b.inc && last && c.Flags&uapi.CQEFBufMore != 0 {
			b.off[id] = off + uint32(n)
			fn(b.bufMem[o:o+n:o+n], id, false)
			return nil
		}
		b.release(id)
		fn(b.bufMem[o:o+n:o+n], id, true)
		slot++
	}
	return nil
}

// Close unregisters the buffer group and unmaps its memory. Requests that
// may still pick buffers from the group must have completed (or been
// cancelled) first. Closing the io_uring ring first is fine: the kernel
// dropped the group with it. Close is idempotent.
func (b *Ring) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.unregister()
	if errors.Is(err, os.ErrClosed) {
		err = nil // the ring went first and took the group with it
	}
	b.unmap()
	return err
}

func (b *Ring) closedError(op string) error {
	return fmt.Errorf("bufring: group %d: %s after Close: %w", b.group, op, os.ErrClosed)
}

func (b *Ring) unregister() error {
	if err := b.r.UnregisterPBufRing(b.group); err != nil {
		return fmt.Errorf("bufring: unregister: %w", err)
	}
	return nil
}

func (b *Ring) unmap() {
	for _, m := range []*[]byte{&b.descMem, &b.bufMem} {
		if *m != nil {
			_ = unix.Munmap(*m) // fails only for a bad range, which these are not
			*m = nil
		}
	}
	b.descs = nil
}
