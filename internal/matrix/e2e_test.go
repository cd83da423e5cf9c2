package matrix

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunEndToEnd boots the deliberately failing package testdata/failing
// on the oldest kernel of the table and on the host, and checks that the
// report counts and shows every kind of failure. It needs qemu and the
// cached kernel, so it runs only with MATRIX_E2E=1 (make matrix sets it).
func TestRunEndToEnd(t *testing.T) {
	if os.Getenv("MATRIX_E2E") != "1" {
		t.Skip("boots a kernel under qemu: set MATRIX_E2E=1 (make matrix does)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("MATRIX_E2E=1 but no qemu: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := Config{
		Root:        root,
		Packages:    []string{"./internal/matrix/testdata/failing"},
		Kernels:     []string{"6.12"},
		Host:        true,
		Cache:       ".cache/kernels",
		Timeout:     5 * time.Minute,
		TestTimeout: time.Minute,
		Jobs:        1,
		Qemu:        "qemu-system-x86_64",
		Out:         &out,
	}
	ok, err := Run(context.Background(), c)
	t.Logf("report:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("Run reported success for a failing package")
	}
	host := "host-" + release(t)
	for _, want := range []string{
		// TestPasses passes; TestSkipsRightly and TestOpcodeSkipsRightly skip;
		// TestFails, TestSkipsWrongly, TestUnknownFeature, TestOpcodeSkipsWrongly
		// and TestPanics fail, in the VM and on the host alike.
		"MATRIX 6.12 passed=1 failed=5 skipped=2\n",
		"MATRIX " + host + " passed=1 failed=5 skipped=2\n",
		"SKIP 6.12 TestSkipsRightly: needs nop128: deliberately right skip on 6.12\n",
		"SKIP 6.12 TestOpcodeSkipsRightly: needs opcode IORING_OP_NOP128: deliberately right skip on 6.12\n",
		"FAIL 6.12 internal_matrix_testdata_failing TestOpcodeSkipsWrongly: skipped although kernel 6.12 supports IORING_OP_NOP (probe)",
		"FAIL " + host + " internal_matrix_testdata_failing TestOpcodeSkipsWrongly: skipped although kernel " + host + " supports IORING_OP_NOP (probe)",
		"FAIL 6.12 internal_matrix_testdata_failing TestFails\n",
		"deliberate failure e2e-marker-fail",
		`FAIL 6.12 internal_matrix_testdata_failing TestSkipsWrongly: skipped although kernel 6.12 has "io_uring"`,
		`FAIL 6.12 internal_matrix_testdata_failing TestUnknownFeature: skip names feature "warp_drive"`,
		"FAIL 6.12 internal_matrix_testdata_failing TestPanics\n",
		"panic: deliberate panic e2e-marker-panic",
		"FAIL " + host + " internal_matrix_testdata_failing TestPanics\n",
		"matrix: 2 passed, 10 failed, 4 skipped\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func release(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
