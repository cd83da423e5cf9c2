package emit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/family"
	"github.com/urgen/urgen/gen/model"
)

var builderSpecs = filepath.Join("..", "..", "templates", "builders.txt")

// generateWith runs the generator on the pinned amd64 headers with the
// builders template text.
func generateWith(t *testing.T, m *model.Model, text string) (*emit.Result, error) {
	t.Helper()
	return generateFamily(t, m, constants, text, emit.Options{PkgPath: "example.com/uapi", PkgName: "uapi"})
}

// generateFamily runs the generator with a constants file and the builders
// template text.
func generateFamily(t *testing.T, m *model.Model, constants, text string, opt emit.Options) (*emit.Result, error) {
	t.Helper()
	cfg, err := emit.LoadConfig(constants)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "builders.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg.Builders, err = emit.LoadBuilderSpecs(path); err != nil {
		return nil, err
	}
	return emit.Generate(m, cfg, opt)
}

func pinnedModel(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.Load(headers, []string{"amd64"}, model.DefaultScope)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBuildersPinned: with the pinned headers every builder is generated
// (a skip there is a typo in the template, not an older header) and every
// opcode of enum io_uring_op has one.
func TestBuildersPinned(t *testing.T) {
	m := pinnedModel(t)
	text, err := os.ReadFile(builderSpecs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := generateWith(t, m, string(text))
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, b := range r.Builders {
		if b.Skipped != "" {
			t.Errorf("%s skipped with the pinned headers: %s", b.Go, b.Skipped)
		}
		ops[b.Opcode] = true
	}
	n := 0
	for _, e := range m.Enums {
		if e.C != "io_uring_op" {
			continue
		}
		for _, v := range e.Values {
			if v.Name == "IORING_OP_LAST" {
				continue
			}
			n++
			if !ops[v.Name] {
				t.Errorf("%s has no builder", v.Name)
			}
		}
	}
	t.Logf("%d builders for %d opcodes", len(r.Builders), n)
}

// TestBuildersErrors: template mistakes fail generation with a message
// naming the builder, the opcode and the culprit.
func TestBuildersErrors(t *testing.T) {
	m := pinnedModel(t)
	orig, err := os.ReadFile(builderSpecs)
	if err != nil {
		t.Fatal(err)
	}
	read := "prep read READ 5.6\n"
	for _, c := range []struct {
		name, old, new string
		want           []string
	}{
		{"unknown field", read + "\tdoc", read + "\tbogus_field = 1\n\tdoc", []string{"builder read (IORING_OP_READ)", "bogus_field"}},
		{"non-integer field", read + "\tdoc", read + "\t__pad2 = 1\n\tdoc", []string{"builder read (IORING_OP_READ)", "__pad2"}},
		{"unused argument", read + "\tdoc", read + "\targ spare uint32\n\tdoc", []string{"builder read (IORING_OP_READ)", "argument spare sets no field"}},
		{"unknown argument", "\taddr = ptr(buf)\n\tlen = len(buf)\n\tc read(", "\taddr = ptr(buffer)\n\tlen = len(buf)\n\tc read(", []string{"builder read (IORING_OP_READ)", "buffer is not an argument"}},
		{"len of a scalar", "\tlen = len(buf)\n\tc read(", "\tlen = len(fd)\n\tc read(", []string{"builder read (IORING_OP_READ)", "len(fd) needs a slice"}},
		{"c line misses an argument", "c read(fd, buf, len(buf), offset)", "c read(fd, buf, len(buf), 0)", []string{"builder read (IORING_OP_READ)", "does not pass argument offset"}},
		{"keep on an integer", "\targ fd int32\n\targ buf []byte keep\n\targ offset uint64\n\tfd = fd\n\toff = offset\n\taddr = ptr(buf)\n\tlen = len(buf)\n\tc read(",
			"\targ fd int32 keep\n\targ buf []byte keep\n\targ offset uint64\n\tfd = fd\n\toff = offset\n\taddr = ptr(buf)\n\tlen = len(buf)\n\tc read(", []string{"builder read (IORING_OP_READ)", "keep applies to pointers"}},
		{"overlapping fields", read + "\tdoc", read + "\taddr2 = 1\n\tdoc", []string{"builder read (IORING_OP_READ)", "builders.txt:73:", "fields addr2 and off overlap on amd64"}},
		{"bad option", "prep nop NOP 5.1\n", "prep nop NOP 5.1 sqe256\n", []string{"builders.txt", "[sqe128] [cqe32]"}},
		{"opcode without builder", "prep tee TEE 5.8", "prep tee_gone NOP 5.8", []string{"IORING_OP_TEE", "has no builder"}},
		{"unknown type", "\targ offset uint64\n\tfd = fd\n\toff = offset\n\taddr = ptr(buf)\n\tlen = len(buf)\n\tc read(",
			"\targ offset off_t\n\tfd = fd\n\toff = offset\n\taddr = ptr(buf)\n\tlen = len(buf)\n\tc read(", []string{"builder read (IORING_OP_READ)", "unknown type off_t"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := string(orig)
			if !strings.Contains(text, c.old) {
				t.Fatalf("template has no %q", c.old)
			}
			_, err := generateWith(t, m, strings.Replace(text, c.old, c.new, 1))
			if err == nil {
				t.Fatal("generation succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestBuildersRaw: a raw line stands in for a builder, and a builder whose
// opcode the headers lack is skipped with the reason.
func TestBuildersRaw(t *testing.T) {
	m := pinnedModel(t)
	orig, err := os.ReadFile(builderSpecs)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(orig), "prep tee TEE 5.8", "raw TEE \"testing raw\"\nprep tee NOT_AN_OPCODE 5.8", 1)
	r, err := generateWith(t, m, text)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range r.Builders {
		if b.Go == "PrepTee" {
			if !strings.Contains(b.Skipped, "IORING_OP_NOT_AN_OPCODE is not in these headers") {
				t.Errorf("PrepTee: Skipped = %q", b.Skipped)
			}
			if strings.Contains(string(r.Files["builders.go"]), "PrepTee(") {
				t.Error("skipped PrepTee was generated")
			}
			return
		}
	}
	t.Error("PrepTee not listed")
}

// TestFamilyBuilders generates the ublk family on top of the io_uring one
// (its builders are functions taking uapi's *SQE) and checks that template
// mistakes in its uring_cmd payloads fail generation, naming the line.
func TestFamilyBuilders(t *testing.T) {
	base, err := generateWith(t, pinnedModel(t), mustRead(t, builderSpecs))
	if err != nil {
		t.Fatal(err)
	}
	ublkTemplates := filepath.Join("..", "..", "templates", "ublk")
	fam, err := family.Load(ublkTemplates)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(headers, []string{"amd64"}, fam.Scope)
	if err != nil {
		t.Fatal(err)
	}
	gen := func(text string) (*emit.Result, error) {
		return generateFamily(t, m, filepath.Join(ublkTemplates, "constants.txt"), text, emit.Options{PkgPath: "example.com/ublk", PkgName: "ublk",
			Namer: fam.Namer, Base: &emit.Base{Result: base, PkgPath: "example.com/uapi"}})
	}
	r, err := gen(mustRead(t, filepath.Join(ublkTemplates, "builders.txt")))
	if err != nil {
		t.Fatal(err)
	}
	src := string(r.Files["builders_little.go"])
	for _, want := range []string{"func PrepFetchReq(s *uapi.SQE, fd int32, qid uint16, tag uint16, addr uint64)", "uapi.OpUringCmd", "IOCmdFetchReq"} {
		if !strings.Contains(src, want) {
			t.Errorf("builders_little.go lacks %q", want)
		}
	}
	const head = "prep x URING_CMD 6.4\n\targ fd int32\n\tfd = fd\n\tcmd_op = UBLK_U_IO_FETCH_REQ\n"
	for _, tc := range []struct{ text, want string }{
		{head + "\tcmd.q_id = 1\n", "builders.txt:5: builder x (IORING_OP_URING_CMD): field cmd.q_id: the block has no cmd line naming the payload struct"},
		{head + "\tcmd ublksrv_ctrl_cmd\n\tcmd.dev_id = 1\n", "struct ublksrv_ctrl_cmd is 32 bytes on amd64; the cmd area of this SQE holds 16"},
		{head + "\tcmd ublksrv_io_cmd\n\tcmd.nope = 1\n", "struct ublksrv_io_cmd has no member nope"},
		{head + "\tcmd nope\n\tcmd.q_id = 1\n", "cmd nope is not a struct of these headers"},
		{head + "\tcmd ublksrv_io_cmd\n\tcmd.q_id[1] = 1\n", "q_id is not an array of more than 1 elements"},
		{head + "\tcmd ublksrv_io_cmd\n\tcmd ublksrv_io_cmd\n", "want one line: cmd STRUCT_TAG"},
	} {
		_, err := gen(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
