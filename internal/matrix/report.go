package matrix

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
)

// failure is one failed test, crashed binary or failed boot, with the
// output that explains it.
type failure struct {
	column, name, reason string
	output               []string
}

// result is a column's evaluated outcome.
type result struct {
	tests    []*testResult
	failures []failure
	bench    []string // "<binary> <benchmark result line>"
}

// evaluate applies the matrix rules to a column: every expected binary must
// report MATRIX-END exit=0 and every test PASS or SKIP; a binary that exits
// non-zero or never ends without a failed test counts as one failure, and
// so does a package that did not build; a skip "needs <feature>: ..." on a
// kernel that has the feature is a failure, and so is one naming a feature
// the matrix does not know (it could never be checked); likewise a skip
// "needs opcode IORING_OP_X: ..." on a kernel whose probe supports X, or
// naming an opcode that generated/uapi does not know.
func evaluate(col *column, pkgs []testPkg) result {
	var r result
	log := parseLog(col.log)
	if col.err != nil || !log.done {
		reason := "no MATRIX-DONE marker"
		if col.err != nil {
			reason = col.err.Error()
		}
		r.failures = append(r.failures, failure{col.name, "(boot)", reason, tail(col.log, 60)})
	}
	for _, p := range pkgs {
		if p.buildErr != "" {
			r.tests = append(r.tests, &testResult{Binary: p.name, Name: p.name, Status: "FAIL", Reason: "did not build"})
			r.failures = append(r.failures, failure{col.name, p.name, "did not build (see BUILD FAIL)", nil})
			continue
		}
		i := slices.IndexFunc(log.binaries, func(b *binaryRun) bool { return b.name == p.name })
		if i < 0 {
			r.failures = append(r.failures, failure{col.name, p.name, "never started (no MATRIX-BEGIN)", nil})
			continue
		}
		b := log.binaries[i]
		for _, l := range b.bench {
			r.bench = append(r.bench, b.name+" "+l)
		}
		failed := false
		for _, t := range b.tests {
			if f := neededFeature(t.Reason); t.Status == "SKIP" && f != "" {
				switch {
				case !feature.Known(f):
					t.Status = "FAIL"
					t.Reason = fmt.Sprintf("skip names feature %q, unknown to internal/matrix/feature (add it there and to kernels.txt): %s", f, t.Reason)
				case slices.Contains(col.features, f):
					t.Status = "FAIL"
					t.Reason = fmt.Sprintf("skipped although kernel %s has %q: %s", col.name, f, t.Reason)
				}
			}
			if name := neededOpcode(t.Reason); t.Status == "SKIP" && name != "" {
				op, known := opcodes[name]
				switch {
				case !known:
					t.Status = "FAIL"
					t.Reason = fmt.Sprintf("skip names opcode %q, unknown to generated/uapi: %s", name, t.Reason)
				case col.supportsOp != nil && col.supportsOp(op):
					t.Status = "FAIL"
					t.Reason = fmt.Sprintf("skipped although kernel %s supports %s (probe): %s", col.name, name, t.Reason)
				}
			}
			r.tests = append(r.tests, t)
			if t.Status != "FAIL" {
				continue
			}
			failed = true
			// Report only the outermost failure: its output holds its subtests'.
			if !parentFailed(b.tests, t.Name) {
				r.failures = append(r.failures, failure{col.name, b.name + " " + t.Name, t.Reason, b.output(t.Name)})
			}
		}
		if !failed && (b.exit != 0 || !b.ended) {
			t, out := crashTest(b)
			r.tests = append(r.tests, t)
			name := b.name
			if t.Name != b.name {
				name += " " + t.Name
			}
			r.failures = append(r.failures, failure{col.name, name, t.Reason, out})
		}
	}
	return r
}

// opcodes maps the names of the opcodes (IORING_OP_NOP, ...) to their values.
var opcodes = func() map[string]uapi.Op {
	m := map[string]uapi.Op{}
	for op := range uapi.Op(255) {
		if name := op.String(); strings.HasPrefix(name, "IORING_OP_") && op != uapi.OpLast {
			m[name] = op
		}
	}
	return m
}()

// parentFailed reports whether an enclosing test of name failed.
func parentFailed(tests []*testResult, name string) bool {
	for _, t := range tests {
		if t.Status == "FAIL" && strings.HasPrefix(name, t.Name+"/") {
			return true
		}
	}
	return false
}

// tail returns the last n lines of s, without escapes and carriage returns.
func tail(s string, n int) []string {
	lines := strings.Split(strings.TrimRight(escapes.ReplaceAllString(s, ""), "\n"), "\n")
	return lines[max(len(lines)-n, 0):]
}

// report writes the matrix report and returns true if nothing failed: a
// MATRIX line per column, every benchmark result line (BENCH <column>
// <binary> <line>), then (verbose) every result line, the skip
// reasons, the tests only the VMs ran, each failure with its output, and a
// closing total.
func report(w io.Writer, cols []*column, pkgs []testPkg, verbose bool) bool {
	results := make([]result, len(cols))
	counts := make([][3]int, len(cols)) // passed, failed, skipped
	var total [3]int
	for i, col := range cols {
		results[i] = evaluate(col, pkgs)
		n := &counts[i]
		for _, t := range results[i].tests {
			n[strings.Index("PASS FAIL SKIP", t.Status)/5]++
		}
		if len(results[i].failures) > 0 && n[1] == 0 {
			n[1] = len(results[i].failures) // a boot failure with no test result
		}
		for j := range n {
			total[j] += n[j]
		}
		fmt.Fprintf(w, "matrix: %s took %.1fs; features: %s\n", col.name, col.took.Seconds(), strings.Join(col.features, " "))
	}
	for _, p := range pkgs {
		if p.buildErr != "" {
			fmt.Fprintf(w, "BUILD FAIL %s\n", p.importPath)
			for _, l := range strings.Split(strings.TrimSpace(p.buildErr), "\n") {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	for i, col := range cols {
		fmt.Fprintf(w, "MATRIX %s passed=%d failed=%d skipped=%d\n", col.name, counts[i][0], counts[i][1], counts[i][2])
	}
	for i, col := range cols {
		for _, l := range results[i].bench {
			fmt.Fprintf(w, "BENCH %s %s\n", col.name, l)
		}
	}
	if verbose {
		for i, col := range cols {
			for _, t := range results[i].tests {
				fmt.Fprintf(w, "%s %s %s\n", col.name, t.Binary, t.Result)
			}
		}
	}
	for i, col := range cols {
		for _, t := range results[i].tests {
			if t.Status == "SKIP" {
				fmt.Fprintf(w, "SKIP %s %s: %s\n", col.name, t.Name, t.Reason)
			}
		}
	}
	vmOnly(w, cols, results)
	for i := range cols {
		for _, f := range results[i].failures {
			if f.reason != "" {
				f.name += ": " + f.reason
			}
			fmt.Fprintf(w, "FAIL %s %s\n", f.column, f.name)
			for _, l := range f.output {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	fmt.Fprintf(w, "matrix: %d passed, %d failed, %d skipped\n", total[0], total[1], total[2])
	return total[1] == 0
}

// vmOnly writes a VM-ONLY line for every test that the host column skipped
// and some kernel passed: what the matrix exercises beyond the host.
func vmOnly(w io.Writer, cols []*column, results []result) {
	h := slices.IndexFunc(cols, func(c *column) bool { return c.host })
	if h < 0 {
		return
	}
	for _, t := range results[h].tests {
		if t.Status != "SKIP" {
			continue
		}
		var on []string
		for i, col := range cols {
			passed := func(u *testResult) bool { return u.Binary == t.Binary && u.Name == t.Name && u.Status == "PASS" }
			if i != h && slices.ContainsFunc(results[i].tests, passed) {
				on = append(on, col.name)
			}
		}
		if len(on) > 0 {
			fmt.Fprintf(w, "VM-ONLY %s %s: passed on %s; host skipped: %s\n", t.Binary, t.Name, strings.Join(on, " "), t.Reason)
		}
	}
}
