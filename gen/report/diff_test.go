package report_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/report"
	"github.com/urgen/urgen/internal/testheaders"
)

func TestDiff(t *testing.T) {
	dir := testheaders.Copy(t, headers, "linux", "asm-generic", "x86_64-linux-gnu", "i386-linux-gnu")
	h := filepath.Join(dir, "linux", "io_uring.h")
	// A member inserted at the front moves every later member and grows the struct.
	testheaders.Edit(t, h, "struct io_uring_rsrc_register {\n\t__u32 nr;", "struct io_uring_rsrc_register {\n\t__u64 urgen_new;\n\t__u32 nr;")
	testheaders.Edit(t, h, "#define IORING_SETUP_SQPOLL", "#define URGEN_RENAMED_SQPOLL")
	testheaders.Edit(t, h, "\tIORING_OP_LAST,", "\tIORING_OP_URGEN_TEST,\n\tIORING_OP_LAST,")

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
