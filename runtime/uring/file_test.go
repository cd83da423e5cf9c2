package uring

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFileBasics(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	f, err := Create(name)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	if n, err := f.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
	}
	p := make([]byte, 100)
	if n, err := f.ReadAt(p, 16); n != 100 || err != nil || !bytes.Equal(p, data[16:116]) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if n, err := f.ReadAt(p, int64(len(data))-10); n != 10 || err != io.EOF {
		t.Fatalf("ReadAt at end = %d, %v; want 10, EOF", n, err)
	}
	if n, err := f.WriteAt([]byte("XY"), 3); n != 2 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != int64(len(data)) || fi.Name() != "f" || !fi.Mode().IsRegular() {
		t.Fatalf("Stat = %v, %v", fi, err)
	}
	ofi, _ := os.Stat(name)
	if *fi.Sys().(*syscall.Stat_t) != *ofi.Sys().(*syscall.Stat_t) || !fi.ModTime().Equal(ofi.ModTime()) || fi.Mode() != ofi.Mode() {
		t.Errorf("Stat differs from os.Stat:\n%+v\n%+v", fi.Sys(), ofi.Sys())
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(name)
	if string(b) != "012XY" {
		t.Fatalf("file = %q", b)
	}
	var pe *fs.PathError
	if _, err := f.Read(p); !errors.As(err, &pe) || pe.Op != "read" || !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" {
		t.Errorf("Open missing: %v", err)
	}
}

func TestManyGoroutinesReadAt(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7 / 4096)
	}
	os.WriteFile(name, data, 0o644)
	f, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for g := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 4096)
			for i := range 20 {
				off := int64((g*31+i*17)%256) * 4096
				if n, err := f.ReadAt(p, off); n != 4096 || err != nil || !bytes.Equal(p, data[off:off+4096]) {
					t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func osPipe(p *[2]int) error { return unix.Pipe2(p[:], unix.O_CLOEXEC) }
