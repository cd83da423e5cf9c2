package uring

import (
	"context"
	"io"
	"io/fs"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// FS is the file tree rooted at a directory, like os.DirFS, with its I/O
// through an Engine's rings. It implements fs.FS, fs.StatFS, fs.ReadFileFS
// and fs.ReadDirFS; the files it opens are *File (fs.ReadDirFile,
// io.ReaderAt, io.Seeker). Like os.DirFS it does not stop symlinks inside
// the tree from pointing outside it.
type FS struct {
	e   *Engine
	dir string
}

// DirFS returns the file tree rooted at dir, through the default Engine.
func DirFS(dir string) *FS { return &FS{dir: dir} }

// DirFS returns the file tree rooted at dir, through e.
func (e *Engine) DirFS(dir string) *FS { return &FS{e: e, dir: dir} }

var (
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
)

func (fsys *FS) engine() (*Engine, error) {
	if fsys.e != nil {
		return fsys.e, nil
	}
	return Default()
}

// path returns the operating-system path of name, checked as io/fs wants.
func (fsys *FS) path(op, name string) (*Engine, string, error) {
	if !fs.ValidPath(name) {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e, err := fsys.engine()
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	if name == "." {
		return e, fsys.dir, nil
	}
	return e, strings.TrimSuffix(fsys.dir, "/") + "/" + name, nil
}

// renamed reports err with name as its path, as os.DirFS does.
func renamed(err error, name string) error {
	if pe, ok := err.(*fs.PathError); ok {
		pe.Path = name
	}
	return err
}

// Open opens name for reading (fs.FS).
func (fsys *FS) Open(name string) (fs.File, error) {
	f, err := fsys.open(context.Background(), name)
	if err != nil {
		return nil, err // a nil *File would be a non-nil fs.File
	}
	return f, nil
}

// OpenContext is Open with a context, returning the *File.
func (fsys *FS) OpenContext(ctx context.Context, name string) (*File, error) {
	return fsys.open(ctx, name)
}

func (fsys *FS) open(ctx context.Context, name string) (*File, error) {
	e, p, err := fsys.path("open", name)
	if err != nil {
		return nil, err
	}
	f, err := e.openat(ctx, unix.AT_FDCWD, p, p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, renamed(err, name)
	}
	return f, nil
}

// Stat returns name's FileInfo, following symlinks (fs.StatFS).
func (fsys *FS) Stat(name string) (fs.FileInfo, error) {
	e, p, err := fsys.path("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := e.stat(context.Background(), unix.AT_FDCWD, p, p, 0)
	if err != nil {
		return nil, renamed(err, name)
	}
	return fi, nil
}

// ReadFile returns the contents of name (fs.ReadFileFS).
func (fsys *FS) ReadFile(name string) ([]byte, error) {
	return fsys.ReadFileContext(context.Background(), name)
}

// ReadFileContext is ReadFile with a context.
func (fsys *FS) ReadFileContext(ctx context.Context, name string) ([]byte, error) {
	e, p, err := fsys.path("open", name)
	if err != nil {
		return nil, err
	}
	b, err := e.readFile(ctx, p)
	return b, renamed(err, name)
}

// ReadDir returns the entries of directory name, sorted by name
// (fs.ReadDirFS).
func (fsys *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, p, err := fsys.path("open", name)
	if err != nil {
		return nil, err
	}
	ents, err := e.ReadDir(p)
	return ents, renamed(err, name)
}

// ReadDir returns the entries of the named directory sorted by name, like
// os.ReadDir.
func ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := Default()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return e.ReadDir(name)
}

// ReadDir is the package's ReadDir through e.
func (e *Engine) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := e.openat(context.Background(), unix.AT_FDCWD, name, name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// ReadFile returns the contents of the named file, like os.ReadFile.
func ReadFile(name string) ([]byte, error) {
	return ReadFileContext(context.Background(), name)
}

// ReadFileContext is ReadFile with a context.
func ReadFileContext(ctx context.Context, name string) ([]byte, error) {
	e, err := Default()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return e.readFile(ctx, name)
}

// ReadFile is the package's ReadFile through e.
func (e *Engine) ReadFile(name string) ([]byte, error) {
	return e.readFile(context.Background(), name)
}

// readFile is os.ReadFile. Files up to 64 KiB take one trip to the kernel
// (readFileChain); larger ones, and kernels without a file table, are
// read as os does: open, stat for the size, read, close (a regular file's
// short read is its end, so no extra read to see EOF).
func (e *Engine) readFile(ctx context.Context, name string) ([]byte, error) {
	if data, ok, err := e.readFileChain(ctx, unix.AT_FDCWD, name, name); ok {
		return data, err
	}
	f, err := e.openat(ctx, unix.AT_FDCWD, name, name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, regular := 0, false
	if fi, err := f.StatContext(ctx); err == nil {
		size, regular = int(fi.Size()), fi.Mode().IsRegular()
	}
	t, err := f.begin("read")
	if err != nil {
		return nil, err
	}
	defer f.end(t)
	// One byte more than the size, to see the end in the same read.
	b := make([]byte, 0, max(size+1, 512))
	for {
		if err := ctxErr(ctx); err != nil {
			return b, f.pathErr("read", err)
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		want := cap(b) - len(b)
		n, err := f.xfer(ctx, false, b[len(b):cap(b)], int64(len(b)))
		b = b[:len(b)+n]
		if err != nil {
			return b, f.pathErr("read", err)
		}
		if n == 0 || (regular && n < want && size > 0) {
			return b, nil
		}
	}
}

// WriteFile writes data to the named file, creating it with perm (before
// umask) if needed and truncating it otherwise, like os.WriteFile.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	return WriteFileContext(context.Background(), name, data, perm)
}

// WriteFileContext is WriteFile with a context.
func WriteFileContext(ctx context.Context, name string, data []byte, perm fs.FileMode) error {
	e, err := Default()
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return e.writeFile(ctx, name, data, perm)
}

// WriteFile is the package's WriteFile through e.
func (e *Engine) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return e.writeFile(context.Background(), name, data, perm)
}

// writeFile is os.WriteFile. Unless ctx can end, it makes open, write and
// close as system calls on the calling goroutine's thread (not with
// Options.RingOnly): io_uring runs
// every open that may create or truncate in an io-wq thread (it never
// tries one inline), and that hop measured 1.1-1.5x slower than the calls
// (bench/files, the tree copy). With a context that can end, or when the
// process has no descriptor to spare (EMFILE, ENFILE), it is one trip
// through the ring (writeFileChain), which can be cancelled and opens into
// the ring's file table.
func (e *Engine) writeFile(ctx context.Context, name string, data []byte, perm fs.FileMode) error {
	if (ctx == nil || ctx.Done() == nil) && !e.opts.RingOnly {
		if ok, err := writeFileCalls(name, data, perm); ok {
			return err
		}
	}
	n, ok, err := e.writeFileChain(ctx, name, data, perm)
	if ok && (err != nil || n == len(data)) {
		return err
	}
	flag := unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
	if ok {
		flag = unix.O_WRONLY // finish a short write
	}
	f, err := e.openat(ctx, unix.AT_FDCWD, name, name, flag, perm)
	if err != nil {
		return err
	}
	_, err = f.writeAt(ctx, data[n:], int64(n))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileCalls is WriteFile as the system calls; ok is false when the
// open found no free descriptor (nothing was created then).
func writeFileCalls(name string, data []byte, perm fs.FileMode) (ok bool, err error) {
	var fd int
	for {
		fd, err = unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, syscallMode(perm))
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
	case unix.EMFILE, unix.ENFILE:
		return false, nil
	default:
		return true, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	for p := data; len(p) > 0 && err == nil; {
		var n int
		n, err = unix.Write(fd, p[:min(len(p), maxRW)])
		switch {
		case err == unix.EINTR:
			err = nil
		case err != nil:
			err = &fs.PathError{Op: "write", Path: name, Err: err}
		case n == 0:
			err = &fs.PathError{Op: "write", Path: name, Err: io.ErrUnexpectedEOF}
		default:
			p = p[n:]
		}
	}
	if cerr := unix.Close(fd); cerr != nil && cerr != unix.EINTR && err == nil {
		err = &fs.PathError{Op: "close", Path: name, Err: cerr}
	}
	return true, err
}

var _ io.ReaderAt = (*File)(nil)
