package model_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/model"
)

// TestCheckC: the C compiler rejects, with the header's position, what
// cc/v4 lets through (a member without a type, found by FuzzLoad) and a
// declaration a header leaves open; it accepts the pinned headers.
func TestCheckC(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc")
	}
	const sqe = "struct io_uring_sqe {"
	if err := model.CheckC(gcc, "../../headers", "amd64", model.DefaultScope); err != nil {
		t.Fatalf("pinned headers: %v", err)
	}
	for _, tc := range []struct {
		name, file string
		edit       func(string) string
		want       string
	}{
		{"member without a type", "linux/io_uring.h", before(sqe, "struct urgen_x { A0; };\n"),
			`^linux/io_uring\.h:32:18: gcc rejects this: .*A0.*\n\tstruct urgen_x \{ A0; \};\n\t {17}\^`},
		{"declaration left open", "linux/futex.h", func(s string) string {
			i := strings.LastIndex(s, "#endif")
			return s[:i] + "*\n" + s[i:]
		}, `^linux/futex\.h:242:1: gcc rejects this: the header ends inside a declaration: "\*" is its last token .*\n\t\*\n\t\^`},
		// gcc says only that the input ends; the body left open is
		// named (it said linux/futex.h, the last header read).
		{"struct body left open", "linux/io_uring.h", func(s string) string {
			i := strings.Index(s, "struct io_uring_rsrc_register {")
			j := i + strings.Index(s[i:], "};")
			return s[:j] + s[j+2:]
		}, `^linux/io_uring\.h:777:31: gcc rejects this: this body is never closed by its own "};"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostileDir(t, func(dir string) { rewrite(t, dir, tc.file, tc.edit) })
			err := model.CheckC(gcc, dir, "amd64", model.DefaultScope)
			if err == nil {
				t.Fatal("CheckC accepted it")
			}
			t.Logf("error: %v", err)
			if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Errorf("error does not match %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error does not name %s", tc.file)
			}
		})
	}
}
