package emit

import (
	"errors"
	"fmt"
	"go/token"

	"github.com/urgen/urgen/gen/goname"
	"github.com/urgen/urgen/gen/model"
)

// goStruct is the Go shape of a C struct: which members are Go fields
// (the same on every arch) and which are reached through accessors.
type goStruct struct {
	Go     string
	C      string // "struct io_uring_sqe", or "io_uring_bpf_ctx.socket" for an inline type
	Src    *model.Struct
	Fields []*goField
	Access []*accessor
	Nested []*goStruct // named inline members' types
}

// goField is a Go struct field: a C member, a union's storage or a blank
// union storage when no member can stand for the whole union.
type goField struct {
	Go     string // "_" for blank storage
	C      string // C member path, for docs
	Type   *model.Type
	Named  string // Go type for a named inline member or a typed set
	Offset map[string]int64
	Doc    string
	Union  []string // the union's other members, for the doc comment
	Blank  *blank
}

// blank is storage for a union none of whose members can hold it.
type blank struct {
	Size, Align int64
}

// accessor reaches a member that is not a field: a union member other than
// the storage, or a flexible array past the end of the struct.
type accessor struct {
	Go     string
	C      string
	Type   *model.Type
	Named  string // Go type of a named inline member
	Offset map[string]int64
	Doc    string
	Flex   bool
}

// shaper builds goStructs and computes their Go layout per arch.
type shaper struct {
	m     *model.Model
	namer goname.Namer
	cfg   *Config
	byTag map[string]*goStruct
	byGo  map[string]*goStruct
	// setSizes is the size of each typed set's integer type, by Go name.
	setSizes map[string]int64
	aligns   map[string]map[string]int64 // Go type -> arch -> Go alignment
	errs     []error
}

func newShaper(m *model.Model, cfg *Config, namer goname.Namer) *shaper {
	return &shaper{m: m, namer: namer, cfg: cfg, byTag: map[string]*goStruct{}, byGo: map[string]*goStruct{}, aligns: map[string]map[string]int64{}}
}

func (sh *shaper) fail(p model.Pos, format string, args ...any) {
	sh.errs = append(sh.errs, &model.Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// shapeAll shapes every struct of the model, in model order.
func (sh *shaper) shapeAll() []*goStruct {
	var out []*goStruct
	for _, s := range sh.m.Structs {
		g := sh.shape(s, sh.namer.Go(s.C), s.CName(), s.C)
		sh.byTag[s.C] = g
		out = append(out, g)
	}
	return out
}

// maxMembers is the most members urgen makes a Go struct of (the io_uring
// headers' largest has 55). Each member brings an accessor, layout
// assertions and a registry entry, and go/printer, go/types and the Go
// compiler take time faster than linear in a struct's fields: a struct of
// 100,000 members took over 40 s of CPU to generate, against 0.2 s for
// gcc to compile.
const maxMembers = 4096

// checkMembers fails on a struct with more than maxMembers members,
// before anything is rendered.
func (sh *shaper) checkMembers(structs []*goStruct) error {
	var walk func(g *goStruct, pos model.Pos)
	walk = func(g *goStruct, pos model.Pos) {
		if g.Src != nil {
			pos = g.Src.Pos
		}
		if n := len(g.Fields) + len(g.Access); n > maxMembers {
			sh.fail(pos, "unsupported construct: %s has %d members, more than the %d urgen generates a Go type of (the Go toolchain's time grows faster than linearly in a struct's fields)", g.C, n, maxMembers)
		}
		for _, in := range g.Nested {
			walk(in, pos)
		}
	}
	for _, g := range structs {
		walk(g, g.Src.Pos)
	}
	if len(sh.errs) == 0 {
		return nil
	}
	return errors.Join(sh.errs...)
}

func zeroOffsets(archs []string) map[string]int64 {
	r := map[string]int64{}
	for _, a := range archs {
		r[a] = 0
	}
	return r
}

func addOffsets(a, b map[string]int64) map[string]int64 {
	r := map[string]int64{}
	for k, v := range a {
		r[k] = v + b[k]
	}
	return r
}

func (sh *shaper) shape(s *model.Struct, goName, cName, tag string) *goStruct {
	g := &goStruct{Go: goName, C: cName, Src: s}
	if prev, ok := sh.byGo[goName]; ok {
		sh.fail(s.Pos, "Go name %s of %s is already taken by %s", goName, cName, prev.C)
	}
	sh.byGo[goName] = g
	if s.Union {
		sh.union(g, s, zeroOffsets(sh.m.Archs), tag, "")
	} else {
		sh.members(g, s.Fields, zeroOffsets(sh.m.Archs), tag, "")
	}
	sh.checkNames(g)
	return g
}

func (sh *shaper) checkNames(g *goStruct) {
	seen := map[string]string{}
	claim := func(name, c string) {
		if name == "_" {
			return
		}
		if !token.IsIdentifier(name) {
			sh.fail(g.Src.Pos, "%s: member %s maps to the Go name %q, which is not a Go identifier", g.C, c, name)
			return
		}
		if prev, ok := seen[name]; ok {
			sh.fail(g.Src.Pos, "%s: members %s and %s both map to Go name %s", g.C, prev, c, name)
		}
		seen[name] = c
	}
	for _, f := range g.Fields {
		claim(f.Go, f.C)
	}
	for _, a := range g.Access {
		claim(a.Go, a.C)
		if a.Type.Kind == model.KindInt {
			claim("Set"+a.Go, a.C)
		}
	}
}

func path(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func isEmpty(t *model.Type) bool {
	return t.Kind == model.KindInline && len(t.Inline.Fields) == 0
}

// members adds the members of a struct (or of an anonymous struct flattened
// into its parent) as fields.
func (sh *shaper) members(g *goStruct, fields []*model.Field, base map[string]int64, tag, prefix string) {
	for _, f := range fields {
		off := addOffsets(base, f.Offset)
		t := f.Type
		switch {
		case isEmpty(t):
			// struct {} (from __DECLARE_FLEX_ARRAY) occupies nothing.
		case t.Kind == model.KindArray && t.Flexible:
			g.Access = append(g.Access, &accessor{Go: goname.Go(f.Name), C: path(prefix, f.Name), Type: t, Offset: off, Doc: f.Doc, Flex: true})
		case t.Kind == model.KindInline && f.Name == "" && !t.Union:
			sh.members(g, t.Inline.Fields, off, tag, prefix)
		case t.Kind == model.KindInline && f.Name == "" && t.Union:
			sh.union(g, t.Inline, off, tag, prefix)
		default:
			g.Fields = append(g.Fields, sh.field(g, f, off, tag, prefix))
		}
	}
}

// field makes a Go field for a named member.
func (sh *shaper) field(g *goStruct, f *model.Field, off map[string]int64, tag, prefix string) *goField {
	gf := &goField{Go: goname.Go(f.Name), C: path(prefix, f.Name), Type: f.Type, Offset: off, Doc: f.Doc}
	if f.Type.Kind == model.KindInline {
		gf.Named = sh.nested(g, f)
	}
	if set, ok := sh.cfg.Members[tag+"."+f.Name]; ok && prefix == "" {
		sh.usedMember(tag + "." + f.Name)
		if size, ok := sh.setSizes[set]; ok && (f.Type.Kind != model.KindInt || size != f.Type.Size) {
			sh.fail(f.Pos, "member %s.%s is %s, but %s gives it the type %s, of %d bytes", tag, f.Name, f.Type.C, sh.cfg.Path, set, size)
			return gf
		}
		gf.Named = set
	}
	return gf
}

func (sh *shaper) usedMember(key string) {
	if sh.cfg.used == nil {
		sh.cfg.used = map[string]bool{}
	}
	sh.cfg.used[key] = true
}

// nested shapes the type of a named inline member as its own Go type.
func (sh *shaper) nested(g *goStruct, f *model.Field) string {
	name := g.Go + goname.Go(f.Name)
	n := sh.shape(f.Type.Inline, name, g.C+"."+f.Name, "")
	g.Nested = append(g.Nested, n)
	return name
}

// union lays out an anonymous union: its first member becomes the storage
// field when it covers the whole union on every arch with at least the
// union's alignment, otherwise a blank field holds the bytes; every other
// member gets an accessor.
func (sh *shaper) union(g *goStruct, u *model.Struct, base map[string]int64, tag, prefix string) {
	if len(u.Fields) == 0 {
		return
	}
	first := u.Fields[0]
	storage := sh.canStore(u, first)
	var others []string
	start := len(g.Access)
	for i, f := range u.Fields {
		if i == 0 && storage {
			continue
		}
		sh.leaves(g, f, addOffsets(base, f.Offset), prefix)
	}
	for _, a := range g.Access[start:] {
		others = append(others, a.Go)
	}
	if storage {
		n := len(g.Fields)
		if first.Type.Kind == model.KindInline && first.Name == "" {
			sh.members(g, first.Type.Inline.Fields, addOffsets(base, first.Offset), tag, prefix)
		} else {
			g.Fields = append(g.Fields, sh.field(g, first, addOffsets(base, first.Offset), tag, prefix))
		}
		if n < len(g.Fields) {
			g.Fields[n].Union = others
		}
		return
	}
	var size, align int64
	for _, l := range u.Layout {
		size = l.Size
		align = max(align, l.Align)
	}
	align = min(align, 8)
	g.Fields = append(g.Fields, &goField{Go: "_", C: path(prefix, "<union>"), Offset: base, Blank: &blank{Size: size, Align: align}, Union: others})
}

// canStore reports whether the union's first member can be its storage.
func (sh *shaper) canStore(u *model.Struct, f *model.Field) bool {
	t := f.Type
	if t.Kind == model.KindArray && t.Flexible || isEmpty(t) {
		return false
	}
	if t.Kind == model.KindInline && f.Name == "" && t.Union {
		return false
	}
	for _, arch := range sh.m.Archs {
		if sh.csize(t, arch) != u.Layout[arch].Size {
			return false
		}
		if sh.goAlign(t, "", arch) < min(u.Layout[arch].Align, maxAlign(arch)) {
			return false
		}
	}
	return true
}

// leaves adds accessors for a union member, descending into anonymous
// structs and unions.
func (sh *shaper) leaves(g *goStruct, f *model.Field, off map[string]int64, prefix string) {
	t := f.Type
	switch {
	case isEmpty(t):
	case t.Kind == model.KindInline && f.Name == "":
		for _, c := range t.Inline.Fields {
			sh.leaves(g, c, addOffsets(off, c.Offset), prefix)
		}
	default:
		a := &accessor{Go: goname.Go(f.Name), C: path(prefix, f.Name), Type: t, Offset: off, Doc: f.Doc, Flex: t.Kind == model.KindArray && t.Flexible}
		if t.Kind == model.KindInline {
			a.Named = sh.nested(g, f)
		}
		g.Access = append(g.Access, a)
	}
}

func is64(arch string) bool {
	switch arch {
	case "386", "arm", "mips", "mipsle":
		return false
	}
	return true
}

// maxAlign is the largest alignment Go gives any type on arch.
func maxAlign(arch string) int64 {
	if is64(arch) {
		return 8
	}
	return 4
}

// csize is the C size of a member type.
func (sh *shaper) csize(t *model.Type, arch string) int64 {
	switch t.Kind {
	case model.KindInt:
		return t.Size
	case model.KindArray:
		return t.Len * sh.csize(t.Elem, arch)
	case model.KindStruct:
		return sh.m.Struct(t.Ref).Layout[arch].Size
	default:
		return t.Inline.Layout[arch].Size
	}
}

// goAlign is Go's alignment of the Go type used for t on arch.
func (sh *shaper) goAlign(t *model.Type, named string, arch string) int64 {
	switch t.Kind {
	case model.KindInt:
		return min(t.Size, maxAlign(arch))
	case model.KindArray:
		return sh.goAlign(t.Elem, "", arch)
	case model.KindStruct:
		return sh.structAlign(sh.byTag[t.Ref], arch)
	default:
		if g := sh.byGo[named]; g != nil {
			return sh.structAlign(g, arch)
		}
		// An anonymous struct flattened into its parent: its members'.
		var al int64 = 1
		for _, f := range t.Inline.Fields {
			al = max(al, sh.goAlign(f.Type, "", arch))
		}
		return al
	}
}

func (sh *shaper) structAlign(g *goStruct, arch string) int64 {
	if g == nil {
		return 1
	}
	if a, ok := sh.aligns[g.Go][arch]; ok {
		return a
	}
	var al int64 = 1
	for _, f := range g.Fields {
		if f.Blank != nil {
			al = max(al, min(f.Blank.Align, maxAlign(arch)))
			continue
		}
		if f.Named != "" && f.Type.Kind == model.KindInt {
			al = max(al, sh.goAlign(f.Type, "", arch))
			continue
		}
		al = max(al, sh.goAlign(f.Type, f.Named, arch))
	}
	if sh.aligns[g.Go] == nil {
		sh.aligns[g.Go] = map[string]int64{}
	}
	sh.aligns[g.Go][arch] = al
	return al
}

// slot is one line of a Go struct on one arch: a field or padding.
type slot struct {
	Field *goField // nil for padding
	Pad   int64
}

// layout places the fields of g on arch, adding padding where C places a
// member later than Go would; it fails where Go cannot match C.
func (sh *shaper) layout(g *goStruct, arch string) []slot {
	var out []slot
	var cur int64
	for _, f := range g.Fields {
		off := f.Offset[arch]
		var size, align int64
		if f.Blank != nil {
			size, align = f.Blank.Size, min(f.Blank.Align, maxAlign(arch))
		} else {
			size, align = sh.csize(f.Type, arch), sh.goAlign(f.Type, f.Named, arch)
		}
		if off < cur {
			sh.fail(g.Src.Pos, "%s.%s: C offset %d overlaps the previous field on %s", g.C, f.C, off, arch)
			return nil
		}
		if off > cur {
			out = append(out, slot{Pad: off - cur})
		}
		if off%align != 0 {
			sh.fail(g.Src.Pos, "%s.%s: C places it at offset %d on %s, but Go aligns its type to %d", g.C, f.C, off, arch, align)
			return nil
		}
		out = append(out, slot{Field: f})
		cur = off + size
	}
	size := g.Src.Layout[arch].Size
	if cur < size {
		out = append(out, slot{Pad: size - cur})
		cur = size
	}
	if a := sh.structAlign(g, arch); cur%a != 0 {
		sh.fail(g.Src.Pos, "%s: C size %d on %s is not a multiple of Go's alignment %d", g.C, size, arch, a)
	}
	return out
}

// archGroups partitions the model's arches by an arch-dependent key, so
// that declarations equal on every arch go to the common file.
func archGroups(archs []string, key func(arch string) string) (common bool, byKey map[string][]string) {
	byKey = map[string][]string{}
	for _, a := range archs {
		k := key(a)
		byKey[k] = append(byKey[k], a)
	}
	return len(byKey) == 1, byKey
}
