package model_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/internal/testheaders"
)

// fuzzScope puts only the fuzzed header in scope: the loader still reads
// the real linux/types.h closure it includes.
var fuzzScope = model.Scope{Files: []string{"urgen/fuzz.h"}}

var (
	fuzzDirOnce sync.Once
	fuzzDirPath string
)

func fuzzDir() string {
	fuzzDirOnce.Do(func() {
		var err error
		if fuzzDirPath, err = os.MkdirTemp("", "urgen-fuzz-headers-"); err != nil {
			panic(err)
		}
	})
	return fuzzDirPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fuzzDirPath != "" {
		os.RemoveAll(fuzzDirPath)
	}
	os.Exit(code)
}

// fuzzHeaders returns a headers directory with the pinned amd64 closure
// (one per test process) and writes src as urgen/fuzz.h into it.
func fuzzHeaders(t *testing.T, src []byte) string {
	t.Helper()
	dir := fuzzDir()
	if _, err := os.Stat(filepath.Join(dir, "linux", "types.h")); err != nil {
		tmp := testheaders.Copy(t, filepath.Join("..", "..", "headers"), "linux", "asm-generic", "x86_64-linux-gnu")
		if err := os.CopyFS(dir, os.DirFS(tmp)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "urgen"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "urgen", "fuzz.h"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// positioned matches an error that says where: file:line:col of a header,
// or for a crash of cc/v4 the file it was reading.
var positioned = regexp.MustCompile(`(?m)(^|\s)(urgen/fuzz|linux/[\w/]+|asm-generic/\w+|x86_64-linux-gnu/asm/\w+)\.h:\d+:\d+: |crashed while reading \S+\.h`)

// FuzzLoad loads the fuzzed header through the model (the code path of
// urgen generate, for amd64). Properties: Load never panics and returns
// within a minute; an error says where (file:line:col); and a header it
// accepts, gcc accepts too and lays out the same (where gcc is on the
// machine, it reads the header first through CheckC, as in urgen
// generate, so cc/v4 sees only what gcc accepts): every struct's size and
// alignment, every member's offset and every macro's value as gcc
// computes them. Seeds: the constructs of the io_uring headers, and the
// inputs of issue 16 that hung, crashed or were silently misread.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"#include <linux/types.h>\nstruct urgen_a { __u8 a; __u64 b; __u16 c[3]; };\n#define URGEN_X (1U << 3)\n",
		"#include <linux/types.h>\nstruct urgen_u { __u32 k; union { __u64 a; struct { __u16 lo; __u8 mid[3]; }; }; };\n",
		"#include <linux/types.h>\nstruct urgen_p { __u8 a; __u64 b; } __attribute__((packed));\nstruct urgen_q { __u8 x; struct urgen_p p; };\n",
		"#include <linux/types.h>\n#include <linux/stddef.h>\nstruct urgen_f { __u32 n; __DECLARE_FLEX_ARRAY(__u32, ids); };\nenum urgen_e { URGEN_E0, URGEN_E1 = 5, URGEN_E2 };\n",
		"#include <linux/types.h>\nstruct urgen_al { __u8 a; __u32 b __attribute__((aligned(16))); __aligned_u64 c; };\n",
		"#pragma pack(push,1)\nstruct urgen_pk { char a; long long b; };\n#pragma pack(pop)\n",
		"#defne URGEN_T 1\n",
		"#include \"fuzz.h\"\n",
		"struct urgen_s { int a; };\n*\n",
		"#define URGEN_A0 1\n#define URGEN_A1 (URGEN_A0+URGEN_A0)\n#define URGEN_A2 (URGEN_A1+URGEN_A1)\n",
		"#define URGEN_D " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + "\n",
		"struct urgen_z { unsigned char x[1<<40]; };\n",
		"struct urgen_m { int n; char f[]; int m; };\n",
		"/* unterminated\n",
		"struct urgen_o { struct urgen_i { int a; } i; };\n",
		"struct urgen_b { int a:3; };\n",
	} {
		f.Add([]byte(s))
	}
	gcc, _ := exec.LookPath("gcc")
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := fuzzHeaders(t, src)
		type result struct {
			m   *model.Model
			err error
		}
		if gcc != "" {
			// urgen generate has the C compiler read the headers first.
			if err := model.CheckC(gcc, dir, "amd64", fuzzScope); err != nil {
				if !positioned.MatchString(err.Error()) {
					t.Fatalf("error without a position: %v", err)
				}
				return
			}
		}
		done := make(chan result, 1)
		go func() {
			m, err := model.Load(dir, []string{"amd64"}, fuzzScope)
			done <- result{m, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(time.Minute):
			t.Fatal("model.Load did not return within a minute")
		}
		if r.err != nil {
			if !positioned.MatchString(r.err.Error()) {
				t.Fatalf("error without a position: %v", r.err)
			}
			return
		}
		if gcc == "" {
			return
		}
		layoutAgainstGCC(t, gcc, dir, r.m)
	})
}

// layoutAgainstGCC compiles a C program printing what the model says
// about urgen/fuzz.h and compares.
func layoutAgainstGCC(t *testing.T, gcc, dir string, m *model.Model) {
	var c strings.Builder
	c.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <urgen/fuzz.h>\nint main(void) {\n")
	var want []string
	emit := func(expr, v string) {
		fmt.Fprintf(&c, "\tprintf(\"%%s%%llu\\n\", (%s) < 0 ? \"-\" : \"\", (unsigned long long)((%s) < 0 ? -(%s) : (%s)));\n", expr, expr, expr, expr)
		want = append(want, expr+" = "+v)
	}
	for _, s := range m.Structs {
		if s.External || s.C == "" {
			continue
		}
		l := s.Layout["amd64"]
		emit("sizeof("+s.CName()+")", strconv.FormatInt(l.Size, 10))
		emit("_Alignof("+s.CName()+")", strconv.FormatInt(l.Align, 10))
		var walk func(prefix string, base int64, fields []*model.Field)
		walk = func(prefix string, base int64, fields []*model.Field) {
			for _, fl := range fields {
				off := base + fl.Offset["amd64"]
				p := prefix + fl.Name
				if fl.Name != "" && !strings.HasPrefix(fl.Name, "__empty_") && !fl.Type.Flexible {
					emit("offsetof("+s.CName()+", "+p+")", strconv.FormatInt(off, 10))
				}
				if fl.Type.Kind == model.KindInline {
					next := prefix
					if fl.Name != "" {
						next = p + "."
					}
					walk(next, off, fl.Type.Inline.Fields)
				}
			}
		}
		walk("", 0, s.Fields)
	}
	for _, mc := range m.Macros {
		v := strconv.FormatUint(mc.Value.Bits, 10)
		if mc.Value.Negative {
			v = "-" + strconv.FormatUint(-mc.Value.Bits, 10)
		}
		emit(mc.Name, v)
	}
	c.WriteString("\treturn 0;\n}\n")
	work := t.TempDir()
	src, bin := filepath.Join(work, "l.c"), filepath.Join(work, "l")
	if err := os.WriteFile(src, []byte(c.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-std=gnu11", "-w", "-I", dir, "-I", filepath.Join(dir, "x86_64-linux-gnu"), "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("the model accepted a header gcc rejects:\n%s", out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	if len(got) != len(want) {
		t.Fatalf("gcc printed %d values for %d", len(got), len(want))
	}
	for i, w := range want {
		expr, v, _ := strings.Cut(w, " = ")
		if got[i] != v {
			t.Errorf("%s: model %s, gcc %s", expr, v, got[i])
		}
	}
}
