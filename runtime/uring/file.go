package uring

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// File is an open file whose I/O goes through an Engine's rings. It has
// the methods of os.File that do I/O, with the same semantics and errors
// (*fs.PathError with os's Op strings), and a Context form of each
// blocking one. A File is safe for concurrent use; ReadAt and WriteAt from
// many goroutines are batched into shared io_uring_enter calls, while Read,
// Write and Seek, which share the file position, are serialized as in os.
type File struct {
	e       *Engine
	fd      int
	name    string
	ref     fdRef
	posmu   sync.Mutex // the file position: Read, Write, Seek, ReadDir
	append  bool
	odirect bool
	// RWF_NOWAIT was refused for reads, writes: skip the attempt.
	nowaitRead, nowaitWrite atomic.Bool
	// mayBlock: RWF_NOWAIT was refused on a file that is neither a
	// regular file nor a block device (a pipe before Linux 6.6, a
	// terminal, a character device): the plain system call could sleep
	// until Close, which cannot interrupt it, so its reads and writes
	// always go through the ring, where Close cancels them.
	mayBlock atomic.Bool
	dir      *dirReader // ReadDir state (posmu)
	cleanup  runtime.Cleanup
	// reg is the File's slot in every ring's file table (IOSQE_FIXED_FILE),
	// or -1: O_DIRECT files, whose every request uses the ring, have one.
	reg int32
}

// maxRW caps one read or write, as os does (and io_uring's length is 32 bits).
const maxRW = 1 << 30

// Open opens name for reading, like os.Open, through the default Engine.
func Open(name string) (*File, error) { return OpenFile(name, unix.O_RDONLY, 0) }

// Create creates or truncates name, like os.Create, through the default Engine.
func Create(name string) (*File, error) {
	return OpenFile(name, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o666)
}

// OpenFile opens name with flag (os.O_RDONLY ...) and perm, like os.OpenFile,
// through the default Engine.
func OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	return OpenFileContext(context.Background(), name, flag, perm)
}

// OpenFileContext is OpenFile that gives up when ctx ends (the open is
// cancelled, unless it completes first).
func OpenFileContext(ctx context.Context, name string, flag int, perm fs.FileMode) (*File, error) {
	e, err := Default()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return e.OpenFileContext(ctx, name, flag, perm)
}

// Open opens name for reading through e.
func (e *Engine) Open(name string) (*File, error) { return e.OpenFile(name, unix.O_RDONLY, 0) }

// Create creates or truncates name through e.
func (e *Engine) Create(name string) (*File, error) {
	return e.OpenFile(name, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o666)
}

// OpenFile opens name through e, like os.OpenFile.
func (e *Engine) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	return e.openat(context.Background(), unix.AT_FDCWD, name, name, flag, perm)
}

// OpenFileContext is OpenFile with a context.
func (e *Engine) OpenFileContext(ctx context.Context, name string, flag int, perm fs.FileMode) (*File, error) {
	return e.openat(ctx, unix.AT_FDCWD, name, name, flag, perm)
}

// NewFile returns a File for the open descriptor fd, which it takes over
// (Close closes it), like os.NewFile.
func (e *Engine) NewFile(fd uintptr, name string) *File {
	flags, _ := unix.FcntlInt(fd, unix.F_GETFL, 0)
	return e.newFile(int(fd), name, flags)
}

// openFlags are the request flags of an open with flag: io_uring runs an
// open that may create or truncate in io-wq, never inside the enter.
func openFlags(flag int) reqFlags {
	if flag&(unix.O_CREAT|unix.O_TRUNC|unix.O_TMPFILE) != 0 {
		return laterCompletion
	}
	return 0
}

// openat opens path relative to dirfd; name is the path errors and Name report.
func (e *Engine) openat(ctx context.Context, dirfd int, path, name string, flag int, perm fs.FileMode) (*File, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	flag |= unix.O_CLOEXEC
	var mode uint32
	if flag&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
		mode = syscallMode(perm) // openat2 refuses a mode without them
	}
	s := e.shard()
	var fd int
	if solo(ctx, s) {
		var err error
		for {
			fd, err = unix.Openat(dirfd, path, flag, mode)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	} else {
		p, err := unix.BytePtrFromString(path)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		how := &unix.OpenHow{Flags: uint64(flag), Mode: uint64(mode)}
		for {
			var sqe uapi.SQE
			sqe.PrepOpenat2(int32(dirfd), p, how)
			res, _, err := s.do(ctx, &sqe, keepRefs{unsafe.Pointer(p), unsafe.Pointer(how)}, openFlags(flag))
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
			if res == -int32(unix.EINTR) || e.kernelCancelled(res) {
				continue
			}
			if res < 0 {
				return nil, &fs.PathError{Op: "open", Path: name, Err: unix.Errno(-res)}
			}
			fd = int(res)
			break
		}
	}
	return e.newFile(fd, name, flag), nil
}

func (e *Engine) newFile(fd int, name string, flag int) *File {
	f := &File{e: e, fd: fd, name: name, append: flag&unix.O_APPEND != 0, odirect: flag&unix.O_DIRECT != 0, reg: -1}
	f.ref.init(len(e.shards))
	if f.odirect {
		f.reg = e.registerFile(fd)
	}
	// Like os: a File dropped without Close does not leak its descriptor
	// (nor its file table slot, which holds the file open too).
	f.cleanup = runtime.AddCleanup(f, func(fr fdSlot) { e.release(fr) }, fdSlot{int32(fd), f.reg})
	return f
}

// fdSlot is a File's descriptor and registered-file slot (-1: none).
type fdSlot struct{ fd, reg int32 }

// release empties the File's file table slots, then closes its descriptor.
func (e *Engine) release(fr fdSlot) {
	if fr.reg >= 0 {
		e.unregisterFile(fr.reg)
	}
	unix.Close(int(fr.fd))
}

// syscallMode is os's mapping of a FileMode to open's mode bits.
func syscallMode(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		o |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		o |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		o |= unix.S_ISVTX
	}
	return o
}

func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

// solo reports whether a request without a context that can end should be
// the plain system call (see shard.solo).
func solo(ctx context.Context, s *shard) bool {
	return (ctx == nil || ctx.Done() == nil) && s.solo()
}

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

// Fd returns the file descriptor, like os.File.Fd: valid until Close,
// and ^uintptr(0) after Close (or for a nil File), as os's.
func (f *File) Fd() uintptr {
	if f == nil || f.ref.closed() {
		return ^uintptr(0)
	}
	return uintptr(f.fd)
}

func (f *File) pathErr(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

// begin counts an operation in, returning the ticket for end; the error is
// the one os gives for a nil or closed File.
func (f *File) begin(op string) (int, error) {
	if f == nil {
		return 0, fs.ErrInvalid
	}
	t, ok := f.ref.inc()
	if !ok {
		return 0, f.pathErr(op, ErrClosed)
	}
	if f.e.closed.Load() {
		f.ref.dec(t)
		return 0, f.pathErr(op, ErrClosed)
	}
	return t, nil
}

func (f *File) end(t int) { f.ref.dec(t) }

// beginAt is begin for an operation on the file position (Read, Write,
// Seek, ReadDir ...), which it then holds until endAt.
func (f *File) beginAt(op string) (int, error) {
	t, err := f.begin(op)
	if err == nil {
		f.posmu.Lock()
	}
	return t, err
}

func (f *File) endAt(t int) {
	f.posmu.Unlock()
	f.end(t)
}

// kernelCancelled reports whether a request's result is the kernel's own
// cancellation rather than the Engine's Close: Linux 6.1 fails a request it
// punted to io-wq with -ECANCELED, before the request ran, when creating a
// worker thread is interrupted by signals three times (Go's preemption
// signals do that), so such a request is retried. (A context's
// cancellation is do's error, never a result.)
func (e *Engine) kernelCancelled(res int32) bool {
	return res == -int32(unix.ECANCELED) && !e.closed.Load()
}

// kernelCancelled is Engine.kernelCancelled for a request on f, which
// f.Close cancels too.
func (f *File) kernelCancelled(res int32) bool {
	return !f.ref.closed() && f.e.kernelCancelled(res)
}

// result turns a completion into a count or an error.
func (f *File) result(res int32) (int, error) {
	if res >= 0 {
		return int(res), nil
	}
	if res == -int32(unix.ECANCELED) && (f.ref.closed() || f.e.closed.Load()) {
		return 0, ErrClosed // cancelled by Close
	}
	return 0, unix.Errno(-res)
}

// run does one request on f that io-wq runs (fsync, fallocate ...) and
// returns its result.
func (f *File) run(ctx context.Context, sqe *uapi.SQE, keep keepRefs) (int, error) {
	for {
		res, _, err := f.e.shard().do(ctx, sqe, keep, laterCompletion)
		if err != nil {
			return 0, err
		}
		if !f.kernelCancelled(res) {
			return f.result(res)
		}
	}
}

// xfer does one read or write of p at off (-1: at the file position) and
// returns the count; EINTR is retried.
//
// Unless the file is O_DIRECT it first makes the system call with
// RWF_NOWAIT, on the calling thread, without entering the scheduler: a
// page-cache hit (or a pipe with data) completes at once, and a ring trip,
// even one shared with other goroutines, costs more than that call (see the
// package doc's measurements). Only when the call would block (EAGAIN) does
// the request go to the ring, where it waits without holding a thread.
func (f *File) xfer(ctx context.Context, write bool, p []byte, off int64) (int, error) {
	p = p[:min(len(p), maxRW)]
	nowait := &f.nowaitRead
	if write {
		nowait = &f.nowaitWrite
	}
	for {
		if !f.odirect && !f.e.opts.RingOnly && !nowait.Load() {
			n, errno := rwNowait(write, f.fd, p, off)
			switch errno {
			case 0:
				return n, nil
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				// Would block: the ring waits for it.
			case unix.EOPNOTSUPP, unix.EINVAL, unix.ENOSYS:
				// No RWF_NOWAIT here (kernel or file type). mayBlock
				// first: a goroutine that sees nowait skips the attempt.
				if !regularOrBlock(f.fd) {
					f.mayBlock.Store(true)
				}
				nowait.Store(true)
			default:
				return 0, errno
			}
			if errno == unix.EAGAIN {
				n, err := f.ring(ctx, f.e.shard(), write, p, off, laterCompletion)
				if err == unix.EINTR {
					continue
				}
				return n, err
			}
		}
		s := f.e.shard()
		var n int
		var err error
		if solo(ctx, s) && !f.mayBlock.Load() {
			n, err = f.direct(write, p, off)
		} else {
			var fl reqFlags
			if f.odirect || f.mayBlock.Load() {
				fl = laterCompletion
			}
			n, err = f.ring(ctx, s, write, p, off, fl)
		}
		if err != unix.EINTR {
			return n, err
		}
	}
}

// ring is xfer through the ring of s; fl says when it completes.
func (f *File) ring(ctx context.Context, s *shard, write bool, p []byte, off int64, fl reqFlags) (int, error) {
	if f.ref.closed() {
		// Started before Close and waited (for the file position): a
		// request submitted now would wait for Close's next cancel.
		return 0, ErrClosed
	}
	var sqe uapi.SQE
	fd := int32(f.fd)
	if f.reg >= 0 {
		fd = f.reg
	}
	bi, fixed := f.e.reg.fixedBuffer(p)
	switch {
	case write && fixed:
		sqe.PrepWriteFixed(fd, p, uint64(off), bi)
	case write:
		sqe.PrepWrite(fd, p, uint64(off))
	case fixed:
		sqe.PrepReadFixed(fd, p, uint64(off), bi)
	default:
		sqe.PrepRead(fd, p, uint64(off))
	}
	if f.reg >= 0 {
		sqe.Flags |= uapi.SQEFixedFile
	}
	if fixed {
		s.fixedOps.Add(1)
	}
	res, _, err := s.do(ctx, &sqe, keepRefs{unsafe.Pointer(unsafe.SliceData(p))}, fl)
	if err != nil {
		return 0, err
	}
	if f.kernelCancelled(res) {
		return 0, unix.EINTR // retried
	}
	return f.result(res)
}

// regularOrBlock reports whether fd is a regular file or a block device,
// whose reads and writes never wait for another program.
func regularOrBlock(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return false
	}
	m := st.Mode & unix.S_IFMT
	return m == unix.S_IFREG || m == unix.S_IFBLK
}

// direct is xfer as the plain system call.
func (f *File) direct(write bool, p []byte, off int64) (int, error) {
	var n int
	var err error
	switch {
	case write && off < 0:
		n, err = unix.Write(f.fd, p)
	case write:
		n, err = unix.Pwrite(f.fd, p, off)
	case off < 0:
		n, err = unix.Read(f.fd, p)
	default:
		n, err = unix.Pread(f.fd, p, off)
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Read reads up to len(p) bytes at the file position, like os.File.Read:
// at end of file it returns 0, io.EOF.
func (f *File) Read(p []byte) (int, error) { return f.read(context.Background(), p) }

// ReadContext is Read that gives up when ctx ends.
func (f *File) ReadContext(ctx context.Context, p []byte) (int, error) { return f.read(ctx, p) }

func (f *File) read(ctx context.Context, p []byte) (int, error) {
	t, err := f.beginAt("read")
	if err != nil {
		return 0, err
	}
	defer f.endAt(t)
	return f.readAtPosition(ctx, p)
}

// readAtPosition is Read for a caller that holds a reference and the file
// position.
func (f *File) readAtPosition(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := ctxErr(ctx); err != nil {
		return 0, f.pathErr("read", err)
	}
	n, err := f.xfer(ctx, false, p, -1)
	if err != nil {
		return 0, f.pathErr("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// ReadAt reads len(p) bytes at off, like os.File.ReadAt: fewer only with an
// error, io.EOF at end of file. It does not use or move the file position,
// and calls from many goroutines share io_uring_enter calls.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.readAt(context.Background(), p, off)
}

// ReadAtContext is ReadAt that gives up when ctx ends; the bytes read so
// far are counted in n.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	return f.readAt(ctx, p, off)
}

func (f *File) readAt(ctx context.Context, p []byte, off int64) (n int, err error) {
	t, err := f.begin("read")
	if err != nil {
		return 0, err
	}
	defer f.end(t)
	if off < 0 {
		return 0, f.pathErr("readat", errNegativeOffset)
	}
	if n, ok := f.cachedReadAt(ctx, p, off); ok {
		return n, nil
	}
	return f.xferAll(ctx, false, p, off)
}

// cachedReadAt is ReadAt's common case on its own: one RWF_NOWAIT call
// (see xfer) that reads all of p from the page cache. When it reads less or
// fails, ok is false and xferAll reads from the start (a short read or a
// cache miss costs one call more; each is rarer, and slower, than the call).
// Writes have no such shortcut: a buffered write may refuse RWF_NOWAIT
// every time (EAGAIN where it must allocate), which would double its calls.
func (f *File) cachedReadAt(ctx context.Context, p []byte, off int64) (n int, ok bool) {
	if f.odirect || f.e.opts.RingOnly || f.nowaitRead.Load() || len(p) == 0 || len(p) > maxRW || ctxErr(ctx) != nil {
		return 0, false
	}
	n, errno := rwNowait(false, f.fd, p, off)
	return n, errno == 0 && n == len(p)
}

// xferAll reads or writes all of p at off (-1: at the file position), xfer
// after xfer; n counts what moved. A read that reaches end of file returns
// io.EOF.
func (f *File) xferAll(ctx context.Context, write bool, p []byte, off int64) (n int, err error) {
	op := "read"
	if write {
		op = "write"
	}
	for len(p) > 0 {
		if err := ctxErr(ctx); err != nil {
			return n, f.pathErr(op, err)
		}
		m, err := f.xfer(ctx, write, p, off)
		if err != nil {
			return n, f.pathErr(op, err)
		}
		if m == 0 {
			if write {
				return n, f.pathErr(op, io.ErrUnexpectedEOF)
			}
			return n, io.EOF
		}
		n += m
		p = p[m:]
		if off >= 0 {
			off += int64(m)
		}
	}
	return n, nil
}

// Write writes p at the file position (at the end for O_APPEND files),
// like os.File.Write: all of it, or an error.
func (f *File) Write(p []byte) (int, error) { return f.write(context.Background(), p) }

// WriteContext is Write that gives up when ctx ends.
func (f *File) WriteContext(ctx context.Context, p []byte) (int, error) { return f.write(ctx, p) }

func (f *File) write(ctx context.Context, p []byte) (n int, err error) {
	t, err := f.beginAt("write")
	if err != nil {
		return 0, err
	}
	defer f.endAt(t)
	return f.xferAll(ctx, true, p, -1)
}

// WriteString is Write of a string's bytes.
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

var (
	errWriteAtInAppendMode = errors.New("os: invalid use of WriteAt on file opened with O_APPEND")
	errNegativeOffset      = errors.New("negative offset")
)

// WriteAt writes p at off, like os.File.WriteAt: all of it, or an error.
// Calls from many goroutines share io_uring_enter calls.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	return f.writeAt(context.Background(), p, off)
}

// WriteAtContext is WriteAt that gives up when ctx ends.
func (f *File) WriteAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	return f.writeAt(ctx, p, off)
}

func (f *File) writeAt(ctx context.Context, p []byte, off int64) (n int, err error) {
	t, err := f.begin("write")
	if err != nil {
		return 0, err
	}
	defer f.end(t)
	if f.append {
		return 0, errWriteAtInAppendMode
	}
	if off < 0 {
		return 0, f.pathErr("writeat", errNegativeOffset)
	}
	return f.xferAll(ctx, true, p, off)
}

// Seek sets the file position for the next Read or Write, like
// os.File.Seek (io.SeekStart, io.SeekCurrent, io.SeekEnd).
func (f *File) Seek(offset int64, whence int) (int64, error) {
	t, err := f.beginAt("seek")
	if err != nil {
		return 0, err
	}
	defer f.endAt(t)
	r, err := unix.Seek(f.fd, offset, whence)
	if err == nil && f.dir != nil && r != 0 {
		err = unix.EISDIR
	}
	if err != nil {
		return 0, f.pathErr("seek", err)
	}
	f.dir = nil
	return r, nil
}

// Sync commits the file's data and metadata to stable storage (fsync), like
// os.File.Sync.
func (f *File) Sync() error { return f.sync(context.Background(), "sync", 0) }

// SyncContext is Sync with a context.
func (f *File) SyncContext(ctx context.Context) error { return f.sync(ctx, "sync", 0) }

// Datasync commits the file's data, and only the metadata needed to read
// it back (fdatasync).
func (f *File) Datasync() error { return f.sync(context.Background(), "fdatasync", uapi.FsyncDatasync) }

// DatasyncContext is Datasync with a context.
func (f *File) DatasyncContext(ctx context.Context) error {
	return f.sync(ctx, "fdatasync", uapi.FsyncDatasync)
}

func (f *File) sync(ctx context.Context, op string, flags uapi.FsyncFlags) error {
	var sqe uapi.SQE
	sqe.PrepFsync(int32(f.fd), flags)
	return f.simple(ctx, op, &sqe, nil)
}

// simple runs a request that transfers nothing; direct is its system call
// for kernels without the opcode (nil: every kernel here has it).
func (f *File) simple(ctx context.Context, op string, sqe *uapi.SQE, direct func() error) error {
	t, err := f.begin(op)
	if err != nil {
		return err
	}
	defer f.end(t)
	if err := ctxErr(ctx); err != nil {
		return f.pathErr(op, err)
	}
	for {
		var err error
		if direct != nil {
			err = direct()
		} else {
			_, err = f.run(ctx, sqe, keepRefs{})
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return f.pathErr(op, err)
		}
		return nil
	}
}

// Truncate changes the file's size, like os.File.Truncate
// (IORING_OP_FTRUNCATE, Linux 6.9; ftruncate(2) before).
func (f *File) Truncate(size int64) error { return f.TruncateContext(context.Background(), size) }

// TruncateContext is Truncate with a context.
func (f *File) TruncateContext(ctx context.Context, size int64) error {
	var sqe uapi.SQE
	sqe.PrepFtruncate(int32(f.fd), size)
	var direct func() error
	if !f.e.has(uapi.OpFtruncate) {
		direct = func() error { return unix.Ftruncate(f.fd, size) }
	}
	return f.simple(ctx, "truncate", &sqe, direct)
}

// Allocate reserves disk space for n bytes at off (fallocate(2) mode 0),
// growing the file if needed, so later writes there cannot fail for space.
func (f *File) Allocate(off, n int64) error { return f.AllocateContext(context.Background(), off, n) }

// AllocateContext is Allocate with a context.
func (f *File) AllocateContext(ctx context.Context, off, n int64) error {
	var sqe uapi.SQE
	sqe.PrepFallocate(int32(f.fd), 0, uint64(off), uint64(n))
	return f.simple(ctx, "fallocate", &sqe, nil)
}

// Stat returns the file's fs.FileInfo (statx), like os.File.Stat; Sys
// returns a *syscall.Stat_t, as os's does.
func (f *File) Stat() (fs.FileInfo, error) { return f.StatContext(context.Background()) }

// StatContext is Stat with a context.
func (f *File) StatContext(ctx context.Context) (fs.FileInfo, error) {
	t, err := f.begin("stat")
	if err != nil {
		return nil, err
	}
	defer f.end(t)
	st, err := f.e.statx(ctx, f.fd, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return nil, f.pathErr("stat", err)
	}
	return newFileInfo(basename(f.name), st), nil
}

// Close closes the file, like os.File.Close. Operations in flight are
// cancelled (they fail with os.ErrClosed unless they complete first), and
// Close returns once the kernel is done with their buffers.
func (f *File) Close() error {
	if f == nil {
		return fs.ErrInvalid
	}
	first, busy := f.ref.close()
	if !first {
		return f.pathErr("close", ErrClosed)
	}
	if busy {
		// Cancel until the last one is out: one may submit after a cancel.
		for wait := 50 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
			f.e.cancelFD(f.fd)
			t := time.NewTimer(wait)
			select {
			case <-f.ref.drained:
			case <-t.C:
				continue
			}
			t.Stop()
			break
		}
	}
	f.cleanup.Stop()
	if f.reg >= 0 {
		// The rings' references keep the file open past close(2).
		f.e.unregisterFile(f.reg)
	}
	var sqe uapi.SQE
	sqe.PrepClose(int32(f.fd))
	var err error
	s := f.e.shard()
	if s.solo() {
		err = unix.Close(f.fd)
	} else {
		var res int32
		res, _, err = s.do(context.Background(), &sqe, keepRefs{}, 0)
		switch {
		case err == ErrClosed, err == nil && res == -int32(unix.ECANCELED):
			// The ring is closing, or the kernel cancelled the close
			// before it ran (see kernelCancelled): close it here.
			err = unix.Close(f.fd)
		case err == nil && res < 0:
			err = unix.Errno(-res)
		}
	}
	if err != nil && err != unix.EINTR {
		return f.pathErr("close", err)
	}
	return nil
}
