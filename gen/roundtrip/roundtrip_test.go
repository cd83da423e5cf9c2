package roundtrip_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/roundtrip"
	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/generated/uapi/uapitest"
	"github.com/urgen/urgen/internal/testheaders"
)

const pinned = "../../headers"

// pkg is generated/uapi as the round trip sees it, against headers dir.
func pkg(dir string) roundtrip.Package {
	structs, constants := roundtrip.FromRegistry(uapitest.Structs, uapitest.Constants)
	return roundtrip.Package{
		Headers:   dir,
		Scope:     model.DefaultScope,
		Archs:     strings.Split(uapi.GOARCHes, ","),
		Structs:   structs,
		Constants: constants,
	}
}

func gcc(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("needs gcc: %v", err)
	}
	return p
}

// TestRunPinned: generated/uapi against the headers it was generated from
// has no mismatch, and every kind of check ran.
func TestRunPinned(t *testing.T) {
	r, err := roundtrip.Run(pkg(pinned), pinned, gcc(t), nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Failures {
		t.Error(f)
	}
	// Two layout checks per struct and member, one per constant, and one
	// each way per member that has storage.
	var want int
	for _, s := range uapitest.Structs {
		want += 2
		for _, m := range s.Members {
			want += 2
			if !m.Flex {
				want += 2
			}
		}
	}
	want += len(uapitest.Constants)
	if r.Checks != want {
		t.Errorf("%d checks, want %d", r.Checks, want)
	}
	t.Logf("%d checks", r.Checks)
}

// TestRunCatches changes the headers under the generated package and
// requires the round trip to name what no longer matches: struct, member,
// the Go and the C value.
func TestRunCatches(t *testing.T) {
	cc := gcc(t)
	for _, tc := range []struct {
		name     string
		old, new string
		want     []string // regexps, each must match a failure
	}{
		{"constant", "#define IORING_SETUP_SQPOLL\t(1U << 1)", "#define IORING_SETUP_SQPOLL\t(1U << 9)",
			[]string{`^constant IORING_SETUP_SQPOLL \(Go SetupSQPoll\): Go value 2, C value 512$`}},
		{"swapped fields", "\t__s32\tres;\t\t/* result code for this event */\n\t__u32\tflags;", "\t__u32\tflags;\n\t__s32\tres;",
			[]string{
				`^CQE\.Res \(struct io_uring_cqe res\): Go offset 8, C offset 12$`,
				`^Go->C CQE\.Res \(struct io_uring_cqe res\): Go wrote 0x[0-9a-f]+, C read 0x[0-9a-f]+$`,
				`^C->Go CQE\.Flags \(struct io_uring_cqe flags\): C wrote 0x[0-9a-f]+, Go read 0x[0-9a-f]+$`,
			}},
		{"union member through its accessor", "\t\t\t__u32\tcmd_op;\n\t\t\t__u32\t__pad1;", "\t\t\t__u32\t__pad1;\n\t\t\t__u32\tcmd_op;",
			[]string{
				`^SQE\.CmdOp \(struct io_uring_sqe cmd_op\): Go offset 8, C offset 12$`,
				`^Go->C SQE\.CmdOp \(struct io_uring_sqe cmd_op\): Go wrote 0x[0-9a-f]+, C read 0x[0-9a-f]+$`,
			}},
		{"size", "\t__u16\tioprio;\t\t/* ioprio for the request */", "\t__u32\tioprio;",
			[]string{
				`^SQE: Go size 64, C size 72 \(struct io_uring_sqe\)$`,
				`^SQE\.Ioprio \(struct io_uring_sqe ioprio\): Go size 2, C size 4$`,
				`^SQE\.FD \(struct io_uring_sqe fd\): Go offset 4, C offset 8$`,
			}},
		{"struct the package lacks", "struct io_uring_cqe {", "struct io_uring_urgen_new { __u32 x; };\n#define IORING_URGEN_NEW 1\nstruct io_uring_cqe {",
			[]string{
				`^struct io_uring_urgen_new \(linux/io_uring\.h:\d+:\d+\) has no generated struct in the registry$`,
				`^the headers have \d+ constants, the registry \d+$`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testheaders.Copy(t, pinned, "linux", "asm-generic", "x86_64-linux-gnu")
			testheaders.Edit(t, filepath.Join(dir, "linux", "io_uring.h"), tc.old, tc.new)
			r, err := roundtrip.Run(pkg(dir), dir, cc, nil, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Failures) == 0 {
				t.Fatal("no failure")
			}
			for _, w := range tc.want {
				re := regexp.MustCompile(w)
				found := false
				for _, f := range r.Failures {
					found = found || re.MatchString(f)
				}
				if !found {
					t.Errorf("no failure matches %s; failures:\n%s", w, strings.Join(r.Failures, "\n"))
				}
			}
			t.Logf("%d failures of %d checks, first: %s", len(r.Failures), r.Checks, r.Failures[0])
		})
	}
}

// TestTwinCatches: a builder that writes other bytes than its C twin, or
// writes past its SQE, fails naming the builder, the byte and both values.
func TestTwinCatches(t *testing.T) {
	cc := gcc(t)
	p := pkg(pinned)
	nop := func(sqe unsafe.Pointer, a []uint64, ptrs []unsafe.Pointer) { (*uapi.SQE)(sqe).PrepNop() }
	p.Twins = []roundtrip.Twin{
		{Go: "PrepNop", C: "sqe->opcode = IORING_OP_NOP; sqe->fd = -1;", Call: nop},
		{Go: "PrepNopWrongFD", C: "sqe->opcode = IORING_OP_NOP; sqe->fd = 1;", Call: nop},
		{Go: "PrepNopPastEnd", C: "sqe->opcode = IORING_OP_NOP; sqe->fd = -1;", Call: func(sqe unsafe.Pointer, a []uint64, ptrs []unsafe.Pointer) {
			nop(sqe, a, ptrs)
			(*[2]uapi.SQE)(sqe)[1].Opcode = uapi.OpNop
		}},
	}
	r, err := roundtrip.Run(p, pinned, cc, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`PrepNopWrongFD(slots []): byte 4 is 0xff, the C twin's 0x01 (sqe->opcode = IORING_OP_NOP; sqe->fd = 1;)`,
		`PrepNopPastEnd(slots []): byte 64 written past the 64-byte SQE`,
	}
	var got []string
	for _, f := range r.Failures {
		if strings.HasPrefix(f, "PrepNop") {
			got = append(got, f)
		}
	}
	// 12 argument vectors per twin, each failing twin reported each time.
	if len(got) != 24 || got[0] != want[0] || got[12] != want[1] {
		t.Errorf("twin failures:\n%s\nwant 12 of each of:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
