package report

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urgen/urgen/gen/model"
)

// Diff is how the model of one headers directory (New) differs from that
// of another (Old).
type Diff struct {
	// OldDir and NewDir name the directories in the text output.
	OldDir, NewDir string
	// Old and New are the provenance of the two header sets.
	Old, New model.HeaderSource
	// Archs lists the GOARCH values whose layouts were compared.
	Archs []string
	// Changes is sorted: by Kind (see Kinds), then name, then how.
	Changes []Change
}

// Kinds lists the kinds of declarations a Diff compares, in output order.
var Kinds = []string{"file", "struct", "field", "enum", "constant", "opcode", "unsupported"}

// Change is one difference between two models.
type Change struct {
	// Kind is one of Kinds.
	Kind string
	// How is "removed", "added" or "changed".
	How string
	// Name is the C name: "struct io_uring_sqe" or "union ..." for a
	// struct, "enum io_uring_op" or "enum {FIRST_ENUMERATOR ...}" for an
	// enum, "io_uring_sqe.addr3" for a member (the path through named
	// members), "IORING_OP_NOP" for a constant, a file name.
	Name string
	// Detail says what the declaration is or how it changed.
	Detail string
	// ABIBreak marks a changed size, alignment or offset of a struct or
	// member, a renumbered opcode or a changed constant value (binaries
	// built against Old do not work with New), and a removed struct,
	// member, constant or opcode (programs built against Old do not build).
	ABIBreak bool
}

// String is the change's line in the text output: "added opcode
// IORING_OP_URING_CMD128 = 64", "ABI BREAK: struct io_uring_sqe size 64 ->
// 128 on amd64". Struct and enum names already say what they are.
func (c Change) String() string {
	what := c.Kind + " " + c.Name
	if c.Kind == "struct" || c.Kind == "enum" {
		what = c.Name
	}
	s := c.How + " " + what
	switch {
	case c.ABIBreak && c.How == "removed":
		s = "ABI BREAK: removed " + what
	case c.ABIBreak:
		s = "ABI BREAK: " + what
	}
	if c.Detail != "" {
		s += " " + c.Detail
	}
	return s
}

// CommonArchs returns the GOARCH values, in model.Archs order, whose
// <triplet>/asm directory every one of dirs has: all 13 for a pinned
// headers/ directory, amd64 alone for a Debian amd64 host's /usr/include.
func CommonArchs(dirs ...string) []string {
	var r []string
	for _, a := range model.Archs {
		ok := true
		for _, d := range dirs {
			if fi, err := os.Stat(filepath.Join(d, a.Triplet, "asm")); err != nil || !fi.IsDir() {
				ok = false
			}
		}
		if ok {
			r = append(r, a.GOARCH)
		}
	}
	return r
}

// Compare returns the differences from old to new. Both must have been
// loaded for the same archs; layouts are compared on the archs both have.
func Compare(old, new *model.Model) *Diff {
	d := &Diff{Old: old.Headers, New: new.Headers}
	for _, a := range old.Archs {
		if contains(new.Archs, a) {
			d.Archs = append(d.Archs, a)
		}
	}
	d.files(old, new)
	d.structs(old, new)
	d.enums(old, new)
	d.constants(old, new)
	d.opcodes(old, new)
	d.unsupported(old, new)
	rank := map[string]int{}
	for i, k := range Kinds {
		rank[k] = i
	}
	how := map[string]int{"removed": 0, "added": 1, "changed": 2}
	sort.SliceStable(d.Changes, func(i, j int) bool {
		a, b := d.Changes[i], d.Changes[j]
		switch {
		case a.Kind != b.Kind:
			return rank[a.Kind] < rank[b.Kind]
		case a.Name != b.Name:
			return a.Name < b.Name
		case a.How != b.How:
			return how[a.How] < how[b.How]
		case a.ABIBreak != b.ABIBreak:
			return !a.ABIBreak
		}
		return a.Detail < b.Detail
	})
	return d
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *Diff) add(kind, how, name, detail string) {
	d.Changes = append(d.Changes, Change{Kind: kind, How: how, Name: name, Detail: detail})
}

// removed records a removal: a program built against Old that uses the
// declaration does not build (or misbehaves) against New, an ABI break.
func (d *Diff) removed(kind, name, detail string) {
	d.Changes = append(d.Changes, Change{Kind: kind, How: "removed", Name: name, Detail: detail, ABIBreak: true})
}

func (d *Diff) abiBreak(kind, name, detail string) {
	d.Changes = append(d.Changes, Change{Kind: kind, How: "changed", Name: name, Detail: detail, ABIBreak: true})
}

// keyed compares two sets of names: f gets each name in either, with
// whether old and new have it.
func keyed[T any](old, new map[string]T, f func(name string, o, n T, inOld, inNew bool)) {
	names := map[string]bool{}
	for k := range old {
		names[k] = true
	}
	for k := range new {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		o, inOld := old[k]
		n, inNew := new[k]
		f(k, o, n, inOld, inNew)
	}
}

func (d *Diff) files(old, new *model.Model) {
	set := func(files []string) map[string]bool {
		r := map[string]bool{}
		for _, f := range files {
			r[f] = true
		}
		return r
	}
	keyed(set(old.Files), set(new.Files), func(name string, _, _ bool, inOld, inNew bool) {
		switch {
		case !inNew:
			d.add("file", "removed", name, "")
		case !inOld:
			d.add("file", "added", name, "")
		}
	})
}

// perArch describes where an arch-dependent number differs: "64 -> 128 on
// amd64 arm64; 60 -> 120 on 386", or "" where it does not.
func perArch(archs []string, old, new func(arch string) int64) string {
	type pair struct{ o, n int64 }
	var order []pair
	by := map[pair][]string{}
	for _, a := range archs {
		p := pair{old(a), new(a)}
		if p.o == p.n {
			continue
		}
		if by[p] == nil {
			order = append(order, p)
		}
		by[p] = append(by[p], a)
	}
	var parts []string
	for _, p := range order {
		parts = append(parts, fmt.Sprintf("%d -> %d on %s", p.o, p.n, strings.Join(by[p], " ")))
	}
	return strings.Join(parts, "; ")
}

// member is a C member of a named struct, reached from it by a path of
// named members.
type member struct {
	Path   string
	Type   *model.Type
	Offset map[string]int64 // from the start of the named struct
	Size   map[string]int64
}

// members flattens a named struct: every named member at every depth, with
// offsets from the start of s. Anonymous structs and unions add no path
// element; named inline ones are a member and a path prefix.
func members(s *model.Struct, byTag map[string]*model.Struct, archs []string) []member {
	var r []member
	var walk func(fields []*model.Field, base map[string]int64, prefix string)
	walk = func(fields []*model.Field, base map[string]int64, prefix string) {
		for _, f := range fields {
			off := map[string]int64{}
			for _, a := range archs {
				off[a] = base[a] + f.Offset[a]
			}
			if f.Name == "" {
				if f.Type.Kind == model.KindInline {
					walk(f.Type.Inline.Fields, off, prefix)
				}
				continue
			}
			p := f.Name
			if prefix != "" {
				p = prefix + "." + f.Name
			}
			size := map[string]int64{}
			for _, a := range archs {
				size[a] = typeSize(byTag, f.Type, a)
			}
			r = append(r, member{Path: p, Type: f.Type, Offset: off, Size: size})
			if f.Type.Kind == model.KindInline {
				walk(f.Type.Inline.Fields, off, p)
			}
		}
	}
	walk(s.Fields, map[string]int64{}, "")
	return r
}

func (d *Diff) structs(old, new *model.Model) {
	index := func(m *model.Model) map[string]*model.Struct {
		r := map[string]*model.Struct{}
		for _, s := range m.Structs {
			r[s.CName()] = s
		}
		return r
	}
	oldTags, newTags := structsByTag(old), structsByTag(new)
	pa := primaryArch(d.Archs)
	describe := func(s *model.Struct) string {
		ext := ""
		if s.External {
			ext = ", external"
		}
		return fmt.Sprintf("(size %d on %s%s)", s.Layout[pa].Size, pa, ext)
	}
	keyed(index(old), index(new), func(name string, o, n *model.Struct, inOld, inNew bool) {
		switch {
		case !inNew:
			d.removed("struct", name, describe(o))
			return
		case !inOld:
			d.add("struct", "added", name, describe(n))
			return
		}
		if c := perArch(d.Archs, func(a string) int64 { return o.Layout[a].Size }, func(a string) int64 { return n.Layout[a].Size }); c != "" {
			d.abiBreak("struct", name, "size "+c)
		}
		if c := perArch(d.Archs, func(a string) int64 { return o.Layout[a].Align }, func(a string) int64 { return n.Layout[a].Align }); c != "" {
			d.abiBreak("struct", name, "align "+c)
		}
		d.fields(n.C, members(o, oldTags, d.Archs), members(n, newTags, d.Archs))
	})
}

func (d *Diff) fields(tag string, old, new []member) {
	index := func(ms []member) map[string]member {
		r := map[string]member{}
		for _, m := range ms {
			r[tag+"."+m.Path] = m
		}
		return r
	}
	pa := primaryArch(d.Archs)
	describe := func(m member) string {
		return fmt.Sprintf("(%s, offset %d, size %d on %s)", m.Type.C, m.Offset[pa], m.Size[pa], pa)
	}
	keyed(index(old), index(new), func(name string, o, n member, inOld, inNew bool) {
		switch {
		case !inNew:
			d.removed("field", name, describe(o))
			return
		case !inOld:
			d.add("field", "added", name, describe(n))
			return
		}
		if o.Type.C != n.Type.C {
			d.add("field", "changed", name, "type "+o.Type.C+" -> "+n.Type.C)
		}
		if c := perArch(d.Archs, func(a string) int64 { return o.Offset[a] }, func(a string) int64 { return n.Offset[a] }); c != "" {
			d.abiBreak("field", name, "offset "+c)
		}
		if c := perArch(d.Archs, func(a string) int64 { return o.Size[a] }, func(a string) int64 { return n.Size[a] }); c != "" {
			d.abiBreak("field", name, "size "+c)
		}
	})
}

// enumName names an enum: "enum io_uring_op", or for an anonymous one its
// first enumerator: "enum {IORING_CQE_BUFFER_SHIFT ...}".
func enumName(e *model.Enum) string {
	if e.C != "" {
		return "enum " + e.C
	}
	if len(e.Values) == 0 {
		return "enum {}"
	}
	return "enum {" + e.Values[0].Name + " ...}"
}

func (d *Diff) enums(old, new *model.Model) {
	index := func(m *model.Model) map[string]*model.Enum {
		r := map[string]*model.Enum{}
		for _, e := range m.Enums {
			name := enumName(e)
			for i := 2; r[name] != nil; i++ {
				name = fmt.Sprintf("%s #%d", enumName(e), i)
			}
			r[name] = e
		}
		return r
	}
	count := func(e *model.Enum) string { return fmt.Sprintf("(%d enumerators)", len(e.Values)) }
	keyed(index(old), index(new), func(name string, o, n *model.Enum, inOld, inNew bool) {
		switch {
		case !inNew:
			d.add("enum", "removed", name, count(o))
			return
		case !inOld:
			d.add("enum", "added", name, count(n))
			return
		}
		have := map[string]bool{}
		for _, v := range o.Values {
			have[v.Name] = true
		}
		added, removed := 0, 0
		for _, v := range n.Values {
			if !have[v.Name] {
				added++
			}
			delete(have, v.Name)
		}
		removed = len(have)
		if added+removed > 0 {
			d.add("enum", "changed", name, fmt.Sprintf("enumerators %d -> %d (+%d -%d)", len(o.Values), len(n.Values), added, removed))
		}
	})
}

func (d *Diff) constants(old, new *model.Model) {
	index := func(m *model.Model) map[string]Constant {
		r := map[string]Constant{}
		for _, c := range constants(m) {
			r[c.C] = c
		}
		return r
	}
	keyed(index(old), index(new), func(name string, o, n Constant, inOld, inNew bool) {
		switch {
		case !inNew:
			d.removed("constant", name, "= "+o.Value.String())
		case !inOld:
			d.add("constant", "added", name, "= "+n.Value.String())
		case o.Value != n.Value:
			d.abiBreak("constant", name, "value "+o.Value.String()+" -> "+n.Value.String())
		}
	})
}

func (d *Diff) opcodes(old, new *model.Model) {
	index := func(m *model.Model) map[string]Opcode {
		r := map[string]Opcode{}
		for _, op := range opcodes(m) {
			r[op.C] = op
		}
		return r
	}
	keyed(index(old), index(new), func(name string, o, n Opcode, inOld, inNew bool) {
		switch {
		case !inNew:
			d.removed("opcode", name, fmt.Sprintf("= %d", o.Value))
		case !inOld:
			d.add("opcode", "added", name, fmt.Sprintf("= %d", n.Value))
		case o.Value != n.Value:
			d.abiBreak("opcode", name, fmt.Sprintf("value %d -> %d", o.Value, n.Value))
		}
	})
}

func (d *Diff) unsupported(old, new *model.Model) {
	index := func(m *model.Model) map[string]model.Unsupported {
		r := map[string]model.Unsupported{}
		for _, u := range m.Unsupported {
			r[u.Name] = u
		}
		return r
	}
	keyed(index(old), index(new), func(name string, o, n model.Unsupported, inOld, inNew bool) {
		switch {
		case !inNew:
			d.add("unsupported", "removed", name, "("+o.Reason+")")
		case !inOld:
			d.add("unsupported", "added", name, "("+n.Reason+")")
		}
	})
}

// Count returns how many changes were added, removed and changed (other
// than ABI breaks), and how many are ABI breaks (removals included).
func (d *Diff) Count() (added, removed, changed, breaks int) {
	for _, c := range d.Changes {
		if c.ABIBreak {
			breaks++
		}
		switch {
		case c.How == "added":
			added++
		case c.How == "removed":
			removed++
		case !c.ABIBreak:
			changed++
		}
	}
	return
}

// Breaks is the number of ABI breaks (see Change.ABIBreak).
func (d *Diff) Breaks() int {
	_, _, _, b := d.Count()
	return b
}

// WriteText prints the diff: a header naming both sides and the archs,
// one line per change (ABI breaks start with "ABI BREAK:"), and a summary.
func (d *Diff) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	side := func(label, dir string, h model.HeaderSource) {
		src := "no VERSION file"
		if h.Package != "" {
			src = h.String()
		}
		ew.printf("%s %s (%s)\n", label, dir, src)
	}
	side("old:", d.OldDir, d.Old)
	side("new:", d.NewDir, d.New)
	ew.printf("archs: %s\n", strings.Join(d.Archs, " "))
	for _, c := range d.Changes {
		ew.printf("%s\n", c)
	}
	a, r, c, b := d.Count()
	ew.printf("summary: %d added, %d removed, %d changed, %d ABI breaks\n", a, r, c, b)
	return ew.err
}
