package uring

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// The namespace operations: Mkdir, MkdirAll, Remove, RemoveAll, Rename,
// Symlink and Link, each os's function of the same name, with its
// semantics and errors. With a context that can end, each system call is
// an io_uring request (IORING_OP_MKDIRAT, UNLINKAT, RENAMEAT, SYMLINKAT,
// LINKAT), cancelled when the context ends; otherwise it is the plain
// system call, which measured cheaper (see namespaceOp).

// Mkdir creates directory name with permission bits perm (before the
// umask), like os.Mkdir, through the default Engine: the mkdir(2) system
// call, or with MkdirContext and a context that can end an
// IORING_OP_MKDIRAT request, cancelled when the context ends.
func Mkdir(name string, perm fs.FileMode) error {
	return MkdirContext(context.Background(), name, perm)
}

// MkdirContext is Mkdir that gives up when ctx ends (the request is
// cancelled in the kernel, unless it completes first). Each Context form
// of this file's functions does its system calls through the ring when
// ctx can end.
func MkdirContext(ctx context.Context, name string, perm fs.FileMode) error {
	e, err := Default()
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	return e.MkdirContext(ctx, name, perm)
}

// MkdirAll creates directory path and every parent that does not exist,
// like os.MkdirAll: nil if path is a directory already, an error with
// syscall.ENOTDIR if it is something else.
func MkdirAll(path string, perm fs.FileMode) error {
	return MkdirAllContext(context.Background(), path, perm)
}

// MkdirAllContext is MkdirAll with a context.
func MkdirAllContext(ctx context.Context, path string, perm fs.FileMode) error {
	e, err := Default()
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return e.MkdirAllContext(ctx, path, perm)
}

// Remove removes the file or empty directory name, like os.Remove: it
// unlinks, and if that fails removes a directory; when both fail, the error
// is the one that applies to what name is.
func Remove(name string) error { return RemoveContext(context.Background(), name) }

// RemoveContext is Remove with a context.
func RemoveContext(ctx context.Context, name string) error {
	e, err := Default()
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return e.RemoveContext(ctx, name)
}

// RemoveAll removes path and everything it contains, like os.RemoveAll:
// nil if path does not exist; symlinks are removed, never followed, so
// nothing outside path is touched; the first error otherwise.
func RemoveAll(path string) error { return RemoveAllContext(context.Background(), path) }

// RemoveAllContext is RemoveAll with a context: when ctx ends it stops,
// leaving what it has not removed yet.
func RemoveAllContext(ctx context.Context, path string) error {
	e, err := Default()
	if err != nil {
		return &fs.PathError{Op: "RemoveAll", Path: path, Err: err}
	}
	return e.RemoveAllContext(ctx, path)
}

// Rename renames (moves) oldpath to newpath, like os.Rename: a file at
// newpath is replaced, a directory at newpath is not (an error with
// syscall.EEXIST, as os gives on every system). Errors are *os.LinkError.
func Rename(oldpath, newpath string) error {
	return RenameContext(context.Background(), oldpath, newpath)
}

// RenameContext is Rename with a context.
func RenameContext(ctx context.Context, oldpath, newpath string) error {
	e, err := Default()
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return e.RenameContext(ctx, oldpath, newpath)
}

// Symlink creates newname as a symbolic link to oldname, like os.Symlink.
// Errors are *os.LinkError.
func Symlink(oldname, newname string) error {
	return SymlinkContext(context.Background(), oldname, newname)
}

// SymlinkContext is Symlink with a context.
func SymlinkContext(ctx context.Context, oldname, newname string) error {
	e, err := Default()
	if err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: err}
	}
	return e.SymlinkContext(ctx, oldname, newname)
}

// Link creates newname as a hard link to oldname, like os.Link (a symlink
// oldname is not followed). Errors are *os.LinkError.
func Link(oldname, newname string) error {
	return LinkContext(context.Background(), oldname, newname)
}

// LinkContext is Link with a context.
func LinkContext(ctx context.Context, oldname, newname string) error {
	e, err := Default()
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return e.LinkContext(ctx, oldname, newname)
}

// Mkdir is the package's Mkdir through e.
func (e *Engine) Mkdir(name string, perm fs.FileMode) error {
	return e.MkdirContext(context.Background(), name, perm)
}

// MkdirContext is the package's MkdirContext through e.
func (e *Engine) MkdirContext(ctx context.Context, name string, perm fs.FileMode) error {
	if err := e.mkdirat(ctx, unix.AT_FDCWD, name, perm); err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	return nil
}

// MkdirAll is the package's MkdirAll through e.
func (e *Engine) MkdirAll(path string, perm fs.FileMode) error {
	return e.MkdirAllContext(context.Background(), path, perm)
}

// MkdirAllContext is the package's MkdirAllContext through e. It is
// os.MkdirAll step by step: stat, the parents first, then mkdir.
func (e *Engine) MkdirAllContext(ctx context.Context, path string, perm fs.FileMode) error {
	if fi, err := e.stat(ctx, unix.AT_FDCWD, path, path, 0); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: path, Err: syscall.ENOTDIR}
	}
	i := len(path) - 1
	for i >= 0 && path[i] == '/' {
		i--
	}
	for i >= 0 && path[i] != '/' {
		i--
	}
	if parent := path[:max(i, 0)]; parent != "" {
		if err := e.MkdirAllContext(ctx, parent, perm); err != nil {
			return err
		}
	}
	if err := e.MkdirContext(ctx, path, perm); err != nil {
		// "foo/." and the like: mkdir fails on a directory that exists.
		if fi, err1 := e.stat(ctx, unix.AT_FDCWD, path, path, unix.AT_SYMLINK_NOFOLLOW); err1 == nil && fi.IsDir() {
			return nil
		}
		return err
	}
	return nil
}

// Remove is the package's Remove through e.
func (e *Engine) Remove(name string) error { return e.RemoveContext(context.Background(), name) }

// RemoveContext is the package's RemoveContext through e.
func (e *Engine) RemoveContext(ctx context.Context, name string) error {
	err := e.unlinkat(ctx, unix.AT_FDCWD, name, 0)
	if err == nil {
		return nil
	}
	if !isErrno(err) {
		// Cancelled, or the Engine closed: do not go on to rmdir.
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	err1 := e.unlinkat(ctx, unix.AT_FDCWD, name, unix.AT_REMOVEDIR)
	if err1 == nil {
		return nil
	}
	// As os: Linux and other systems differ in unlink's error for a
	// directory, but rmdir of anything else is ENOTDIR, so rmdir's error
	// is the one that applies unless it is that.
	if err1 != syscall.ENOTDIR {
		err = err1
	}
	return &fs.PathError{Op: "remove", Path: name, Err: err}
}

// RemoveAll is the package's RemoveAll through e.
func (e *Engine) RemoveAll(path string) error {
	return e.RemoveAllContext(context.Background(), path)
}

// RemoveAllContext is the package's RemoveAllContext through e. It is
// os.RemoveAll's algorithm: each entry is unlinked relative to its parent
// directory's descriptor (unlinkat through the ring), and a directory is
// entered by openat with O_NOFOLLOW, so a symlink, even one to a
// directory, is only ever unlinked.
func (e *Engine) RemoveAllContext(ctx context.Context, path string) error {
	if path == "" {
		return nil // os: fails silently, for compatibility
	}
	if path == "." || len(path) >= 2 && path[len(path)-1] == '.' && path[len(path)-2] == '/' {
		// rmdir cannot remove ".": os refuses too.
		return &fs.PathError{Op: "RemoveAll", Path: path, Err: syscall.EINVAL}
	}
	err := e.RemoveContext(ctx, path)
	if err == nil || isNotExist(err) {
		return nil
	}
	if !isErrno(err) {
		return err
	}
	parentDir, base := splitPath(path)
	parent, err := e.openat(ctx, unix.AT_FDCWD, parentDir, parentDir, unix.O_RDONLY, 0)
	if isNotExist(err) {
		return nil // no parent, so no path
	}
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := e.removeAllFrom(ctx, parent.fd, base); err != nil {
		if pe, ok := err.(*fs.PathError); ok {
			pe.Path = parentDir + "/" + pe.Path
		}
		return err
	}
	return nil
}

// removeAllFrom removes base, relative to the directory parentFd, and all
// it contains: os's removeAllFrom, with the same errors (Op "unlinkat",
// "openfdat", "readdirnames", Path relative to parentFd).
func (e *Engine) removeAllFrom(ctx context.Context, parentFd int, base string) error {
	err := e.unlinkat(ctx, parentFd, base, 0)
	if err == nil || err == syscall.ENOENT {
		return nil
	}
	// EISDIR: a directory, whose entries go first. EPERM, EACCES: no
	// write permission on the parent, but base may still be a directory
	// whose entries can be removed.
	if err != syscall.EISDIR && err != syscall.EPERM && err != syscall.EACCES {
		return &fs.PathError{Op: "unlinkat", Path: base, Err: err}
	}
	uErr := err
	var recurseErr error
	for {
		const reqSize = 1024
		var respSize int
		dir, err := e.openDirAt(ctx, parentFd, base)
		if err != nil {
			switch {
			case err == syscall.ENOENT:
				return nil
			case err == syscall.ENOTDIR:
				return &fs.PathError{Op: "unlinkat", Path: base, Err: uErr}
			case err == errIsSymlink:
				err = uErr
			}
			recurseErr = &fs.PathError{Op: "openfdat", Path: base, Err: err}
			break
		}
		for {
			numErr := 0
			names, readErr := dir.Readdirnames(reqSize)
			if readErr != nil && readErr != io.EOF {
				dir.Close()
				if isNotExist(readErr) {
					return nil
				}
				if pe, ok := readErr.(*fs.PathError); ok {
					readErr = pe.Err // os reports the bare errno
				}
				return &fs.PathError{Op: "readdirnames", Path: base, Err: readErr}
			}
			respSize = len(names)
			for _, name := range names {
				if err := e.removeAllFrom(ctx, dir.fd, name); err != nil {
					if pe, ok := err.(*fs.PathError); ok {
						pe.Path = base + "/" + pe.Path
					}
					numErr++
					if recurseErr == nil {
						recurseErr = err
					}
					if !isErrno(err) {
						dir.Close()
						return err // cancelled or closed: stop
					}
				}
			}
			// Entries removed: read again from a fresh open. None of
			// these removed: skip them and read on.
			if numErr != reqSize {
				break
			}
		}
		// Removing entries may reorder the directory, so that reading on
		// would skip some: reopen it (go.dev/issue/20841).
		dir.Close()
		if respSize < reqSize {
			break
		}
	}
	unlinkErr := e.unlinkat(ctx, parentFd, base, unix.AT_REMOVEDIR)
	if unlinkErr == nil || unlinkErr == syscall.ENOENT {
		return nil
	}
	if recurseErr != nil {
		return recurseErr
	}
	return &fs.PathError{Op: "unlinkat", Path: base, Err: unlinkErr}
}

// errIsSymlink is openDirAt's error for a symlink, which os's RemoveAll
// reports as the unlink's error; it never reaches a caller.
var errIsSymlink = errors.New("uring: a symlink")

// openDirAt opens directory name relative to dirfd, refusing a symlink
// (errIsSymlink); other errors are the bare errno.
func (e *Engine) openDirAt(ctx context.Context, dirfd int, name string) (*File, error) {
	f, err := e.openat(ctx, dirfd, name, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err == nil {
		return f, nil
	}
	if pe, ok := err.(*fs.PathError); ok {
		err = pe.Err
	}
	if err == syscall.ELOOP || err == syscall.EMLINK || err == syscall.ENOTDIR {
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, errIsSymlink
		}
	}
	return nil, err
}

// splitPath is os's: the parent directory of path and its last element.
func splitPath(path string) (dir, base string) {
	dir = "."
	for len(path) > 1 && path[0] == '/' && path[1] == '/' {
		path = path[1:]
	}
	i := len(path) - 1
	for ; i > 0 && path[i] == '/'; i-- {
		path = path[:i]
	}
	base = path
	for i--; i >= 0; i-- {
		if path[i] == '/' {
			if i == 0 {
				dir = path[:1]
			} else {
				dir = path[:i]
			}
			base = path[i+1:]
			break
		}
	}
	return dir, base
}

// Rename is the package's Rename through e.
func (e *Engine) Rename(oldpath, newpath string) error {
	return e.RenameContext(context.Background(), oldpath, newpath)
}

// RenameContext is the package's RenameContext through e.
func (e *Engine) RenameContext(ctx context.Context, oldpath, newpath string) error {
	// os refuses to replace a directory (rename(2) would replace an empty
	// one), unless both names are the same file (a case-only rename on a
	// case-insensitive filesystem); oldpath's error comes first.
	if fi, err := e.stat(ctx, unix.AT_FDCWD, newpath, newpath, unix.AT_SYMLINK_NOFOLLOW); err == nil && fi.IsDir() {
		ofi, err := e.stat(ctx, unix.AT_FDCWD, oldpath, oldpath, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil {
			if pe, ok := err.(*fs.PathError); ok {
				err = pe.Err
			}
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
		}
		if newpath == oldpath || !sameFile(fi, ofi) {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EEXIST}
		}
	}
	if err := e.renameat(ctx, oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

func sameFile(a, b fs.FileInfo) bool {
	sa, sb := a.Sys().(*syscall.Stat_t), b.Sys().(*syscall.Stat_t)
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// Symlink is the package's Symlink through e.
func (e *Engine) Symlink(oldname, newname string) error {
	return e.SymlinkContext(context.Background(), oldname, newname)
}

// SymlinkContext is the package's SymlinkContext through e.
func (e *Engine) SymlinkContext(ctx context.Context, oldname, newname string) error {
	if err := e.symlinkat(ctx, oldname, newname); err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// Link is the package's Link through e.
func (e *Engine) Link(oldname, newname string) error {
	return e.LinkContext(context.Background(), oldname, newname)
}

// LinkContext is the package's LinkContext through e.
func (e *Engine) LinkContext(ctx context.Context, oldname, newname string) error {
	if err := e.linkat(ctx, oldname, newname); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (e *Engine) mkdirat(ctx context.Context, dirfd int, name string, perm fs.FileMode) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	mode := syscallMode(perm)
	var sqe uapi.SQE
	sqe.PrepMkdirat(int32(dirfd), p, mode)
	return e.namespaceOp(ctx, uapi.OpMkdirat, &sqe, keepRefs{unsafe.Pointer(p)}, func() error {
		return unix.Mkdirat(dirfd, name, mode)
	})
}

func (e *Engine) unlinkat(ctx context.Context, dirfd int, name string, flags int) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	var sqe uapi.SQE
	sqe.PrepUnlinkat(int32(dirfd), p, int32(flags))
	return e.namespaceOp(ctx, uapi.OpUnlinkat, &sqe, keepRefs{unsafe.Pointer(p)}, func() error {
		return unix.Unlinkat(dirfd, name, flags)
	})
}

func (e *Engine) renameat(ctx context.Context, oldpath, newpath string) error {
	op, np, err := bytePtrs(oldpath, newpath)
	if err != nil {
		return err
	}
	var sqe uapi.SQE
	sqe.PrepRenameat(unix.AT_FDCWD, op, unix.AT_FDCWD, np, 0)
	return e.namespaceOp(ctx, uapi.OpRenameat, &sqe, keepRefs{unsafe.Pointer(op), unsafe.Pointer(np)}, func() error {
		return unix.Renameat(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath)
	})
}

func (e *Engine) symlinkat(ctx context.Context, oldname, newname string) error {
	op, np, err := bytePtrs(oldname, newname)
	if err != nil {
		return err
	}
	var sqe uapi.SQE
	sqe.PrepSymlinkat(op, unix.AT_FDCWD, np)
	return e.namespaceOp(ctx, uapi.OpSymlinkat, &sqe, keepRefs{unsafe.Pointer(op), unsafe.Pointer(np)}, func() error {
		return unix.Symlinkat(oldname, unix.AT_FDCWD, newname)
	})
}

func (e *Engine) linkat(ctx context.Context, oldname, newname string) error {
	op, np, err := bytePtrs(oldname, newname)
	if err != nil {
		return err
	}
	var sqe uapi.SQE
	sqe.PrepLinkat(unix.AT_FDCWD, op, unix.AT_FDCWD, np, 0)
	return e.namespaceOp(ctx, uapi.OpLinkat, &sqe, keepRefs{unsafe.Pointer(op), unsafe.Pointer(np)}, func() error {
		return unix.Linkat(unix.AT_FDCWD, oldname, unix.AT_FDCWD, newname, 0)
	})
}

// bytePtrs is unix.BytePtrFromString of two paths.
func bytePtrs(a, b string) (*byte, *byte, error) {
	pa, err := unix.BytePtrFromString(a)
	if err != nil {
		return nil, nil, err
	}
	pb, err := unix.BytePtrFromString(b)
	if err != nil {
		return nil, nil, err
	}
	return pa, pb, nil
}

// namespaceOp runs one namespace request and returns its error: the errno,
// ErrClosed, or ctx's error. keep is the memory sqe points to. As with
// statx, io_uring runs every one of these in an io-wq thread, a hop that
// measured more CPU than the system call (bench/files, mkdirremove), so
// the request goes through the ring only when its context can end (to be
// cancellable) or with Options.RingOnly; otherwise, and on a kernel
// without the opcode, it is the plain system call (call). EINTR is retried.
func (e *Engine) namespaceOp(ctx context.Context, op uapi.Op, sqe *uapi.SQE, keep keepRefs, call func() error) error {
	for {
		if e.closed.Load() {
			return ErrClosed
		}
		if err := ctxErr(ctx); err != nil {
			return err
		}
		var err error
		if !e.has(op) || !e.opts.RingOnly && (ctx == nil || ctx.Done() == nil) {
			err = call()
		} else {
			var res int32
			res, _, err = e.shard().do(ctx, sqe, keep, laterCompletion)
			switch {
			case err != nil:
			case e.kernelCancelled(res):
				err = unix.EINTR // retried
			case res == -int32(unix.ECANCELED):
				err = ErrClosed // by Engine.Close (ctx's is do's error)
			case res < 0:
				err = unix.Errno(-res)
			}
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// isErrno reports whether err is the kernel's answer (an errno, possibly
// in a *fs.PathError), not a cancellation or a closed Engine.
func isErrno(err error) bool {
	if pe, ok := err.(*fs.PathError); ok {
		err = pe.Err
	}
	_, ok := err.(syscall.Errno)
	return ok
}

func isNotExist(err error) bool {
	if pe, ok := err.(*fs.PathError); ok {
		err = pe.Err
	}
	return err == syscall.ENOENT
}
