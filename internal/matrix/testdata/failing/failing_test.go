// Package failing is the matrix harness's deliberately failing input: the
// end-to-end test of internal/matrix (MATRIX_E2E=1) boots it to prove that
// failures, wrong skips (by feature and by opcode), unknown features and
// crashes are all reported.
// It lives under testdata/, so ./... never picks it up.
package failing

import "testing"

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) { t.Error("deliberate failure e2e-marker-fail") }

// Every kernel of the matrix has io_uring: this skip is wrong everywhere.
func TestSkipsWrongly(t *testing.T) { t.Skip("needs io_uring: deliberately wrong skip") }

// 6.12 and the 6.18 host lack IORING_OP_NOP128: this skip is right there.
func TestSkipsRightly(t *testing.T) { t.Skip("needs nop128: deliberately right skip on 6.12") }

func TestUnknownFeature(t *testing.T) { t.Skip("needs warp_drive: no such feature") }

// Every io_uring kernel supports IORING_OP_NOP: this skip is wrong everywhere.
func TestOpcodeSkipsWrongly(t *testing.T) {
	t.Skip("needs opcode IORING_OP_NOP: deliberately wrong skip")
}

// 6.12 (last_op 57) and the 6.18 host (62) lack IORING_OP_NOP128 (63).
func TestOpcodeSkipsRightly(t *testing.T) {
	t.Skip("needs opcode IORING_OP_NOP128: deliberately right skip on 6.12")
}

// Last, since it ends the binary.
func TestPanics(t *testing.T) { panic("deliberate panic e2e-marker-panic") }
