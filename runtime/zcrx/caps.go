package zcrx

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/query"
)

// Caps is what the running kernel's zcrx supports, from IO_URING_QUERY_ZCRX
// and IO_URING_QUERY_ZCRX_EVENT.
type Caps struct {
	// RegisterFlags holds the supported ZCRX_REG_* flags.
	RegisterFlags uapi.ZCRXRegFlags
	// AreaFlags holds the supported IORING_ZCRX_AREA_* flags.
	AreaFlags uapi.ZCRXAreaFlags
	// CtrlOps is the number of supported ZCRX_CTRL_* opcodes (they are
	// numbered from 0, so op is supported when op < CtrlOps).
	CtrlOps uint32
	// Features holds the ZCRX_FEATURE_* bits.
	Features uapi.ZCRXFeatures
	// RQHdrSize and RQHdrAlign describe the refill ring header that leads
	// the refill region; entries follow it at the aligned offset.
	RQHdrSize, RQHdrAlign uint32

	// EventQueried reports whether the kernel answered
	// IO_URING_QUERY_ZCRX_EVENT; the three fields below are zero otherwise.
	EventQueried bool
	// EventTypes is the mask of supported ZCRX_EVENT_* types (bit 1<<type).
	EventTypes uint32
	// StatsSize and StatsAlign describe struct zcrx_stats inside the
	// refill region.
	StatsSize, StatsAlign uint32
}

// QueryCaps asks the kernel (through ringFD, or query.NoRing) what its zcrx
// supports. It fails, wrapping the kernel's errno, when the kernel has no
// query interface or does not know IO_URING_QUERY_ZCRX (zcrx compiled out, or
// older than the zcrx query).
func QueryCaps(ringFD int) (*Caps, error) {
	info, err := query.All(ringFD)
	if err != nil {
		return nil, fmt.Errorf("zcrx: query capabilities: %w", err)
	}
	if info.ZCRX.Err != nil {
		return nil, fmt.Errorf("zcrx: query capabilities: %w", info.ZCRX.Err)
	}
	if !info.ZCRX.OK() {
		return nil, fmt.Errorf("zcrx: query capabilities: empty IO_URING_QUERY_ZCRX answer: %w", unix.EOPNOTSUPP)
	}
	z := info.ZCRX.Value
	c := &Caps{
		RegisterFlags: uapi.ZCRXRegFlags(z.RegisterFlags),
		AreaFlags:     uapi.ZCRXAreaFlags(z.AreaFlags),
		CtrlOps:       z.NrCtrlOpcodes,
		Features:      uapi.ZCRXFeatures(z.Features),
		RQHdrSize:     z.RQHdrSize,
		RQHdrAlign:    z.RQHdrAlignment,
	}
	if info.ZCRXEvent.OK() {
		e := info.ZCRXEvent.Value
		c.EventQueried = true
		c.EventTypes = e.EventFlags
		c.StatsSize = e.StatsSize
		c.StatsAlign = e.StatsOffAlignment
	}
	return c, nil
}

// NoDev reports whether ZCRX_REG_NODEV (copy mode without a network
// device) is supported.
func (c *Caps) NoDev() bool { return c.RegisterFlags&uapi.ZCRXRegNodev != 0 }

// Import reports whether ZCRX_REG_IMPORT (and so ZCRX_CTRL_EXPORT) is
// supported.
func (c *Caps) Import() bool { return c.RegisterFlags&uapi.ZCRXRegImport != 0 }

// Ctrl reports whether the kernel knows the IORING_REGISTER_ZCRX_CTRL op.
func (c *Caps) Ctrl(op uapi.ZCRXCtrlOp) bool { return uint32(op) < c.CtrlOps }

// Events reports whether zcrx events (struct zcrx_event_desc at
// registration, ZCRX_CTRL_ARM_EVENT) are supported.
func (c *Caps) Events() bool {
	return c.Features&uapi.ZCRXFeatureEvent != 0 && c.EventQueried && c.Ctrl(uapi.ZCRXCtrlOpArmEvent)
}

// EventType reports whether the event type t can be asked for.
func (c *Caps) EventType(t uapi.ZCRXEventType) bool {
	return c.Events() && t < 32 && c.EventTypes&(1<<t) != 0
}

// Stats reports whether a zcrx_stats block in the refill region is
// supported.
func (c *Caps) Stats() bool { return c.Events() && c.StatsSize >= uapi.SizeofZCRXStats }

// RefillLayout is where the pieces of a refill region lie.
type RefillLayout struct {
	// Entries is the number of refill entries (a power of two).
	Entries uint32
	// RQEs is the offset of the first entry (after the aligned header).
	RQEs int
	// Stats is the offset of struct zcrx_stats, or -1 when not asked for.
	Stats int
	// Size is the region size, a multiple of the page size.
	Size int
}

// Layout computes the refill region for entries refill entries (rounded up
// to a power of two, as the kernel does), with room for the statistics
// block when stats is set, from the header size and alignment the kernel
// reported.
func (c *Caps) Layout(entries uint32, stats bool) (RefillLayout, error) {
	if entries == 0 || entries > maxEntries {
		return RefillLayout{}, fmt.Errorf("zcrx: %d refill entries (want 1..%d): %w", entries, maxEntries, unix.EINVAL)
	}
	if stats && !c.Stats() {
		return RefillLayout{}, fmt.Errorf("zcrx: statistics block: kernel reports no zcrx_stats support: %w", unix.EOPNOTSUPP)
	}
	l := RefillLayout{Entries: roundPow2(entries), Stats: -1}
	hdrAlign := int(max(c.RQHdrAlign, 1))
	l.RQEs = alignUp(int(c.RQHdrSize), hdrAlign)
	end := l.RQEs + int(l.Entries)*uapi.SizeofZCRXRQE
	if stats {
		l.Stats = alignUp(end, int(max(c.StatsAlign, 1)))
		end = l.Stats + int(c.StatsSize)
	}
	l.Size = alignUp(end, os.Getpagesize())
	return l, nil
}

// maxEntries is the kernel's limit on refill entries (IO_RQ_MAX_ENTRIES);
// larger requests fail with EINVAL unless the ring has IORING_SETUP_CLAMP.
const maxEntries = 32768

func roundPow2(n uint32) uint32 {
	p := uint32(1)
	for p < n {
		p <<= 1
	}
	return p
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }
