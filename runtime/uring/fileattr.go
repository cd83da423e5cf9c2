package uring

import (
	"errors"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// The File methods of os.File that io_uring has no opcode for: the plain
// system calls on the File's descriptor, with os's errors.

// Chmod changes the file's mode to mode (fchmod), like os.File.Chmod.
func (f *File) Chmod(mode fs.FileMode) error {
	return f.call("chmod", func() error { return unix.Fchmod(f.fd, syscallMode(mode)) })
}

// Chown changes the file's numeric owner and group (fchown), like
// os.File.Chown; -1 leaves one unchanged.
func (f *File) Chown(uid, gid int) error {
	return f.call("chown", func() error { return unix.Fchown(f.fd, uid, gid) })
}

// Chdir makes the file, a directory, the working directory (fchdir), like
// os.File.Chdir.
func (f *File) Chdir() error {
	return f.call("chdir", func() error { return unix.Fchdir(f.fd) })
}

// call makes a system call on the open descriptor, retrying EINTR, and
// wraps its error as os does.
func (f *File) call(op string, sys func() error) error {
	t, err := f.begin(op)
	if err != nil {
		return err
	}
	defer f.end(t)
	for {
		err := sys()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return f.pathErr(op, err)
		}
		return nil
	}
}

// SyscallConn returns a syscall.RawConn over the file's descriptor, like
// os.File.SyscallConn. Its Control runs fn on the descriptor while keeping
// the File open (a Close waits for fn to return). Read and Write call fn
// once, as os's do for a regular file: when fn returns false they fail,
// since such a descriptor has nothing to wait for. After Close each fails
// with an error wrapping os.ErrClosed (os's "use of closed file" does not
// wrap it).
func (f *File) SyscallConn() (syscall.RawConn, error) {
	if f == nil {
		return nil, fs.ErrInvalid
	}
	return rawConn{f}, nil
}

type rawConn struct{ f *File }

// errNoWait is os's error when a RawConn's Read or Write function asks to
// wait on a descriptor that the netpoller does not serve.
var errNoWait = errors.New("waiting for unsupported file type")

func (c rawConn) Control(fn func(fd uintptr)) error {
	return c.run("SyscallConn.Control", func(fd uintptr) bool { fn(fd); return true })
}

func (c rawConn) Read(fn func(fd uintptr) bool) error { return c.run("SyscallConn.Read", fn) }

func (c rawConn) Write(fn func(fd uintptr) bool) error { return c.run("SyscallConn.Write", fn) }

func (c rawConn) run(op string, fn func(fd uintptr) bool) error {
	t, err := c.f.begin(op)
	if err != nil {
		return err
	}
	defer c.f.end(t)
	if !fn(uintptr(c.f.fd)) {
		return errNoWait
	}
	return nil
}
