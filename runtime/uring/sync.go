package uring

import (
	"context"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// WriteSync writes p at the file position, as Write does, and commits the
// file to stable storage, as Sync does, in one submission: the write linked
// to the fsync (IOSQE_IO_LINK), so both cost one trip to the kernel, shared
// with other goroutines' requests. On an O_APPEND file concurrent WriteSyncs
// are not serialized (each write appends atomically), which lets the
// filesystem commit many of them in one journal transaction.
func (f *File) WriteSync(p []byte) (int, error) {
	return f.writeSync(context.Background(), p, -1)
}

// WriteSyncContext is WriteSync with a context.
func (f *File) WriteSyncContext(ctx context.Context, p []byte) (int, error) {
	return f.writeSync(ctx, p, -1)
}

// WriteAtSync is WriteAt followed by Sync, in one submission.
func (f *File) WriteAtSync(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, f.pathErr("writeat", errNegativeOffset)
	}
	return f.writeSync(context.Background(), p, off)
}

// WriteAtSyncContext is WriteAtSync with a context.
func (f *File) WriteAtSyncContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, f.pathErr("writeat", errNegativeOffset)
	}
	return f.writeSync(ctx, p, off)
}

func (f *File) writeSync(ctx context.Context, p []byte, off int64) (int, error) {
	t, err := f.begin("write")
	if err != nil {
		return 0, err
	}
	defer f.end(t)
	if off >= 0 && f.append {
		return 0, errWriteAtInAppendMode
	}
	if err := ctxErr(ctx); err != nil {
		return 0, f.pathErr("write", err)
	}
	if off < 0 && !f.append {
		f.posmu.Lock()
		defer f.posmu.Unlock()
	}
	p = p[:min(len(p), maxRW)]
	var res [2]int32
	for {
		var sqes [2]uapi.SQE
		sqes[0].PrepWrite(int32(f.fd), p, uint64(off))
		sqes[1].PrepFsync(int32(f.fd), 0)
		if err := f.e.shard().doLinked(ctx, sqes[:], keepRefs{unsafe.Pointer(unsafe.SliceData(p))}, res[:], uapi.SQEIOLink, laterCompletion); err != nil {
			return 0, f.pathErr("write", err)
		}
		if !f.kernelCancelled(res[0]) {
			break
		}
		// The write never ran (nor, linked to it, the fsync): again.
	}
	n, err := f.result(res[0])
	if err != nil {
		return 0, f.pathErr("write", err)
	}
	if n < len(p) {
		// Short: the fsync ran after part of it. Write the rest, then
		// sync again.
		next := off
		if off >= 0 {
			next += int64(n)
		}
		m, err := f.xferAll(ctx, true, p[n:], next)
		n += m
		if err != nil {
			return n, err
		}
		return n, f.syncLocked(ctx)
	}
	if f.kernelCancelled(res[1]) {
		return n, f.syncLocked(ctx) // the fsync never ran
	}
	if _, err := f.result(res[1]); err != nil {
		return n, f.pathErr("sync", err)
	}
	return n, nil
}

// syncLocked is Sync for a caller that holds a reference already.
func (f *File) syncLocked(ctx context.Context) error {
	var sqe uapi.SQE
	sqe.PrepFsync(int32(f.fd), 0)
	if _, err := f.run(ctx, &sqe, keepRefs{}); err != nil {
		return f.pathErr("sync", err)
	}
	return nil
}

// AlignedBuffer returns n bytes aligned to 4096, the alignment O_DIRECT
// I/O needs for buffers on every Linux filesystem and block device (the
// logical block size is at most the page size); n should be a multiple of
// the device's logical block size as well. It is ordinary Go memory, on
// the heap, so it does not move, and is registered with the default
// Engine's rings as a fixed buffer while it is reachable (see
// Engine.AlignedBuffer).
func AlignedBuffer(n int) []byte {
	e, err := Default()
	if err != nil {
		b, _ := alignedAlloc(n)
		return b
	}
	return e.AlignedBuffer(n)
}

// AlignedBuffer is the package's AlignedBuffer for e: while the buffer is
// reachable it is registered with every ring of e as a fixed buffer, so
// ReadAt and WriteAt into any part of it through e's rings are
// IORING_OP_READ_FIXED and WRITE_FIXED, which spare the kernel pinning its
// pages on each request. The registration ends when the garbage collector
// frees the buffer. When e has no free slot (1024 buffers are registered
// at once), the kernel lacks sparse buffer tables (Linux 5.19), or refuses
// (RLIMIT_MEMLOCK), the buffer is plain memory, which works the same.
func (e *Engine) AlignedBuffer(n int) []byte {
	b, obj := alignedAlloc(n)
	e.registerBuf(obj, b)
	return b
}

// alignedAlloc returns n bytes aligned to 4096 and the start of their
// allocation.
func alignedAlloc(n int) ([]byte, *byte) {
	const align = 4096
	b := make([]byte, n+align)
	off := (align - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%align)) % align
	return b[off : off+n : off+n], &b[0]
}
