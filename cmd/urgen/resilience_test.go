package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urgen/urgen/internal/testheaders"
)

const (
	pinned    = "../../headers"
	templates = "../../templates"
)

// TestGenerateHostHeaders generates from the host's /usr/include (Debian
// 12: Linux 6.1, no query, bpf_filter or zcrx headers) into a temporary
// module and builds and vets it.
func TestGenerateHostHeaders(t *testing.T) {
	if _, err := os.Stat("/usr/include/linux/io_uring.h"); err != nil {
		t.Skipf("needs the host's kernel headers (apt-get install linux-libc-dev): %v", err)
	}
	mod := t.TempDir()
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/host\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	err := generateTo(&warn, []string{"-headers", "/usr/include", "-arch", "amd64", "-templates", templates,
		"-out", filepath.Join(mod, "uapi"), "-pkg", "example.com/host/uapi"})
	if err != nil {
		t.Fatal(err)
	}
	// generate itself says what 6.1 leaves out, not only urgen report.
	if n := strings.Count(warn.String(), "is not generated: "); n < 25 {
		t.Errorf("generate warned about %d builders 6.1 lacks, want them all:\n%s", n, warn.String())
	}
	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in the generated module: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	src, err := os.ReadFile(filepath.Join(mod, "uapi", "constants.go"))
	if err != nil {
		t.Fatal(err)
	}
	// /usr/include has no VERSION file: the provenance names the directory.
	doc, err := os.ReadFile(filepath.Join(mod, "uapi", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"from the headers in /usr/include (no VERSION file); DO NOT EDIT.",
		"(in /usr/include, which has no VERSION file naming their package)",
	} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("doc.go lacks %q:\n%s", want, doc)
		}
	}
	if bytes.Contains(doc, []byte("( )")) || bytes.Contains(doc, []byte("from  ")) {
		t.Errorf("doc.go has empty provenance:\n%s", doc)
	}
	// 6.1's last opcode is SENDMSG_ZC; URING_CMD128 must be absent.
	if !bytes.Contains(src, []byte("OpSendmsgZC Op = 48")) || bytes.Contains(src, []byte("OpUringCmd128")) {
		t.Errorf("generated 6.1 opcodes are not 6.1's")
	}

	var rep bytes.Buffer
	if err := reportTo(&rep, []string{"-headers", "/usr/include", "-arch", "amd64", "-templates", templates}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.String(), "set QueryOp matches no constant") {
		t.Errorf("report does not list the template lines 6.1 lacks:\n%s", rep.String())
	}
}

// brokenHeaders copies the pinned amd64 headers and applies the edit to
// linux/io_uring.h (see testheaders.Edit).
func brokenHeaders(t *testing.T, old, new string) string {
	t.Helper()
	dir := testheaders.Copy(t, pinned, "linux", "asm-generic", "x86_64-linux-gnu")
	testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), old, new)
	return dir
}

// snapshot reads every file under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestBadHeaders checks that a header the generator cannot translate
// exactly fails with a positioned message and leaves the output as it was.
//
// Each case runs twice: with -cc none (cc/v4 and the model's guard alone,
// as on a machine without a C compiler) and, where gcc is installed, with
// gcc reading the headers first (the default).
func TestBadHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           string // regexp the error must match with -cc none
		wantCC         string // ... and with gcc
	}{
		{"truncated struct", "struct io_uring_rsrc_register {\n\t__u32 nr;", "struct io_uring_rsrc_register {\n\t__u32 nr;<EOF>",
			`linux/io_uring\.h:778:11: expected #endif`, `linux/io_uring\.h:8:1: gcc rejects this: unterminated #ifndef`},
		{"unterminated #if", "struct io_uring_rsrc_register {\n\t__u32 nr;", "struct io_uring_rsrc_register {\n\t__u32 nr;\n#if 0",
			`linux/io_uring\.h:\d+:\d+: expected #endif`, `linux/io_uring\.h:8:1: gcc rejects this: unterminated #ifndef`},
		{"unknown type", "struct io_uring_rsrc_register {\n\t__u32 nr;", "struct io_uring_rsrc_register {\n\turgen_unknown_t nr;",
			`(?s)linux/io_uring\.h:778:18: .*urgen_unknown_t nr;\n\t\t {16}\^`,
			`(?s)linux/io_uring\.h:778:2: gcc rejects this: unknown type name 'urgen_unknown_t'\n\t\turgen_unknown_t nr;\n\t\t\^`},
		{"bit-field", "struct io_uring_rsrc_register {\n\t__u32 nr;", "struct io_uring_rsrc_register {\n\t__u32 nr:7;",
			`linux/io_uring\.h:778:\d+: .*unsupported construct.*bit-field.*io_uring_rsrc_register\.nr`,
			`linux/io_uring\.h:778:\d+: .*unsupported construct.*bit-field.*io_uring_rsrc_register\.nr`},
	} {
		for _, cc := range []string{"none", "gcc"} {
			want := tc.want
			if cc == "gcc" {
				if _, err := exec.LookPath("gcc"); err != nil {
					continue
				}
				want = tc.wantCC
			}
			t.Run(tc.name+"/cc="+cc, func(t *testing.T) { badHeader(t, tc.old, tc.new, cc, want) })
		}
	}
}

// badHeader generates from the pinned headers with old replaced by new,
// compiler cc, and checks the error against want and the output untouched.
func badHeader(t *testing.T, old, new, cc, want string) {
	dir := brokenHeaders(t, old, new)
	out := filepath.Join(t.TempDir(), "uapi")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	const keep = "// Code generated by urgen earlier; DO NOT EDIT.\npackage uapi\n"
	if err := os.WriteFile(filepath.Join(out, "types.go"), []byte(keep), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Dir(out))
	err := generate([]string{"-headers", dir, "-arch", "amd64", "-cc", cc, "-templates", templates, "-out", out, "-pkg", "example.com/bad/uapi"})
	if err == nil {
		t.Fatal("generate succeeded on a broken header")
	}
	t.Logf("error: %v", err)
	if !regexp.MustCompile(want).MatchString(err.Error()) {
		t.Errorf("error %q does not match %s", err, want)
	}
	unchanged(t, before, snapshot(t, filepath.Dir(out)))
}

// unchanged fails the test where after (a snapshot) differs from before.
func unchanged(t *testing.T, before, after map[string]string) {
	t.Helper()
	if len(after) != len(before) {
		t.Errorf("output directory changed: %d files before, %d after", len(before), len(after))
	}
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed", p)
		}
	}
}
