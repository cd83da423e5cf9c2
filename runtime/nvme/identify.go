package nvme

import (
	"encoding/binary"
	"strings"
)

// IdentifySize is the size of every Identify data structure.
const IdentifySize = 4096

// Identify CNS values (Controller or Namespace Structure).
const (
	CNSNamespace  = 0x00
	CNSController = 0x01
)

// Controller is the part of the Identify Controller data structure a host
// program uses, in NVMe's little-endian layout.
type Controller struct {
	VendorID          uint16 // VID
	SubsystemVendorID uint16 // SSVID
	Serial            string // SN, trimmed
	Model             string // MN, trimmed
	Firmware          string // FR, trimmed
	// MDTS is the Maximum Data Transfer Size, a power of two in units of
	// the minimum memory page size (0: no limit).
	MDTS         uint8
	ControllerID uint16 // CNTLID
	Version      uint32 // VER: major << 16 | minor << 8 | tertiary
	Namespaces   uint32 // NN: the highest namespace ID
}

// ParseController decodes Identify Controller data.
func ParseController(b []byte) Controller {
	le := binary.LittleEndian
	return Controller{
		VendorID:          le.Uint16(b[0:]),
		SubsystemVendorID: le.Uint16(b[2:]),
		Serial:            trim(b[4:24]),
		Model:             trim(b[24:64]),
		Firmware:          trim(b[64:72]),
		MDTS:              b[77],
		ControllerID:      le.Uint16(b[78:]),
		Version:           le.Uint32(b[80:]),
		Namespaces:        le.Uint32(b[516:]),
	}
}

// Namespace is the part of the Identify Namespace data structure a host
// program uses, with the LBA format in use decoded.
type Namespace struct {
	Size     uint64 // NSZE, in logical blocks
	Capacity uint64 // NCAP
	Used     uint64 // NUSE
	// BlockSize is the data size of a logical block; MetadataSize the
	// metadata bytes that go with each (0 without metadata).
	BlockSize    int
	MetadataSize int
	// ExtendedLBA: the metadata is at the end of each block's data
	// (FLBAS bit 4) rather than in a separate buffer.
	ExtendedLBA bool
	// PIType is the end-to-end protection information type in use
	// (DPS bits 0-2: 0 none, 1-3 types 1-3); PIFirst says it is in the
	// first bytes of the metadata rather than the last.
	PIType  int
	PIFirst bool
	// Format is the index of the LBA format in use.
	Format int
}

// ParseNamespace decodes Identify Namespace data.
func ParseNamespace(b []byte) Namespace {
	le := binary.LittleEndian
	flbas := b[26]
	format := int(flbas&0xf) | int(flbas>>5&3)<<4
	lbaf := le.Uint32(b[128+4*format:])
	return Namespace{
		Size:         le.Uint64(b[0:]),
		Capacity:     le.Uint64(b[8:]),
		Used:         le.Uint64(b[16:]),
		BlockSize:    1 << (lbaf >> 16 & 0xff),
		MetadataSize: int(lbaf & 0xffff),
		ExtendedLBA:  flbas&0x10 != 0,
		PIType:       int(b[29] & 7),
		PIFirst:      b[29]&8 != 0,
		Format:       format,
	}
}

func trim(b []byte) string {
	return strings.TrimRight(strings.TrimRight(string(b), "\x00"), " ")
}
