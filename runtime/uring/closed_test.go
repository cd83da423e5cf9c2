package uring

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urgen/urgen/internal/closedtest"
)

// afterClose calls every exported method of *File (see closedtest).
var afterClose = closedtest.Calls[*File]{
	"Allocate":        func(f *File) error { return f.Allocate(0, 1) },
	"AllocateContext": func(f *File) error { return f.AllocateContext(context.Background(), 0, 1) },
	"Chdir":           func(f *File) error { return f.Chdir() },
	"Chmod":           func(f *File) error { return f.Chmod(0o600) },
	"Chown":           func(f *File) error { return f.Chown(-1, -1) },
	"Close":           func(f *File) error { return f.Close() },
	"Datasync":        func(f *File) error { return f.Datasync() },
	"DatasyncContext": func(f *File) error { return f.DatasyncContext(context.Background()) },
	"Fd": func(f *File) error {
		return closedtest.Check(f.Fd() == ^uintptr(0), "Fd after Close is not ^uintptr(0), as os's", os.ErrClosed)
	},
	"Name": func(f *File) error {
		return closedtest.Check(f.Name() != "", "Name after Close is empty", os.ErrClosed)
	},
	"Read":               func(f *File) error { _, err := f.Read(make([]byte, 1)); return err },
	"ReadAt":             func(f *File) error { _, err := f.ReadAt(make([]byte, 1), 0); return err },
	"ReadAtContext":      func(f *File) error { _, err := f.ReadAtContext(context.Background(), make([]byte, 1), 0); return err },
	"ReadContext":        func(f *File) error { _, err := f.ReadContext(context.Background(), make([]byte, 1)); return err },
	"ReadDir":            func(f *File) error { _, err := f.ReadDir(-1); return err },
	"ReadFrom":           func(f *File) error { _, err := f.ReadFrom(strings.NewReader("x")); return err },
	"Readdir":            func(f *File) error { _, err := f.Readdir(-1); return err },
	"Readdirnames":       func(f *File) error { _, err := f.Readdirnames(-1); return err },
	"Seek":               func(f *File) error { _, err := f.Seek(0, io.SeekStart); return err },
	"Stat":               func(f *File) error { _, err := f.Stat(); return err },
	"StatContext":        func(f *File) error { _, err := f.StatContext(context.Background()); return err },
	"Sync":               func(f *File) error { return f.Sync() },
	"SyncContext":        func(f *File) error { return f.SyncContext(context.Background()) },
	"SyscallConn":        syscallConnAfterClose,
	"Truncate":           func(f *File) error { return f.Truncate(0) },
	"TruncateContext":    func(f *File) error { return f.TruncateContext(context.Background(), 0) },
	"Write":              func(f *File) error { _, err := f.Write([]byte("x")); return err },
	"WriteAt":            func(f *File) error { _, err := f.WriteAt([]byte("x"), 0); return err },
	"WriteAtContext":     func(f *File) error { _, err := f.WriteAtContext(context.Background(), []byte("x"), 0); return err },
	"WriteAtSync":        func(f *File) error { _, err := f.WriteAtSync([]byte("x"), 0); return err },
	"WriteAtSyncContext": func(f *File) error { _, err := f.WriteAtSyncContext(context.Background(), []byte("x"), 0); return err },
	"WriteContext":       func(f *File) error { _, err := f.WriteContext(context.Background(), []byte("x")); return err },
	"WriteString":        func(f *File) error { _, err := f.WriteString("x"); return err },
	"WriteSync":          func(f *File) error { _, err := f.WriteSync([]byte("x")); return err },
	"WriteSyncContext":   func(f *File) error { _, err := f.WriteSyncContext(context.Background(), []byte("x")); return err },
	"WriteTo":            func(f *File) error { _, err := f.WriteTo(new(bytes.Buffer)); return err },
}

// syscallConnAfterClose: like os's, SyscallConn itself succeeds on a
// closed File; its Control, Read and Write fail without calling fn.
func syscallConnAfterClose(f *File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	called := false
	errs := []error{
		rc.Control(func(uintptr) { called = true }),
		rc.Read(func(uintptr) bool { called = true; return true }),
		rc.Write(func(uintptr) bool { called = true; return true }),
	}
	for _, err := range errs {
		if !errors.Is(err, os.ErrClosed) {
			return err
		}
	}
	return closedtest.Check(!called, "a RawConn function ran after Close", os.ErrClosed)
}

func TestAfterCloseCoversFile(t *testing.T) { closedtest.Cover(t, afterClose) }

// Every method of a closed File fails with os.ErrClosed and does nothing,
// on the default Engine and on one that sends everything through the ring.
func TestAfterCloseFile(t *testing.T) {
	for _, o := range []Options{{}, {RingOnly: true}} {
		e := newEngine(t, o)
		name := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(name, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := e.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		closedtest.Run(t, f, afterClose)
		if b, err := os.ReadFile(name); err != nil || string(b) != "data" {
			t.Errorf("RingOnly=%v: the file reads %q, %v after the calls on the closed File; want it unchanged", o.RingOnly, b, err)
		}
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("RingOnly=%v: mode %v, %v after Chmod on the closed File; want 0644", o.RingOnly, fi.Mode(), err)
		}
	}
}
