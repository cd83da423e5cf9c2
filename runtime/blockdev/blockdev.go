// Package blockdev supports the block device attributes of io_uring reads
// and writes: protection information (integrity metadata) passed with an
// O_DIRECT read or write (IORING_RW_ATTR_FLAG_PI, struct io_uring_attr_pi,
// IORING_FEAT_RW_ATTR, Linux 6.16), and per-I/O write streams (the SQE's
// write_stream, Linux 6.16).
//
// A write with protection information carries, beside the data, one tuple
// per protection interval in a metadata buffer; for the T10 DIF formats
// (T10-DIF-TYPE1-CRC and others) a tuple is 8 bytes, big-endian: a CRC16 of
// the interval's data (the guard), an application tag and a reference tag
// (for type 1, the interval's LBA, counting from the seed). The device
// checks the tags the flags name (uapi.IntegrityChkGuard, ...Reftag,
// ...Apptag) and rejects a write whose tags are wrong (EILSEQ); a read
// returns the stored tuples.
//
//	in, _ := blockdev.IntegrityOf("nvme0n2")         // format, tuple size, interval
//	meta := make([]byte, in.MetadataLen(len(data)))
//	blockdev.GenerateT10DIF(meta, data, in.Interval, uint32(off/512), 0x1234)
//	pi := blockdev.PIAttr(meta, uint64(off/512), 0x1234, uapi.IntegrityChkGuard|uapi.IntegrityChkReftag)
//	sqe.PrepWritePI(fd, data, uint64(off), &pi)       // pi and meta stay alive until the completion
//
// Write streams let a device that places data by stream (NVMe flexible
// data placement) keep data of like lifetime together: PrepWriteStream
// with a stream from 1 to MaxWriteStreams. A device without streams
// refuses a non-zero stream (EINVAL), regular files ignore it. qemu 7.2's
// NVMe emulation has no FDP, so the matrix tests only those two cases.
package blockdev

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// Integrity is a block device's integrity profile, from
// /sys/block/NAME/integrity.
type Integrity struct {
	// Format is the profile: "T10-DIF-TYPE1-CRC", "nop", "none" ...
	Format string
	// TupleSize is the protection information bytes per interval, by
	// format: 8 for the T10 DIF formats, 16 for the 64-bit guard ones
	// (EXT-DIF-*-CRC64), 0 for none or an unknown format.
	TupleSize int
	// Interval is the protection interval in bytes.
	Interval int
	// TagSize is the application tag bytes.
	TagSize int
}

// IntegrityOf reads the integrity profile of block device name ("nvme0n2"
// or "/dev/nvme0n2").
func IntegrityOf(name string) (Integrity, error) {
	dir := filepath.Join("/sys/block", filepath.Base(name), "integrity")
	read := func(f string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		return strings.TrimSpace(string(b)), err
	}
	num := func(f string) (int, error) {
		s, err := read(f)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(s)
	}
	var in Integrity
	var err error
	if in.Format, err = read("format"); err != nil {
		return in, err
	}
	in.TupleSize = tupleSize(in.Format)
	if in.Interval, err = num("protection_interval_bytes"); err != nil {
		// Kernels before 6.x name no interval: it is the logical block.
		b, lerr := os.ReadFile(filepath.Join("/sys/block", filepath.Base(name), "queue", "logical_block_size"))
		if lerr != nil {
			return in, err
		}
		if in.Interval, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			return in, err
		}
	}
	in.TagSize, _ = num("tag_size")
	return in, nil
}

// tupleSize is the PI tuple size of an integrity format (sysfs names no
// size).
func tupleSize(format string) int {
	switch {
	case strings.HasPrefix(format, "T10-DIF-"):
		return T10DIFTupleSize
	case strings.HasPrefix(format, "EXT-DIF-"):
		return 16
	}
	return 0
}

// MetadataLen is the metadata buffer size for n bytes of data.
func (in Integrity) MetadataLen(n int) int {
	if in.Interval == 0 {
		return 0
	}
	return n / in.Interval * in.TupleSize
}

// crcTable is CRC16 T10-DIF (polynomial 0x8bb7, no reflection) by byte.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x8bb7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16T10DIF is the T10 DIF guard of p, continuing from crc (0 to start).
func CRC16T10DIF(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^b]
	}
	return crc
}

// T10DIFTupleSize is the size of a T10 DIF tuple.
const T10DIFTupleSize = 8

// GenerateT10DIF fills meta with the T10 DIF tuples of data: per interval
// the guard, appTag and the reference tag seed+i.
func GenerateT10DIF(meta, data []byte, interval int, seed uint32, appTag uint16) error {
	n, err := intervals(meta, data, interval)
	if err != nil {
		return err
	}
	for i := range n {
		t := meta[i*T10DIFTupleSize:]
		binary.BigEndian.PutUint16(t, CRC16T10DIF(0, data[i*interval:(i+1)*interval]))
		binary.BigEndian.PutUint16(t[2:], appTag)
		binary.BigEndian.PutUint32(t[4:], seed+uint32(i))
	}
	return nil
}

// VerifyT10DIF checks meta's tuples against data: guards, and reference
// tags counting from seed.
func VerifyT10DIF(meta, data []byte, interval int, seed uint32) error {
	n, err := intervals(meta, data, interval)
	if err != nil {
		return err
	}
	for i := range n {
		t := meta[i*T10DIFTupleSize:]
		if g, want := binary.BigEndian.Uint16(t), CRC16T10DIF(0, data[i*interval:(i+1)*interval]); g != want {
			return fmt.Errorf("blockdev: interval %d: guard %#04x, data gives %#04x", i, g, want)
		}
		if r := binary.BigEndian.Uint32(t[4:]); r != seed+uint32(i) {
			return fmt.Errorf("blockdev: interval %d: reference tag %d, want %d", i, r, seed+uint32(i))
		}
	}
	return nil
}

func intervals(meta, data []byte, interval int) (int, error) {
	if interval <= 0 || len(data)%interval != 0 {
		return 0, fmt.Errorf("blockdev: %d bytes of data is not a whole number of %d-byte intervals", len(data), interval)
	}
	n := len(data) / interval
	if len(meta) < n*T10DIFTupleSize {
		return 0, fmt.Errorf("blockdev: metadata of %d bytes, %d intervals need %d", len(meta), n, n*T10DIFTupleSize)
	}
	return n, nil
}

// PIAttr describes meta as the protection information of a read or write
// (uapi.SQE.PrepReadPI, PrepWritePI): seed is the reference tag of the
// first interval (for type 1 its LBA in 512-byte sectors), appTag the
// application tag, flags the checks (uapi.IntegrityChkGuard ...). meta
// must stay alive and unmoved until the completion.
func PIAttr(meta []byte, seed uint64, appTag uint16, flags uapi.IntegrityFlags) uapi.AttrPI {
	a := uapi.AttrPI{Flags: flags, AppTag: appTag, Len: uint32(len(meta)), Seed: seed}
	if len(meta) > 0 {
		a.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(meta))))
	}
	return a
}

// MaxWriteStreams returns the number of write streams of block device
// name (/sys/block/NAME/queue/max_write_streams; Linux 6.16): 0 when it
// has none, and an error wrapping fs.ErrNotExist on kernels without write
// streams.
func MaxWriteStreams(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(name), "queue", "max_write_streams"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
