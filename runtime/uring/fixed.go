package uring

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Registered resources behind the File API. Both save the kernel work it
// otherwise does on every request, measured on O_DIRECT reads:
//
//   - Fixed buffers (IORING_OP_READ_FIXED, WRITE_FIXED): the buffers that
//     AlignedBuffer hands out are registered with every ring of the Engine,
//     so a read into one skips pinning the caller's pages
//     (get_user_pages) and unpinning them at completion.
//   - Registered files (IOSQE_FIXED_FILE): an O_DIRECT File is installed
//     in every ring's file table when it opens, so its requests skip the
//     descriptor lookup and reference count (fget, fput).
//
// Each is one slot index shared by all rings of the Engine.

const (
	// fixedBufSlots is the size of each ring's fixed buffer table: how
	// many AlignedBuffers at once are registered (more are plain memory).
	fixedBufSlots = 1024
	// fileSlots is the number of registered-file slots of each ring's file
	// table, after the slots of direct descriptors (one per request slot).
	fileSlots = 1024
)

// registry hands out an Engine's registered buffer and file slots. Its lock
// also orders registrations against Engine.Close, which closes the rings.
type registry struct {
	mu     sync.Mutex
	closed bool // the rings are closing (mu)

	bufsOK   bool                       // every ring has a sparse buffer table
	freeBufs []uint16                   // (mu)
	bufs     atomic.Pointer[[]fixedBuf] // registered buffers by start address; copied on change

	filesOK   bool     // every ring has file slots from fileBase on
	fileBase  uint32   // index of the first registered-file slot
	freeFiles []uint32 // (mu)
}

// A fixedBuf is one registered buffer: [start, end) is registered as
// fixed buffer index. obj is the Go allocation it lies in: once the
// garbage collector finds that unreachable, obj.Value() is nil, before the
// memory can be reused, so no later request mistakes new memory at the
// same address for the registered one (the registration itself ends in
// the allocation's cleanup).
type fixedBuf struct {
	start, end uintptr
	index      uint16
	obj        weak.Pointer[byte]
}

// initRegistry sets up the tables, in every ring, after the shards are
// made. A kernel without sparse tables (before Linux 5.19) leaves the
// feature off: requests then take the plain path.
func (e *Engine) initRegistry() {
	g := &e.reg
	g.bufsOK = true
	for _, s := range e.shards {
		if s.r.RegisterBuffersSparse(fixedBufSlots) != nil {
			g.bufsOK = false
			break
		}
	}
	if g.bufsOK {
		for i := fixedBufSlots - 1; i >= 0; i-- {
			g.freeBufs = append(g.freeBufs, uint16(i))
		}
	}
	g.filesOK = true
	for _, s := range e.shards {
		g.filesOK = g.filesOK && s.fixed
	}
	if g.filesOK {
		g.fileBase = e.shards[0].r.Params().SQEntries
		for i := uint32(fileSlots); i > 0; i-- {
			g.freeFiles = append(g.freeFiles, g.fileBase+i-1)
		}
	}
}

// close marks the rings as going away: nothing registers or unregisters
// from now on (the rings' tables go with them).
func (g *registry) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// updateBuf sets fixed buffer slot index of every ring to [base, base+n)
// (base nil: empties it) and reports whether all took it.
func (e *Engine) updateBuf(index uint16, base *byte, n int) bool {
	iov := unix.Iovec{Base: base}
	iov.SetLen(n)
	arg := uapi.RsrcUpdate2{Offset: uint32(index), Data: uint64(uintptr(unsafe.Pointer(&iov))), Nr: 1}
	ok := true
	for _, s := range e.shards {
		// Not Ring.UpdateBuffers: it keeps the buffer reachable for as
		// long as it is registered, and this registration ends when the
		// buffer becomes unreachable (see fixedBuf).
		if k, err := s.r.Register(uapi.RegisterBuffersUpdate, unsafe.Pointer(&arg), uapi.SizeofRsrcUpdate2); err != nil || k != 1 {
			ok = false
		}
	}
	runtime.KeepAlive(base)
	return ok
}

// registerBuf registers b, which lies in the allocation that starts at
// obj, as a fixed buffer of every ring, if a slot is free. Otherwise b
// stays plain memory, which works the same, at the cost of pinning.
func (e *Engine) registerBuf(obj *byte, b []byte) {
	g := &e.reg
	if len(b) == 0 || len(b) > maxRW {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || !g.bufsOK || len(g.freeBufs) == 0 {
		return
	}
	index := g.freeBufs[len(g.freeBufs)-1]
	if !e.updateBuf(index, unsafe.SliceData(b), len(b)) {
		// Refused (RLIMIT_MEMLOCK, most likely): undo where it was taken.
		e.updateBuf(index, nil, 0)
		return
	}
	g.freeBufs = g.freeBufs[:len(g.freeBufs)-1]
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	fb := fixedBuf{start: start, end: start + uintptr(len(b)), index: index, obj: weak.Make(obj)}
	g.setBufs(func(list []fixedBuf) []fixedBuf {
		i, _ := slices.BinarySearchFunc(list, start, func(f fixedBuf, a uintptr) int { return cmpAddr(f.start, a) })
		return slices.Insert(list, i, fb)
	})
	runtime.AddCleanup(obj, e.unregisterBuf, index)
}

// unregisterBuf ends the registration of fixed buffer index, whose memory
// is unreachable: no request can use it any more.
func (e *Engine) unregisterBuf(index uint16) {
	g := &e.reg
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setBufs(func(list []fixedBuf) []fixedBuf {
		return slices.DeleteFunc(list, func(f fixedBuf) bool { return f.index == index })
	})
	if g.closed {
		return
	}
	e.updateBuf(index, nil, 0)
	g.freeBufs = append(g.freeBufs, index)
}

// setBufs replaces the list of registered buffers by edit of a copy (mu).
func (g *registry) setBufs(edit func([]fixedBuf) []fixedBuf) {
	var list []fixedBuf
	if old := g.bufs.Load(); old != nil {
		list = slices.Clone(*old)
	}
	list = edit(list)
	g.bufs.Store(&list)
}

func cmpAddr(a, b uintptr) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fixedBuffer returns the fixed buffer index that p lies in, if any. The
// caller keeps p reachable until the request's completion.
func (g *registry) fixedBuffer(p []byte) (uint16, bool) {
	listp := g.bufs.Load()
	if listp == nil || len(p) == 0 {
		return 0, false
	}
	list := *listp
	a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	// The last buffer that starts at or before a.
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if list[m].start <= a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, false
	}
	fb := &list[lo-1]
	if a+uintptr(len(p)) > fb.end || fb.obj.Value() == nil {
		return 0, false
	}
	return fb.index, true
}

// registerFile installs fd in a registered-file slot of every ring and
// returns the slot, or -1 when there is none (the File then uses fd).
func (e *Engine) registerFile(fd int) int32 {
	g := &e.reg
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || !g.filesOK || len(g.freeFiles) == 0 {
		return -1
	}
	index := g.freeFiles[len(g.freeFiles)-1]
	if !e.updateFile(index, int32(fd)) {
		e.updateFile(index, -1)
		return -1
	}
	g.freeFiles = g.freeFiles[:len(g.freeFiles)-1]
	return int32(index)
}

// unregisterFile empties registered-file slot index of every ring. The
// descriptor stays open: the caller closes it after.
func (e *Engine) unregisterFile(index int32) {
	g := &e.reg
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	e.updateFile(uint32(index), -1)
	g.freeFiles = append(g.freeFiles, uint32(index))
}

func (e *Engine) updateFile(index uint32, fd int32) bool {
	ok := true
	for _, s := range e.shards {
		if k, err := s.r.UpdateFiles(index, []int32{fd}); err != nil || k != 1 {
			ok = false
		}
	}
	return ok
}
