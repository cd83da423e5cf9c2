// Package testheaders copies a headers directory for tests that need a
// modified copy of the pinned kernel headers.
package testheaders

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Copy copies the subdirectories subs (such as "linux", "asm-generic",
// "x86_64-linux-gnu") of the headers directory src into a new temporary
// directory and returns it.
func Copy(t testing.TB, src string, subs ...string) string {
	t.Helper()
	dst := t.TempDir()
	for _, sub := range subs {
		err := filepath.WalkDir(filepath.Join(src, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out := filepath.Join(dst, rel)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// Edit replaces the first occurrence of old in the file at path with new;
// a new ending in "<EOF>" also cuts off the rest of the file. It fails the
// test when old is not in the file.
func Edit(t testing.TB, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(old))
	if i < 0 {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if cut, ok := strings.CutSuffix(new, "<EOF>"); ok {
		b = append(b[:i:i], cut...)
	} else {
		b = bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
