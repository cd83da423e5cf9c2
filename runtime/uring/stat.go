package uring

import (
	"context"
	"io/fs"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// emptyPath is the "" that statx with AT_EMPTY_PATH takes.
var emptyPath = [1]byte{}

// statx stats path relative to dirfd (AT_EMPTY_PATH and "": dirfd itself).
// io_uring runs every IORING_OP_STATX in an io-wq thread, a hop that costs
// more than the system call, so only a statx whose context can end goes
// through the ring (to be cancellable); the rest is the plain call.
func (e *Engine) statx(ctx context.Context, dirfd int, path string, flags int) (*unix.Statx_t, error) {
	st := new(unix.Statx_t)
	s := e.shard()
	const mask = unix.STATX_BASIC_STATS
	for {
		var err error
		if ctx == nil || ctx.Done() == nil {
			err = unix.Statx(dirfd, path, flags, mask, st)
		} else {
			p := &emptyPath[0]
			if path != "" {
				if p, err = unix.BytePtrFromString(path); err != nil {
					return nil, err
				}
			}
			var sqe uapi.SQE
			sqe.PrepStatx(int32(dirfd), p, int32(flags), mask, st)
			var res int32
			res, _, err = s.do(ctx, &sqe, keepRefs{unsafe.Pointer(p), unsafe.Pointer(st)}, laterCompletion)
			switch {
			case err != nil:
			case e.kernelCancelled(res):
				err = unix.EINTR // retried
			case res < 0:
				err = unix.Errno(-res)
			}
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}

// fileInfo is os's fileStat, from statx: Sys returns a *syscall.Stat_t,
// so code that type-asserts os's FileInfo.Sys works unchanged.
type fileInfo struct {
	name string
	st   syscall.Stat_t
}

func newFileInfo(name string, x *unix.Statx_t) *fileInfo {
	fi := &fileInfo{name: name}
	st := &fi.st
	// Through set: the field types differ between architectures.
	set(&st.Dev, unix.Mkdev(x.Dev_major, x.Dev_minor))
	set(&st.Ino, x.Ino)
	set(&st.Nlink, uint64(x.Nlink))
	set(&st.Mode, uint64(x.Mode))
	set(&st.Uid, uint64(x.Uid))
	set(&st.Gid, uint64(x.Gid))
	set(&st.Rdev, unix.Mkdev(x.Rdev_major, x.Rdev_minor))
	st.Size = int64(x.Size)
	set(&st.Blksize, uint64(x.Blksize))
	st.Blocks = int64(x.Blocks)
	st.Atim = timespec(x.Atime)
	st.Mtim = timespec(x.Mtime)
	st.Ctim = timespec(x.Ctime)
	return fi
}

func set[T ~uint16 | ~uint32 | ~uint64 | ~int32 | ~int64](dst *T, v uint64) { *dst = T(v) }

func timespec(t unix.StatxTimestamp) syscall.Timespec {
	return syscall.NsecToTimespec(t.Sec*1e9 + int64(t.Nsec))
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fileMode(fi.st.Mode) }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.st }

// fileMode is os's mapping of st_mode to a FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// basename is os's: the last element of name, without trailing slashes.
func basename(name string) string {
	i := len(name) - 1
	for i > 0 && name[i] == '/' {
		name = name[0:i]
		i--
	}
	for i--; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	return name
}
