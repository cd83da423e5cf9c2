package uring

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// io.Copy from and to a File, through each of its peers' paths: an
// os.File (copy_file_range), a TCP connection (sendfile), a pipe (splice),
// a plain reader and writer (a buffer), another File.
func TestCopy(t *testing.T) {
	name, data := testFile(t, 3<<20+123)
	dir := t.TempDir()
	open := func() *File {
		f, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	check := func(what string, got []byte) {
		t.Helper()
		if !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, want %d identical", what, len(got), len(data))
		}
	}

	// File -> os.File.
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(out, open()); err != nil || n != int64(len(data)) {
		t.Fatalf("to os.File: %d, %v", n, err)
	}
	out.Close()
	b, _ := os.ReadFile(out.Name())
	check("to os.File", b)

	// File -> bytes.Buffer, from the middle: the file position is used.
	f := open()
	f.Seek(100, io.SeekStart)
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, f); err != nil || n != int64(len(data)-100) {
		t.Fatalf("to a buffer: %d, %v", n, err)
	}
	check("to a buffer", append(data[:100:100], buf.Bytes()...))
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
		t.Errorf("position after WriteTo: %d", pos)
	}

	// File -> TCP connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(c, open()); err != nil || n != int64(len(data)) {
		t.Fatalf("to TCP: %d, %v", n, err)
	}
	c.Close()
	check("to TCP", <-got)

	// os.File, pipe, strings.Reader, File -> File.
	sources := map[string]func() io.Reader{
		"os.File": func() io.Reader { f, _ := os.Open(name); t.Cleanup(func() { f.Close() }); return f },
		"pipe": func() io.Reader {
			r, w, _ := os.Pipe()
			go func() { w.Write(data); w.Close() }()
			t.Cleanup(func() { r.Close() })
			return r
		},
		"reader": func() io.Reader { return strings.NewReader(string(data)) },
		"File":   func() io.Reader { return open() },
	}
	for what, src := range sources {
		dst, err := Create(filepath.Join(dir, "dst-"+what))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(dst, src()); err != nil || n != int64(len(data)) {
			t.Errorf("from %s: %d, %v", what, n, err)
		}
		dst.Close()
		b, _ := os.ReadFile(dst.Name())
		check("from "+what, b)
	}
}
