package ring

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Provided buffer rings: only the registration calls live here; the type
// that fills a ring with buffers is built on top of them.

// PBufRingFlags are IOU_PBUF_RING_* registration flags.
type PBufRingFlags = uapi.RegisterPBufRingFlags

// RegisterPBufRing registers a provided buffer ring of entries entries (a
// power of two) as buffer group bgid (IORING_REGISTER_PBUF_RING). mem is the
// ring itself, entries * 16 bytes (struct io_uring_buf), page aligned: the
// kernel maps its pages until UnregisterPBufRing, and the ring keeps Go
// memory reachable that long. With IOU_PBUF_RING_MMAP, mem must be nil:
// the kernel allocates the ring and MapPBufRing maps it. IOU_PBUF_RING_INC
// lets a request consume part of a buffer (CQEs then carry
// IORING_CQE_F_BUF_MORE while the buffer has room left).
func (r *Ring) RegisterPBufRing(bgid uint16, entries uint32, mem []byte, flags PBufRingFlags) error {
	reg := uapi.BufReg{RingEntries: entries, Bgid: bgid, Flags: uint16(flags)}
	if mem != nil {
		if flags&uapi.IouPBufRingMMap != 0 {
			return fmt.Errorf("io_uring_register %s: memory given with IOU_PBUF_RING_MMAP: %w", uapi.RegisterPBufRing, unix.EINVAL)
		}
		if uint64(len(mem)) < uint64(entries)*uapi.SizeofBuf {
			return fmt.Errorf("io_uring_register %s: %d bytes for %d entries: %w", uapi.RegisterPBufRing, len(mem), entries, unix.EINVAL)
		}
		reg.RingAddr = ptrOf(mem)
	}
	if _, err := r.Register(uapi.RegisterPBufRing, unsafe.Pointer(&reg), 1); err != nil {
		return fmt.Errorf("buffer group %d: %w", bgid, err)
	}
	if mem != nil {
		p := r.pins()
		p.mu.Lock()
		p.bufRing[bgid] = mem
		p.mu.Unlock()
	}
	return nil
}

// MapPBufRing maps the ring of buffer group bgid registered with
// IOU_PBUF_RING_MMAP: entries * 16 bytes at mmap offset
// IORING_OFF_PBUF_RING | bgid << IORING_OFF_PBUF_SHIFT of the ring fd. The
// caller unmaps it with unix.Munmap after UnregisterPBufRing.
func (r *Ring) MapPBufRing(bgid uint16, entries uint32) ([]byte, error) {
	if err := r.unusable("MapPBufRing"); err != nil {
		return nil, err
	}
	if r.fd < 0 {
		return nil, fmt.Errorf("ring: map buffer ring: a REGISTERED_FD_ONLY ring has no fd to map: %w", unix.EBADF)
	}
	off := int64(uapi.OffPBufRing | uint64(bgid)<<uapi.OffPBufShift)
	mem, err := unix.Mmap(r.fd, off, int(entries)*uapi.SizeofBuf, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("ring: map buffer ring %d: %w", bgid, err)
	}
	return mem, nil
}

// UnregisterPBufRing removes buffer group bgid's ring
// (IORING_UNREGISTER_PBUF_RING).
func (r *Ring) UnregisterPBufRing(bgid uint16) error {
	reg := uapi.BufReg{Bgid: bgid}
	if _, err := r.Register(uapi.UnregisterPBufRing, unsafe.Pointer(&reg), 1); err != nil {
		return fmt.Errorf("buffer group %d: %w", bgid, err)
	}
	p := r.pins()
	p.mu.Lock()
	delete(p.bufRing, bgid)
	p.mu.Unlock()
	return nil
}

// PBufStatus returns the kernel's head of buffer group bgid's ring: how many
// buffers it has consumed, modulo 2^16 (IORING_REGISTER_PBUF_STATUS).
func (r *Ring) PBufStatus(bgid uint16) (head uint32, err error) {
	st := uapi.BufStatus{BufGroup: uint32(bgid)}
	if _, err := r.Register(uapi.RegisterPBufStatus, unsafe.Pointer(&st), 1); err != nil {
		return 0, fmt.Errorf("buffer group %d: %w", bgid, err)
	}
	return st.Head, nil
}
