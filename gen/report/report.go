// Package report describes what urgen generates from a headers directory
// (urgen report) and how two headers directories differ (urgen diff).
//
// A Report lists every struct with its Go name and per-GOARCH layout, every
// constant with its Go name and set type, the io_uring opcodes, the
// constructs the model leaves out and per-file totals. It prints as text
// (WriteText) or as JSON (encoding/json on the Report).
package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/model"
)

// OpEnum is the C tag of the enum whose enumerators are the io_uring
// opcodes; OpPrefix starts their names and OpLast is the end marker, which
// is not an opcode.
const (
	OpEnum   = "io_uring_op"
	OpPrefix = "IORING_OP_"
	OpLast   = "IORING_OP_LAST"
)

// Report is what urgen generates from one headers directory.
type Report struct {
	// Headers is the provenance of the headers (headers/VERSION).
	Headers model.HeaderSource `json:"headers"`
	// Archs lists the GOARCH values the layouts were computed for.
	Archs []string `json:"archs"`
	// Arch is the GOARCH whose layout the single-valued Size and Offset
	// fields give: amd64 when present, else the first of Archs.
	Arch string `json:"arch"`
	// Files holds the totals per header file, in-scope files first.
	Files []FileTotals `json:"files"`
	// Totals sums Files.
	Totals Totals `json:"totals"`
	// Go counts the generated Go declarations.
	Go GoTotals `json:"go"`
	// Structs lists the generated struct types in generation order.
	Structs []Struct `json:"structs"`
	// Constants lists every macro and enumerator in source order.
	Constants []Constant `json:"constants"`
	// Opcodes lists the io_uring operations in enum io_uring_op.
	Opcodes []Opcode `json:"opcodes"`
	// Builders lists the SQE builder methods of templates/builders.txt,
	// the skipped ones (older headers) with the reason.
	Builders []Builder `json:"builders"`
	// Unsupported lists the constructs the model leaves out.
	Unsupported []model.Unsupported `json:"unsupported"`
	// Absent lists the template lines that match nothing in these headers
	// (expected for older headers).
	Absent []string `json:"absent"`
}

// Totals counts the declarations of the model.
type Totals struct {
	// Structs counts named structs and unions.
	Structs int `json:"structs"`
	// Fields counts named members at every depth: members of anonymous and
	// of named inline structs and unions count, the anonymous containers
	// themselves do not.
	Fields int `json:"fields"`
	// UnionMembers counts the direct members of unions, named or inline;
	// an anonymous struct in a union counts as one member.
	UnionMembers int `json:"union_members"`
	// Enums counts named and anonymous enums.
	Enums int `json:"enums"`
	// Constants counts macros and enumerators.
	Constants int `json:"constants"`
}

func (t *Totals) add(o Totals) {
	t.Structs += o.Structs
	t.Fields += o.Fields
	t.UnionMembers += o.UnionMembers
	t.Enums += o.Enums
	t.Constants += o.Constants
}

// FileTotals are the Totals of one header file.
type FileTotals struct {
	// File is relative to the headers directory.
	File string `json:"file"`
	// External is set for a file outside the scope whose structs in-scope
	// structs use.
	External bool `json:"external,omitempty"`
	Totals
}

// GoTotals counts the generated Go declarations.
type GoTotals struct {
	// Types counts Go struct types, including those of named inline
	// members.
	Types int `json:"types"`
	// Fields, Accessors and Flex count the members by how Go reaches them.
	Fields    int `json:"fields"`
	Accessors int `json:"accessors"`
	Flex      int `json:"flex"`
	// Sets counts typed constant sets.
	Sets int `json:"sets"`
	// Typed and Untyped count the constants in and outside typed sets.
	Typed   int `json:"typed"`
	Untyped int `json:"untyped"`
}

// Struct is one generated Go struct type.
type Struct struct {
	// C is the C type; the type of a named inline member is its parent's
	// C type and the member name ("struct io_uring_sqe.name").
	C  string `json:"c"`
	Go string `json:"go"`
	// Union is set for a C union.
	Union bool `json:"union,omitempty"`
	// External is set for a struct declared outside the io_uring headers.
	External bool      `json:"external,omitempty"`
	Pos      model.Pos `json:"pos"`
	// Size is the size on Report.Arch; Sizes and Aligns hold every arch.
	Size   int64            `json:"size"`
	Sizes  map[string]int64 `json:"sizes"`
	Aligns map[string]int64 `json:"aligns"`
	// Fields lists the C members in order of offset on Report.Arch.
	Fields []Field `json:"fields"`
}

// Field is one C member of a generated struct.
type Field struct {
	// C is the member path from the struct through named members.
	C string `json:"c"`
	// Go is the Go field or accessor method name.
	Go string `json:"go"`
	// Type is the member's C type.
	Type string `json:"type"`
	// GoType is the Go type a typed set or nested struct gives the
	// member; empty for the plain Go spelling of Type.
	GoType string `json:"go_type,omitempty"`
	// Offset and Size are for Report.Arch; Offsets and Sizes hold every
	// arch. A flexible array has size 0.
	Offset  int64            `json:"offset"`
	Size    int64            `json:"size"`
	Offsets map[string]int64 `json:"offsets"`
	Sizes   map[string]int64 `json:"sizes"`
	// Kind is "field", "accessor" or "flex" (see emit.MemberKind).
	Kind string `json:"kind"`
}

// Constant is a macro or an enumerator.
type Constant struct {
	C     string      `json:"c"`
	Go    string      `json:"go"`
	Value model.Value `json:"value"`
	// Type is the Go type of the constant's typed set, "" when untyped.
	Type string `json:"type"`
	// Kind is "macro" or "enumerator".
	Kind string `json:"kind"`
	// Enum is the tag of the enumerator's enum ("" when anonymous).
	Enum string    `json:"enum,omitempty"`
	Pos  model.Pos `json:"pos"`
}

// Opcode is one io_uring operation.
type Opcode struct {
	C     string `json:"c"`
	Go    string `json:"go"`
	Value uint64 `json:"value"`
	// Builders names the generated SQE builder methods for the
	// operation; an empty list (never null) when there is none.
	Builders []string `json:"builders"`
}

// Builder is an SQE builder method and the operations it prepares.
type Builder struct {
	Go      string   `json:"go"`
	Opcodes []string `json:"opcodes"`
	// Since is the first Linux release with the operation or variant.
	Since string `json:"since"`
	// SQE128 is set when the operation needs a 128-byte SQE slot.
	SQE128 bool `json:"sqe128,omitempty"`
	// CQE32 is set when its completions need 32-byte CQEs.
	CQE32 bool `json:"cqe32,omitempty"`
	// Liburing is the liburing helper the differential test compares
	// with; empty when the test checks a hand-computed SQE.
	Liburing string `json:"liburing,omitempty"`
	// Counterpart is set when Liburing is the builder's own helper.
	Counterpart bool `json:"counterpart,omitempty"`
	// Skipped says why the builder is not generated from these headers.
	Skipped string `json:"skipped,omitempty"`
}

// New builds the report of a model and what Generate made of it.
func New(m *model.Model, r *emit.Result) *Report {
	rep := &Report{
		Headers:     m.Headers,
		Archs:       m.Archs,
		Arch:        primaryArch(m.Archs),
		Structs:     []Struct{},
		Constants:   []Constant{},
		Builders:    []Builder{},
		Unsupported: append([]model.Unsupported{}, m.Unsupported...),
		Absent:      append([]string{}, r.Absent...),
	}
	rep.Files, rep.Totals = totals(m)
	sum := r.Summary()
	byTag := structsByTag(m)
	for _, s := range sum.Structs {
		rep.Structs = append(rep.Structs, rep.structOf(s, byTag))
		rep.Go.Types++
	}
	goName := map[string]emit.ConstInfo{}
	sets := map[string]bool{}
	for _, c := range sum.Constants {
		goName[c.C] = c
		if c.Set != "" {
			sets[c.Set] = true
			rep.Go.Typed++
		} else {
			rep.Go.Untyped++
		}
	}
	rep.Go.Sets = len(sets)
	for _, c := range constants(m) {
		gi := goName[c.C]
		c.Go, c.Type = gi.Go, gi.Set
		rep.Constants = append(rep.Constants, c)
	}
	rep.Opcodes = opcodes(m)
	for i := range rep.Opcodes {
		rep.Opcodes[i].Go = goName[rep.Opcodes[i].C].Go
	}
	rep.addBuilders(r.Builders)
	return rep
}

// addBuilders lists the builders and names the generated ones in their
// opcodes' Builders lists.
func (rep *Report) addBuilders(bs []emit.BuilderInfo) {
	byOp := map[string]int{}
	for i, op := range rep.Opcodes {
		byOp[op.C] = i
	}
	for _, b := range bs {
		rep.Builders = append(rep.Builders, Builder{Go: b.Go, Opcodes: []string{b.Opcode}, Since: b.Since, SQE128: b.SQE128, CQE32: b.CQE32,
			Liburing: b.Liburing, Counterpart: b.Counterpart, Skipped: b.Skipped})
		if i, ok := byOp[b.Opcode]; ok && b.Skipped == "" {
			rep.Opcodes[i].Builders = append(rep.Opcodes[i].Builders, b.Go)
		}
	}
}

// primaryArch is amd64 when archs has it, else the first arch.
func primaryArch(archs []string) string {
	for _, a := range archs {
		if a == "amd64" {
			return a
		}
	}
	if len(archs) == 0 {
		return ""
	}
	return archs[0]
}

func structsByTag(m *model.Model) map[string]*model.Struct {
	r := map[string]*model.Struct{}
	for _, s := range m.Structs {
		r[s.C] = s
	}
	return r
}

// typeSize is the C size of a member type on arch; 0 for a flexible array.
func typeSize(byTag map[string]*model.Struct, t *model.Type, arch string) int64 {
	switch t.Kind {
	case model.KindInt:
		return t.Size
	case model.KindArray:
		if t.Flexible {
			return 0
		}
		return t.Len * typeSize(byTag, t.Elem, arch)
	case model.KindStruct:
		if s := byTag[t.Ref]; s != nil {
			return s.Layout[arch].Size
		}
		return 0
	default:
		return t.Inline.Layout[arch].Size
	}
}

func (rep *Report) structOf(s emit.StructInfo, byTag map[string]*model.Struct) Struct {
	st := Struct{
		C: s.C, Go: s.Go, Union: s.Src.Union, External: s.Src.External, Pos: s.Src.Pos,
		Size: s.Src.Layout[rep.Arch].Size, Sizes: map[string]int64{}, Aligns: map[string]int64{}, Fields: []Field{},
	}
	for _, a := range rep.Archs {
		st.Sizes[a] = s.Src.Layout[a].Size
		st.Aligns[a] = s.Src.Layout[a].Align
	}
	for _, mi := range s.Members {
		f := Field{C: mi.C, Go: mi.Go, Type: mi.Type.C, GoType: mi.Named, Kind: string(mi.Kind),
			Offset: mi.Offset[rep.Arch], Offsets: map[string]int64{}, Sizes: map[string]int64{}}
		for _, a := range rep.Archs {
			f.Offsets[a] = mi.Offset[a]
			f.Sizes[a] = typeSize(byTag, mi.Type, a)
		}
		f.Size = f.Sizes[rep.Arch]
		switch mi.Kind {
		case emit.MemberField:
			rep.Go.Fields++
		case emit.MemberAccessor:
			rep.Go.Accessors++
		case emit.MemberFlex:
			rep.Go.Flex++
		}
		st.Fields = append(st.Fields, f)
	}
	sort.SliceStable(st.Fields, func(i, j int) bool { return st.Fields[i].Offset < st.Fields[j].Offset })
	return st
}

// fileRank orders files: the model's in-scope files in scope order, then
// the others by name.
func fileRank(m *model.Model) func(a, b string) bool {
	rank := map[string]int{}
	for i, f := range m.Files {
		rank[f] = i + 1
	}
	return func(a, b string) bool {
		ra, rb := rank[a], rank[b]
		switch {
		case ra != 0 && rb != 0:
			return ra < rb
		case ra != 0 || rb != 0:
			return ra != 0
		}
		return a < b
	}
}

// constants lists the model's macros and enumerators in source order,
// without Go names.
func constants(m *model.Model) []Constant {
	var r []Constant
	for _, e := range m.Enums {
		for _, v := range e.Values {
			r = append(r, Constant{C: v.Name, Value: v.Value, Kind: "enumerator", Enum: e.C, Pos: v.Pos})
		}
	}
	for _, mc := range m.Macros {
		r = append(r, Constant{C: mc.Name, Value: mc.Value, Kind: "macro", Pos: mc.Pos})
	}
	before := fileRank(m)
	sort.SliceStable(r, func(i, j int) bool {
		a, b := r[i].Pos, r[j].Pos
		if a.File != b.File {
			return before(a.File, b.File)
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return r
}

// opcodes lists the IORING_OP_ enumerators of enum io_uring_op but
// IORING_OP_LAST, without Go names.
func opcodes(m *model.Model) []Opcode {
	r := []Opcode{}
	for _, e := range m.Enums {
		if e.C != OpEnum {
			continue
		}
		for _, v := range e.Values {
			if strings.HasPrefix(v.Name, OpPrefix) && v.Name != OpLast {
				r = append(r, Opcode{C: v.Name, Value: v.Value.Bits, Builders: []string{}})
			}
		}
	}
	return r
}

// totals counts the model's declarations per file.
func totals(m *model.Model) ([]FileTotals, Totals) {
	by := map[string]*FileTotals{}
	get := func(file string) *FileTotals {
		if by[file] == nil {
			by[file] = &FileTotals{File: file}
		}
		return by[file]
	}
	for _, f := range m.Files {
		get(f)
	}
	for _, s := range m.Structs {
		ft := get(s.Pos.File)
		ft.External = ft.External || s.External
		ft.Structs++
		countMembers(s, &ft.Totals)
	}
	for _, e := range m.Enums {
		get(e.Pos.File).Enums++
		for _, v := range e.Values {
			get(v.Pos.File).Constants++
		}
	}
	for _, mc := range m.Macros {
		get(mc.Pos.File).Constants++
	}
	var files []string
	for f := range by {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return fileRank(m)(files[i], files[j]) })
	var list []FileTotals
	var all Totals
	for _, f := range files {
		list = append(list, *by[f])
		all.add(by[f].Totals)
	}
	return list, all
}

func countMembers(s *model.Struct, t *Totals) {
	for _, f := range s.Fields {
		if s.Union {
			t.UnionMembers++
		}
		if f.Name != "" {
			t.Fields++
		}
		if f.Type.Kind == model.KindInline {
			countMembers(f.Type.Inline, t)
		}
	}
}

// WriteText prints the report for people: totals per file and overall, the
// generated Go declarations, the opcodes, the unsupported constructs and
// the builders.
func (rep *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	h := rep.Headers
	if h.Package == "" {
		ew.printf("headers: (no VERSION file)\n")
	} else {
		ew.printf("headers: %s sha256:%s\n", h, h.SHA256)
	}
	ew.printf("archs:   %s\n\n", strings.Join(rep.Archs, " "))
	names := []string{"file"}
	for _, f := range rep.Files {
		name := f.File
		if f.External {
			name += " (external)"
		}
		names = append(names, name)
	}
	names = append(names, "total")
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	ew.printf("%-*s  %7s  %6s  %13s  %5s  %9s\n", width, "file", "structs", "fields", "union members", "enums", "constants")
	row := func(name string, t Totals) {
		ew.printf("%-*s  %7d  %6d  %13d  %5d  %9d\n", width, name, t.Structs, t.Fields, t.UnionMembers, t.Enums, t.Constants)
	}
	for i, f := range rep.Files {
		row(names[i+1], f.Totals)
	}
	row("total", rep.Totals)
	g := rep.Go
	ew.printf("\ngo: %d struct types (%d fields, %d accessors, %d flexible arrays); %d typed sets; %d constants (%d typed, %d untyped)\n",
		g.Types, g.Fields, g.Accessors, g.Flex, g.Sets, g.Typed+g.Untyped, g.Typed, g.Untyped)
	if n := len(rep.Opcodes); n > 0 {
		first, last := rep.Opcodes[0], rep.Opcodes[n-1]
		ew.printf("opcodes: %d (%s = %d .. %s = %d)\n", n, first.C, first.Value, last.C, last.Value)
	} else {
		ew.printf("opcodes: 0\n")
	}
	ew.printf("\nunsupported (%d):\n", len(rep.Unsupported))
	if len(rep.Unsupported) == 0 {
		ew.printf("  none\n")
	}
	for _, u := range rep.Unsupported {
		ew.printf("  %s  %s  %s\n", u.Name, u.Pos, u.Reason)
	}
	ew.printf("\ntemplate lines absent from these headers (%d):\n", len(rep.Absent))
	if len(rep.Absent) == 0 {
		ew.printf("  none\n")
	}
	for _, a := range rep.Absent {
		ew.printf("  %s\n", a)
	}
	var made, skipped []Builder
	covered := 0
	for _, op := range rep.Opcodes {
		if len(op.Builders) > 0 {
			covered++
		}
	}
	for _, b := range rep.Builders {
		if b.Skipped != "" {
			skipped = append(skipped, b)
		} else {
			made = append(made, b)
		}
	}
	ew.printf("\nbuilders (%d; opcodes with a builder: %d of %d):\n", len(made), covered, len(rep.Opcodes))
	if len(made) == 0 {
		ew.printf("  none\n")
	}
	for _, b := range made {
		ref := "checked by hand"
		if b.Liburing != "" {
			ref = "= " + b.Liburing
			if !b.Counterpart {
				ref = "via " + b.Liburing
			}
		}
		ew.printf("  %-28s %-30s %-6s %s\n", b.Go, strings.Join(b.Opcodes, " "), b.Since, ref)
	}
	ew.printf("\nbuilders skipped for these headers (%d):\n", len(skipped))
	if len(skipped) == 0 {
		ew.printf("  none\n")
	}
	for _, b := range skipped {
		ew.printf("  %s  %s\n", b.Go, b.Skipped)
	}
	return ew.err
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
