package uring

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// WriteTo writes the file's data from the file position to w, like
// os.File.WriteTo. When w takes an *os.File in ReadFrom (an *os.File, a
// TCP or Unix connection of package net ...), the bytes move inside the
// kernel, by the standard library's own zero-copy paths: copy_file_range
// to a file, sendfile to a socket, splice to a pipe. Otherwise they are
// copied through a buffer.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	t, err := f.beginAt("read")
	if err != nil {
		return 0, err
	}
	defer f.endAt(t)
	if rf, ok := w.(io.ReaderFrom); ok && !isFile(w) {
		src, err := f.osFile()
		if err != nil {
			return 0, f.pathErr("read", err)
		}
		defer src.Close()
		return rf.ReadFrom(src)
	}
	return io.CopyBuffer(onlyWriter{w}, onlyReader{func(p []byte) (int, error) { return f.readAtPosition(context.Background(), p) }}, make([]byte, 64<<10))
}

// ReadFrom writes r's data to the file at the file position, like
// os.File.ReadFrom: from an *os.File or *File by copy_file_range, from a
// pipe or a socket by splice (os's zero-copy paths), from anything else
// through a buffer.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	t, err := f.beginAt("write")
	if err != nil {
		return 0, err
	}
	defer f.endAt(t)
	if src, ok := r.(*File); ok && src != f {
		// Its descriptor as an *os.File, so that os finds copy_file_range.
		t, err := src.beginAt("read")
		if err != nil {
			return 0, err
		}
		defer src.endAt(t)
		osrc, err := src.osFile()
		if err != nil {
			return 0, src.pathErr("read", err)
		}
		defer osrc.Close()
		r = osrc
	}
	dst, err := f.osFile()
	if err != nil {
		return 0, f.pathErr("write", err)
	}
	defer dst.Close()
	return dst.ReadFrom(r)
}

// osFile returns an *os.File on a duplicate of f's descriptor: the same
// open file, so it shares the file position; the caller closes it.
func (f *File) osFile() (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(f.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.name), nil
}

func isFile(w io.Writer) bool { _, ok := w.(*File); return ok }

// onlyReader and onlyWriter hide ReadFrom and WriteTo from io.CopyBuffer.
type onlyReader struct{ read func([]byte) (int, error) }

func (r onlyReader) Read(p []byte) (int, error) { return r.read(p) }

type onlyWriter struct{ io.Writer }
