package uring

import (
	"context"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Stat returns the FileInfo of name, following symlinks, like os.Stat
// (statx through the default Engine's ring).
func Stat(name string) (fs.FileInfo, error) { return stat(context.Background(), name, 0) }

// Lstat is Stat that does not follow a final symlink, like os.Lstat.
func Lstat(name string) (fs.FileInfo, error) {
	return stat(context.Background(), name, unix.AT_SYMLINK_NOFOLLOW)
}

func stat(ctx context.Context, name string, flags int) (fs.FileInfo, error) {
	e, err := Default()
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return e.stat(ctx, unix.AT_FDCWD, name, name, flags)
}

// Stat is the package's Stat through e.
func (e *Engine) Stat(name string) (fs.FileInfo, error) {
	return e.stat(context.Background(), unix.AT_FDCWD, name, name, 0)
}

// Lstat is the package's Lstat through e.
func (e *Engine) Lstat(name string) (fs.FileInfo, error) { return e.lstat(name) }

func (e *Engine) lstat(name string) (fs.FileInfo, error) {
	return e.stat(context.Background(), unix.AT_FDCWD, name, name, unix.AT_SYMLINK_NOFOLLOW)
}

func (e *Engine) stat(ctx context.Context, dirfd int, path, name string, flags int) (fs.FileInfo, error) {
	op := "stat"
	if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		op = "lstat"
	}
	st, err := e.statx(ctx, dirfd, path, flags)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return newFileInfo(basename(name), st), nil
}
