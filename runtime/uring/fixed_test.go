package uring

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// directFile writes size bytes of a known pattern to a new file through os
// and returns its name and contents, skipping when the test directory's
// filesystem has no O_DIRECT (tmpfs before Linux 6.6).
func directFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "direct")
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("needs feature O_DIRECT on the test directory's filesystem: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return name, data
}

const block = 4096

func (e *Engine) fixedOps() (n int64) {
	for _, s := range e.shards {
		n += s.fixedOps.Load()
	}
	return n
}

func (g *registry) freeSlots() (bufs, files int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.freeBufs), len(g.freeFiles)
}

func needRegistry(t *testing.T, e *Engine) {
	t.Helper()
	if !e.reg.bufsOK {
		t.Skip("needs feature sparse fixed buffer table (IORING_RSRC_REGISTER_SPARSE, Linux 5.19)")
	}
	if !e.reg.filesOK {
		t.Skip("needs feature sparse file table (IORING_RSRC_REGISTER_SPARSE, Linux 5.19)")
	}
}

// O_DIRECT reads into AlignedBuffers go through READ_FIXED on a registered
// file, from many goroutines, and read what os wrote; writes through
// WRITE_FIXED land where os reads them.
func TestFixedBuffersODirect(t *testing.T) {
	const size = 4 << 20
	name, data := directFile(t, size)
	e, err := NewEngine(Options{RingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	needRegistry(t, e)
	f, err := e.OpenFile(name, os.O_RDWR|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.reg < 0 {
		t.Fatal("O_DIRECT file has no registered-file slot")
	}
	const g, each = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, g)
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := e.AlignedBuffer(2 * block)
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for range each {
				// Either half of the buffer, or all of it: any part of a
				// registered buffer is a fixed buffer.
				p := buf[:block]
				switch rng.IntN(3) {
				case 1:
					p = buf[block:]
				case 2:
					p = buf
				}
				clear(p)
				off := rng.Int64N(size/block-2) * block
				n, err := f.ReadAt(p, off)
				if err != nil || n != len(p) {
					errs <- err
					return
				}
				if !bytes.Equal(p, data[off:off+int64(len(p))]) {
					errs <- errors.New("O_DIRECT fixed-buffer read differs from the file")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := e.fixedOps(); got < g*each {
		t.Fatalf("%d of %d reads used a fixed buffer", got, g*each)
	}

	before := e.fixedOps()
	w := e.AlignedBuffer(block)
	for i := range w {
		w[i] = byte(i * 7)
	}
	if _, err := f.WriteAt(w, 3*block); err != nil {
		t.Fatal(err)
	}
	if e.fixedOps() != before+1 {
		t.Fatal("WriteAt of an AlignedBuffer did not use WRITE_FIXED")
	}
	got := make([]byte, block)
	of, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	if _, err := of.ReadAt(got, 3*block); err != nil || !bytes.Equal(got, w) {
		t.Fatalf("WRITE_FIXED wrote %x..., want %x... (%v)", got[:8], w[:8], err)
	}

	if a := testing.AllocsPerRun(100, func() { f.ReadAt(w, 0); f.WriteAt(w, 3*block) }); a != 0 {
		t.Errorf("fixed-buffer ReadAt+WriteAt: %v allocations, want 0", a)
	}

	// Plain memory (aligned, as O_DIRECT needs) takes the ordinary read.
	plain, _ := alignedAlloc(block)
	before = e.fixedOps()
	if _, err := f.ReadAt(plain, 0); err != nil || !bytes.Equal(plain, data[:block]) {
		t.Fatalf("plain O_DIRECT read: %v", err)
	}
	if e.fixedOps() != before {
		t.Fatal("a read into unregistered memory used a fixed buffer")
	}
	runtime.KeepAlive(w)
}

// Registrations end with the memory and the File: an unreachable
// AlignedBuffer frees its slot in every ring, a closed File its file table
// slot, and a File dropped without Close both its slot and its descriptor.
func TestFixedRegistrationsEnd(t *testing.T) {
	name, _ := directFile(t, 64<<10)
	e, err := NewEngine(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	needRegistry(t, e)
	bufs0, files0 := e.reg.freeSlots()

	for i := range 2 * fixedBufSlots {
		// More than the table holds over time: only if the slots of the
		// unreachable ones come back do the last ones get one.
		e.AlignedBuffer(block)
		if i%64 == 0 {
			runtime.GC()
		}
	}
	waitFor(t, "an AlignedBuffer after many dropped ones to be registered", func() bool {
		runtime.GC()
		_, ok := e.reg.fixedBuffer(e.AlignedBuffer(block))
		return ok
	})
	waitFor(t, "fixed buffer slots to come back", func() bool {
		runtime.GC()
		n, _ := e.reg.freeSlots()
		return n == bufs0
	})

	f, err := e.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, n := e.reg.freeSlots(); n != files0-1 {
		t.Fatalf("open: %d free file slots, want %d", n, files0-1)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, n := e.reg.freeSlots(); n != files0 {
		t.Fatalf("close: %d free file slots, want %d", n, files0)
	}

	f, err = e.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd := f.fd
	f = nil
	waitFor(t, "a dropped File's slot and descriptor", func() bool {
		runtime.GC()
		_, n := e.reg.freeSlots()
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		return n == files0 && (err != nil || target != name)
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
