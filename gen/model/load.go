package model

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"modernc.org/cc/v4"
	"modernc.org/token"
)

// Scope decides which declarations of the parsed headers enter the model.
// Every declaration of the io_uring headers does; from other headers only
// what io_uring operations take as arguments and the io_uring headers do not
// declare themselves (struct futex_waitv and its FUTEX2_* flags). Structs
// referenced from in-scope structs (such as __kernel_timespec) are added as
// External.
type Scope struct {
	// Files are globs, relative to the headers dir, whose declarations are
	// all in scope.
	Files []string
	// Extra names single declarations of other headers: "file:struct tag" or
	// "file:PREFIX*" for macros.
	Extra []string
	// Include lists headers included before the others and out of scope:
	// what the scope's headers use without including it themselves
	// (linux/ioctl.h for the _IOWR of nvme_ioctl.h and ublk_cmd.h, which
	// C programs get from sys/ioctl.h).
	Include []string
}

// DefaultScope is the scope urgen generates from.
var DefaultScope = Scope{
	Files: []string{"linux/io_uring.h", "linux/io_uring/*.h"},
	Extra: []string{"linux/fs.h:IO_INTEGRITY_*", "linux/futex.h:struct futex_waitv", "linux/futex.h:FUTEX2_*", "linux/futex.h:FUTEX_WAITV_MAX"},
}

// Error is a failure to load headers, with the position of its cause where
// one is known.
type Error struct {
	Pos Pos
	Msg string
}

// Error is "file:line:col: message", or the message alone without a position.
func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Load parses the headers under dir for each GOARCH in archs (all of Archs
// when empty) and returns the merged model. The headers dir has the layout
// of /usr/include: linux/, asm-generic/ and <triplet>/asm.
func Load(dir string, archs []string, scope Scope) (*Model, error) {
	if len(archs) == 0 {
		archs = ArchNames()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	files, err := scope.files(dir)
	if err != nil {
		return nil, err
	}
	var merged *Model
	var done []string // the archs merged so far
	prescans := map[string]*scanned{}
	for _, name := range archs {
		arch, err := LookupArch(name)
		if err != nil {
			return nil, err
		}
		m, err := loadArch(dir, arch, files, scope, prescans)
		if err != nil {
			return nil, err
		}
		if merged == nil {
			merged = m
			done = append(done, name)
			continue
		}
		if err := merged.merge(m, name, done); err != nil {
			return nil, err
		}
		done = append(done, name)
	}
	merged.Archs = archs
	merged.Headers = readVersion(dir)
	return merged, nil
}

func (s Scope) files(dir string) ([]string, error) {
	var files []string
	for _, g := range s.Files {
		matches, err := filepath.Glob(filepath.Join(dir, g))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(dir, m)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	if len(files) == 0 {
		return nil, &Error{Msg: fmt.Sprintf("no headers under %s match %v", dir, s.Files)}
	}
	for _, g := range s.Files {
		if strings.ContainsAny(g, "*?[") {
			continue
		}
		// A named file (not a pattern) must be there, and not empty.
		fi, err := os.Stat(filepath.Join(dir, g))
		switch {
		case err != nil:
			return nil, &Error{Msg: fmt.Sprintf("%s: %v (the header family's scope names it)", g, err)}
		case fi.Size() == 0:
			return nil, &Error{Pos: Pos{File: g, Line: 1, Col: 1}, Msg: "the header is empty"}
		}
	}
	for i := len(s.Include) - 1; i >= 0; i-- {
		// A missing include leaves the headers that need it failing to
		// parse, with the position of what they miss.
		f := s.Include[i]
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil && !contains(files, f) {
			files = append([]string{f}, files...)
		}
	}
	for _, e := range s.Extra {
		f, _, _ := strings.Cut(e, ":")
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil && !contains(files, f) {
			files = append(files, f)
		}
	}
	return files, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return len(list)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// inScope reports whether a declaration named name (a struct tag as
// "struct tag", or a macro or enumerator name) from file enters the model.
func (s Scope) inScope(file, name string) bool {
	for _, g := range s.Files {
		if ok, _ := filepath.Match(g, file); ok {
			return true
		}
	}
	for _, e := range s.Extra {
		f, pat, _ := strings.Cut(e, ":")
		if f != file {
			continue
		}
		if strings.HasSuffix(pat, "*") && strings.HasPrefix(name, strings.TrimSuffix(pat, "*")) || pat == name {
			return true
		}
	}
	return false
}

func readVersion(dir string) HeaderSource {
	h := HeaderSource{Dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		return h
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "package":
			h.Package = v
		case "version":
			h.Version = v
		case "suite":
			h.Suite = v
		case "sha256":
			h.SHA256 = v
		}
	}
	return h
}

// loader builds the model for one arch.
type loader struct {
	dir    string
	arch   string
	scope  Scope
	m      *Model
	docs   *docs
	refs   []string            // struct tags referenced, in order of first use
	refPos map[string]Pos      // where each tag in refs is first referenced
	byTag  map[string]cc.Type  // every tagged struct/union definition seen
	posTag map[string]cc.Token // and its tag token
	// layouts holds the layout of every struct converted so far, by tag.
	layouts map[string]Layout
	guard   *guard
}

func loadArch(dir string, arch Arch, files []string, scope Scope, prescans map[string]*scanned) (*Model, error) {
	abi, err := arch.abi()
	if err != nil {
		return nil, err
	}
	inc := []string{dir, filepath.Join(dir, arch.Triplet)}
	if _, err := os.Stat(inc[1]); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("arch %s: no %s/asm in %s", arch.GOARCH, arch.Triplet, dir)}
	}
	cfg := &cc.Config{
		ABI:             abi,
		Predefined:      arch.predefined(),
		IncludePaths:    append([]string{""}, inc...),
		SysIncludePaths: inc,
		EvalAllMacros:   true,
		Header:          true,
		ExpansionLimit:  expansionLimit,
	}
	var src strings.Builder
	for _, f := range files {
		fmt.Fprintf(&src, "#include <%s>\n", f)
	}
	srcs := []cc.Source{
		{Name: "<predefined>", Value: cfg.Predefined},
		{Name: "<builtin>", Value: cc.Builtin},
		{Name: "<urgen>", Value: src.String()},
	}
	g := newGuard(dir, scope, arch.LP64, prescans)
	ast, err := g.translate(cfg, srcs)
	if errs := g.errors(); len(errs) > 0 {
		return nil, guardError(dir, arch.GOARCH, errs)
	}
	if err != nil {
		if e := g.explainEnd(err); e != nil {
			return nil, &Error{Pos: e.Pos, Msg: fmt.Sprintf("%s (arch %s)%s", e.Msg, arch.GOARCH, excerpt(dir, e.Pos))}
		}
		return nil, &Error{Msg: fmt.Sprintf("arch %s: %s", arch.GOARCH, relErr(err, dir))}
	}
	l := &loader{dir: dir, arch: arch.GOARCH, scope: scope, m: &Model{Files: files}, docs: newDocs(dir), guard: g,
		byTag: map[string]cc.Type{}, posTag: map[string]cc.Token{}, refPos: map[string]Pos{},
		layouts: map[string]Layout{}}
	if err := l.declarations(ast); err != nil {
		return nil, err
	}
	// Source order within a file, files in scope order: io_uring.h first
	// even though it includes zcrx.h before its own declarations.
	rank := map[string]int{}
	for i, f := range files {
		rank[f] = i
	}
	sort.SliceStable(l.m.Structs, func(i, j int) bool {
		a, b := l.m.Structs[i].Pos, l.m.Structs[j].Pos
		if a.File != b.File {
			return rank[a.File] < rank[b.File]
		}
		return a.Line < b.Line
	})
	sort.SliceStable(l.m.Enums, func(i, j int) bool {
		a, b := l.m.Enums[i].Pos, l.m.Enums[j].Pos
		if a.File != b.File {
			return rank[a.File] < rank[b.File]
		}
		return a.Line < b.Line
	})
	if err := l.external(); err != nil {
		return nil, err
	}
	l.macros(ast)
	return l.m, nil
}

// relErr shortens absolute header paths in cc's messages to dir-relative
// ones, keeping file:line:col, and quotes the offending source line with a
// caret under the column, since cc's messages alone ("unexpected
// identifier") do not say which token it was. A position past the end of
// a file (the guard's closing marker) becomes the end of the file. Lines
// about the sentinel or with no position are left out when another line
// says where, and cc's debugging traces always are.
func relErr(err error, dir string) string {
	var out, unplaced []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, ": TRC ") {
			continue
		}
		m := ccPos.FindStringSubmatch(line)
		if m == nil {
			unplaced = append(unplaced, line)
			continue
		}
		ln, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		file := strings.TrimPrefix(m[1], dir+string(filepath.Separator))
		if b, err := os.ReadFile(filepath.Join(dir, file)); err == nil {
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if ln > len(lines) {
				ln, col = len(lines), len(lines[len(lines)-1])+1
			}
		}
		p := Pos{File: filepath.ToSlash(file), Line: ln, Col: col}
		out = append(out, p.String()+": "+line[len(m[0]):]+excerpt(dir, p))
	}
	if len(out) == 0 {
		out = unplaced
	}
	return strings.Join(out, "\n")
}

var ccPos = regexp.MustCompile(`^([^:\s]+\.h):(\d+):(\d+): `)

func (l *loader) position(p token.Position) Pos {
	f := p.Filename
	if rel, err := filepath.Rel(l.dir, f); err == nil && !strings.HasPrefix(rel, "..") {
		f = filepath.ToSlash(rel)
	}
	return Pos{File: f, Line: p.Line, Col: p.Column}
}

// declarations walks the translation unit in source order and collects the
// in-scope struct, union and enum definitions.
func (l *loader) declarations(ast *cc.AST) error {
	for tu := ast.TranslationUnit; tu != nil; tu = tu.TranslationUnit {
		ed := tu.ExternalDeclaration
		if ed != nil && ed.Case == cc.ExternalDeclarationFuncDef && ed.FunctionDefinition != nil {
			// cc/v4 takes "A{}" for a function definition; gcc does not.
			if d := ed.FunctionDefinition.Declarator; d == nil || d.Type() == nil || d.Type().Kind() != cc.Function {
				p := l.position(ed.Position())
				return &Error{Pos: p, Msg: "a body { } after a declarator that is no function"}
			}
		}
		if ed == nil || ed.Case != cc.ExternalDeclarationDecl || ed.Declaration == nil {
			continue
		}
		for ds := ed.Declaration.DeclarationSpecifiers; ds != nil; ds = ds.DeclarationSpecifiers {
			ts := ds.TypeSpecifier
			if ts == nil {
				continue
			}
			switch {
			case ts.StructOrUnionSpecifier != nil && ts.StructOrUnionSpecifier.Case == cc.StructOrUnionSpecifierDef:
				sus := ts.StructOrUnionSpecifier
				tag := sus.Token.SrcStr()
				if tag == "" {
					// Only a tag names a struct across declarations; a
					// typedef of an anonymous one is left out, and said so.
					p := l.position(sus.Position())
					if l.scope.inScope(p.File, "") {
						l.m.Unsupported = append(l.m.Unsupported, Unsupported{Name: declName(ed.Declaration), Pos: p,
							Reason: "unsupported construct: a declaration of an anonymous struct or union outside a struct; give it a tag"})
					}
					continue
				}
				l.byTag[tag] = sus.Type()
				l.posTag[tag] = sus.Token
				p := l.position(sus.Token.Position())
				if !l.scope.inScope(p.File, "struct "+tag) {
					continue
				}
				s, err := l.structOf(sus.Type(), tag, p)
				if err != nil {
					return err
				}
				l.m.Structs = append(l.m.Structs, s)
			case ts.EnumSpecifier != nil && ts.EnumSpecifier.EnumeratorList != nil:
				es := ts.EnumSpecifier
				p := l.position(es.Position())
				if !l.scope.inScope(p.File, "") {
					continue
				}
				e := &Enum{C: es.Token2.SrcStr(), Pos: p, Doc: l.docs.leading(p)}
				if e.C == "" && es.Token.SrcStr() != "enum" {
					e.C = es.Token.SrcStr()
				}
				for list := es.EnumeratorList; list != nil; list = list.EnumeratorList {
					en := list.Enumerator
					v, ok := value(en.Value())
					ep := l.position(en.Position())
					if !ok {
						l.m.Unsupported = append(l.m.Unsupported, Unsupported{Name: en.Token.SrcStr(), Pos: ep, Reason: "enumerator without a constant integer value"})
						continue
					}
					e.Values = append(e.Values, &Enumerator{
						Name: en.Token.SrcStr(), Explicit: en.Case == cc.EnumeratorExpr, Value: v,
						Pos: ep, Doc: l.docs.around(ep),
					})
				}
				l.m.Enums = append(l.m.Enums, e)
			}
		}
	}
	return nil
}

// declName is the first name a declaration declares, or "<anonymous>".
func declName(d *cc.Declaration) string {
	if l := d.InitDeclaratorList; l != nil && l.InitDeclarator != nil && l.InitDeclarator.Declarator != nil {
		return l.InitDeclarator.Declarator.Name()
	}
	return "<anonymous>"
}

// external adds the out-of-scope structs that in-scope ones reference,
// transitively, in order of first reference.
func (l *loader) external() error {
	have := map[string]bool{}
	for _, s := range l.m.Structs {
		have[s.C] = true
	}
	for i := 0; i < len(l.refs); i++ {
		tag := l.refs[i]
		if have[tag] {
			continue
		}
		have[tag] = true
		t, ok := l.byTag[tag]
		if !ok {
			return &Error{Pos: l.refPos[tag], Msg: fmt.Sprintf("struct %s is referenced but never defined", tag)}
		}
		tok := l.posTag[tag]
		p := l.position(tok.Position())
		s, err := l.structOf(t, tag, p)
		if err != nil {
			return err
		}
		s.External = !l.scope.inScope(p.File, "struct "+tag)
		l.m.Structs = append(l.m.Structs, s)
	}
	return nil
}

// structOf converts a cc struct or union type.
func (l *loader) structOf(t cc.Type, tag string, p Pos) (*Struct, error) {
	s := &Struct{C: tag, Pos: p, Fields: []*Field{}, Layout: map[string]Layout{l.arch: {Size: t.Size(), Align: int64(t.Align())}}}
	if tag != "" {
		s.Doc = l.docs.leading(p)
	}
	type fielder interface {
		NumFields() int
		FieldByIndex(int) *cc.Field
	}
	var ft fielder
	switch x := t.(type) {
	case *cc.StructType:
		ft = x
	case *cc.UnionType:
		ft, s.Union = x, true
	default:
		return nil, &Error{Pos: p, Msg: fmt.Sprintf("%s is not a struct or union", tag)}
	}
	if t.IsIncomplete() && t.Size() < 0 {
		return nil, &Error{Pos: p, Msg: fmt.Sprintf("struct %s is incomplete", tag)}
	}
	if a := t.Attributes(); a != nil && a.IsAttrSet("packed") {
		s.Packed = true
	}
	var ccAligns []int64 // each member type's alignment as cc computes it
	relayout := s.Packed
	for i := 0; i < ft.NumFields(); i++ {
		f := ft.FieldByIndex(i)
		fp, anon := p, true
		if d := f.Declarator(); d != nil {
			fp, anon = l.position(d.Position()), false
		}
		where := fmt.Sprintf("%s.%s", orAnon(tag), orAnon(f.Name()))
		if f.IsBitfield() {
			return nil, &Error{Pos: fp, Msg: "unsupported construct: bit-field " + where}
		}
		if a, ok := f.Type().(*cc.ArrayType); ok && a.SizeExpression() == nil && a.Len() < 0 {
			switch {
			case s.Union:
				return nil, &Error{Pos: fp, Msg: "flexible array member in union: " + where + " (wrap it in a struct, as __DECLARE_FLEX_ARRAY does)"}
			case i != ft.NumFields()-1:
				return nil, &Error{Pos: fp, Msg: "flexible array member not at end of struct: " + where}
			}
		}
		typ, err := l.typeOf(f.Type(), fp, where, f.IsFlexibleArrayMember())
		if err != nil {
			return nil, err
		}
		if anon && typ.Inline == nil {
			// "__u8;" in a struct: cc/v4 lays out a member, GCC
			// ignores the declaration (found by FuzzLoad).
			return nil, &Error{Pos: fp, Msg: fmt.Sprintf("a member declaration of %s declares nothing (no member name): %s", orAnon(tag), f.Type())}
		}
		ccAligns = append(ccAligns, int64(f.Type().Align()))
		if sz, al, err := l.typeLayout(typ, int64(f.Type().Align())); err != nil {
			return nil, err
		} else if sz != f.Type().Size() || al != int64(f.Type().Align()) {
			relayout = true // a member contains a packed struct cc laid out unpacked
		}
		field := &Field{Name: f.Name(), Type: typ, Pos: fp, Offset: map[string]int64{l.arch: f.Offset()}}
		if anon {
			// An anonymous member has no declarator: it sits where its
			// first member does, and its members carry the comments.
			if typ.Inline != nil && len(typ.Inline.Fields) > 0 {
				field.Pos = typ.Inline.Fields[0].Pos
			}
		} else {
			field.Doc = l.docs.around(fp)
		}
		s.Fields = append(s.Fields, field)
	}
	if relayout {
		if err := l.relayout(s, ccAligns); err != nil {
			return nil, err
		}
	}
	if tag != "" {
		l.layouts[tag] = s.Layout[l.arch]
	}
	return s, nil
}

// relayout recomputes the layout of s by the System V rules GCC follows,
// because cc/v4 ignores __attribute__((packed)): members of a packed struct
// or union get alignment 1, and a struct holding a packed member uses that
// member's true size and alignment. ccAligns are the members' alignments as
// cc computed them, right for every member type that holds nothing packed
// (they include alignment attributes on the member).
func (l *loader) relayout(s *Struct, ccAligns []int64) error {
	var off, size, align int64 = 0, 0, 1
	for i, f := range s.Fields {
		sz, al, err := l.typeLayout(f.Type, ccAligns[i])
		if err != nil {
			return err
		}
		if s.Packed {
			al = 1
		}
		align = max(align, al)
		if s.Union {
			f.Offset[l.arch] = 0
			size = max(size, sz)
			continue
		}
		off = alignUp(off, al)
		f.Offset[l.arch] = off
		off += sz
		size = off
	}
	s.Layout[l.arch] = Layout{Size: alignUp(size, align), Align: align}
	return nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// typeLayout is the size and alignment of a member type as the model lays
// it out; ccAlign is cc's alignment of it, used for integers (it knows the
// arch and attributes such as __aligned_u64).
func (l *loader) typeLayout(t *Type, ccAlign int64) (size, align int64, err error) {
	switch t.Kind {
	case KindInt:
		return t.Size, ccAlign, nil
	case KindArray:
		es, ea, err := l.typeLayout(t.Elem, ccAlign)
		if err != nil || t.Flexible {
			return 0, ea, err
		}
		return es * t.Len, ea, nil
	case KindInline:
		lay := t.Inline.Layout[l.arch]
		return lay.Size, lay.Align, nil
	case KindStruct:
		if lay, ok := l.layouts[t.Ref]; ok {
			return lay.Size, lay.Align, nil
		}
		ct, ok := l.byTag[t.Ref]
		if !ok {
			return 0, 0, &Error{Msg: fmt.Sprintf("struct %s is referenced but never defined", t.Ref)}
		}
		// Not converted yet (declared outside the scope): convert it for
		// its layout only.
		rs, err := l.structOf(ct, t.Ref, l.position(l.posTag[t.Ref].Position()))
		if err != nil {
			return 0, 0, err
		}
		lay := rs.Layout[l.arch]
		return lay.Size, lay.Align, nil
	}
	return 0, 0, fmt.Errorf("model: unknown kind %v", t.Kind)
}

// isUint64 reports whether v is an unsigned constant of at least min.
func isUint64(v cc.Value, min uint64) bool {
	u, ok := v.(cc.UInt64Value)
	return ok && uint64(u) >= min
}

// overflows reports whether a constant's value does not fit its type: an
// int shift or product that C leaves undefined and gcc does not take for a
// constant, where cc/v4 keeps the wide value.
func overflows(e cc.ExpressionNode) bool {
	t := e.Type()
	if t == nil || !cc.IsIntegerType(t) || t.Size() >= 8 || t.Size() <= 0 {
		return false
	}
	bits := uint(t.Size() * 8)
	switch v := e.Value().(type) {
	case cc.Int64Value:
		if cc.IsSignedInteger(t) {
			return int64(v) < -(1<<(bits-1)) || int64(v) >= 1<<(bits-1)
		}
		return v < 0 || uint64(v) >= 1<<bits
	case cc.UInt64Value:
		if cc.IsSignedInteger(t) {
			return uint64(v) >= 1<<(bits-1)
		}
		return uint64(v) >= 1<<bits
	}
	return false
}

// badShift reports whether a constant expression shifts by a negative
// count or one not less than the width of the promoted left operand: C
// leaves it undefined and gcc does not take it for a constant, where
// cc/v4 computes a value (0 for 1<<40 in int).
func badShift(n cc.Node) bool {
	if s, ok := n.(*cc.ShiftExpression); ok && s.Case != cc.ShiftExpressionAdd {
		if t := s.ShiftExpression.Type(); t != nil && cc.IsIntegerType(t) {
			width := cc.IntegerPromotion(t).Size() * 8
			switch v := s.AdditiveExpression.Value().(type) {
			case cc.Int64Value:
				if v < 0 || int64(v) >= width {
					return true
				}
			case cc.UInt64Value:
				if uint64(v) >= uint64(width) {
					return true
				}
			}
		}
	}
	v := reflect.ValueOf(n)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	v = v.Elem()
	if v.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.CanInterface() {
			if e, ok := f.Interface().(cc.ExpressionNode); ok && e != nil && badShift(e) {
				return true
			}
		}
	}
	return false
}

// maxObject is the largest object size on the loader's arch, as gcc has
// it: PTRDIFF_MAX.
func (l *loader) maxObject() int64 {
	if a, _ := LookupArch(l.arch); a.LP64 {
		return 1<<63 - 1
	}
	return 1<<31 - 1
}

func orAnon(s string) string {
	if s == "" {
		return "<anonymous>"
	}
	return s
}

func (l *loader) typeOf(t cc.Type, p Pos, where string, flexible bool) (*Type, error) {
	name := t.String()
	if td := t.Typedef(); td != nil {
		name = td.Name()
	}
	switch x := t.(type) {
	case *cc.PredefinedType:
		if !cc.IsIntegerType(t) {
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("unsupported construct: %s has non-integer type %s", where, name)}
		}
		if t.Size() > 8 || t.Kind() == cc.Int128 || t.Kind() == cc.UInt128 {
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("unsupported construct: %s has the %d-bit integer type %s, which Go has not", where, 8*t.Size(), name)}
		}
		switch t.Kind() {
		case cc.Long, cc.ULong:
			// long changes size across arches: no fixed Go type fits.
			if td := t.Typedef(); td == nil || !strings.HasPrefix(td.Name(), "__") {
				return nil, &Error{Pos: p, Msg: fmt.Sprintf("unsupported construct: %s has arch-dependent type %s", where, name)}
			}
		}
		return &Type{Kind: KindInt, C: name, Size: t.Size(), Signed: cc.IsSignedInteger(t), BigEndian: strings.HasPrefix(name, "__be")}, nil
	case *cc.EnumType:
		return &Type{Kind: KindInt, C: name, Size: t.Size(), Signed: cc.IsSignedInteger(x.UnderlyingType())}, nil
	case *cc.ArrayType:
		elem, err := l.typeOf(x.Elem(), p, where, false)
		if err != nil {
			return nil, err
		}
		n := x.Len()
		size := x.SizeExpression()
		switch {
		case size == nil && n < 0 && !flexible:
			// T x[] where cc/v4 does not take it for a flexible array
			// member; the struct or union checks say why.
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("array %s has no length", where)}
		case size != nil && n < 0 && isUint64(size.Value(), 1<<63):
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("array %s of %d elements is larger than an object can be on %s (%d bytes)", where, uint64(size.Value().(cc.UInt64Value)), l.arch, l.maxObject())}
		case size != nil && (n < 0 || overflows(size) || badShift(size)):
			// gcc: "variably modified at file scope" (as for [1<<40],
			// whose int shift overflows).
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("the length of array %s is not an integer constant", where)}
		case n < 0:
			n = 0
		}
		if es := x.Elem().Size(); es > 0 && n > l.maxObject()/es {
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("array %s of %d elements of %d bytes is larger than an object can be on %s (%d bytes)", where, n, es, l.arch, l.maxObject())}
		}
		c := fmt.Sprintf("%s[%d]", elem.C, n)
		if flexible {
			c = elem.C + "[]"
		}
		return &Type{Kind: KindArray, C: c, Elem: elem, Len: n, Flexible: flexible || n == 0}, nil
	case *cc.StructType, *cc.UnionType:
		_, union := t.(*cc.UnionType)
		var tag string
		var tok cc.Token
		switch y := t.(type) {
		case *cc.StructType:
			tok = y.Tag()
		case *cc.UnionType:
			tok = y.Tag()
		}
		tag = tok.SrcStr()
		if _, ok := l.byTag[tag]; !ok && tag != "" && !t.IsIncomplete() {
			// Defined inside another struct: its tag is at file scope in
			// C all the same.
			l.byTag[tag], l.posTag[tag] = t, tok
		}
		if tag != "" {
			if !contains(l.refs, tag) {
				l.refs = append(l.refs, tag)
				l.refPos[tag] = p
			}
			kw := "struct "
			if union {
				kw = "union "
			}
			return &Type{Kind: KindStruct, C: kw + tag, Ref: tag, Union: union}, nil
		}
		in, err := l.structOf(t, "", p)
		if err != nil {
			return nil, err
		}
		c := "struct"
		if union {
			c = "union"
		}
		return &Type{Kind: KindInline, C: c, Inline: in, Union: union}, nil
	default:
		return nil, &Error{Pos: p, Msg: fmt.Sprintf("unsupported construct: %s has type %s", where, name)}
	}
}

// macros collects in-scope object-like macros with integer values. Macros
// with a replacement list that does not evaluate to an integer are listed
// as unsupported; empty ones (include guards, feature switches) are not
// constants and are skipped. cc evaluates each as a C expression on the
// arch's ABI, sizeof included (the ioctl numbers _IOWR('N', 0x80, struct
// nvme_uring_cmd)).
func (l *loader) macros(ast *cc.AST) {
	for name, m := range ast.Macros {
		if m.IsFnLike {
			continue
		}
		p := l.position(m.Position())
		var expr []string
		for _, t := range m.ReplacementList() {
			expr = append(expr, t.SrcStr())
		}
		v, ok := value(m.Value())
		ct := ""
		if t := m.Type(); t != nil {
			ct = t.String()
		}
		if d := l.guard.neutral[name]; d != nil && p.File == neutralName {
			// Kept from cc/v4 and evaluated by the guard (cc/v4 does not
			// evaluate a macro that was ever #undef'd).
			p, expr = d.pos, nil
			for _, t := range d.body {
				expr = append(expr, t.text)
			}
			cv := l.guard.values[name]
			v, ok, ct = Value{Bits: cv.bits, Negative: l.guard.eval.negative(cv)}, true, ckindNames[cv.kind]
		}
		if !l.scope.inScope(p.File, name) {
			continue
		}
		if len(expr) == 0 {
			continue
		}
		if !ok && !m.IsConst {
			// Redefined with another body (or #undef'd and defined
			// again): cc/v4 evaluates no such macro; gcc warns and uses
			// the last definition, and so does the guard's evaluator.
			prev := ""
			for _, d := range l.guard.cost.defs[name] {
				if d.pos != p && d.pos.File != "" {
					prev = d.pos.String()
				}
			}
			if cv, err := l.guard.eval.tokens(strings.Join(expr, " ")); err == nil {
				v, ok, ct = Value{Bits: cv.bits, Negative: l.guard.eval.negative(cv)}, true, ckindNames[cv.kind]
				why := "macro redefined; the last definition is used, as by gcc"
				if prev != "" {
					why = "macro redefined (an earlier definition is at " + prev + "); the last definition is used, as by gcc"
				}
				l.m.Warnings = append(l.m.Warnings, Unsupported{Name: name, Pos: p, Reason: why})
			}
		}
		if !ok {
			l.m.Unsupported = append(l.m.Unsupported, Unsupported{Name: name, Pos: p, Reason: "macro does not evaluate to an integer constant: " + strings.Join(expr, " ")})
			continue
		}
		l.m.Macros = append(l.m.Macros, &Macro{Name: name, Value: v, CType: ct, Expr: CommentText(strings.Join(expr, " ")), Pos: p, Doc: l.docs.around(p)})
	}
	sort.Slice(l.m.Macros, func(i, j int) bool { return l.less(l.m.Macros[i].Pos, l.m.Macros[j].Pos) })
	sort.Slice(l.m.Unsupported, func(i, j int) bool { return l.less(l.m.Unsupported[i].Pos, l.m.Unsupported[j].Pos) })
	sort.Slice(l.m.Warnings, func(i, j int) bool { return l.less(l.m.Warnings[i].Pos, l.m.Warnings[j].Pos) })
}

// less orders positions by scope file order, then line and column.
func (l *loader) less(a, b Pos) bool {
	if a.File != b.File {
		return indexOf(l.m.Files, a.File) < indexOf(l.m.Files, b.File)
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}

func value(v cc.Value) (Value, bool) {
	switch x := v.(type) {
	case cc.Int64Value:
		return Value{Bits: uint64(x), Negative: x < 0}, true
	case cc.UInt64Value:
		return Value{Bits: uint64(x)}, true
	}
	return Value{}, false
}

// merge folds the per-arch layout and macro values of o into m, checking
// that both describe the same declarations; done lists the archs already
// in m.
func (m *Model) merge(o *Model, arch string, done []string) error {
	if err := sameNames(m.Structs, o.Structs, func(s *Struct) (string, Pos) { return s.CName(), s.Pos }, arch, done); err != nil {
		return err
	}
	for i, s := range m.Structs {
		if err := s.merge(o.Structs[i], arch); err != nil {
			return err
		}
	}
	if err := sameNames(m.Macros, o.Macros, func(c *Macro) (string, Pos) { return "macro " + c.Name, c.Pos }, arch, done); err != nil {
		return err
	}
	for i, c := range m.Macros {
		oc := o.Macros[i]
		if oc.Name != c.Name {
			return &Error{Pos: c.Pos, Msg: fmt.Sprintf("macro %s on %s is %s elsewhere", oc.Name, arch, c.Name)}
		}
		if oc.Value == c.Value && c.PerArch == nil {
			continue
		}
		if c.PerArch == nil {
			c.PerArch = map[string]Value{}
			for _, a := range done {
				c.PerArch[a] = c.Value
			}
		}
		c.PerArch[arch] = oc.Value
	}
	return nil
}

// sameNames fails, naming the first declaration and where it is, unless
// a (the archs in done) and b (arch) declare the same names in the same
// order: a declaration on some GOARCHes only cannot have one Go type.
func sameNames[T any](a, b []T, name func(T) (string, Pos), arch string, done []string) error {
	for i := 0; i < len(a) || i < len(b); i++ {
		var na, nb string
		var pa, pb Pos
		if i < len(a) {
			na, pa = name(a[i])
		}
		if i < len(b) {
			nb, pb = name(b[i])
		}
		if na == nb {
			continue
		}
		inB := false
		for _, x := range b {
			if n, _ := name(x); n == na {
				inB = true
			}
		}
		if na != "" && !inB {
			return &Error{Pos: pa, Msg: fmt.Sprintf("%s is declared on %s but not on %s: a declaration on some GOARCHes only is not supported", na, strings.Join(done, ","), arch)}
		}
		return &Error{Pos: pb, Msg: fmt.Sprintf("%s is declared on %s but not on %s (or in another order): a declaration on some GOARCHes only is not supported", nb, arch, strings.Join(done, ","))}
	}
	return nil
}

func (s *Struct) merge(o *Struct, arch string) error {
	if s.C != o.C || len(s.Fields) != len(o.Fields) {
		return &Error{Pos: s.Pos, Msg: fmt.Sprintf("struct %s has different members on %s", orAnon(s.C), arch)}
	}
	s.Layout[arch] = o.Layout[arch]
	for i, f := range s.Fields {
		of := o.Fields[i]
		if f.Name != of.Name || f.Type.C != of.Type.C || f.Type.Kind != of.Type.Kind || f.Type.Size != of.Type.Size {
			return &Error{Pos: f.Pos, Msg: fmt.Sprintf("member %s.%s has a different type on %s (%s vs %s)", orAnon(s.C), orAnon(f.Name), arch, of.Type.C, f.Type.C)}
		}
		f.Offset[arch] = of.Offset[arch]
		if err := f.Type.merge(of.Type, arch); err != nil {
			return err
		}
	}
	return nil
}

func (t *Type) merge(o *Type, arch string) error {
	switch t.Kind {
	case KindInline:
		return t.Inline.merge(o.Inline, arch)
	case KindArray:
		return t.Elem.merge(o.Elem, arch)
	}
	return nil
}

// docs extracts the comments next to declarations from header files.
type docs struct {
	dir   string
	files map[string][]string
	// trail memoises trailing by line: every member declared on one
	// line asks for it, and a line can hold thousands.
	trail map[Pos]string
}

func newDocs(dir string) *docs {
	return &docs{dir: dir, files: map[string][]string{}, trail: map[Pos]string{}}
}

func (d *docs) lines(file string) []string {
	if l, ok := d.files[file]; ok {
		return l
	}
	var lines []string
	if b, err := os.ReadFile(filepath.Join(d.dir, file)); err == nil {
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	d.files[file] = lines
	return lines
}

// around returns the trailing comment on the declaration's line, or else
// the comment block directly above it.
func (d *docs) around(p Pos) string {
	if t := d.trailing(p); t != "" {
		return t
	}
	return d.leading(p)
}

func (d *docs) trailing(p Pos) string {
	key := Pos{File: p.File, Line: p.Line}
	if t, ok := d.trail[key]; ok {
		return t
	}
	t := d.trailingOf(p)
	d.trail[key] = t
	return t
}

func (d *docs) trailingOf(p Pos) string {
	lines := d.lines(p.File)
	if p.Line < 1 || p.Line > len(lines) {
		return ""
	}
	line := lines[p.Line-1]
	if i := strings.Index(line, "/*"); i >= 0 && i > strings.IndexFunc(line, notSpace) {
		return cleanComment(line[i:])
	}
	if i := strings.Index(line, "//"); i >= 0 && i > strings.IndexFunc(line, notSpace) {
		return cleanComment(line[i:])
	}
	return ""
}

func notSpace(r rune) bool { return r != ' ' && r != '\t' }

// leading returns the comment block that ends on the line above p.
func (d *docs) leading(p Pos) string {
	lines := d.lines(p.File)
	end := p.Line - 2
	if end < 0 || end >= len(lines) {
		return ""
	}
	t := strings.TrimSpace(lines[end])
	if strings.HasPrefix(t, "//") {
		start := end
		for start > 0 && strings.HasPrefix(strings.TrimSpace(lines[start-1]), "//") {
			start--
		}
		return cleanComment(strings.Join(lines[start:end+1], "\n"))
	}
	if !strings.HasSuffix(t, "*/") {
		return ""
	}
	start := end
	for start >= 0 && !strings.Contains(lines[start], "/*") {
		start--
	}
	// Only a comment on lines of its own: not the tail of a declaration.
	if start < 0 || !strings.HasPrefix(strings.TrimSpace(lines[start]), "/*") {
		return ""
	}
	return cleanComment(strings.Join(lines[start:end+1], "\n"))
}

func cleanComment(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(line, "//")
		line = strings.TrimPrefix(line, "/*")
		line = strings.TrimSuffix(line, "*/")
		line = strings.TrimPrefix(strings.TrimSpace(line), "*")
		line = strings.TrimSpace(line)
		if line == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return CommentText(strings.Join(out, "\n"))
}
