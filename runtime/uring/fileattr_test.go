package uring

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Chmod, Chown and Chdir against os.File's on twin files: the same
// results, the same errors.
func TestFileAttrsMatchOS(t *testing.T) {
	d := t.TempDir()
	uid, gid := os.Getuid(), os.Getgid()
	otherUID := 12345
	if uid != 0 {
		otherUID = 0 // someone else: refused without privilege
	}
	cases := []struct {
		name string
		dir  bool // the file is a directory
		os   func(*os.File) error
		ur   func(*File) error
	}{
		{"chmod", false, func(f *os.File) error { return f.Chmod(0o640) }, func(f *File) error { return f.Chmod(0o640) }},
		{"chmod_special", true, func(f *os.File) error { return f.Chmod(0o750 | os.ModeSticky | os.ModeSetgid) },
			func(f *File) error { return f.Chmod(0o750 | os.ModeSticky | os.ModeSetgid) }},
		{"chown_same", false, func(f *os.File) error { return f.Chown(uid, gid) }, func(f *File) error { return f.Chown(uid, gid) }},
		{"chown_unchanged", false, func(f *os.File) error { return f.Chown(-1, -1) }, func(f *File) error { return f.Chown(-1, -1) }},
		{"chown_other", false, func(f *os.File) error { return f.Chown(otherUID, -1) }, func(f *File) error { return f.Chown(otherUID, -1) }},
		{"chdir_file", false, func(f *os.File) error { return f.Chdir() }, func(f *File) error { return f.Chdir() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var results [2]string
			var stats [2]unix.Stat_t
			for i, side := range []string{"os", "uring"} {
				name := filepath.Join(d, c.name+"-"+side)
				if c.dir {
					if err := os.Mkdir(name, 0o755); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(name, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				var err error
				if side == "os" {
					f, oerr := os.Open(name)
					if oerr != nil {
						t.Fatal(oerr)
					}
					err = c.os(f)
					f.Close()
				} else {
					f, uerr := Open(name)
					if uerr != nil {
						t.Fatal(uerr)
					}
					err = c.ur(f)
					f.Close()
				}
				results[i] = describe(err, name)
				if err := unix.Stat(name, &stats[i]); err != nil {
					t.Fatal(err)
				}
			}
			if results[0] != results[1] {
				t.Errorf("error differs from os's:\n  os:    %s\n  uring: %s", results[0], results[1])
			}
			if stats[0].Mode != stats[1].Mode || stats[0].Uid != stats[1].Uid || stats[0].Gid != stats[1].Gid {
				t.Errorf("result differs from os's: mode %o uid %d gid %d, os: mode %o uid %d gid %d",
					stats[1].Mode, stats[1].Uid, stats[1].Gid, stats[0].Mode, stats[0].Uid, stats[0].Gid)
			}
			t.Logf("both: %s, mode %o uid %d", results[0], stats[0].Mode, stats[0].Uid)
		})
	}
}

// Chdir of a directory File changes the working directory.
func TestFileChdir(t *testing.T) {
	d := t.TempDir()
	t.Chdir("/") // restores the working directory afterwards
	f, err := Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Chdir(); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want, _ := filepath.EvalSymlinks(d)
	if wd != want {
		t.Fatalf("working directory %q after Chdir, want %q", wd, want)
	}
}

// SyscallConn: Control runs on the File's descriptor and holds off Close
// until it returns; Read and Write behave as os.File's on a regular file.
func TestFileSyscallConn(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	of, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	orc, err := of.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Read and Write: fn runs once; false fails, as os's does.
	for _, pair := range []struct {
		name     string
		ur, osrc func(func(uintptr) bool) error
	}{{"Read", rc.Read, orc.Read}, {"Write", rc.Write, orc.Write}} {
		for _, ret := range []bool{true, false} {
			calls := 0
			uerr := pair.ur(func(uintptr) bool { calls++; return ret })
			oerr := pair.osrc(func(uintptr) bool { return ret })
			if calls != 1 || describe(uerr, "") != describe(oerr, "") {
				t.Errorf("RawConn.%s with fn returning %v: %d calls, %v; os's: %v", pair.name, ret, calls, uerr, oerr)
			}
		}
	}
	inside, release, closed := make(chan uintptr), make(chan struct{}), make(chan error)
	go func() {
		rc.Control(func(fd uintptr) {
			inside <- fd
			<-release
			// Still open: Close waits for this function.
			if _, err := unix.FcntlInt(fd, unix.F_GETFD, 0); err != nil {
				t.Errorf("the descriptor closed while Control ran: %v", err)
			}
			var b [3]byte
			if n, err := unix.Pread(int(fd), b[:], 0); n != 3 || err != nil || string(b[:]) != "abc" {
				t.Errorf("pread in Control: %d %v %q", n, err, b[:n])
			}
		})
	}()
	fd := <-inside
	if fd != f.Fd() {
		t.Errorf("Control's descriptor %d, File's %d", fd, f.Fd())
	}
	go func() { closed <- f.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while Control's function ran", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(uintptr) {}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Control after Close: %v, want os.ErrClosed", err)
	}
}
