// Package emit turns the model into the generated Go package with
// github.com/dave/jennifer: structs with the exact C layout on every GOARCH,
// union accessors, typed constants with String methods and compile-time
// layout assertions.
package emit

import (
	"bytes"
	"errors"
	"fmt"
	"go/token"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/urgen/urgen/gen/goname"
	"github.com/urgen/urgen/gen/model"
)

// Options configures Generate.
type Options struct {
	// PkgPath and PkgName name the generated package.
	PkgPath, PkgName string
	// Doc completes the package comment "Package NAME is ..."; empty
	// means the io_uring ABI.
	Doc string
	// Namer names the C declarations (the family's namespace); the zero
	// Namer is io_uring's.
	Namer goname.Namer
	// Base is the generated family whose struct io_uring_sqe the
	// builders fill; nil when this family declares it.
	Base *Base
	// Provenance, recorded in doc.go and in every file's header line.
	Provenance Provenance
	// RoundTrip also emits RoundTripFile: the round trip against gcc as a
	// test of the registry package.
	RoundTrip bool
	// Scope is the scope the model was loaded with, for the round trip.
	Scope model.Scope
}

// Base is a family this one builds on: its generated result and import
// path. The builders become functions taking the base's *SQE, and the
// round-trip registry reuses the base registry's types.
type Base struct {
	Result  *Result
	PkgPath string
}

// Provenance says how a package was generated, so that it can be
// recreated (go generate) and checked (urgen check, urgen roundtrip).
type Provenance struct {
	// Version is urgen's version: a module version, or "devel".
	Version string
	// Headers is the headers directory as the directive names it: relative
	// to the package directory, or absolute; empty for urgen's pinned
	// headers.
	Headers string
	// Generate is the command that recreates the package, run by go
	// generate in the package directory; empty for none.
	Generate string
}

// Output is the generated package: file name -> contents.
type Output map[string][]byte

// Result is the generated package and what it contains, for reports.
type Result struct {
	Files   Output
	Structs []*goStruct
	Sets    []*constSet
	Loose   []*constant
	// Absent lists the lines of templates/constants.txt that match nothing
	// in these headers (expected for older headers; a typo otherwise).
	Absent []string
	// Builders lists the SQE builders of templates/builders.txt, the
	// skipped ones with the reason.
	Builders []BuilderInfo
	// Warnings lists, one line each with its position, what these headers
	// and templates leave out of the package or gcc would warn about: the
	// model's Unsupported and Warnings, the Absent template lines and the
	// skipped builders. urgen generate prints them; with -strict (make
	// generate) they fail it.
	Warnings []string
	// Base is Options.Base: the base family's package it imports.
	Base *Base
	// PkgPath is the generated package's import path.
	PkgPath string
	shaper  *shaper
}

// Generate renders the model. It fails, naming the C declaration, on
// anything it cannot represent exactly; it never drops a declaration.
func Generate(m *model.Model, cfg *Config, opt Options) (*Result, error) {
	sets, loose, absent, err := classify(m, cfg, opt.Namer)
	if err != nil {
		return nil, err
	}
	cfg = cfg.forSets(sets, &absent)
	sh := newShaper(m, cfg, opt.Namer)
	sh.setSizes = map[string]int64{}
	for _, s := range sets {
		sh.setSizes[s.Go] = intTypes[s.Underlying].size
	}
	structs := sh.shapeAll()
	if err := sh.checkMembers(structs); err != nil {
		return nil, err
	}
	for key := range cfg.Members {
		if !cfg.used[key] {
			absent = append(absent, fmt.Sprintf("%s: member %s is not in the headers", cfg.at(key), key))
		}
	}
	sort.Strings(absent)
	e := &emitter{m: m, sh: sh, opt: opt, files: Output{}}
	if err := e.checkTypeNames(structs, sets, loose); err != nil {
		return nil, err
	}
	e.types(structs)
	e.constants(sets, loose)
	e.doc()
	e.registry(structs, sets, loose)
	var builders []BuilderInfo
	if cfg.Builders != nil {
		var err error
		if builders, err = e.builders(structs, sets, loose, cfg.Builders); err != nil {
			return nil, err
		}
	}
	if opt.RoundTrip {
		e.roundTripTest()
	}
	if len(sh.errs) > 0 {
		var msgs []string
		for _, err := range sh.errs {
			msgs = append(msgs, err.Error())
		}
		return nil, fmt.Errorf("%s", strings.Join(msgs, "\n"))
	}
	if len(e.renderErrs) > 0 {
		return nil, errors.Join(e.renderErrs...)
	}
	r := &Result{Files: e.files, Structs: structs, Sets: sets, Loose: loose, Absent: absent, Builders: builders, PkgPath: opt.PkgPath, shaper: sh}
	r.Warnings = warnings(m, cfg, r)
	r.Base = opt.Base
	return r, nil
}

// warnings collects Result.Warnings.
func warnings(m *model.Model, cfg *Config, r *Result) []string {
	var w []string
	left := map[string]bool{}
	for _, u := range m.Unsupported {
		left[u.Name] = true
		if _, ok := cfg.Omit[u.Name]; !ok {
			w = append(w, fmt.Sprintf("%s: %s is left out: %s", u.Pos, u.Name, u.Reason))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Omit)) {
		if o := cfg.Omit[name]; !left[name] {
			w = append(w, fmt.Sprintf("%s: omit %s: the headers do not leave it out", o.Pos, name))
		}
	}
	for _, u := range m.Warnings {
		w = append(w, fmt.Sprintf("%s: %s: %s", u.Pos, u.Name, u.Reason))
	}
	w = append(w, r.Absent...)
	w = append(w, cfg.Missing...)
	for _, b := range r.Builders {
		if b.Skipped != "" {
			w = append(w, fmt.Sprintf("%s: builder %s (%s) is not generated: %s", b.Pos, b.Go, b.Opcode, b.Skipped))
		}
		if b.Warning != "" {
			w = append(w, fmt.Sprintf("%s: builder %s (%s): %s", b.Pos, b.Go, b.Opcode, b.Warning))
		}
	}
	return w
}

type emitter struct {
	m          *model.Model
	sh         *shaper
	opt        Options
	files      Output
	renderErrs []error
}

// checkTypeNames fails when two package-level names collide.
func (e *emitter) checkTypeNames(structs []*goStruct, sets []*constSet, loose []*constant) error {
	type origin struct {
		c   string
		pos model.Pos
	}
	seen := map[string]origin{}
	var errs []string
	claim := func(name, c string, p model.Pos) {
		where := ""
		if p.File != "" {
			where = p.String() + ": "
		}
		if !token.IsIdentifier(name) {
			errs = append(errs, fmt.Sprintf("%s%s maps to the Go name %q, which is not a Go identifier", where, c, name))
			return
		}
		if prev, ok := seen[name]; ok {
			at := ""
			if prev.pos.File != "" {
				at = " (" + prev.pos.String() + ")"
			}
			errs = append(errs, fmt.Sprintf("%sGo name %s of %s is already used by %s%s", where, name, c, prev.c, at))
			return
		}
		seen[name] = origin{c, p}
	}
	var walk func(g *goStruct)
	walk = func(g *goStruct) {
		claim(g.Go, g.C, g.Src.Pos)
		claim("Sizeof"+g.Go, g.C, g.Src.Pos)
		for _, n := range g.Nested {
			walk(n)
		}
	}
	for _, g := range structs {
		walk(g)
	}
	for _, s := range sets {
		claim(s.Go, "set "+s.Go, s.Pos)
		for _, c := range s.Consts {
			claim(c.Go, c.C, c.Pos)
		}
	}
	for _, c := range loose {
		claim(c.Go, c.C, c.Pos)
	}
	for _, name := range provenanceNames {
		claim(name, "the provenance constant "+name, model.Pos{})
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func (e *emitter) newFile() *jen.File {
	f := jen.NewFilePathName(e.opt.PkgPath, e.opt.PkgName)
	f.HeaderComment(e.headerLine(""))
	return f
}

// headerLine is the "Code generated" line of every file; also names the
// templates a file comes from.
func (e *emitter) headerLine(also string) string {
	return fmt.Sprintf("Code generated by %s from %s%s; DO NOT EDIT.", generator(e.opt.Provenance), e.source(), also)
}

// generator is "urgen VERSION".
func generator(p Provenance) string {
	v := p.Version
	if v == "" {
		v = "devel"
	}
	return "urgen " + v
}

// source says where the headers came from: the Debian package and version
// of their VERSION file, else their directory as the directive names it
// (never an absolute path that only this machine has, unless given so).
func (e *emitter) source() string {
	if e.m.Headers.Package != "" || e.opt.Provenance.Headers == "" {
		return e.m.Headers.String()
	}
	h := e.m.Headers
	h.Dir = e.opt.Provenance.Headers
	return h.String()
}

// put renders a file. jennifer formats it; what does not format (which the
// checks before it should make impossible) is an error, never file text.
func (e *emitter) put(name string, f *jen.File) {
	var b bytes.Buffer
	if err := f.Render(&b); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "\n"); i >= 0 {
			msg = msg[:i] // jennifer appends the whole unformatted source
		}
		e.renderErrs = append(e.renderErrs, fmt.Errorf("generated %s does not format (an urgen bug: please report it with the headers): %s", name, msg))
		return
	}
	e.files[name] = b.Bytes()
}

// origin says where the headers came from, for the package doc: the Debian
// package, version and suite, or the directory when it has no VERSION file.
func (e *emitter) origin() string {
	h := e.m.Headers
	dir := e.opt.Provenance.Headers
	switch {
	case h.Package == "":
		return "in " + dir + ", which has no VERSION file naming their package"
	case dir == "":
		dir = "urgen's pinned copy"
	default:
		dir = "in " + dir
	}
	if h.Suite != "" {
		return h.String() + ", Debian " + h.Suite + ", " + dir
	}
	return h.String() + ", " + dir
}

// provenanceNames are the constants doc.go declares.
var provenanceNames = []string{"Generator", "HeaderPackage", "HeaderVersion", "HeaderSuite", "HeaderSHA256", "HeaderDir", "GOARCHes"}

func (e *emitter) doc() {
	f := e.newFile()
	p := e.opt.Provenance
	what, prefix := e.opt.Doc, "the io_uring prefix"
	if what == "" {
		what = "the Linux io_uring user-space ABI"
	}
	if ns := e.opt.Namer.Namespace; ns != nil {
		var ps []string
		for _, w := range ns {
			ps = append(ps, strings.Join(w, "_"))
		}
		prefix = "the " + strings.Join(ps, " or ") + " prefix"
	}
	regen := "Do not edit: go generate recreates it (the directive below), and urgen check fails\nwhen it is stale."
	if p.Generate == "" {
		regen = "Do not edit it."
	}
	f.PackageComment(fmt.Sprintf("Package %s is %s, generated by %s from the kernel's UAPI\nheaders (%s)\nfor %s.\n%s\n\n%s\n\n"+
		"Every declaration's doc comment names its C origin (file:line). C names map to Go names by\none rule (see gen/goname): split at underscores, drop %s, capitalize each\nword or spell it as an initialism, join. Union members other than the one stored in a\nfield are reached through accessor methods at their true offsets; flexible array members\nthrough methods that take the element count. Layouts are asserted at compile time on every\nGOARCH; constants whose value differs between GOARCHes (ioctl numbers) are declared per GOARCH.",
		e.opt.PkgName, wrap(what, 80), generator(p), e.origin(), wrap(strings.Join(e.m.Archs, ", "), 90), regen, wrap("Headers: "+strings.Join(e.m.Files, ", ")+".", 90), prefix))
	if p.Generate != "" {
		f.Comment("//go:generate " + p.Generate)
		f.Line()
	}
	f.Comment("Provenance: what generated this package, from which headers, for which GOARCHes.")
	f.Const().Defs(
		jen.Comment("Generator is the urgen version that generated the package.").Line().Id("Generator").Op("=").Lit(generator(p)),
		jen.Comment("HeaderPackage, HeaderVersion, HeaderSuite and HeaderSHA256 name the Debian package").Line().
			Comment("the headers were synced from, the suite that carried it and the .deb's sha256").Line().
			Comment("(the headers' VERSION file); all empty without one.").Line().
			Id("HeaderPackage").Op("=").Lit(e.m.Headers.Package),
		jen.Id("HeaderVersion").Op("=").Lit(e.m.Headers.Version),
		jen.Id("HeaderSuite").Op("=").Lit(e.m.Headers.Suite),
		jen.Id("HeaderSHA256").Op("=").Lit(e.m.Headers.SHA256),
		jen.Comment("HeaderDir is the headers directory, relative to this package's directory").Line().
			Comment("or absolute; empty for urgen's pinned headers.").Line().Id("HeaderDir").Op("=").Lit(p.Headers),
		jen.Comment("GOARCHes lists the architectures the layouts are generated and asserted for.").Line().Id("GOARCHes").Op("=").Lit(strings.Join(e.m.Archs, ",")),
	)
	e.put("doc.go", f)
}

// types emits structs, accessors, sizes and assertions: into types.go and
// layout.go where all arches agree, else per arch.
func (e *emitter) types(structs []*goStruct) {
	common := e.newFile()
	layout := e.newFile()
	perArch := map[string]*jen.File{}
	perArchLayout := map[string]*jen.File{}
	archFile := func(m map[string]*jen.File, arch string) *jen.File {
		if m[arch] == nil {
			m[arch] = e.newFile()
		}
		return m[arch]
	}
	var all []*goStruct
	var walk func(g *goStruct)
	walk = func(g *goStruct) {
		all = append(all, g)
		for _, n := range g.Nested {
			walk(n)
		}
	}
	for _, g := range structs {
		walk(g)
	}
	for _, g := range all {
		decl := map[string]jen.Code{}
		assert := map[string]jen.Code{}
		for _, arch := range e.m.Archs {
			decl[arch] = e.structDecl(g, arch)
			assert[arch] = e.assertions(g, arch)
		}
		render := func(m map[string]jen.Code) func(string) string {
			return func(a string) string { return fmt.Sprintf("%#v", m[a]) }
		}
		if same, _ := archGroups(e.m.Archs, render(decl)); same {
			common.Add(decl[e.m.Archs[0]])
		} else {
			for _, arch := range e.m.Archs {
				archFile(perArch, arch).Add(decl[arch])
			}
		}
		if same, _ := archGroups(e.m.Archs, render(assert)); same {
			layout.Add(assert[e.m.Archs[0]])
		} else {
			for _, arch := range e.m.Archs {
				archFile(perArchLayout, arch).Add(assert[arch])
			}
		}
	}
	e.put("types.go", common)
	e.put("layout.go", layout)
	for arch, f := range perArch {
		e.put("types_"+arch+".go", f)
	}
	for arch, f := range perArchLayout {
		e.put("layout_"+arch+".go", f)
	}
}

func intType(size int64, signed bool) string {
	n := fmt.Sprintf("int%d", size*8)
	if !signed {
		n = "u" + n
	}
	return n
}

// goType is the Go type expression for a member type.
func (e *emitter) goType(t *model.Type, named string) *jen.Statement {
	if named != "" {
		return jen.Id(named)
	}
	switch t.Kind {
	case model.KindInt:
		return jen.Id(intType(t.Size, t.Signed))
	case model.KindArray:
		return jen.Index(jen.Lit(int(t.Len))).Add(e.goType(t.Elem, ""))
	case model.KindStruct:
		return jen.Id(e.sh.byTag[t.Ref].Go)
	}
	return jen.Id("struct{}")
}

func (e *emitter) elemType(t *model.Type) *jen.Statement {
	return e.goType(t.Elem, "")
}

func cDecl(t *model.Type, name string) string {
	c := t.C
	if t.Kind == model.KindArray {
		if i := strings.Index(c, "["); i >= 0 {
			return c[:i] + " " + name + c[i:]
		}
	}
	return c + " " + name
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (e *emitter) structDecl(g *goStruct, arch string) jen.Code {
	s := g.Src
	var fields []jen.Code
	for _, sl := range e.sh.layout(g, arch) {
		if sl.Field == nil {
			fields = append(fields, jen.Id("_").Index(jen.Lit(int(sl.Pad))).Byte().Comment("padding"))
			continue
		}
		f := sl.Field
		var c *jen.Statement
		if f.Blank != nil {
			u := intType(f.Blank.Align, false)
			c = jen.Id("_").Index(jen.Lit(int(f.Blank.Size / f.Blank.Align))).Id(u).Comment("union storage; see " + strings.Join(f.Union, ", "))
		} else {
			note := cDecl(f.Type, f.C)
			if f.Doc != "" {
				note += ": " + oneLine(f.Doc)
			}
			if len(f.Union) > 0 {
				note += " (union; see also " + strings.Join(f.Union, ", ") + ")"
			}
			c = jen.Id(f.Go).Add(e.goType(f.Type, f.Named)).Comment(note)
		}
		fields = append(fields, c)
	}
	doc := fmt.Sprintf("%s is %s (%s).", g.Go, g.C, s.Pos.Short())
	if s.Union {
		doc = fmt.Sprintf("%s is the union %s (%s).", g.Go, g.C, s.Pos.Short())
	}
	if s.External {
		doc += "\nIt is declared outside the io_uring headers and used by them."
	}
	if s.Doc != "" {
		doc += "\n\n" + s.Doc
	}
	code := jen.Comment(doc).Line().Type().Id(g.Go).Struct(fields...).Line()
	recv := strings.ToLower(g.Go[:1])
	for _, a := range g.Access {
		e.accessor(code, g, recv, a, arch)
	}
	size := s.Layout[arch].Size
	code.Line().Commentf("Sizeof%s is the size of %s in bytes.", g.Go, g.C).Line().Const().Id("Sizeof" + g.Go).Op("=").Lit(int(size)).Line()
	return code
}

func (e *emitter) accessor(code *jen.Statement, g *goStruct, recv string, a *accessor, arch string) {
	off := a.Offset[arch]
	ptr := jen.Qual("unsafe", "Add").Call(jen.Qual("unsafe", "Pointer").Call(jen.Id(recv)), jen.Lit(int(off)))
	what := fmt.Sprintf("%s at offset %d", cDecl(a.Type, a.C), off)
	if a.Doc != "" {
		what += ": " + oneLine(a.Doc)
	}
	r := jen.Id(recv).Op("*").Id(g.Go)
	// The parameters must not shadow the receiver (struct NAPI's is n).
	n, v := "n", "v"
	if recv == n {
		n = "count"
	}
	if recv == v {
		v = "val"
	}
	switch {
	case a.Flex:
		elem := e.elemType(a.Type)
		code.Line().Commentf("%s returns the flexible array member %s as a slice of %s elements.\nThe memory past the struct must hold them, as the kernel lays them out.", a.Go, what, n).Line().
			Func().Params(r).Id(a.Go).Params(jen.Id(n).Int()).Index().Add(elem).Block(
			jen.Return(jen.Qual("unsafe", "Slice").Call(jen.Parens(jen.Op("*").Add(e.elemType(a.Type))).Call(ptr), jen.Id(n))),
		).Line()
	case a.Type.Kind == model.KindInt:
		t := e.goType(a.Type, "")
		code.Line().Commentf("%s returns the union member %s.", a.Go, what).Line().
			Func().Params(r).Id(a.Go).Params().Add(t).Block(
			jen.Return(jen.Op("*").Parens(jen.Op("*").Add(e.goType(a.Type, ""))).Call(ptr)),
		).Line()
		code.Line().Commentf("Set%s sets the union member %s.", a.Go, cDecl(a.Type, a.C)).Line().
			Func().Params(r).Id("Set" + a.Go).Params(jen.Id(v).Add(e.goType(a.Type, ""))).Block(
			jen.Op("*").Parens(jen.Op("*").Add(e.goType(a.Type, ""))).Call(ptr).Op("=").Id(v),
		).Line()
	default:
		t := e.goType(a.Type, a.Named)
		code.Line().Commentf("%s returns a pointer to the union member %s.", a.Go, what).Line().
			Func().Params(r).Id(a.Go).Params().Op("*").Add(t).Block(
			jen.Return(jen.Parens(jen.Op("*").Add(e.goType(a.Type, a.Named))).Call(ptr)),
		).Line()
	}
}

// assertions proves the Go layout equals C's at compile time: an index out
// of range fails when a value is too big, a negative constant when too small.
func (e *emitter) assertions(g *goStruct, arch string) jen.Code {
	zero := jen.Id(g.Go).Values()
	checks := []jen.Code{jen.Var().Id("x").Index(jen.Lit(1)).Struct()}
	checks = append(checks, jen.Id("_").Op("=").Id("x").Index(jen.Qual("unsafe", "Sizeof").Call(zero).Op("-").Lit(int(g.Src.Layout[arch].Size))))
	for _, f := range g.Fields {
		if f.Go == "_" {
			continue
		}
		checks = append(checks, jen.Id("_").Op("=").Id("x").Index(jen.Qual("unsafe", "Offsetof").Call(jen.Id(g.Go).Values().Dot(f.Go)).Op("-").Lit(int(f.Offset[arch]))))
	}
	return jen.Commentf("%s: %s.", g.Go, g.C).Line().Func().Id("_").Params().Block(checks...).Line()
}

// constants emits typed sets with String methods, then untyped constants,
// into constants.go; constants whose value differs between arches go to
// one file per group of arches that agree (constantsByArch).
func (e *emitter) constants(sets []*constSet, loose []*constant) {
	f := e.newFile()
	var perArch []*constant
	for _, s := range sets {
		doc := fmt.Sprintf("%s is a typed set of io_uring constants.", s.Go)
		if s.Doc != "" || s.Pos.File != "" {
			doc = fmt.Sprintf("%s holds the values of the C constants listed below (first at %s).", s.Go, s.Consts[0].Pos.Short())
		}
		if s.Doc != "" {
			doc += "\n\n" + s.Doc
		}
		f.Comment(doc)
		f.Type().Id(s.Go).Id(s.Underlying)
		var defs []jen.Code
		for _, c := range s.Consts {
			if c.PerArch != nil {
				perArch = append(perArch, c)
				continue
			}
			defs = append(defs, e.constDef(c, jen.Id(s.Go), c.Value))
		}
		if len(defs) > 0 {
			f.Const().Defs(defs...)
		}
		e.stringer(f, s)
	}
	var defs []jen.Code
	for _, c := range loose {
		if c.PerArch != nil {
			perArch = append(perArch, c)
			continue
		}
		defs = append(defs, e.constDef(c, nil, c.Value))
	}
	f.Comment("Untyped constants: macros and enumerators outside the typed sets.")
	f.Const().Defs(defs...)
	e.put("constants.go", f)
	e.constantsByArch(perArch)
}

// constantsByArch writes the constants whose value differs between arches
// into constants_archN.go, one file per group of arches with the same
// values, under a build constraint naming the group's GOARCHes; the largest
// group's file is constrained to every other GOARCH instead, so that arches
// outside the model (none when it has all of model.Archs) take the common
// encoding.
func (e *emitter) constantsByArch(consts []*constant) {
	if len(consts) == 0 {
		return
	}
	key := func(arch string) string {
		var b strings.Builder
		for _, c := range consts {
			fmt.Fprintf(&b, "%s ", c.PerArch[arch])
		}
		return b.String()
	}
	_, byKey := archGroups(e.m.Archs, key)
	var groups [][]string
	for _, g := range byKey {
		groups = append(groups, g)
	}
	rank := map[string]int{}
	for i, a := range e.m.Archs {
		rank[a] = i
	}
	sort.Slice(groups, func(i, j int) bool { return rank[groups[i][0]] < rank[groups[j][0]] })
	largest := 0
	for i, g := range groups {
		if len(g) > len(groups[largest]) {
			largest = i
		}
	}
	for i, g := range groups {
		tag := strings.Join(g, " || ")
		if i == largest {
			var others []string
			for j, o := range groups {
				if j != i {
					others = append(others, o...)
				}
			}
			tag = "!(" + strings.Join(others, " || ") + ")"
		}
		f := e.newFile()
		f.HeaderComment("//go:build " + tag)
		f.Comment(fmt.Sprintf("Constants whose value differs between GOARCHes, with their values on %s.", strings.Join(g, ", ")))
		var defs []jen.Code
		for _, c := range consts {
			var typ *jen.Statement
			if c.Set != nil {
				typ = jen.Id(c.Set.Go)
			}
			defs = append(defs, e.constDef(c, typ, c.PerArch[g[0]]))
		}
		f.Const().Defs(defs...)
		e.put(fmt.Sprintf("constants_arch%d.go", i), f)
	}
}

func (e *emitter) constDef(c *constant, typ *jen.Statement, v model.Value) jen.Code {
	doc := fmt.Sprintf("%s is %s (%s)", c.Go, c.C, c.Pos.Short())
	if c.Expr != "" {
		doc += ", defined as " + oneLine(c.Expr)
	}
	doc += "."
	if c.Doc != "" {
		doc += "\n" + c.Doc
	}
	var lit jen.Code
	switch {
	case v.Negative:
		lit = jen.Lit(int(v.Int64()))
	case c.PerArch != nil || c.Expr != "" && (strings.Contains(c.Expr, "<<") || strings.Contains(c.Expr, "0x") || strings.Contains(c.Expr, "~") || strings.Contains(c.Expr, "|")):
		lit = jen.Op("0x" + strconv.FormatUint(v.Bits, 16))
	default:
		lit = jen.Op(strconv.FormatUint(v.Bits, 10))
	}
	d := jen.Comment(doc).Line().Id(c.Go)
	if typ != nil {
		d = d.Add(typ)
	}
	return d.Op("=").Add(lit)
}

// stringer writes String: the C name for enum sets; for flag sets the C
// names of the single-bit flags joined by "|", then any remaining bits.
func (e *emitter) stringer(f *jen.File, s *constSet) {
	recv := strings.ToLower(s.Go[:1])
	if recv == "b" || recv == "x" {
		// The flag String's locals.
		recv = strings.ToLower(s.Go[:2])
	}
	if !s.Flags {
		var cases []jen.Code
		seen := map[uint64]bool{}
		for _, c := range s.Consts {
			if seen[c.Value.Bits] {
				continue
			}
			seen[c.Value.Bits] = true
			cases = append(cases, jen.Case(jen.Id(c.Go)).Block(jen.Return(jen.Lit(c.C))))
		}
		conv := jen.Qual("strconv", "FormatInt").Call(jen.Int64().Call(jen.Id(recv)), jen.Lit(10))
		if !strings.HasPrefix(s.Underlying, "int") {
			conv = jen.Qual("strconv", "FormatUint").Call(jen.Uint64().Call(jen.Id(recv)), jen.Lit(10))
		}
		f.Commentf("String returns the C name of the constant, or %s(N) for other values.", s.Go)
		f.Func().Params(jen.Id(recv).Id(s.Go)).Id("String").Params().String().Block(
			jen.Switch(jen.Id(recv)).Block(cases...),
			jen.Return(jen.Lit(s.Go+"(").Op("+").Add(conv).Op("+").Lit(")")),
		)
		return
	}
	table := goname.Go(s.Go)
	table = strings.ToLower(table[:1]) + table[1:] + "Names"
	var rows []jen.Code
	for _, c := range s.Consts {
		v := c.Value.Bits
		if v == 0 || v&(v-1) != 0 {
			continue
		}
		rows = append(rows, jen.Values(jen.Id(c.Go), jen.Lit(c.C)))
	}
	f.Var().Id(table).Op("=").Index().Struct(jen.Id("v").Id(s.Go), jen.Id("n").String()).Values(rows...)
	f.Commentf("String returns the C names of the set flags joined by \"|\", with any bits\nthat have no name in hex; \"0\" when no flag is set.")
	f.Func().Params(jen.Id(recv).Id(s.Go)).Id("String").Params().String().Block(
		jen.If(jen.Id(recv).Op("==").Lit(0)).Block(jen.Return(jen.Lit("0"))),
		jen.Var().Id("b").Qual("strings", "Builder"),
		jen.For(jen.List(jen.Id("_"), jen.Id("x")).Op(":=").Range().Id(table)).Block(
			jen.If(jen.Id(recv).Op("&").Id("x").Dot("v").Op("!=").Lit(0)).Block(
				jen.If(jen.Id("b").Dot("Len").Call().Op(">").Lit(0)).Block(jen.Id("b").Dot("WriteByte").Call(jen.LitRune('|'))),
				jen.Id("b").Dot("WriteString").Call(jen.Id("x").Dot("n")),
				jen.Id(recv).Op("&^=").Id("x").Dot("v"),
			),
		),
		jen.If(jen.Id(recv).Op("!=").Lit(0)).Block(
			jen.If(jen.Id("b").Dot("Len").Call().Op(">").Lit(0)).Block(jen.Id("b").Dot("WriteByte").Call(jen.LitRune('|'))),
			jen.Id("b").Dot("WriteString").Call(jen.Lit("0x").Op("+").Qual("strconv", "FormatUint").Call(jen.Uint64().Call(jen.Id(recv)), jen.Lit(16))),
		),
		jen.Return(jen.Id("b").Dot("String").Call()),
	)
}
