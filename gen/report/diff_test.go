package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/report"
)

// copyHeaders copies the pinned headers needed for amd64 into a temp dir.
func copyHeaders(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, sub := range []string{"linux", "asm-generic", "x86_64-linux-gnu", "i386-linux-gnu"} {
		err := filepath.WalkDir(filepath.Join(headers, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(headers, p)
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

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiff(t *testing.T) {
	dir := copyHeaders(t)
	h := filepath.Join(dir, "linux", "io_uring.h")
	// A member inserted at the front moves every later member and grows the struct.
	edit(t, h, "struct io_uring_rsrc_register {\n\t__u32 nr;", "struct io_uring_rsrc_register {\n\t__u64 urgen_new;\n\t__u32 nr;")
	edit(t, h, "#define IORING_SETUP_SQPOLL", "#define URGEN_RENAMED_SQPOLL")
	edit(t, h, "\tIORING_OP_LAST,", "\tIORING_OP_URGEN_TEST,\n\tIORING_OP_LAST,")

	load := func(d string) *model.Model {
		m, err := model.Load(d, []string{"amd64", "386"}, model.DefaultScope)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	d := report.Compare(load(headers), load(dir))
	var buf bytes.Buffer
	if err := d.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"added opcode IORING_OP_URGEN_TEST = 65",
		"removed constant IORING_SETUP_SQPOLL",
		"added constant URGEN_RENAMED_SQPOLL",
		"added field io_uring_rsrc_register.urgen_new",
		"ABI BREAK: struct io_uring_rsrc_register size 32 -> 40 on amd64",
		"ABI BREAK: field io_uring_rsrc_register.nr offset 0 -> 8 on amd64",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q; got:\n%s", want, out)
		}
	}
	if strings.Contains(out, "io_uring_sqe") {
		t.Errorf("diff reports the untouched struct io_uring_sqe:\n%s", out)
	}

	// Identical directories differ in nothing.
	if same := report.Compare(load(headers), load(headers)); len(same.Changes) != 0 {
		t.Errorf("diff of the pinned headers with themselves: %v", same.Changes)
	}
}
