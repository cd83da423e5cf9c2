package matrix

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urgen/urgen/generated/uapi"
)

func TestKernelTable(t *testing.T) {
	ks, err := Kernels()
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) == 0 {
		t.Fatal("kernels.txt has no kernel")
	}
	for _, k := range ks {
		pkg, ver, _ := strings.Cut(k.Package, "=")
		if pkg == "" || ver == "" || !strings.Contains(k.Path, "vmlinuz") {
			t.Errorf("bad row %+v", k)
		}
	}
	for _, bad := range []string{
		"a pkg=1 boot/vmlinuz 1\na pkg=2 boot/vmlinuz 1\n", // duplicate name
		"a pkg boot/vmlinuz 1\n",                           // package without version
		"a pkg=1 boot/vmlinuz\n",                           // no last_op
		"a pkg=1 boot/vmlinuz query\n",                     // last_op not a number
		"a pkg=1 boot/vmlinuz 256\n",                       // last_op is a __u8
		"a pkg=1 boot/vmlinuz 64 query zcrx_typo\n",        // unknown feature
	} {
		if k, err := parseKernels(bad); err == nil {
			t.Errorf("accepted %q as %+v", bad, k)
		}
	}
	k, err := parseKernels("# c\n\nk p=1 boot/vmlinuz 57 query zcrx\n")
	if err != nil || len(k) != 1 || k[0].LastOp != 57 || !k[0].Has("zcrx") || k[0].Has("bpf_filter") {
		t.Errorf("parsed %+v, %v", k, err)
	}
}

// TestBzImageRelease reads the release of every cached kernel, if any.
func TestBzImageRelease(t *testing.T) {
	ks, _ := Kernels()
	for _, k := range ks {
		p := filepath.Join("..", "..", ".cache", "kernels", k.Name, "vmlinuz")
		if _, err := os.Stat(p); err != nil {
			t.Logf("%s not cached", k.Name)
			continue
		}
		rel, err := bzImageRelease(p)
		if err != nil || !strings.HasPrefix(rel, k.Name) {
			t.Errorf("%s: release %q, %v", k.Name, rel, err)
		}
	}
	if _, err := bzImageRelease("kernels.txt"); err == nil {
		t.Error("kernels.txt taken for a bzImage")
	}
}

// TestCPIO writes an archive and decodes it again by the newc rules.
func TestCPIO(t *testing.T) {
	var buf bytes.Buffer
	w := newCPIO(&buf)
	w.File("init", 0o755, []byte("#!x"))
	w.Dir("dev")
	w.CharDev("dev/console", 5, 1)
	w.File("f", 0o644, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	var names []string
	for off := 0; ; {
		if off%4 != 0 || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d: %q", off, b[off:min(off+6, len(b))])
		}
		field := func(i int) int {
			n, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
		mode, size, rmaj, rmin, nameSize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+nameSize-1])
		names = append(names, name)
		if name == "dev/console" && (mode != cpioChar|0o600 || rmaj != 5 || rmin != 1) {
			t.Errorf("console: mode %o rdev %d:%d", mode, rmaj, rmin)
		}
		data := (off + 110 + nameSize + 3) &^ 3
		if name == "init" && string(b[data:data+size]) != "#!x" {
			t.Errorf("init data %q", b[data:data+size])
		}
		off = (data + size + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after trailer", len(b)-off)
			}
			break
		}
	}
	if got := strings.Join(names, " "); got != "init dev dev/console f TRAILER!!!" {
		t.Errorf("entries %q", got)
	}
}

// sampleLog is serial output as /init prints it, with a boot preamble,
// escapes, carriage returns, subtests, skips and a crashed binary.
const sampleLog = "\x1bc\x1b[2JSeaBIOS\r\nBooting..\x1b[2J\r\nMATRIX-BEGIN pkg_a\r\n" +
	`=== RUN   TestA
--- PASS: TestA (0.00s)
=== RUN   TestB
=== RUN   TestB/one
    b_test.go:3: detail
=== RUN   TestB/two
=== PAUSE TestB/two
=== CONT  TestB/two
    b_test.go:9: needs zcrx: kernel lacks it
--- FAIL: TestB (0.01s)
    --- FAIL: TestB/one (0.00s)
    --- SKIP: TestB/two (0.00s)
=== RUN   TestC
    c_test.go:1: needs query: old kernel
--- SKIP: TestC (0.00s)
=== RUN   TestD
    d_test.go:1: plain reason
--- SKIP: TestD (0.00s)
=== RUN   TestE
    e_test.go:1: needs warp_drive: not invented
--- SKIP: TestE (0.00s)
FAIL

MATRIX-END pkg_a exit=1
MATRIX-BEGIN pkg_b
=== RUN   TestOK
--- PASS: TestOK (0.00s)
=== RUN   TestBoom
panic: boom
MATRIX-END pkg_b exit=2

MATRIX-BEGIN pkg_c
=== RUN   TestHalf
`

func TestEvaluate(t *testing.T) {
	pkgs := []testPkg{{name: "pkg_a"}, {name: "pkg_b"}, {name: "pkg_c"}, {name: "pkg_d"},
		{name: "pkg_e", buildErr: "syntax error"}}
	col := &column{name: "k", features: []string{"query"}, log: sampleLog}
	r := evaluate(col, pkgs)
	got := map[string]string{}
	for _, tt := range r.tests {
		got[tt.Binary+" "+tt.Name] = tt.Status + " " + tt.Reason
	}
	want := map[string]string{
		"pkg_a TestA":     "PASS ",
		"pkg_a TestB":     "FAIL ",
		"pkg_a TestB/one": "FAIL ",
		"pkg_a TestB/two": "SKIP needs zcrx: kernel lacks it",
		"pkg_a TestC":     `FAIL skipped although kernel k has "query": needs query: old kernel`,
		"pkg_a TestD":     "SKIP plain reason",
		"pkg_a TestE": `FAIL skip names feature "warp_drive", unknown to internal/matrix/feature ` +
			"(add it there and to kernels.txt): needs warp_drive: not invented",
		"pkg_b TestOK":   "PASS ",
		"pkg_b TestBoom": "FAIL crashed, exit status 2 without a failed test",
		"pkg_c TestHalf": "FAIL crashed, no MATRIX-END marker: the binary or the VM died under it",
		"pkg_e pkg_e":    "FAIL did not build",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d tests, want %d: %v", len(got), len(want), got)
	}
	var names []string
	for _, f := range r.failures {
		names = append(names, f.name)
	}
	// TestB/one is inside TestB's output; boot, pkg_d and pkg_e fail on their own.
	wantNames := "(boot) pkg_a TestB pkg_a TestC pkg_a TestE pkg_b TestBoom pkg_c TestHalf pkg_d pkg_e"
	if strings.Join(names, " ") != wantNames {
		t.Errorf("failures %q, want %q", strings.Join(names, " "), wantNames)
	}
	if out := strings.Join(r.failures[1].output, "\n"); !strings.Contains(out, "b_test.go:3: detail") ||
		!strings.Contains(out, "--- FAIL: TestB/one") || strings.Contains(out, "TestA") {
		t.Errorf("TestB output:\n%s", out)
	}
}

func TestReport(t *testing.T) {
	pass := "MATRIX-BEGIN p\n=== RUN   TestA\n--- PASS: TestA (0.00s)\nPASS\n\nMATRIX-END p exit=0\nMATRIX-DONE exit=0\n"
	var out bytes.Buffer
	cols := []*column{{name: "k1", log: pass}, {name: "k2", log: pass}}
	if !report(&out, cols, []testPkg{{name: "p"}}, true) {
		t.Errorf("passing matrix failed:\n%s", out.String())
	}
	for _, s := range []string{"MATRIX k1 passed=1 failed=0 skipped=0\n", "k2 p --- PASS: TestA (0.00s)\n",
		"matrix: 2 passed, 0 failed, 0 skipped\n"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	cols = []*column{{name: "k1", log: strings.TrimSuffix(pass, "MATRIX-DONE exit=0\n")}}
	if report(&out, cols, []testPkg{{name: "p"}}, false) {
		t.Errorf("missing MATRIX-DONE passed:\n%s", out.String())
	}

	// The same skip passes on a kernel without the feature and fails on one with it.
	skip := "MATRIX-BEGIN p\n=== RUN   TestZ\n    z_test.go:7: needs zcrx_nodev: ZCRX_REG_NODEV not in the query\n" +
		"--- SKIP: TestZ (0.00s)\nPASS\n\nMATRIX-END p exit=0\nMATRIX-DONE exit=0\n"
	out.Reset()
	pass = strings.Replace(strings.Replace(skip, "SKIP", "PASS", 1), "needs", "ran", 1)
	cols = []*column{{name: "old", log: skip}, {name: "new", features: []string{"zcrx", "zcrx_nodev"}, log: skip},
		{name: "newer", log: pass}, {name: "host", host: true, log: skip}}
	if report(&out, cols, []testPkg{{name: "p"}}, false) {
		t.Errorf("wrong skip passed:\n%s", out.String())
	}
	for _, s := range []string{
		"MATRIX old passed=0 failed=0 skipped=1\n",
		"MATRIX new passed=0 failed=1 skipped=0\n",
		"MATRIX newer passed=1 failed=0 skipped=0\n",
		"VM-ONLY p TestZ: passed on newer; host skipped: needs zcrx_nodev: ZCRX_REG_NODEV not in the query\n",
		"SKIP old TestZ: needs zcrx_nodev: ZCRX_REG_NODEV not in the query\n",
		`FAIL new p TestZ: skipped although kernel new has "zcrx_nodev"`,
		"    z_test.go:7: needs zcrx_nodev",
		"matrix: 1 passed, 1 failed, 2 skipped\n",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}

func TestNeededFeature(t *testing.T) {
	for in, want := range map[string]string{
		"needs zcrx: no NIC":     "zcrx",
		"needs bpf_filter:":      "bpf_filter",
		"needs a newer kernel":   "",
		"kernel needs zcrx: ...": "",
		"":                       "",
	} {
		if got := neededFeature(in); got != want {
			t.Errorf("neededFeature(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNeededOpcode(t *testing.T) {
	for in, want := range map[string]string{
		"needs opcode IORING_OP_PIPE: the probe (last op 57) does not list it": "IORING_OP_PIPE",
		"needs opcode IORING_OP_NOP128:":                                       "IORING_OP_NOP128",
		"needs opcode: none named":                                             "",
		"needs opcode IORING_OP_PIPE":                                          "", // no colon
		"needs nop128: IORING_OP_NOP128 not in the probe":                      "",
	} {
		if got := neededOpcode(in); got != want {
			t.Errorf("neededOpcode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOpcodeSkip: a skip "needs opcode X" passes on a kernel whose probe
// lacks X, fails on one that supports X, fails everywhere if uapi does
// not know X, and goes unchecked on a column whose opcodes are unknown.
func TestOpcodeSkip(t *testing.T) {
	log := "MATRIX-BEGIN p\n=== RUN   TestPipe\n    k_test.go:5: needs opcode IORING_OP_PIPE: not in the probe\n" +
		"--- SKIP: TestPipe (0.00s)\n=== RUN   TestWarp\n    k_test.go:9: needs opcode IORING_OP_WARP: not in the probe\n" +
		"--- SKIP: TestWarp (0.00s)\nPASS\n\nMATRIX-END p exit=0\nMATRIX-DONE exit=0\n"
	upTo := func(last uapi.Op) func(uapi.Op) bool { return func(op uapi.Op) bool { return op <= last } }
	for _, tc := range []struct {
		name     string
		supports func(uapi.Op) bool
		pipe     string
	}{
		{"6.12", upTo(57), "SKIP needs opcode IORING_OP_PIPE: not in the probe"},
		{"7.3", upTo(uapi.OpPipe), "FAIL skipped although kernel 7.3 supports IORING_OP_PIPE (probe): needs opcode IORING_OP_PIPE: not in the probe"},
		{"unknown", nil, "SKIP needs opcode IORING_OP_PIPE: not in the probe"},
	} {
		r := evaluate(&column{name: tc.name, supportsOp: tc.supports, log: log}, []testPkg{{name: "p"}})
		got := map[string]string{}
		for _, tt := range r.tests {
			got[tt.Name] = tt.Status + " " + tt.Reason
		}
		if got["TestPipe"] != tc.pipe {
			t.Errorf("%s: TestPipe = %q, want %q", tc.name, got["TestPipe"], tc.pipe)
		}
		if want := `FAIL skip names opcode "IORING_OP_WARP", unknown to generated/uapi: needs opcode IORING_OP_WARP: not in the probe`; got["TestWarp"] != want {
			t.Errorf("%s: TestWarp = %q, want %q", tc.name, got["TestWarp"], want)
		}
	}
	if opcodes["IORING_OP_PIPE"] != uapi.OpPipe || opcodes["IORING_OP_NOP"] != uapi.OpNop {
		t.Errorf("opcode table: PIPE %d, NOP %d", opcodes["IORING_OP_PIPE"], opcodes["IORING_OP_NOP"])
	}
}

func TestTestArgs(t *testing.T) {
	for _, tc := range []struct {
		run, bench, benchtime string
		short                 bool
		want                  string
	}{
		{"", "", "", false, ""},
		{"TestA", "", "5x", true, "-test.run=TestA -test.short"}, // benchtime only with bench
		{"", ".", "", true, "-test.run=^$ -test.bench=. -test.short"},
		{"TestA", "Recv", "100ms", false, "-test.run=TestA -test.bench=Recv -test.benchtime=100ms"},
	} {
		if got := strings.Join(TestArgs(tc.run, tc.bench, tc.benchtime, tc.short), " "); got != tc.want {
			t.Errorf("TestArgs(%q, %q, %q, %v) = %q, want %q", tc.run, tc.bench, tc.benchtime, tc.short, got, tc.want)
		}
	}
}

// TestBenchReport: benchmark result lines, also one printed after the
// benchmark's log, reach the report prefixed by column and binary; a
// skipped benchmark is a skip like a test's.
func TestBenchReport(t *testing.T) {
	// As go test -test.v -test.bench prints it (Go 1.26).
	log := "MATRIX-BEGIN runtime_zcrx\ngoos: linux\nBenchmarkRecv\n    bench_test.go:50: log line\n" +
		"BenchmarkRecv-2   \t     100\t  12345 ns/op\t 84.93 MB/s\t       0 B/op\n" +
		"BenchmarkFast\nBenchmarkFast-2   \t 1000000\t      1.5 ns/op\n" +
		"BenchmarkZ\n    bench_test.go:9: needs zcrx_nodev: no NODEV\n--- SKIP: BenchmarkZ\n" +
		"PASS\n\nMATRIX-END runtime_zcrx exit=0\nMATRIX-DONE exit=0\n"
	var out bytes.Buffer
	if !report(&out, []*column{{name: "7.3.4", log: log}}, []testPkg{{name: "runtime_zcrx"}}, false) {
		t.Errorf("report failed:\n%s", out.String())
	}
	for _, s := range []string{
		"BENCH 7.3.4 runtime_zcrx BenchmarkRecv-2   \t     100\t  12345 ns/op\t 84.93 MB/s\t       0 B/op\n",
		"BENCH 7.3.4 runtime_zcrx BenchmarkFast-2   \t 1000000\t      1.5 ns/op\n",
		"SKIP 7.3.4 BenchmarkZ: needs zcrx_nodev: no NODEV\n",
		"MATRIX 7.3.4 passed=0 failed=0 skipped=1\n",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
	if n := strings.Count(out.String(), "BENCH "); n != 2 {
		t.Errorf("%d BENCH lines, want 2:\n%s", n, out.String())
	}
	// A benchmark that crashes is named as the one running.
	crash := "MATRIX-BEGIN p\nBenchmarkBoom\npanic: boom\n\nMATRIX-END p exit=2\nMATRIX-DONE exit=1\n"
	r := evaluate(&column{name: "k", log: crash}, []testPkg{{name: "p"}})
	if len(r.failures) != 1 || r.failures[0].name != "p BenchmarkBoom" {
		t.Errorf("crashed benchmark: failures %+v", r.failures)
	}
}

// MATRIX_CACHE and MATRIX_LOGS may be absolute (a shared kernel cache
// outside the checkout) or relative to the module root.
func TestConfigPaths(t *testing.T) {
	t.Setenv("MATRIX_CACHE", "/srv/kernels")
	t.Setenv("MATRIX_LOGS", "logs/matrix")
	c := ConfigFromEnv("/src/urgen", nil)
	if got := c.rooted(c.Cache); got != "/srv/kernels" {
		t.Errorf("absolute MATRIX_CACHE: %s, want /srv/kernels", got)
	}
	if got := c.rooted(c.LogDir); got != "/src/urgen/logs/matrix" {
		t.Errorf("relative MATRIX_LOGS: %s, want /src/urgen/logs/matrix", got)
	}
}
