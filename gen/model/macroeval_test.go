package model

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMacroEvalAgreesWithCC evaluates every macro of the pinned headers
// that macroEval can evaluate (it evaluates only the ones too costly for
// cc/v4 in generation) and requires cc/v4's value and type: two
// independent evaluators of the same C, on an LP64 and an ILP32 arch.
func TestMacroEvalAgreesWithCC(t *testing.T) {
	dir := filepath.Join("..", "..", "headers")
	for _, goarch := range []string{"amd64", "386"} {
		arch, _ := LookupArch(goarch)
		m, err := Load(dir, []string{goarch}, DefaultScope)
		if err != nil {
			t.Fatal(err)
		}
		cost := newMacroCost()
		for _, sub := range []string{"linux", "asm-generic", arch.Triplet} {
			err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(p, ".h") {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				cost.add(prescan(filepath.ToSlash(rel), b).defines)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		eval := newMacroEval(cost, arch.LP64)
		n := 0
		for _, mc := range m.Macros {
			v, err := eval.value(mc.Name)
			if err != nil {
				continue
			}
			n++
			if v.bits != mc.Value.Bits || eval.negative(v) != mc.Value.Negative || ckindNames[v.kind] != mc.CType {
				t.Errorf("%s: %s = %#x %s (negative %v) by macroEval, %#x %s (negative %v) by cc/v4", goarch, mc.Name,
					v.bits, ckindNames[v.kind], eval.negative(v), mc.Value.Bits, mc.CType, mc.Value.Negative)
			}
		}
		if n < 100 {
			t.Errorf("%s: macroEval evaluated only %d of the %d macros", goarch, n, len(m.Macros))
		}
		t.Logf("%s: %d of %d macros evaluated alike", goarch, n, len(m.Macros))
	}
}

// TestRelErrDropsTraces: cc/v4's debugging traces ("cpp.go:1734: TRC
// EOF") and the lines about the sentinel after the headers stay out of
// messages that say where the headers are wrong (defect 10); a position
// past the end of a file (the guard's closing marker) is its end.
func TestRelErrDropsTraces(t *testing.T) {
	dir := filepath.Join("..", "..", "headers")
	abs, _ := filepath.Abs(dir)
	in := abs + "/linux/io_uring.h:99999:3: expected #endif\n/root/go/pkg/mod/modernc.org/cc/v4@v4.31.0/cpp.go:1734: TRC EOF\n<urgen-end>:3:1: unexpected 'typedef'\n-: unexpected EOF"
	got := relErr(errorString(in), abs)
	if strings.Contains(got, "TRC") || strings.Contains(got, "<urgen-end>") || strings.Contains(got, "-: ") {
		t.Errorf("relErr kept a trace or sentinel line:\n%s", got)
	}
	if !strings.HasPrefix(got, "linux/io_uring.h:") || strings.Contains(got, ":99999:") {
		t.Errorf("relErr: %q, want the end of linux/io_uring.h", got)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
