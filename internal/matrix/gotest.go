package matrix

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// testResult is the result of one test or subtest in one column.
type testResult struct {
	Binary string // test binary (package) it ran in
	Name   string // TestX or TestX/sub
	Status string // PASS, FAIL or SKIP
	Result string // its "--- STATUS: Name (time)" line
	Reason string // skip message, or why the matrix turned it into a failure
}

// binaryRun is one test binary's run, framed by MATRIX-BEGIN and MATRIX-END.
type binaryRun struct {
	name  string
	exit  int  // exit code from MATRIX-END
	ended bool // MATRIX-END seen
	lines []line
	tests []*testResult
	open  string   // last test started and not yet reported: where a crash hit
	bench []string // benchmark result lines (MATRIX_BENCH)
}

// line is one output line and the test it belongs to ("" for none).
type line struct{ test, text string }

// columnLog is a parsed serial log (or host run) of one column.
type columnLog struct {
	binaries []*binaryRun
	done     bool // MATRIX-DONE seen
	exit     int  // exit code from MATRIX-DONE
	preamble []string
}

var (
	// "=== RUN   TestX", also CONT, PAUSE and NAME (Go 1.20+).
	runLine = regexp.MustCompile(`^=== (?:RUN|CONT|PAUSE|NAME) +(\S+)`)
	// "--- PASS: TestX (0.00s)", indented for subtests.
	resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)
	// "    file_test.go:12: message", the t.Log/t.Skip prefix.
	logLine = regexp.MustCompile(`^\s+[^\s:]+\.go:\d+: (.*)$`)
	// "BenchmarkX-2   	    1000	      1234 ns/op	 ...", a benchmark's result.
	benchLine = regexp.MustCompile(`^Benchmark\S+\s+\d+\s+[0-9.e+]+ ns/op`)
	// "BenchmarkX" alone: -test.v's line as a benchmark (or sub-benchmark)
	// starts; its logs, skip or failure follow.
	benchStart = regexp.MustCompile(`^Benchmark\S*$`)
	// Terminal escapes (SeaBIOS clears the screen), and carriage returns.
	escapes = regexp.MustCompile(`\x1b(?:\[[0-9;?]*[A-Za-z]|.)|\r`)
)

// parseLog parses the output of a VM's /init, or the same framing written
// by the host run: per binary, a MATRIX-BEGIN line, the -test.v output and
// a MATRIX-END line; then one MATRIX-DONE line.
func parseLog(text string) *columnLog {
	log := &columnLog{exit: -1}
	var cur *binaryRun
	var test string
	byName := map[string]*testResult{}
	for _, s := range strings.Split(escapes.ReplaceAllString(text, ""), "\n") {
		// A marker may follow junk that lacks a newline (SeaBIOS, a
		// kernel message, a test's unterminated output).
		var f []string
		if i := strings.Index(s, "MATRIX-"); i >= 0 {
			f = strings.Fields(s[i:])
		}
		switch {
		case len(f) == 2 && f[0] == "MATRIX-BEGIN":
			cur = &binaryRun{name: f[1], exit: -1}
			log.binaries = append(log.binaries, cur)
			test, byName = "", map[string]*testResult{}
			continue
		case len(f) == 3 && f[0] == "MATRIX-END" && cur != nil && f[1] == cur.name:
			cur.exit, cur.ended = exitField(f[2]), true
			cur = nil
			continue
		case len(f) == 2 && f[0] == "MATRIX-DONE":
			log.done, log.exit = true, exitField(f[1])
			continue
		}
		if cur == nil {
			log.preamble = append(log.preamble, s)
			continue
		}
		if benchLine.MatchString(s) {
			cur.bench = append(cur.bench, s)
		} else if m := runLine.FindStringSubmatch(s); m != nil {
			test, cur.open = m[1], m[1]
		} else if benchStart.MatchString(s) {
			test, cur.open = s, s
		} else if m := resultLine.FindStringSubmatch(s); m != nil {
			test = m[2]
			t := byName[test]
			if t == nil {
				t = &testResult{Binary: cur.name, Name: test}
				byName[test] = t
				cur.tests = append(cur.tests, t)
			}
			t.Status, t.Result = m[1], strings.TrimSpace(s)
			if cur.open == test {
				cur.open = ""
			}
			if t.Status == "SKIP" {
				t.Reason = lastLog(cur.lines, test)
			}
		} else if s == "PASS" || s == "FAIL" {
			test = ""
		}
		cur.lines = append(cur.lines, line{test, s})
	}
	return log
}

// exitField parses "exit=N", returning -1 if malformed.
func exitField(s string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "exit="))
	if err != nil || !strings.HasPrefix(s, "exit=") {
		return -1
	}
	return n
}

// lastLog returns the message of the test's last t.Log-style line: for a
// skipped test, the argument of t.Skip.
func lastLog(lines []line, test string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].test != test {
			continue
		}
		if m := logLine.FindStringSubmatch(lines[i].text); m != nil {
			return m[1]
		}
	}
	return ""
}

// output returns the lines belonging to the test and its subtests.
func (b *binaryRun) output(test string) []string {
	var out []string
	for _, l := range b.lines {
		if l.test == test || strings.HasPrefix(l.test, test+"/") {
			out = append(out, l.text)
		}
	}
	return out
}

// text returns every output line of the binary.
func (b *binaryRun) text() []string {
	out := make([]string, len(b.lines))
	for i, l := range b.lines {
		out[i] = l.text
	}
	return out
}

// neededFeature returns the feature named by a skip reason that follows the
// matrix convention "needs <feature>: ...", or "".
func neededFeature(reason string) string {
	rest, ok := strings.CutPrefix(reason, "needs ")
	if !ok {
		return ""
	}
	feature, _, _ := strings.Cut(rest, ":")
	if strings.ContainsAny(feature, " \t") || feature == "" {
		return ""
	}
	return feature
}

// neededOpcode returns the opcode name (IORING_OP_X) named by a skip reason
// of the form "needs opcode IORING_OP_X: ...", or "".
func neededOpcode(reason string) string {
	rest, ok := strings.CutPrefix(reason, "needs opcode ")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, ":")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return ""
	}
	return name
}

// crashTest is the failure recorded for a binary that exited non-zero, or
// never finished, without reporting a failed test: a panic, a timeout, a
// failing TestMain or a VM that died under it. It is named after the test
// that was running, if any, and returns the output to show.
func crashTest(b *binaryRun) (*testResult, []string) {
	reason := fmt.Sprintf("exit status %d without a failed test", b.exit)
	if !b.ended {
		reason = "no MATRIX-END marker: the binary or the VM died under it"
	}
	if b.open == "" {
		return &testResult{Binary: b.name, Name: b.name, Status: "FAIL", Reason: reason}, b.text()
	}
	t := &testResult{Binary: b.name, Name: b.open, Status: "FAIL", Reason: "crashed, " + reason}
	return t, b.output(b.open)
}
