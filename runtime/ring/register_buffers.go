package ring

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Registered buffers: the kernel pins and maps the pages of each buffer
// until the registration ends (UnregisterBuffers, an update replacing the
// slot, or closing the ring), and fixed-buffer requests (READ_FIXED,
// WRITE_FIXED, SEND_ZC with a buffer index ...) read and write them with no
// further check. The ring therefore keeps every registered []byte reachable
// for as long as it is registered, so the garbage collector never frees and
// reuses memory the kernel still writes. The caller must still not hand the
// same memory to other code while requests use it.

func iovecs(bufs [][]byte) []unix.Iovec {
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) > 0 {
			iov[i].Base = &b[0]
			iov[i].SetLen(len(b))
		}
	}
	return iov
}

func (r *Ring) pinBuffers(off uint32, bufs [][]byte) {
	p := r.pins()
	p.mu.Lock()
	for i, b := range bufs {
		if b == nil {
			delete(p.buffers, off+uint32(i))
		} else {
			p.buffers[off+uint32(i)] = b
		}
	}
	p.mu.Unlock()
}

// RegisterBuffers registers bufs as the ring's fixed buffer table
// (IORING_REGISTER_BUFFERS); SQE.BufIndex then names buffer i. A nil or
// empty buffer leaves its slot empty. The ring keeps bufs reachable until
// they are unregistered (see above).
func (r *Ring) RegisterBuffers(bufs [][]byte) error {
	if len(bufs) == 0 {
		return noArgs("RegisterBuffers", "no buffers (RegisterBuffersSparse makes an empty table)")
	}
	iov := iovecs(bufs)
	_, err := r.Register(uapi.RegisterBuffers, unsafe.Pointer(unsafe.SliceData(iov)), uint32(len(iov)))
	runtime.KeepAlive(bufs)
	if err == nil {
		r.pinBuffers(0, bufs)
	}
	return err
}

// RegisterBuffersTagged registers bufs with a tag each
// (IORING_REGISTER_BUFFERS2): when a tagged buffer is replaced or
// unregistered the kernel posts a CQE with user_data = tag once no request
// uses it any more. A zero tag posts nothing; tags may be nil.
func (r *Ring) RegisterBuffersTagged(bufs [][]byte, tags []uint64) error {
	if len(bufs) == 0 {
		return noArgs("RegisterBuffersTagged", "no buffers (RegisterBuffersSparse makes an empty table)")
	}
	if err := tagsFor(uapi.RegisterBuffers2, len(bufs), tags); err != nil {
		return err
	}
	iov := iovecs(bufs)
	arg := uapi.RsrcRegister{Nr: uint32(len(iov)), Data: ptrOf(iov), Tags: ptrOf(tags)}
	_, err := r.Register(uapi.RegisterBuffers2, unsafe.Pointer(&arg), uapi.SizeofRsrcRegister)
	runtime.KeepAlive(iov)
	runtime.KeepAlive(tags)
	runtime.KeepAlive(bufs)
	if err == nil {
		r.pinBuffers(0, bufs)
	}
	return err
}

// RegisterBuffersSparse registers an empty fixed buffer table of n slots
// (IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE), to be filled
// with UpdateBuffers.
func (r *Ring) RegisterBuffersSparse(n uint32) error {
	if n == 0 {
		return noArgs("RegisterBuffersSparse", "a table of 0 slots")
	}
	arg := uapi.RsrcRegister{Nr: n, Flags: uapi.RsrcRegisterSparse}
	_, err := r.Register(uapi.RegisterBuffers2, unsafe.Pointer(&arg), uapi.SizeofRsrcRegister)
	return err
}

// UnregisterBuffers drops the fixed buffer table
// (IORING_UNREGISTER_BUFFERS); the ring stops keeping the buffers.
func (r *Ring) UnregisterBuffers() error {
	_, err := r.Register(uapi.UnregisterBuffers, nil, 0)
	if err == nil {
		p := r.pins()
		p.mu.Lock()
		clear(p.buffers)
		p.mu.Unlock()
	}
	return err
}

// UpdateBuffers replaces slots off, off+1, ... of the fixed buffer table
// with bufs, tagged with tags (nil for none), through
// IORING_REGISTER_BUFFERS_UPDATE. A nil buffer empties its slot. It returns
// the number of slots updated.
func (r *Ring) UpdateBuffers(off uint32, bufs [][]byte, tags []uint64) (int, error) {
	if len(bufs) == 0 {
		return 0, noArgs("UpdateBuffers", "no buffers")
	}
	if err := tagsFor(uapi.RegisterBuffersUpdate, len(bufs), tags); err != nil {
		return 0, err
	}
	iov := iovecs(bufs)
	arg := uapi.RsrcUpdate2{Offset: off, Data: ptrOf(iov), Tags: ptrOf(tags), Nr: uint32(len(iov))}
	n, err := r.Register(uapi.RegisterBuffersUpdate, unsafe.Pointer(&arg), uapi.SizeofRsrcUpdate2)
	runtime.KeepAlive(iov)
	runtime.KeepAlive(tags)
	runtime.KeepAlive(bufs)
	if n > 0 {
		r.pinBuffers(off, bufs[:min(n, len(bufs))])
	}
	return n, err
}

// CloneFlags are IORING_REGISTER_CLONE_BUFFERS flags.
type CloneFlags uint32

// CloneReplace replaces an existing buffer table in the destination ring
// instead of failing with EBUSY (IORING_REGISTER_DST_REPLACE).
const CloneReplace CloneFlags = uapi.RegisterDstReplace

// CloneBuffers copies n registered buffers of src, starting at slot srcOff,
// into this ring's table at dstOff (IORING_REGISTER_CLONE_BUFFERS). n = 0
// with both offsets 0 clones the whole table. Both rings then share the
// kernel mapping; this ring keeps the cloned Go buffers reachable too. If
// src has a registered ring fd, the kernel is given that
// (IORING_REGISTER_SRC_REGISTERED), so it must be used from the same thread.
func (r *Ring) CloneBuffers(src *Ring, srcOff, dstOff, n uint32, flags CloneFlags) error {
	if src == r {
		return fmt.Errorf("ring: clone buffers from the ring itself: %w", unix.EINVAL)
	}
	if err := src.unusable("CloneBuffers from it"); err != nil {
		return err
	}
	arg := uapi.CloneBuffers{Flags: uint32(flags), SrcOff: srcOff, DstOff: dstOff, Nr: n}
	if src.regIndex >= 0 {
		arg.SrcFD = uint32(src.regIndex)
		arg.Flags |= uapi.RegisterSrcRegistered
	} else {
		arg.SrcFD = uint32(src.fd)
	}
	if _, err := r.Register(uapi.RegisterCloneBuffers, unsafe.Pointer(&arg), 1); err != nil {
		return err
	}
	sp, dp := src.pins(), r.pins()
	cloned := map[uint32][]byte{}
	sp.mu.Lock()
	for slot, b := range sp.buffers {
		if slot >= srcOff && (n == 0 || slot < srcOff+n) {
			cloned[slot-srcOff+dstOff] = b
		}
	}
	sp.mu.Unlock()
	dp.mu.Lock()
	if flags&CloneReplace != 0 {
		clear(dp.buffers)
	}
	for slot, b := range cloned {
		dp.buffers[slot] = b
	}
	dp.mu.Unlock()
	return nil
}
