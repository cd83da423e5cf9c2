package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/internal/testheaders"
)

// These tests run the generator on the pinned headers changed the way a
// kernel release (or a mistake) changes them, and check that it either
// generates code that is right against gcc or fails with a positioned
// message, writing nothing.

// hostile copies the pinned headers with the asm directories of archs and
// applies the edits to linux/io_uring.h (see testheaders.Edit), old and new
// alternating.
func hostile(t *testing.T, archs []string, edits ...string) string {
	t.Helper()
	subs := []string{"linux", "asm-generic"}
	for _, a := range archs {
		arch, err := model.LookupArch(a)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, arch.Triplet)
	}
	dir := testheaders.Copy(t, pinned, subs...)
	if b, err := os.ReadFile(filepath.Join(pinned, "VERSION")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "VERSION"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i+1 < len(edits); i += 2 {
		testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), edits[i], edits[i+1])
	}
	return dir
}

// tempModule makes a module example.com/hostile that requires the same
// golang.org/x/sys as this one, for building generated packages.
func tempModule(t *testing.T) string {
	t.Helper()
	mod := t.TempDir()
	sum, err := os.ReadFile("../../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/hostile\n\ngo 1.26\n\nrequire golang.org/x/sys v0.50.0\n"
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return mod
}

// crossTool finds a cross toolchain binary, skipping without it (failing
// with URGEN_REQUIRE_CROSS set, as in CI).
func crossTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("URGEN_REQUIRE_CROSS") != "" {
			t.Fatalf("needs %s: %v", name, err)
		}
		t.Skipf("needs %s: %v", name, err)
	}
	return p
}

// sqeDumpGo calls builders on garbage-filled SQE pairs and prints the
// bytes in hex, one line per builder; sqeDumpC does what liburing's
// helpers do for the same builders, by member name, compiled by gcc
// against the same headers: the outside truth for the layout.
const sqeDumpGo = `package main

import (
	"encoding/hex"
	"fmt"
	"unsafe"

	"example.com/hostile/uapi"
)

func fake(n int) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(0x12345678))), n) }

func dump(f func(s *uapi.SQE)) {
	var buf [2]uapi.SQE
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 2*uapi.SizeofSQE)
	for i := range b {
		b[i] = 0xa5
	}
	f(&buf[0])
	fmt.Println(hex.EncodeToString(b))
}

func main() {
	dump(func(s *uapi.SQE) { s.PrepRead(5, fake(7), 0x1122334455667788) })
	dump(func(s *uapi.SQE) { s.PrepSend(6, fake(9), 0x4000) })
	dump(func(s *uapi.SQE) { s.PrepNop128() })
}
`

const sqeDumpC = `#include <stdio.h>
#include <string.h>
#include <linux/io_uring.h>

static unsigned char buf[2 * sizeof(struct io_uring_sqe)];

static struct io_uring_sqe *start(int halves)
{
	memset(buf, 0xa5, sizeof buf);
	memset(buf, 0, halves * sizeof(struct io_uring_sqe));
	return (struct io_uring_sqe *)buf;
}

static void dump(void)
{
	for (unsigned i = 0; i < sizeof buf; i++)
		printf("%02x", buf[i]);
	putchar('\n');
}

int main(void)
{
	struct io_uring_sqe *s = start(1);
	s->opcode = IORING_OP_READ, s->fd = 5, s->off = 0x1122334455667788ULL, s->addr = 0x12345678, s->len = 7;
	dump();
	s = start(1);
	s->opcode = IORING_OP_SEND, s->fd = 6, s->addr = 0x12345678, s->len = 9, s->msg_flags = 0x4000;
	dump();
	s = start(2);
	s->opcode = IORING_OP_NOP128, s->fd = -1;
	dump();
	return 0;
}
`

// TestBuildersFollowSQELayout widens ioprio to __u32, which makes the SQE
// 72 bytes (68 on 386, where __u64 is 4-aligned) and moves every field
// after it, differently on 386 than on amd64 and s390x. The builders must
// write the bytes gcc's layout of the changed header says, on each of
// them (defect 1: they kept the 64-byte amd64 word plan, leaving bytes
// 64-71 stale and, on 386, writing off, addr and len at the old places).
func TestBuildersFollowSQELayout(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("needs an amd64 host (runs 386 natively, s390x under qemu), not %s", runtime.GOARCH)
	}
	archs := []string{"amd64", "386", "s390x"}
	dir := hostile(t, archs, "\t__u16\tioprio;", "\t__u32\tioprio;")
	mod := tempModule(t)
	if err := generate([]string{"-headers", dir, "-arch", strings.Join(archs, ","), "-templates", templates,
		"-out", filepath.Join(mod, "uapi"), "-pkg", "example.com/hostile/uapi"}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(mod, "dump"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"dump/main.go": sqeDumpGo, "dump.c": sqeDumpC} {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ goarch, gcc, qemu string }{
		{"amd64", "gcc", ""},
		{"386", "i686-linux-gnu-gcc", ""},
		{"s390x", "s390x-linux-gnu-gcc", "qemu-s390x-static"},
	} {
		t.Run(c.goarch, func(t *testing.T) {
			arch, _ := model.LookupArch(c.goarch)
			gcc := crossTool(t, c.gcc)
			var run []string
			if c.qemu != "" {
				run = []string{crossTool(t, c.qemu)}
			}
			goBin := filepath.Join(mod, "dump-go-"+c.goarch)
			cmd := exec.Command("go", "build", "-o", goBin, "./dump")
			cmd.Dir = mod
			cmd.Env = append(os.Environ(), "GOARCH="+c.goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build for %s: %v\n%s", c.goarch, err, out)
			}
			cBin := filepath.Join(mod, "dump-c-"+c.goarch)
			if out, err := exec.Command(gcc, "-static", "-O1", "-I", dir, "-I", filepath.Join(dir, arch.Triplet),
				"-o", cBin, filepath.Join(mod, "dump.c")).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c.gcc, err, out)
			}
			output := func(bin string) []string {
				argv := append(append([]string(nil), run...), bin)
				out, err := exec.Command(argv[0], argv[1:]...).Output()
				if err != nil {
					t.Fatalf("%s: %v", bin, err)
				}
				return strings.Fields(string(out))
			}
			goOut, cOut := output(goBin), output(cBin)
			names := []string{"PrepRead", "PrepSend", "PrepNop128"}
			if len(goOut) != len(names) || len(cOut) != len(names) {
				t.Fatalf("got %d Go and %d C dumps, want %d", len(goOut), len(cOut), len(names))
			}
			for i, name := range names {
				if goOut[i] != cOut[i] {
					t.Errorf("%s on %s differs from gcc's layout:\n\tGo %s\n\tC  %s\n\t   %s", name, c.goarch, goOut[i], cOut[i], marks(goOut[i], cOut[i]))
				}
			}
		})
	}
}

// marks underlines the hex digits where a and b differ.
func marks(a, b string) string {
	var m bytes.Buffer
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			m.WriteByte('^')
		} else {
			m.WriteByte(' ')
		}
	}
	return m.String()
}

// copyTemplates copies the templates dir (the uapi family) for editing.
func copyTemplates(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(templates)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(templates, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestSilentDrops: what the headers or templates make the generator leave
// out is a printed warning, and with -strict (make generate) an error
// that writes nothing (defect 4: each of these was dropped silently, with
// exit 0).
func TestSilentDrops(t *testing.T) {
	const sqe = "struct io_uring_sqe {"
	for _, tc := range []struct {
		name            string
		header          [2]string // edit of linux/io_uring.h
		template        string    // file in templates
		tmplOld, tmplNw string
		want            string // in the warning
	}{
		{name: "macro that does not evaluate", header: [2]string{sqe, "#define IORING_URGEN_NAME \"io_uring\"\n" + sqe},
			want: `linux/io_uring.h:32:9: IORING_URGEN_NAME is left out: macro does not evaluate to an integer constant: "io_uring"`},
		{name: "redefined macro", header: [2]string{"#define IORING_SETUP_SQPOLL", "#define IORING_SETUP_IOPOLL\t(1U << 9)\n#define IORING_SETUP_SQPOLL"},
			want: `IORING_SETUP_IOPOLL: macro redefined (an earlier definition is at linux/io_uring.h:`},
		{name: "typedef of an anonymous struct", header: [2]string{sqe, "typedef struct { __u32 a; } io_uring_urgen_t;\n" + sqe},
			want: `linux/io_uring.h:32:9: io_uring_urgen_t is left out: unsupported construct: a declaration of an anonymous struct`},
		{name: "unknown opcode", template: "builders.txt", tmplOld: "prep readv2 READV ", tmplNw: "prep readv2 READVV ",
			want: `builders.txt:100: builder PrepReadv2 (IORING_OP_READVV) is not generated: IORING_OP_READVV is not in these headers`},
		{name: "since from the future", template: "builders.txt", tmplOld: "prep readv2 READV 5.1", tmplNw: "prep readv2 READV 99.0",
			want: `builders.txt:100: builder PrepReadv2 (IORING_OP_READV): SINCE 99.0 is newer than these headers (Linux 7.3)`},
		{name: "selector typo", template: "constants.txt", tmplOld: "flags IORING_SETUP_\n", tmplNw: "flags IORING_SETPU_\n",
			want: `constants.txt:28: set SetupFlags matches no constant in the headers`},
		{name: "member of a set with no constants", template: "constants.txt", tmplOld: "flags IORING_SETUP_\n", tmplNw: "flags IORING_SETPU_\n",
			want: `constants.txt:49: member io_uring_params.flags: set SetupFlags has no constants in the headers`},
		{name: "enum not in the headers", template: "constants.txt", tmplOld: "enum io_uring_msg_ring_flags ", tmplNw: "enum io_uring_msg_ring_flagz ",
			want: `constants.txt:26: enum io_uring_msg_ring_flagz is not in the headers`},
		{name: "member not in the headers", template: "constants.txt", tmplOld: "member io_uring_params.flags ", tmplNw: "member io_uring_params.flagz ",
			want: `constants.txt:49: member io_uring_params.flagz is not in the headers`},
		{name: "misnamed builders.txt", template: "builders.txt", tmplNw: "builder.txt",
			want: `builders.txt does not exist: no SQE builders are generated, and no opcode is checked for one`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostile(t, []string{"amd64"})
			if tc.header[0] != "" {
				testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), tc.header[0], tc.header[1])
			}
			tmpl := copyTemplates(t)
			if tc.template != "" {
				p := filepath.Join(tmpl, tc.template)
				if tc.tmplOld == "" {
					if err := os.Rename(p, filepath.Join(tmpl, tc.tmplNw)); err != nil {
						t.Fatal(err)
					}
				} else {
					testheaders.Edit(t, p, tc.tmplOld, tc.tmplNw)
				}
			}
			out := filepath.Join(t.TempDir(), "uapi")
			args := []string{"-headers", dir, "-arch", "amd64", "-templates", tmpl, "-out", out, "-pkg", "example.com/uapi"}
			var warn bytes.Buffer
			err := generateTo(&warn, append([]string{"-strict"}, args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("generate -strict: %v\nwant an error with %q", err, tc.want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("generate -strict failed but wrote %s", out)
			}
			if err := generateTo(&warn, args); err != nil {
				t.Fatalf("generate without -strict: %v", err)
			}
			if !strings.Contains(warn.String(), "urgen: warning: ") || !strings.Contains(warn.String(), tc.want) {
				t.Errorf("generate printed\n%s\nwant a warning with %q", warn.String(), tc.want)
			}
		})
	}
}

// TestTemplateTypos: template mistakes that were accepted fail with the
// position of the offending line (defects 4 and 10).
func TestTemplateTypos(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"c line names no helper", "builders.txt", "\tc read(fd, buf, len(buf), offset)", "\tc raed(fd, buf, len(buf), offset)",
			`builders.txt:75: builder read (IORING_OP_READ): c line: io_uring_prep_raed is not the helper of any builder in this template`},
		{"SINCE is no release", "builders.txt", "prep readv2 READV 5.1", "prep readv2 READV 5.1x",
			`builders.txt:100: SINCE "5.1x" is not a Linux release`},
		{"argument of unknown type", "builders.txt", "\targ offset uint64\n\tfd = fd\n\toff = offset\n\taddr = ptr(buf)\n\tlen = len(buf)\n\tc read(",
			"\targ offset off_t\n\tfd = fd\n\toff = offset\n\taddr = ptr(buf)\n\tlen = len(buf)\n\tc read(", `builders.txt:70: builder read (IORING_OP_READ): argument offset: unknown type off_t`},
		{"c line misses an argument", "builders.txt", "\tc read(fd, buf, len(buf), offset)", "\tc read(fd, buf, len(buf), 0)",
			`builders.txt:75: builder read (IORING_OP_READ): the c line does not pass argument offset`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := copyTemplates(t)
			testheaders.Edit(t, filepath.Join(tmpl, tc.file), tc.old, tc.new)
			err := generate([]string{"-arch", "amd64", "-headers", pinned, "-templates", tmpl, "-out", filepath.Join(t.TempDir(), "uapi"), "-pkg", "example.com/uapi"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("generate: %v\nwant an error with %q", err, tc.want)
			}
		})
	}
}

// TestUnemittable: input that made jennifer panic (its "%!v(PANIC=" text
// written out as a file) or produced Go that does not compile (defects 9
// and 11) fails with the C origin or the template line, writing nothing;
// what can be emitted safely is.
func TestUnemittable(t *testing.T) {
	const sqe = "struct io_uring_sqe {"
	for _, tc := range []struct {
		name            string
		header          [2]string
		tmplOld, tmplNw string // edit of builders.txt
		pkg             string
		want            string // in the error; "" when generation must succeed
	}{
		{name: "Go name starting with a digit", header: [2]string{sqe, "#define IORING_3D 3\n" + sqe},
			want: `linux/io_uring.h:32:9: IORING_3D maps to the Go name "3d", which is not a Go identifier`},
		{name: "package name that is no identifier", pkg: "example.com/my-uapi",
			want: `import path example.com/my-uapi would name the package "my-uapi", which is not a Go identifier`},
		{name: "argument named func", tmplOld: "\targ fd int32\n\targ buf []byte keep\n\targ offset uint64\n\tfd = fd\n\toff = offset",
			tmplNw: "\targ func int32\n\targ buf []byte keep\n\targ offset uint64\n\tfd = func\n\toff = offset",
			want:   `builders.txt:68: builder read: argument name func is a Go keyword`},
		{name: "argument named s", tmplOld: "\targ fd int32\n\targ buf []byte keep\n\targ offset uint64\n\tfd = fd\n\toff = offset",
			tmplNw: "\targ s int32\n\targ buf []byte keep\n\targ offset uint64\n\tfd = s\n\toff = offset", want: `argument name s is`},
		{name: "argument named uint64", tmplOld: "\targ offset uint64\n\tfd = fd\n\toff = offset",
			tmplNw: "\targ uint64 uint64\n\tfd = fd\n\toff = uint64", want: `argument name uint64 is`},
		{name: "argument named w", tmplOld: "\targ offset uint64\n\tfd = fd\n\toff = offset",
			tmplNw: "\targ w uint64\n\tfd = fd\n\toff = w", want: `builders.txt:70: builder read: argument name w is`},
		{name: "argument named unsafe", tmplOld: "\targ offset uint64\n\tfd = fd\n\toff = offset",
			tmplNw: "\targ unsafe uint64\n\tfd = fd\n\toff = unsafe", want: `builders.txt:70: builder read: argument name unsafe is`},
		{name: "backtick in a c line", tmplOld: "\tc read(fd, buf, len(buf), offset)", tmplNw: "\tc read(fd, buf, len(buf), `offset`)",
			want: `builders.txt:75: c line: a backtick or NUL cannot be in the C call`},
		{name: "argument of an unknown unix type", tmplOld: "\targ fd int32\n\targ iovecs []unix.Iovec keep",
			tmplNw: "\targ fd int32\n\targ iovecs []unix.NOSUCH keep",
			want:   `undefined: unix.NOSUCH (GOARCH=amd64), in PrepReadv (argument iovecs) from `},
		// ... citing the arg line, not the prep line.
		{name: "argument of an unknown unix type: its line", tmplOld: "\targ fd int32\n\targ iovecs []unix.Iovec keep",
			tmplNw: "\targ fd int32\n\targ iovecs []unix.NOSUCH keep", want: `/builders.txt:92`},
		{name: "128-bit integer member", header: [2]string{sqe, "struct io_uring_urgen_q { unsigned __int128 q; };\n" + sqe},
			want: `linux/io_uring.h:32:45: unsupported construct: io_uring_urgen_q.q has the 128-bit integer type`},
		{name: "array of 2^63 bytes", header: [2]string{sqe, "struct io_uring_urgen_q { __u8 q[1ULL << 63]; };\n" + sqe},
			want: `linux/io_uring.h:32:32: array io_uring_urgen_q.q of 9223372036854775808 elements is larger than an object can be on amd64`},
		{name: "struct of 4,097 members", header: [2]string{sqe, "struct io_uring_urgen_w {" + wideMembers(4097) + " };\n" + sqe},
			want: `linux/io_uring.h:32:8: unsupported construct: struct io_uring_urgen_w has 4097 members, more than the 4096`},
		{name: "doc text with */, invalid UTF-8 and NUL", header: [2]string{sqe, "#define IORING_URGEN_DOC 1 // a */ b \xff c \x00 d\n" + sqe}},
		{name: "flexible array in a struct with receiver n", header: [2]string{sqe, "struct io_uring_nurgen { __u32 count; __u32 ids[]; };\n" + sqe}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostile(t, []string{"amd64"})
			if tc.header[0] != "" {
				testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), tc.header[0], tc.header[1])
			}
			tmpl := copyTemplates(t)
			if tc.tmplOld != "" {
				testheaders.Edit(t, filepath.Join(tmpl, "builders.txt"), tc.tmplOld, tc.tmplNw)
			}
			pkg := tc.pkg
			if pkg == "" {
				pkg = "example.com/hostile/uapi"
			}
			mod := tempModule(t)
			out := filepath.Join(mod, "uapi")
			// -cc none: these are the model's and the emitter's checks
			// (gcc rejects some of the headers first: TestBadHeaders).
			err := generateTo(io.Discard, []string{"-headers", dir, "-arch", "amd64", "-cc", "none", "-templates", tmpl, "-out", out, "-pkg", pkg})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				src, _ := os.ReadFile(filepath.Join(out, "constants.go"))
				if strings.Contains(string(src), "PANIC") {
					t.Error("constants.go holds a panic message")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("generate: %v\nwant an error with %q", err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), "PANIC") {
				t.Errorf("the error quotes a panic: %v", err)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("generate failed but wrote %s", out)
			}
		})
	}
}

// wideMembers declares n __u32 members m0, m1 ...
func wideMembers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " __u32 m%d;", i)
	}
	return b.String()
}

// TestMessagesSayWhere: errors that had no position, or the wrong one
// (defect 10).
func TestMessagesSayWhere(t *testing.T) {
	for _, tc := range []struct {
		name  string
		archs []string
		edit  func(t *testing.T, dir, tmpl string)
		want  string
	}{
		{"struct defined inside another struct", []string{"amd64"}, func(t *testing.T, dir, _ string) {
			testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), "struct io_uring_sqe {",
				"struct io_uring_urgen_outer { struct io_uring_urgen_inner { __u32 a; } x; };\nstruct io_uring_sqe {")
		}, ""},
		{"struct on one GOARCH only", []string{"amd64", "386"}, func(t *testing.T, dir, _ string) {
			testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), "struct io_uring_sqe {",
				"#ifdef __i386__\nstruct io_uring_urgen_only386 { __u32 a; };\n#endif\nstruct io_uring_sqe {")
		}, `linux/io_uring.h:33:8: struct io_uring_urgen_only386 is declared on 386 but not on amd64`},
		{"Go name collision", []string{"amd64"}, func(t *testing.T, dir, _ string) {
			testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), "struct io_uring_sqe {",
				"#define IORING_URGEN_X 1\n#define IO_URING_URGEN_X 2\nstruct io_uring_sqe {")
		}, `linux/io_uring.h:33:9: Go name UrgenX of IO_URING_URGEN_X is already used by IORING_URGEN_X (linux/io_uring.h:32:9)`},
		{"empty io_uring.h", []string{"amd64"}, func(t *testing.T, dir, _ string) {
			if err := os.WriteFile(filepath.Join(dir, "linux", "io_uring.h"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, `linux/io_uring.h:1:1: the header is empty`},
		{"missing io_uring.h", []string{"amd64"}, func(t *testing.T, dir, _ string) {
			if err := os.Remove(filepath.Join(dir, "linux", "io_uring.h")); err != nil {
				t.Fatal(err)
			}
		}, `linux/io_uring.h: stat`},
		{"100 KB template line", []string{"amd64"}, func(t *testing.T, _, tmpl string) {
			testheaders.Edit(t, filepath.Join(tmpl, "builders.txt"), "\tdoc Does nothing; the completion proves the ring works.",
				"\tdoc "+strings.Repeat("long ", 20000))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostile(t, tc.archs)
			tmpl := copyTemplates(t)
			tc.edit(t, dir, tmpl)
			out := filepath.Join(t.TempDir(), "uapi")
			err := generateTo(io.Discard, []string{"-headers", dir, "-arch", strings.Join(tc.archs, ","), "-templates", tmpl, "-out", out, "-pkg", "example.com/uapi"})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("generate: %v\nwant an error with %q", err, tc.want)
			}
		})
	}
}

// TestDiffGatesOnBreaks: urgen diff fails on any ABI break, a removal
// included, unless -allow-breaks (defect 13: it exited 0 on breaks and
// counted a removed struct as no break at all).
func TestDiffGatesOnBreaks(t *testing.T) {
	old := hostile(t, []string{"amd64"})
	for _, tc := range []struct {
		name  string
		edit  [2]string
		allow bool
		want  string // in the output; the run must fail unless allow or no break
		fails bool
	}{
		{"removed struct", [2]string{"struct io_uring_rsrc_register {", "struct io_uring_rsrc_register_gone {"}, false,
			"ABI BREAK: removed struct io_uring_rsrc_register (size 32 on amd64)", true},
		{"removed struct allowed", [2]string{"struct io_uring_rsrc_register {", "struct io_uring_rsrc_register_gone {"}, true,
			"ABI BREAK: removed struct io_uring_rsrc_register", false},
		{"removed constant", [2]string{"#define IORING_SETUP_SQPOLL", "#define URGEN_RENAMED_SQPOLL"}, false,
			"ABI BREAK: removed constant IORING_SETUP_SQPOLL", true},
		{"changed constant", [2]string{"#define IORING_SETUP_SQPOLL\t(1U << 1)", "#define IORING_SETUP_SQPOLL\t(1U << 30)"}, false,
			"ABI BREAK: constant IORING_SETUP_SQPOLL value 2 -> 1073741824", true},
		{"added constant only", [2]string{"#define IORING_SETUP_SQPOLL", "#define URGEN_NEW 1\n#define IORING_SETUP_SQPOLL"}, false,
			"summary: 1 added, 0 removed, 0 changed, 0 ABI breaks", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := hostile(t, []string{"amd64"})
			testheaders.Edit(t, filepath.Join(cur, "linux", "io_uring.h"), tc.edit[0], tc.edit[1])
			args := []string{"-arch", "amd64", old, cur}
			if tc.allow {
				args = append([]string{"-allow-breaks"}, args...)
			}
			var out bytes.Buffer
			err := diffTo(&out, args)
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("diff output lacks %q:\n%s", tc.want, out.String())
			}
			if (err != nil) != tc.fails {
				t.Errorf("diff returned %v, want failure %v", err, tc.fails)
			}
		})
	}
}

// TestTypeCheckWithoutXSys: the type check resolves golang.org/x/sys/unix
// also where the output's module does not require it or there is no
// module at all (go list -e exits 0 there with no export data, and
// unix.NOSUCH in a builder's argument was generated with exit 0).
func TestTypeCheckWithoutXSys(t *testing.T) {
	for _, tc := range []struct{ name, gomod string }{
		{"no module", ""},
		{"module without x/sys", "module example.com/bare\n\ngo 1.26\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.gomod != "" {
				if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte(tc.gomod), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tmpl := copyTemplates(t)
			testheaders.Edit(t, filepath.Join(tmpl, "builders.txt"), "\targ fd int32\n\targ iovecs []unix.Iovec keep",
				"\targ fd int32\n\targ iovecs []unix.NOSUCH keep")
			out := filepath.Join(root, "uapi")
			err := generateTo(io.Discard, []string{"-headers", pinned, "-arch", "amd64", "-cc", "none", "-templates", tmpl, "-out", out, "-pkg", "example.com/bare/uapi"})
			if want := "undefined: unix.NOSUCH (GOARCH=amd64), in PrepReadv (argument iovecs) from "; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("generate: %v\nwant an error with %q", err, want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("generate failed but wrote %s", out)
			}
		})
	}
}

// TestGenerateAllOrNothing: where the output directory holds a file named
// like the registry subpackage, or a directory named like a generated
// file, generate fails before it changes anything (defect 12: nine files
// had been replaced when it failed). gen/write's TestDirChecksFirst
// covers the cases one by one.
func TestGenerateAllOrNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block func(out string) error
		want  string
	}{
		{"file named uapitest", func(out string) error {
			if err := os.RemoveAll(filepath.Join(out, "uapitest")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, "uapitest"), []byte("x\n"), 0o644)
		}, "uapitest is a file, not a directory"},
		{"directory named types.go", func(out string) error {
			if err := os.Remove(filepath.Join(out, "types.go")); err != nil {
				return err
			}
			return os.Mkdir(filepath.Join(out, "types.go"), 0o755)
		}, "types.go: it is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "uapi")
			args := []string{"-arch", "amd64", "-cc", "none", "-templates", templates, "-out", out, "-pkg", "example.com/uapi"}
			if err := generateTo(io.Discard, append([]string{"-headers", pinned}, args...)); err != nil {
				t.Fatal(err)
			}
			// One more constant: constants.go and the registry would change.
			dir := hostile(t, []string{"amd64"}, "#define IORING_SETUP_SQPOLL", "#define IORING_URGEN_NEW 7\n#define IORING_SETUP_SQPOLL")
			if err := tc.block(out); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, filepath.Dir(out))
			err := generateTo(io.Discard, append([]string{"-headers", dir}, args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("generate: %v\nwant an error with %q", err, tc.want)
			}
			unchanged(t, before, snapshot(t, filepath.Dir(out)))
		})
	}
}
