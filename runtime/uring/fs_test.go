package uring

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"testing/iotest"
)

// tree writes a small tree into a new directory and returns it with the
// files' paths (relative, slash-separated).
func tree(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"hello.txt":           "hello, world\n",
		"empty":               "",
		"a/b/c.txt":           strings.Repeat("abc", 5000),
		"a/d.bin":             string(bytes.Repeat([]byte{0, 1, 2, 255}, 3000)),
		"dir with space/x.go": "package x\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, files
}

// The standard library's conformance suite for fs.FS implementations.
func TestFSConformance(t *testing.T) {
	dir, files := tree(t)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	for _, o := range []Options{{}, {RingOnly: true}} {
		e := newEngine(t, o)
		if err := fstest.TestFS(e.DirFS(dir), names...); err != nil {
			t.Errorf("fstest.TestFS (%+v): %v", o, err)
		}
	}
	if err := fstest.TestFS(DirFS(dir), names...); err != nil {
		t.Errorf("fstest.TestFS (default Engine): %v", err)
	}
}

func TestFSErrors(t *testing.T) {
	dir, _ := tree(t)
	fsys := DirFS(dir)
	for _, c := range []struct {
		call func() error
		op   string
		path string
		is   error
	}{
		{func() error { _, err := fsys.Open("missing"); return err }, "open", "missing", fs.ErrNotExist},
		{func() error { _, err := fsys.Open("../x"); return err }, "open", "../x", fs.ErrInvalid},
		{func() error { _, err := fsys.Stat("a/none"); return err }, "stat", "a/none", fs.ErrNotExist},
		{func() error { _, err := fsys.ReadFile("nope"); return err }, "open", "nope", fs.ErrNotExist},
		{func() error { _, err := fsys.ReadDir("hello.txt"); return err }, "readdirent", "hello.txt", nil},
	} {
		err := c.call()
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Op != c.op || pe.Path != c.path || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("got %v; want a PathError %s %s wrapping %v", err, c.op, c.path, c.is)
		}
	}
}

// The same reads through os.DirFS and through FS give the same bytes.
func TestFSReadFileMatchesOS(t *testing.T) {
	dir, files := tree(t)
	fsys := DirFS(dir)
	for name, want := range files {
		got, err := fsys.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %d bytes, %v; want %d", name, len(got), err, len(want))
		}
		top, err := ReadFile(filepath.Join(dir, name))
		if err != nil || string(top) != want {
			t.Errorf("package ReadFile(%s) = %d bytes, %v", name, len(top), err)
		}
	}
	p := filepath.Join(dir, "new")
	if err := WriteFile(p, []byte("written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "written" {
		t.Fatalf("after WriteFile: %q, %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("WriteFile mode %v", fi.Mode())
	}
}

// The standard library's reader tests, on a File.
func TestIotest(t *testing.T) {
	dir, files := tree(t)
	name := "a/b/c.txt"
	want := []byte(files[name])
	open := func() *File {
		f, err := Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if err := iotest.TestReader(open(), want); err != nil {
		t.Errorf("iotest.TestReader: %v", err)
	}
	for _, w := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"OneByteReader", iotest.OneByteReader},
		{"HalfReader", iotest.HalfReader},
		{"DataErrReader", iotest.DataErrReader},
	} {
		got, err := io.ReadAll(w.wrap(open()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", w.name, len(got), err)
		}
	}
	// TimeoutReader fails the second read: the File's own error path is
	// not involved, but the first read must deliver data.
	r := iotest.TimeoutReader(open())
	p := make([]byte, 100)
	if n, err := r.Read(p); n != 100 || err != nil || !bytes.Equal(p, want[:100]) {
		t.Errorf("TimeoutReader first read: %d, %v", n, err)
	}
	if _, err := r.Read(p); err != iotest.ErrTimeout {
		t.Errorf("TimeoutReader second read: %v", err)
	}
}

// net/http serves files and directory listings from an FS.
func TestFileServer(t *testing.T) {
	dir, files := tree(t)
	srv := httptest.NewServer(http.FileServer(http.FS(DirFS(dir))))
	defer srv.Close()
	for name, want := range files {
		resp, err := http.Get(srv.URL + "/" + strings.ReplaceAll(name, " ", "%20"))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != want {
			t.Errorf("GET %s: %d, %d bytes", name, resp.StatusCode, len(got))
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/a/b/c.txt", nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != files["a/b/c.txt"][10:20] {
		t.Errorf("range GET: %d %q", resp.StatusCode, got)
	}
	resp, err = http.Get(srv.URL + "/a/")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(list), `href="b/"`) || !strings.Contains(string(list), `href="d.bin"`) {
		t.Errorf("directory listing: %s", list)
	}
}

// ReadFile of every size around the one-trip chain's buffer, of files whose
// reads come in pieces (/proc), and of what fails, against os.ReadFile.
func TestReadFileSizes(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for _, n := range []int{0, 1, 4095, 4096, 60<<10 - 1, 60 << 10, 60<<10 + 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 200 << 10} {
		name := filepath.Join(dir, strconv.Itoa(n))
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + n)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	names = append(names, "/proc/cpuinfo", "/proc/self/cmdline", "/proc/self/limits")
	for _, o := range []Options{{}, {RingOnly: true}} {
		e := newEngine(t, o)
		for _, name := range names {
			want, werr := os.ReadFile(name)
			got, err := e.ReadFile(name)
			if err != nil || werr != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadFile(%s) = %d bytes, %v; os: %d bytes, %v", name, len(got), err, len(want), werr)
			}
		}
		for _, name := range []string{filepath.Join(dir, "missing"), dir} {
			_, werr := os.ReadFile(name)
			_, err := e.ReadFile(name)
			if err == nil || err.Error() != werr.Error() {
				t.Errorf("ReadFile(%s) error %v; os says %v", name, err, werr)
			}
		}
	}
}

// WriteFile truncates, creates with perm, and fails as os.WriteFile does:
// as system calls (the default) and as one chain through the ring
// (RingOnly).
func TestWriteFileLikeOS(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{{}, {RingOnly: true}} {
		e := newEngine(t, o)
		name := filepath.Join(dir, "w")
		if err := os.WriteFile(name, bytes.Repeat([]byte("x"), 10000), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteFile(name, []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(name); string(b) != "short" {
			t.Errorf("after WriteFile over a longer file: %q", b)
		}
		fresh := filepath.Join(dir, "fresh")
		os.Remove(fresh)
		if err := e.WriteFile(fresh, nil, 0o640); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(fresh); err != nil || fi.Size() != 0 || fi.Mode().Perm()&^0o022 != 0o640&^0o022 {
			t.Errorf("new empty file: %v, %v", fi, err)
		}
		bad := filepath.Join(dir, "no", "such")
		werr := os.WriteFile(bad, []byte("x"), 0o644)
		if err := e.WriteFile(bad, []byte("x"), 0o644); err == nil || err.Error() != werr.Error() {
			t.Errorf("WriteFile(%s): %v; os says %v", bad, err, werr)
		}
	}
}

// ReadFile of an empty file returns an empty slice that is not nil, as
// os.ReadFile does, on the chain and on the long way.
func TestReadFileEmpty(t *testing.T) {
	name := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(name)
	if err != nil || want == nil {
		t.Fatalf("os.ReadFile: %q (nil: %v), %v", want, want == nil, err)
	}
	for _, o := range []Options{{}, {RingOnly: true}} {
		got, err := newEngine(t, o).ReadFile(name)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("RingOnly=%v: ReadFile of an empty file: %q (nil: %v), %v", o.RingOnly, got, got == nil, err)
		}
	}
}
