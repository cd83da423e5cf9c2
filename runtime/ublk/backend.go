package ublk

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Backend stores a device's data: block reads and writes arrive as ReadAt
// and WriteAt at byte offsets, in whole logical blocks. Each queue calls
// its methods from its own goroutine, so calls for different queues run
// concurrently.
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

// Memory is a Backend in memory, of a fixed size, safe for concurrent use;
// discarded and zeroed ranges read back as zeros.
type Memory struct {
	mu   sync.RWMutex
	data []byte
}

// NewMemory returns a zeroed memory backend of size bytes.
func NewMemory(size int64) *Memory { return &Memory{data: make([]byte, size)} }

// Bytes returns the backing memory (for tests and inspection; not to be
// written while the device serves).
func (m *Memory) Bytes() []byte { return m.data }

func (m *Memory) span(off int64, n int) error {
	if off < 0 || off+int64(n) > int64(len(m.data)) {
		return fmt.Errorf("ublk memory backend: bytes %d-%d outside its %d: %w", off, off+int64(n)-1, len(m.data), unix.EINVAL)
	}
	return nil
}

// ReadAt implements io.ReaderAt.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	if err := m.span(off, len(p)); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return copy(p, m.data[off:]), nil
}

// WriteAt implements io.WriterAt.
func (m *Memory) WriteAt(p []byte, off int64) (int, error) {
	if err := m.span(off, len(p)); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(m.data[off:], p), nil
}

// Discard zeroes the range.
func (m *Memory) Discard(off, n int64) error { return m.WriteZeroes(off, n) }

// WriteZeroes zeroes the range.
func (m *Memory) WriteZeroes(off, n int64) error {
	if err := m.span(off, int(n)); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.data[off : off+n])
	return nil
}

// File is a Backend on an open file (or block device): ReadAt, WriteAt,
// Flush as fdatasync, Discard and WriteZeroes as fallocate (punching and
// zeroing holes).
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
