package ublk

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Backend stores a device's data: block reads and writes arrive as ReadAt
// and WriteAt at byte offsets, in whole logical blocks. Each queue calls
// its methods from its own goroutine, so calls for different queues run
// concurrently. An error that wraps a unix.Errno fails the request with
// that errno; any other error fails it with EIO. Either way the reader or
// writer of /dev/ublkbN sees the errno (the block layer reports most
// errnos as EIO, a few, such as ENOSPC and EOPNOTSUPP, as themselves).
type Backend interface {
	io.ReaderAt
	io.WriterAt
}

// Flusher is a Backend with a volatile cache: the device then announces a
// write cache, and flushes and FUA writes call Flush.
type Flusher interface {
	Flush() error
}

// Discarder is a Backend that can forget a range (discard, TRIM).
type Discarder interface {
	Discard(off, n int64) error
}

// ZeroWriter is a Backend that can zero a range without being handed
// zeros. Devices without one get WRITE ZEROES as writes of zeros.
type ZeroWriter interface {
	WriteZeroes(off, n int64) error
}

// FixedBackend is a Backend that can also move a request's data itself,
// as io_uring requests on the queue's own ring that read into or write
// from a registered (fixed) buffer: what the zero-copy modes need
// (ModeZeroCopy, ModeAutoBufReg). There the request's pages never enter
// this process; the kernel registers them as fixed buffer Transfer.Buf of
// the queue's ring for as long as the request is served, and only an
// io_uring operation on that ring can reach them.
//
// PrepFixed fills s, an entry of the queue's ring, with one operation
// that performs t (Transfer.Prep does it for a store that is a file
// descriptor: IORING_OP_READ_FIXED or IORING_OP_WRITE_FIXED). The queue
// then sets the entry's user data and link flags and submits it; the
// completion's result counts the bytes moved, or is a negative errno that
// fails the request. A short transfer is continued with another PrepFixed
// for the rest, and a read that moves nothing (the end of a file) has the
// rest of the buffer filled with zeros. PrepFixed runs on the queue's
// goroutine, between its system calls: it must not block. The other
// requests (flush, discard, write zeroes) still arrive through Flusher,
// Discarder and ZeroWriter, and ReadAt and WriteAt serve the copying
// modes.
type FixedBackend interface {
	Backend
	PrepFixed(s *uapi.SQE, t Transfer)
}

// Transfer is one move of data between a request's registered buffer and a
// backend's store (FixedBackend).
type Transfer struct {
	// Write: from the buffer to the store (a write request); otherwise
	// from the store into the buffer (a read).
	Write bool
	// Buf is the index of the request's buffer in the fixed buffer table
	// of the queue's ring (the SQE's buf_index).
	Buf uint16
	// BufOffset is where in the buffer the transfer starts. A request's
	// registered buffer starts at address 0, so this is the SQE's addr.
	BufOffset uint64
	// Off is the byte offset in the store.
	Off int64
	// Len is the number of bytes.
	Len uint32
}

// Prep fills s with the transfer as IORING_OP_READ_FIXED or
// IORING_OP_WRITE_FIXED on fd at offset Off.
func (t Transfer) Prep(s *uapi.SQE, fd int32) {
	if t.Write {
		s.PrepWriteFixed(fd, nil, uint64(t.Off), t.Buf)
	} else {
		s.PrepReadFixed(fd, nil, uint64(t.Off), t.Buf)
	}
	s.Addr, s.Len = t.BufOffset, t.Len
}

// Memory is a Backend in memory, of a fixed size, safe for concurrent use;
// discarded and zeroed ranges read back as zeros. Its bytes are a shared
// mapping of a memfd (outside the Go heap), so that it is also a
// FixedBackend: in the zero-copy modes the kernel copies between the
// request's pages and the memory itself, with reads and writes of the
// memfd. Close releases the memory.
type Memory struct {
	mu   sync.RWMutex
	fd   int
	data []byte
}

// NewMemory returns a zeroed memory backend of size bytes.
func NewMemory(size int64) (*Memory, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("ublk memory backend: size %d: %w", size, unix.EINVAL)
	}
	fd, err := unix.MemfdCreate("ublk-memory", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("ublk memory backend: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ublk memory backend: ftruncate to %d: %w", size, err)
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ublk memory backend: mmap %d bytes: %w", size, err)
	}
	return &Memory{fd: fd, data: data}, nil
}

// Bytes returns the backing memory (for tests and inspection; not to be
// written while the device serves, nor used after Close).
func (m *Memory) Bytes() []byte { return m.data }

// Close unmaps and frees the memory. The device it serves must be closed
// first.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil
	}
	err := unix.Munmap(m.data)
	if cerr := unix.Close(m.fd); err == nil {
		err = cerr
	}
	m.data, m.fd = nil, -1
	return err
}

func (m *Memory) span(off int64, n int64) error {
	if off < 0 || n < 0 || off+n > int64(len(m.data)) {
		return fmt.Errorf("ublk memory backend: bytes %d-%d outside its %d: %w", off, off+n-1, len(m.data), unix.EINVAL)
	}
	return nil
}

// ReadAt implements io.ReaderAt.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.span(off, int64(len(p))); err != nil {
		return 0, err
	}
	return copy(p, m.data[off:]), nil
}

// WriteAt implements io.WriterAt.
func (m *Memory) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.span(off, int64(len(p))); err != nil {
		return 0, err
	}
	return copy(m.data[off:], p), nil
}

// Discard zeroes the range.
func (m *Memory) Discard(off, n int64) error { return m.WriteZeroes(off, n) }

// WriteZeroes zeroes the range.
func (m *Memory) WriteZeroes(off, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.span(off, n); err != nil {
		return err
	}
	clear(m.data[off : off+n])
	return nil
}

// PrepFixed implements FixedBackend: a read or write of the memfd.
func (m *Memory) PrepFixed(s *uapi.SQE, t Transfer) { t.Prep(s, int32(m.fd)) }

// File is a Backend on an open file (or block device): ReadAt, WriteAt,
// Flush as fdatasync, Discard and WriteZeroes as fallocate (punching and
// zeroing holes), and in the zero-copy modes fixed-buffer reads and writes
// of the file through the queue's ring.
type File struct {
	F *os.File
}

// ReadAt implements io.ReaderAt; past the file's end it reads zeros.
func (f File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.F.ReadAt(p, off)
	if err == io.EOF {
		clear(p[n:])
		return len(p), nil
	}
	return n, err
}

// WriteAt implements io.WriterAt.
func (f File) WriteAt(p []byte, off int64) (int, error) { return f.F.WriteAt(p, off) }

// PrepFixed implements FixedBackend: a read or write of the file.
func (f File) PrepFixed(s *uapi.SQE, t Transfer) { t.Prep(s, int32(f.F.Fd())) }

// Flush is fdatasync.
func (f File) Flush() error { return unix.Fdatasync(int(f.F.Fd())) }

// Discard punches a hole.
func (f File) Discard(off, n int64) error {
	return unix.Fallocate(int(f.F.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// WriteZeroes zeroes the range (FALLOC_FL_ZERO_RANGE).
func (f File) WriteZeroes(off, n int64) error {
	return unix.Fallocate(int(f.F.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
