package uring_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/runtime/uring"
)

// ReadAt from any goroutine: many goroutines' requests share the rings.
func ExampleFile_ReadAt() {
	dir, err := os.MkdirTemp("", "uring-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "hello.txt")
	if err := uring.WriteFile(name, []byte("hello, io_uring\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	f, err := uring.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 8)
	n, err := f.ReadAt(buf, 7)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", buf[:n])
	// Output: "io_uring"
}

// A deadline on a read that would block: the request is cancelled in the
// kernel, and the call returns only once the kernel is done with buf.
func ExampleFile_ReadContext() {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		log.Fatal(err)
	}
	defer unix.Close(p[1])
	e, err := uring.Default()
	if err != nil {
		log.Fatal(err)
	}
	f := e.NewFile(uintptr(p[0]), "pipe") // the File owns the read end now
	defer f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	buf := make([]byte, 16)
	_, err = f.ReadContext(ctx, buf)
	var pe *fs.PathError
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.As(err, &pe) && pe.Op == "read")
	// Output: true true
}

// A directory tree as an fs.FS, read through the rings.
func ExampleDirFS() {
	dir, err := os.MkdirTemp("", "uring-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "c.txt"), []byte("c"), 0o644)
	os.WriteFile(filepath.Join(dir, "top.txt"), []byte("top"), 0o644)

	fsys := uring.DirFS(dir)
	fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Println(path, d.IsDir())
		return nil
	})
	data, err := fs.ReadFile(fsys, "a/b/c.txt")
	fmt.Printf("%q %v\n", data, err)
	// Output:
	// . true
	// a true
	// a/b true
	// a/b/c.txt false
	// top.txt false
	// "c" <nil>
}

// Appends that must be durable: each WriteSync is a write linked to an
// fsync, one trip to the kernel; concurrent ones on an O_APPEND file share
// the filesystem's journal commits.
func ExampleFile_WriteSync() {
	dir, err := os.MkdirTemp("", "uring-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	log, err := uring.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	defer log.Close()
	for _, rec := range []string{"one\n", "two\n"} {
		if _, err := log.WriteSync([]byte(rec)); err != nil {
			panic(err)
		}
	}
	fi, _ := log.Stat()
	fmt.Println(fi.Size())
	// Output: 8
}

// Creating, renaming and removing through the ring, with os's semantics
// and errors.
func ExampleMkdirAll() {
	dir, err := os.MkdirTemp("", "uring-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	if err := uring.MkdirAll(filepath.Join(dir, "a/b/c"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := uring.WriteFile(filepath.Join(dir, "a/b/c/f"), []byte("x"), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := uring.Rename(filepath.Join(dir, "a/b"), filepath.Join(dir, "moved")); err != nil {
		log.Fatal(err)
	}
	// Like os.Remove, Remove refuses a directory that is not empty.
	err = uring.Remove(filepath.Join(dir, "moved"))
	fmt.Println(errors.Is(err, unix.ENOTEMPTY))
	if err := uring.RemoveAll(filepath.Join(dir, "moved")); err != nil {
		log.Fatal(err)
	}
	ents, err := uring.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, ent := range ents {
		fmt.Println(ent.Name())
	}
	// Output:
	// true
	// a
}
