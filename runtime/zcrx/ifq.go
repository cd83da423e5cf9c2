package zcrx

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// DefaultEntries is the refill ring size Register uses when Config.Entries
// is zero.
const DefaultEntries = 128

// Config describes an interface queue to register.
type Config struct {
	// Interface and Queue name the NIC receive queue (if_idx, if_rxq).
	// Both are ignored with NoDev.
	Interface, Queue uint32
	// NoDev registers a copy-mode instance without a network device
	// (ZCRX_REG_NODEV): every byte is copied into the area, and the refill
	// queue is consumed only on Flush. It works on loopback and any socket.
	NoDev bool
	// Entries is the number of refill ring entries (rounded up to a power
	// of two; DefaultEntries when zero).
	Entries uint32

	// The receive area, exactly one of: Area (caller memory: page-aligned,
	// a whole number of pages, writable; it must stay mapped until the ring
	// is closed), AreaSize (Register maps that many bytes and Close unmaps
	// them), or DMABuf.
	Area     []byte
	AreaSize int
	// HugePages asks for the AreaSize mapping to use 2 MiB huge pages
	// (MAP_HUGETLB), falling back to normal pages when none are reserved.
	HugePages bool
	// DMABuf registers a dma-buf as the area (IORING_ZCRX_AREA_DMABUF):
	// device memory the kernel cannot read, so it needs a NIC and there is
	// no copy fallback. Its bytes are not visible through Buf.Data.
	DMABuf *DMABuf

	// Region is caller memory for the refill ring (page-aligned, at least
	// Caps.Layout(...).Size bytes, zeroed). Nil lets the kernel allocate it;
	// Register then maps it from the ring fd.
	Region []byte
	// RXBufLen asks for receive buffers of this size (0: the page size);
	// needs ZCRX_FEATURE_RX_PAGE_SIZE and a NIC.
	RXBufLen uint32
	// Events, when set, asks for zcrx events and statistics.
	Events *EventConfig
	// Caps is the kernel's answer to QueryCaps; Register asks when nil.
	Caps *Caps
}

// DMABuf is a dma-buf area.
type DMABuf struct {
	FD  int
	Len uint64
}

// EventConfig asks for zcrx events (struct zcrx_event_desc).
type EventConfig struct {
	// UserData is the user_data of the event completions.
	UserData uint64
	// Types are the ZCRX_EVENT_* types to post. Each fires once, then
	// again only after ArmEvent.
	Types []uapi.ZCRXEventType
	// Stats places a struct zcrx_stats in the refill region, which the
	// kernel updates on copy fallbacks (read it with Stats, which says
	// which copies it counts).
	Stats bool
}

// area is one registered receive area.
type area struct {
	mem   []byte // nil for dma-buf areas
	size  uint64
	token uint64 // rq_area_token: area id << IORING_ZCRX_AREA_SHIFT
}

// shared is the state an exported zcrx and its imports have in common.
type shared struct {
	areas  []area
	rq     refill
	region []byte
	stats  *uapi.ZCRXStats
	owned  [][]byte // mappings Close unmaps
	offs   uapi.ZCRXOffsets
	huge   bool // the AreaSize mapping got huge pages
}

// IFQ is a registered zero-copy receive interface queue on a ring. Like the
// ring, it is used by one goroutine at a time.
type IFQ struct {
	r        *ring.Ring
	id       uint32
	nodev    bool
	sh       *shared
	events   *EventConfig
	acct     Accounting
	closed   bool
	cqe32    bool         // every CQE is 32 bytes (CQE32 ring)
	imported bool         // shares the exporter's memory; owns nothing
	flush    func() error // Flush; replaced by tests that simulate the kernel
}

func newIFQ(r *ring.Ring, id uint32, nodev bool, sh *shared, ev *EventConfig) *IFQ {
	q := &IFQ{r: r, id: id, nodev: nodev, sh: sh, events: ev, cqe32: r.Flags()&uapi.SetupCqe32 != 0}
	q.flush = q.Flush
	return q
}

// Accounting counts what went through the IFQ on the user side.
type Accounting struct {
	// Buffers and Bytes count the receive completions decoded by Buf and
	// the bytes they carried.
	Buffers, Bytes uint64
	// Released counts buffers handed back through Release.
	Released uint64
	// Flushes counts ZCRX_CTRL_FLUSH_RQ calls; FullFlushes those Release
	// made because the refill ring was full.
	Flushes, FullFlushes uint64
}

// Outstanding is the number of buffers decoded but not yet released.
func (a Accounting) Outstanding() uint64 { return a.Buffers - a.Released }

// Register registers an interface queue on r (IORING_REGISTER_ZCRX_IFQ).
// The ring must have been set up with IORING_SETUP_DEFER_TASKRUN (so also
// SINGLE_ISSUER) and IORING_SETUP_CQE32 or IORING_SETUP_CQE_MIXED, and the
// process needs CAP_NET_ADMIN. The queue lives as long as the ring: there is
// no unregistering; close the ring, then Close the IFQ.
func Register(r *ring.Ring, c Config) (*IFQ, error) {
	if err := checkRing(r); err != nil {
		return nil, err
	}
	caps := c.Caps
	if caps == nil {
		var err error
		if caps, err = QueryCaps(r.FD()); err != nil {
			// Kernels before the query (6.15 to 6.17) have zcrx with a NIC
			// and a refill header that fits in one page.
			caps = &Caps{RQHdrSize: uint32(os.Getpagesize()), RQHdrAlign: uint32(os.Getpagesize())}
		}
	}
	if c.NoDev && !caps.NoDev() {
		return nil, fmt.Errorf("zcrx: register ifq: kernel does not support ZCRX_REG_NODEV: %w", unix.EOPNOTSUPP)
	}
	if c.Events != nil && !caps.Events() {
		return nil, fmt.Errorf("zcrx: register ifq: kernel does not support zcrx events: %w", unix.EOPNOTSUPP)
	}
	entries := c.Entries
	if entries == 0 {
		entries = DefaultEntries
	}
	layout, err := caps.Layout(entries, c.Events != nil && c.Events.Stats)
	if err != nil {
		return nil, err
	}

	sh := new(shared)
	ok := false
	defer func() {
		if !ok {
			sh.unmap()
		}
	}()

	// The kernel reads and writes these after converting their addresses
	// to integers, which the garbage collector does not follow; they are
	// kept alive explicitly until the call returns.
	areg := new(uapi.ZCRXAreaReg)
	var areaMem []byte
	switch {
	case c.DMABuf != nil:
		if c.Area != nil || c.AreaSize != 0 {
			return nil, fmt.Errorf("zcrx: register ifq: both a dma-buf and memory given for the area: %w", unix.EINVAL)
		}
		areg.Flags = uint32(uapi.ZCRXAreaDMABuf)
		areg.DMABufFD = uint32(c.DMABuf.FD)
		areg.Len = c.DMABuf.Len
	case c.Area != nil:
		if c.AreaSize != 0 {
			return nil, fmt.Errorf("zcrx: register ifq: both Area and AreaSize given: %w", unix.EINVAL)
		}
		if err := checkMem("area", c.Area); err != nil {
			return nil, err
		}
		areaMem = c.Area
	case c.AreaSize > 0:
		m, huge, err := MapArea(c.AreaSize, c.HugePages)
		if err != nil {
			return nil, err
		}
		sh.owned = append(sh.owned, m)
		sh.huge = huge
		areaMem = m
	default:
		return nil, fmt.Errorf("zcrx: register ifq: no receive area (Area, AreaSize or DMABuf): %w", unix.EINVAL)
	}
	if areaMem != nil {
		areg.Addr = uint64(uintptr(unsafe.Pointer(&areaMem[0])))
		areg.Len = uint64(len(areaMem))
	}

	rd := new(uapi.RegionDesc)
	rd.Size = uint64(layout.Size)
	if c.Region == nil && r.FD() < 0 {
		return nil, fmt.Errorf("zcrx: register ifq: a kernel-allocated refill region is mapped through the ring fd, which this ring does not have; pass Config.Region: %w", unix.EINVAL)
	}
	if c.Region != nil {
		if err := checkMem("refill region", c.Region); err != nil {
			return nil, err
		}
		if len(c.Region) < layout.Size {
			return nil, fmt.Errorf("zcrx: register ifq: refill region of %d bytes, %d entries need %d: %w",
				len(c.Region), layout.Entries, layout.Size, unix.EINVAL)
		}
		rd.UserAddr = uint64(uintptr(unsafe.Pointer(&c.Region[0])))
		rd.Size = uint64(len(c.Region))
		rd.Flags = uapi.MemRegionTypeUser
	}

	reg := new(uapi.ZCRXIFQReg)
	reg.RQEntries = layout.Entries
	reg.AreaPtr = uint64(uintptr(unsafe.Pointer(areg)))
	reg.RegionPtr = uint64(uintptr(unsafe.Pointer(rd)))
	reg.RXBufLen = c.RXBufLen
	if c.NoDev {
		reg.Flags = uint32(uapi.ZCRXRegNodev)
	} else {
		reg.IfIdx = c.Interface
		reg.IfRxq = c.Queue
	}
	var ed *uapi.ZCRXEventDesc
	if c.Events != nil {
		ed = new(uapi.ZCRXEventDesc)
		ed.UserData = c.Events.UserData
		for _, t := range c.Events.Types {
			if !caps.EventType(t) {
				return nil, fmt.Errorf("zcrx: register ifq: event type %s not supported: %w", t, unix.EOPNOTSUPP)
			}
			ed.TypeMask |= 1 << t
		}
		if c.Events.Stats {
			ed.Flags = uint32(uapi.ZCRXEventDescFlagStats)
			ed.StatsOffset = uint64(layout.Stats)
		}
		reg.EventDesc = uint64(uintptr(unsafe.Pointer(ed)))
	}

	_, err = r.Register(uapi.RegisterZCRXIFQ, unsafe.Pointer(reg), 1)
	runtime.KeepAlive(areg)
	runtime.KeepAlive(rd)
	runtime.KeepAlive(ed)
	runtime.KeepAlive(areaMem)
	if err != nil {
		return nil, fmt.Errorf("zcrx: register ifq (%s): %w", describe(c, layout), err)
	}
	// From here the kernel holds the queue until the ring closes; a failure
	// below leaves it registered but unusable from this side.
	region := c.Region
	if region == nil {
		m, err := unix.Mmap(r.FD(), int64(rd.MMapOffset), int(rd.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("zcrx: map refill region (offset %#x, %d bytes): %w", rd.MMapOffset, rd.Size, err)
		}
		sh.owned = append(sh.owned, m)
		region = m
	}
	sh.region = region
	sh.areas = []area{{mem: areaMem, size: areg.Len, token: areg.RQAreaToken}}
	sh.rq = newRefill(region, reg.Offsets, reg.RQEntries)
	sh.offs = reg.Offsets
	if c.Events != nil && c.Events.Stats {
		sh.stats = (*uapi.ZCRXStats)(unsafe.Pointer(&region[layout.Stats]))
	}
	ok = true
	return newIFQ(r, reg.ZCRXID, c.NoDev, sh, c.Events), nil
}

// describe names the parameters of a registration for error messages.
func describe(c Config, l RefillLayout) string {
	mode := fmt.Sprintf("if_idx %d rxq %d", c.Interface, c.Queue)
	if c.NoDev {
		mode = "ZCRX_REG_NODEV"
	}
	return fmt.Sprintf("%s, %d refill entries, region %d bytes", mode, l.Entries, l.Size)
}

func checkRing(r *ring.Ring) error {
	f := r.Flags()
	if f&uapi.SetupDeferTaskrun == 0 {
		return fmt.Errorf("zcrx: ring lacks IORING_SETUP_DEFER_TASKRUN (flags %s): %w", f, unix.EINVAL)
	}
	if f&(uapi.SetupCqe32|uapi.SetupCQEMixed) == 0 {
		return fmt.Errorf("zcrx: ring lacks IORING_SETUP_CQE32 or IORING_SETUP_CQE_MIXED (flags %s): %w", f, unix.EINVAL)
	}
	return nil
}

func checkMem(what string, b []byte) error {
	page := uintptr(os.Getpagesize())
	if len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%page != 0 || uintptr(len(b))%page != 0 {
		return fmt.Errorf("zcrx: %s must be page-aligned whole pages (%d bytes): %w", what, len(b), unix.EINVAL)
	}
	return nil
}

// MapArea maps size bytes (rounded up to the page size, or to 2 MiB with
// huge pages) of anonymous memory for a receive area. With huge set it tries
// MAP_HUGETLB first and reports whether it got huge pages. Free it with
// unix.Munmap, after the ring that registered it is closed.
func MapArea(size int, huge bool) (mem []byte, gotHuge bool, err error) {
	if size <= 0 {
		return nil, false, fmt.Errorf("zcrx: map area of %d bytes: %w", size, unix.EINVAL)
	}
	const hugeSize = 2 << 20
	if huge {
		n := alignUp(size, hugeSize)
		m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_HUGETLB|unix.MAP_POPULATE)
		if err == nil {
			return m, true, nil
		}
	}
	n := alignUp(size, os.Getpagesize())
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, false, fmt.Errorf("zcrx: map area of %d bytes: %w", n, err)
	}
	return m, false, nil
}

// ID returns the zcrx id (zcrx_id), which RECV_ZC requests name.
func (q *IFQ) ID() uint32 { return q.id }

// Entries returns the size of the refill ring.
func (q *IFQ) Entries() uint32 { return uint32(len(q.sh.rq.rqes)) }

// Area returns the memory of area i (0 is the one given at registration;
// AddArea appends), nil for a dma-buf area and after Close.
func (q *IFQ) Area(i int) []byte {
	if q.closed {
		return nil
	}
	return q.sh.areas[i].mem
}

// AreaToken returns the rq_area_token the kernel gave area i.
func (q *IFQ) AreaToken(i int) uint64 { return q.sh.areas[i].token }

// Areas returns the number of registered areas.
func (q *IFQ) Areas() int { return len(q.sh.areas) }

// HugePages reports whether the area Register mapped (Config.AreaSize with
// HugePages) got huge pages.
func (q *IFQ) HugePages() bool { return q.sh.huge }

// Offsets returns where the kernel placed the refill ring's head, tail and
// entries in the refill region.
func (q *IFQ) Offsets() uapi.ZCRXOffsets { return q.sh.offs }

// Accounting returns the user-side counters.
func (q *IFQ) Accounting() Accounting { return q.acct }

// Queued returns the number of released buffers the kernel has not taken
// back from the refill ring yet (0 after Close).
func (q *IFQ) Queued() uint32 {
	if q.closed {
		return 0
	}
	return q.sh.rq.queued()
}

// closedError is what the methods of a closed IFQ return.
func (q *IFQ) closedError(op string) error {
	return fmt.Errorf("zcrx %d: %s after Close: %w", q.id, op, os.ErrClosed)
}

// ctrl runs one IORING_REGISTER_ZCRX_CTRL op.
func (q *IFQ) ctrl(op uapi.ZCRXCtrlOp, c *uapi.ZCRXCtrl) error {
	if q.closed {
		return q.closedError(op.String())
	}
	c.ZCRXID = q.id
	c.Op = uint32(op)
	_, err := q.r.Register(uapi.RegisterZCRXCtrl, unsafe.Pointer(c), 0)
	if err != nil {
		return fmt.Errorf("zcrx %d: %s: %w", q.id, op, err)
	}
	return nil
}

// Flush makes the kernel take back every buffer queued on the refill ring
// (ZCRX_CTRL_FLUSH_RQ). NoDev instances consume the refill ring only this
// way; Release flushes by itself when the ring is full.
func (q *IFQ) Flush() error {
	q.acct.Flushes++
	return q.ctrl(uapi.ZCRXCtrlOpFlushRQ, new(uapi.ZCRXCtrl))
}

// Export wraps the queue in a new file descriptor (ZCRX_CTRL_EXPORT) that
// Import registers into another ring, in this or another process. The
// caller closes it when done.
func (q *IFQ) Export() (int, error) {
	c := new(uapi.ZCRXCtrl)
	if err := q.ctrl(uapi.ZCRXCtrlOpExport, c); err != nil {
		return -1, err
	}
	return int(c.ZCExport().ZCRXFD), nil
}

// Import registers the zcrx exported as fd into ring r (ZCRX_REG_IMPORT). The
// imported queue shares the exporter's areas and refill ring: from names the
// exporting IFQ in this process, whose memory the new IFQ then uses for
// Buf and Release. The two IFQs must not be used concurrently.
func Import(r *ring.Ring, fd int, from *IFQ) (*IFQ, error) {
	if err := checkRing(r); err != nil {
		return nil, err
	}
	if from == nil {
		return nil, fmt.Errorf("zcrx: import fd %d: no exporting IFQ to share memory with: %w", fd, unix.EINVAL)
	}
	reg := new(uapi.ZCRXIFQReg)
	reg.Flags = uint32(uapi.ZCRXRegImport)
	reg.IfIdx = uint32(fd)
	if _, err := r.Register(uapi.RegisterZCRXIFQ, unsafe.Pointer(reg), 1); err != nil {
		return nil, fmt.Errorf("zcrx: import fd %d: %w", fd, err)
	}
	q := newIFQ(r, reg.ZCRXID, from.nodev, from.sh, nil)
	q.imported = true
	return q, nil
}

// AddArea registers mem (page-aligned whole pages, mapped until the ring is
// closed) as one more receive area (ZCRX_CTRL_ADD_AREA) and returns its
// index for Area.
func (q *IFQ) AddArea(mem []byte) (int, error) {
	if err := checkMem("area", mem); err != nil {
		return -1, err
	}
	areg := new(uapi.ZCRXAreaReg)
	areg.Addr = uint64(uintptr(unsafe.Pointer(&mem[0])))
	areg.Len = uint64(len(mem))
	c := new(uapi.ZCRXCtrl)
	c.ZCArea().AreaPtr = uint64(uintptr(unsafe.Pointer(areg)))
	err := q.ctrl(uapi.ZCRXCtrlOpAddArea, c)
	runtime.KeepAlive(areg)
	if err != nil {
		return -1, err
	}
	q.sh.areas = append(q.sh.areas, area{mem: mem, size: areg.Len, token: areg.RQAreaToken})
	return len(q.sh.areas) - 1, nil
}

// ArmEvent re-arms event type t after it fired (ZCRX_CTRL_ARM_EVENT).
func (q *IFQ) ArmEvent(t uapi.ZCRXEventType) error {
	c := new(uapi.ZCRXCtrl)
	c.ZCArmEvent().EventType = uint32(t)
	return q.ctrl(uapi.ZCRXCtrlOpArmEvent, c)
}

// Stats reads the kernel's copy-fallback statistics (struct zcrx_stats),
// which exist when EventConfig.Stats was set.
//
// The kernel counts only the copies it makes from a packet's page
// fragments. Bytes it copies from a packet's linear area are delivered
// like the rest but not counted: TCP moves a small segment into the
// linear area when it queues the segment behind a socket that a receive
// holds locked, and when it collapses a receive queue under memory
// pressure. So in NODEV mode, where every byte is a copy, CopyBytes can
// be a little below the bytes received.
//
// After Close there are none.
func (q *IFQ) Stats() (uapi.ZCRXStats, bool) {
	s := q.sh.stats
	if s == nil || q.closed {
		return uapi.ZCRXStats{}, false
	}
	// The kernel updates the counters with plain stores (WRITE_ONCE);
	// atomic loads keep the reads whole.
	return uapi.ZCRXStats{CopyCount: atomicLoad64(&s.CopyCount), CopyBytes: atomicLoad64(&s.CopyBytes)}, true
}

// Close releases the memory Register mapped (an AreaSize area, a kernel
// refill region). The kernel keeps the queue, and writes into that memory,
// until its ring is closed, so Close fails with EBUSY while the ring is
// open. Imported IFQs own nothing. Close is idempotent; afterwards Buf,
// Release, Receive and the control calls return an error wrapping
// os.ErrClosed, Area returns nil and Queued 0.
func (q *IFQ) Close() error {
	if q.closed {
		return nil
	}
	if q.r.FD() >= 0 {
		return fmt.Errorf("zcrx %d: close while the ring is open: %w", q.id, unix.EBUSY)
	}
	q.closed = true
	if q.imported {
		return nil // the exporting IFQ owns the memory
	}
	return q.sh.unmap()
}

func (sh *shared) unmap() error {
	var errs []error
	for _, m := range sh.owned {
		if err := unix.Munmap(m); err != nil {
			errs = append(errs, fmt.Errorf("zcrx: munmap: %w", err))
		}
	}
	sh.owned = nil
	return errors.Join(errs...)
}
