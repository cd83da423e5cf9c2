package urgen_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/family"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/roundtrip"
)

// TestCrossArchLayout checks the model's layout and macro values for every
// GOARCH and every header family against that arch's real gcc, which the
// generated compile-time assertions and per-GOARCH constant files then pin
// for the Go declarations (make vet-arches builds them for every GOARCH).
// It reads the values from gcc -S output, so nothing foreign is executed.
func TestCrossArchLayout(t *testing.T) {
	fams, err := family.All("templates")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range model.Archs {
		t.Run(arch.GOARCH, func(t *testing.T) {
			tc, ok := roundtrip.Cross[arch.GOARCH]
			if !ok {
				t.Skipf("needs a %s cross compiler: Debian bookworm ships none", arch.GOARCH)
			}
			cc := tc.CC
			path, err := exec.LookPath(cc)
			if err != nil {
				if os.Getenv("URGEN_REQUIRE_CROSS") != "" {
					t.Fatalf("URGEN_REQUIRE_CROSS is set but %s is missing", cc)
				}
				t.Skipf("needs %s (apt-get install gcc-%s): %v", cc, strings.TrimSuffix(cc, "-gcc"), err)
			}
			var checks []layoutCheck
			var src strings.Builder
			src.WriteString("#include <stddef.h>\n")
			for _, fam := range fams {
				m, err := model.Load("headers", []string{arch.GOARCH}, fam.Scope)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range m.Structs {
					checks = append(checks, layoutCheck{"sizeof(" + s.CName() + ")", s.Layout[arch.GOARCH].Size, s.CName()})
					checks = append(checks, layoutCheck{"_Alignof(" + s.CName() + ")", s.Layout[arch.GOARCH].Align, s.CName() + " alignment"})
					checks = memberChecks(checks, s.CName(), "", 0, s.Fields, arch.GOARCH)
				}
				// Macro values, as two 32-bit halves: ioctl numbers differ
				// between arches.
				for _, c := range m.Macros {
					v := c.ValueOn(arch.GOARCH).Bits
					checks = append(checks,
						layoutCheck{fmt.Sprintf("(unsigned int)(unsigned long long)(%s)", c.Name), int64(uint32(v)), c.Name + " (low 32 bits)"},
						layoutCheck{fmt.Sprintf("(unsigned int)((unsigned long long)(%s) >> 32)", c.Name), int64(uint32(v >> 32)), c.Name + " (high 32 bits)"})
				}
				for _, f := range m.Files {
					fmt.Fprintf(&src, "#include <%s>\n", f)
				}
			}
			for i, c := range checks {
				fmt.Fprintf(&src, "const unsigned int urgen_%d = %s;\n", i, c.expr)
			}
			dir := t.TempDir()
			in, out := filepath.Join(dir, "layout.c"), filepath.Join(dir, "layout.s")
			if err := os.WriteFile(in, []byte(src.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(path, "-S", "-O0", "-nostdinc", "-isystem", gccInclude(t, path),
				"-I", "headers", "-I", filepath.Join("headers", arch.Triplet), "-o", out, in)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cc, err, b)
			}
			got := readAsmValues(t, out)
			for i, c := range checks {
				v, ok := got[i]
				if !ok {
					t.Errorf("%s: no value for %s in gcc output", arch.GOARCH, c.expr)
					continue
				}
				if uint32(v) != uint32(c.want) {
					t.Errorf("%s: %s is %d in the model, %d by %s", arch.GOARCH, c.what, c.want, v, cc)
				}
			}
			t.Logf("%d layout values agree with %s", len(checks), cc)
		})
	}
}

type layoutCheck struct {
	expr string
	want int64
	what string
}

// memberChecks adds an offsetof check for every named member, descending
// into anonymous members (reachable by name) and named inline ones
// (through a designator path).
func memberChecks(checks []layoutCheck, ctype, prefix string, base int64, fields []*model.Field, arch string) []layoutCheck {
	for _, f := range fields {
		off := base + f.Offset[arch]
		p := prefix + f.Name
		if f.Name != "" {
			checks = append(checks, layoutCheck{fmt.Sprintf("offsetof(%s, %s)", ctype, p), off, ctype + "." + p})
		}
		if f.Type.Kind == model.KindInline {
			next := prefix
			if f.Name != "" {
				next = p + "."
			}
			checks = memberChecks(checks, ctype, next, off, f.Type.Inline.Fields, arch)
		}
	}
	return checks
}

// gccInclude is the cross compiler's own include dir (stddef.h), so that
// nothing of the host's /usr/include is used.
func gccInclude(t *testing.T, gcc string) string {
	out, err := exec.Command(gcc, "-print-file-name=include").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// readAsmValues reads "urgen_N:" labels and the integer on the data
// directive that follows each.
func readAsmValues(t *testing.T, path string) map[int]int64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vals := map[int]int64{}
	label := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "urgen_") && strings.HasSuffix(line, ":") {
			label, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "urgen_"), ":"))
			continue
		}
		if label < 0 {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) == 2 && (fs[0] == ".zero" || fs[0] == ".space") {
			// gcc spells a zero-valued constant as N zero bytes.
			vals[label] = 0
			label = -1
			continue
		}
		if len(fs) == 2 && (fs[0] == ".long" || fs[0] == ".word" || fs[0] == ".4byte" || fs[0] == ".int") {
			v, err := strconv.ParseInt(fs[1], 0, 64)
			if err == nil {
				vals[label] = v
				label = -1
			}
		}
	}
	return vals
}
