package report_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/report"
	"github.com/urgen/urgen/generated/uapi/uapitest"
)

var headers = filepath.Join("..", "..", "headers")

func build(t testing.TB, dir string, archs []string) (*model.Model, *emit.Result) {
	t.Helper()
	m, err := model.Load(dir, archs, model.DefaultScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := emit.LoadConfig(filepath.Join("..", "..", "templates", "constants.txt"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := emit.Generate(m, cfg, emit.Options{PkgPath: "example.com/uapi", PkgName: "uapi"})
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

// TestReportJSON checks the JSON contract other tools read (top-level keys
// structs, constants, opcodes with builders lists) against the generated
// package's registry, whose values the round trip (gen/roundtrip) proves against gcc.
func TestReportJSON(t *testing.T) {
	m, r := build(t, headers, nil)
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(report.New(m, r)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Structs []struct {
			C, Go  string
			Size   int64
			Fields []struct {
				C, Go  string
				Offset int64
			}
		}
		Constants []struct {
			C, Go string
			Value json.Number
		}
		Opcodes []struct {
			C        string
			Value    uint64
			Builders []string
		}
		Archs []string
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Archs) != 13 {
		t.Errorf("archs: got %d, want the 13 Linux GOARCHes", len(doc.Archs))
	}

	reg := map[string]uapitest.Struct{}
	for _, s := range uapitest.Structs {
		reg[s.Go] = s
	}
	if len(doc.Structs) != len(uapitest.Structs) {
		t.Errorf("structs: report has %d, generated registry %d", len(doc.Structs), len(uapitest.Structs))
	}
	for _, s := range doc.Structs {
		g, ok := reg[s.Go]
		if !ok {
			t.Errorf("struct %s (%s) is not in the generated package", s.Go, s.C)
			continue
		}
		if s.Size != int64(g.Size) {
			t.Errorf("struct %s: report size %d, generated %d", s.Go, s.Size, g.Size)
		}
		if len(s.Fields) == 0 && s.Size > 0 {
			t.Errorf("struct %s has no fields in the report", s.Go)
		}
	}

	consts := map[string]string{}
	for _, c := range uapitest.Constants {
		consts[c.C] = model.Value{Bits: c.Bits, Negative: c.Negative}.String()
	}
	if len(doc.Constants) != len(uapitest.Constants) {
		t.Errorf("constants: report has %d, generated registry %d", len(doc.Constants), len(uapitest.Constants))
	}
	for _, c := range doc.Constants {
		if want, ok := consts[c.C]; !ok || want != c.Value.String() {
			t.Errorf("constant %s: report value %s, generated %q (present %v)", c.C, c.Value, want, ok)
		}
	}
	if consts["IORING_REGISTER_FILES_SKIP"] != "-2" {
		t.Errorf("IORING_REGISTER_FILES_SKIP = %s, want -2", consts["IORING_REGISTER_FILES_SKIP"])
	}

	// The pinned 7.3.4 headers number the operations NOP (0) through
	// URING_CMD128 (64) without gaps.
	if len(doc.Opcodes) != 65 {
		t.Fatalf("opcodes: got %d, want 65", len(doc.Opcodes))
	}
	for i, op := range doc.Opcodes {
		if op.Value != uint64(i) || !strings.HasPrefix(op.C, "IORING_OP_") || op.Builders == nil {
			t.Errorf("opcode %d: %+v", i, op)
		}
	}
	if first, last := doc.Opcodes[0].C, doc.Opcodes[64].C; first != "IORING_OP_NOP" || last != "IORING_OP_URING_CMD128" {
		t.Errorf("opcodes run %s .. %s", first, last)
	}
}

// TestReportText checks the per-file totals against counts taken straight
// from the model.
func TestReportText(t *testing.T) {
	m, r := build(t, headers, []string{"amd64"})
	rep := report.New(m, r)
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"linux/io_uring.h", "linux/io_uring/zcrx.h", "linux/io_uring/query.h",
		"linux/io_uring/bpf_filter.h", "linux/io_uring/mock_file.h", "opcodes: 65", "unsupported (0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report text lacks %q:\n%s", want, out)
		}
	}
	if rep.Totals.Structs != len(m.Structs) {
		t.Errorf("total structs %d, model has %d", rep.Totals.Structs, len(m.Structs))
	}
	nconst := len(m.Macros)
	for _, e := range m.Enums {
		nconst += len(e.Values)
	}
	if rep.Totals.Constants != nconst || rep.Totals.Enums != len(m.Enums) {
		t.Errorf("totals %+v; model has %d constants, %d enums", rep.Totals, nconst, len(m.Enums))
	}
	if len(rep.Absent) != 0 {
		t.Errorf("templates/constants.txt has lines that match nothing in the pinned headers (typos?): %v", rep.Absent)
	}
}
