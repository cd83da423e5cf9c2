package emit

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/urgen/urgen/gen/goname"
	"github.com/urgen/urgen/gen/model"
)

const unixPath = "golang.org/x/sys/unix"

// BuilderInfo describes one builder of templates/builders.txt for reports.
type BuilderInfo struct {
	// Go is the method name on *SQE.
	Go string
	// Opcode is the C opcode (IORING_OP_READ).
	Opcode string
	// Since is the first Linux release with the operation or variant.
	Since string
	// SQE128 is set when the operation needs a 128-byte SQE slot.
	SQE128 bool
	// CQE32 is set when its completions need 32-byte CQEs.
	CQE32 bool
	// Liburing is the liburing helper the differential test compares
	// with (io_uring_prep_read), or "" when the test checks a hand-computed
	// SQE.
	Liburing string
	// Counterpart is set when Liburing is the builder's own liburing
	// helper rather than another one called with fixed arguments.
	Counterpart bool
	// Skipped says why the builder was not generated ("" when it was):
	// its opcode is not in the headers.
	Skipped string
	// Pos is where the template declares it: "templates/builders.txt:65".
	Pos string
	// ArgPos is where the template declares each argument, by name.
	ArgPos map[string]string
	// Warning notes a doubt about a generated builder: its Since is
	// newer than the Linux release of the headers.
	Warning string
}

// builder is a resolved BuilderSpec.
type builder struct {
	spec   *BuilderSpec
	Go     string
	opGo   string // Go constant of the opcode
	opType string // its Go type; "" when untyped
	opC    string
	args   []*goArg
	stores []*store
	slots  int
}

// goArg is a builder parameter with its Go type understood.
type goArg struct {
	spec *ArgSpec
	kind string // int, ptr, slice
	// int: the Go type name, its size and signedness, its typed set.
	intType string
	size    int64
	signed  bool
	set     *constSet
	// ptr and slice: the element type as written (after * or []).
	elem string
	slot int
	used bool
}

// store is one field assignment.
type store struct {
	field  string // C member
	goName string
	access bool
	typ    string // Go type of the field
	signed bool
	size   int64
	offset map[string]int64 // by GOARCH
	parts  []*jen.Statement // the terms, each as the field's bits in a uint64
	line   int              // of the template line setting it
	// cLHS and cTerms spell the store in C for the builder's C twin (see
	// cTwin); cTerms is nil when a term has no C spelling.
	cLHS   string
	cTerms []string
}

var intTypes = map[string]struct {
	size   int64
	signed bool
}{
	"int8": {1, true}, "int16": {2, true}, "int32": {4, true}, "int64": {8, true},
	"uint8": {1, false}, "uint16": {2, false}, "uint32": {4, false}, "uint64": {8, false},
}

type builderGen struct {
	e       *emitter
	specs   *BuilderSpecs
	sqe     *goStruct
	opcode  *store               // where the opcode goes
	base    string               // import path of the package declaring SQE; "" for this one
	qual    map[string]string    // C constant -> import path of its package ("" here)
	payload map[string]*goStruct // this family's structs by C tag
	used    map[string]bool      // helpers the builders call: slot, slice, poll, io
	consts  map[string]*constant
	sets    map[string]*constSet
	structs map[string]bool
	errs    []string
	infos   []BuilderInfo
	built   []*builder
	since   string // Linux release of the headers, as far as opcodes tell
}

// headersSince estimates the Linux release of the headers from their
// opcodes: the newest first release among the opcodes they have, each
// opcode dated by its oldest builder.
func headersSince(specs *BuilderSpecs, consts map[string]*constant) string {
	first := map[string]string{}
	for _, b := range specs.Builders {
		if v, ok := first[b.Op]; !ok || versionLess(b.Since, v) {
			first[b.Op] = b.Since
		}
	}
	since := "0"
	for op, v := range first {
		if consts["IORING_OP_"+op] != nil && versionLess(since, v) {
			since = v
		}
	}
	return since
}

// headersRelease is the Linux release of headers whose VERSION names a
// linux-libc-dev version ("7.3.4-1~bpo13+1": "7.3"), or "".
func headersRelease(version string) string {
	if m := releaseRE.FindStringSubmatch(version); m != nil {
		return m[1]
	}
	return ""
}

var releaseRE = regexp.MustCompile(`^([0-9]+\.[0-9]+)[.-]`)

// versionLess compares dotted release numbers: 5.19 < 6.1 < 6.10.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func (bg *builderGen) fail(b *BuilderSpec, line int, format string, args ...any) {
	where := bg.specs.Path
	if b != nil {
		where = fmt.Sprintf("%s:%d: builder %s (IORING_OP_%s)", bg.specs.Path, line, b.Name, b.Op)
	}
	msg := where + ": " + fmt.Sprintf(format, args...)
	if !slices.Contains(bg.errs, msg) {
		bg.errs = append(bg.errs, msg)
	}
}

// builders resolves the specs against the model and emits builders.go,
// the byte-order files and uapitest/builders.go.
func (e *emitter) builders(structs []*goStruct, sets []*constSet, loose []*constant, specs *BuilderSpecs) ([]BuilderInfo, error) {
	bg := &builderGen{e: e, specs: specs, consts: map[string]*constant{}, sets: map[string]*constSet{}, structs: map[string]bool{},
		qual: map[string]string{}, payload: map[string]*goStruct{}, used: map[string]bool{}}
	sqeFrom := structs
	if b := e.opt.Base; b != nil {
		// A family built on another fills that one's SQE, with its
		// constants (IORING_OP_URING_CMD, IORING_URING_CMD_FIXED).
		sqeFrom, bg.base = b.Result.Structs, b.PkgPath
		for _, s := range b.Result.Sets {
			for _, c := range s.Consts {
				bg.consts[c.C], bg.qual[c.C] = c, b.PkgPath
			}
		}
		for _, c := range b.Result.Loose {
			bg.consts[c.C], bg.qual[c.C] = c, b.PkgPath
		}
	}
	for _, g := range sqeFrom {
		if g.Src.C == "io_uring_sqe" {
			bg.sqe = g
		}
	}
	for _, g := range structs {
		bg.structs[g.Go] = true
		bg.payload[g.Src.C] = g
	}
	if bg.sqe == nil {
		return nil, fmt.Errorf("%s: struct io_uring_sqe is not in the headers", specs.Path)
	}
	if bg.opcode = bg.field("opcode"); bg.opcode == nil {
		return nil, fmt.Errorf("%s: struct io_uring_sqe has no integer member opcode", specs.Path)
	}
	for _, s := range sets {
		bg.sets[s.Go] = s
		for _, c := range s.Consts {
			bg.consts[c.C], bg.qual[c.C] = c, ""
		}
	}
	for _, c := range loose {
		bg.consts[c.C], bg.qual[c.C] = c, ""
	}
	// Every header opcode needs a builder or a raw line.
	have := map[string]bool{}
	for _, b := range specs.Builders {
		have[b.Op] = true
	}
	for _, r := range specs.Raw {
		have[r.Op] = true
	}
	for _, en := range e.m.Enums {
		if en.C != "io_uring_op" {
			continue
		}
		for _, v := range en.Values {
			op := strings.TrimPrefix(v.Name, "IORING_OP_")
			if op == v.Name || op == "LAST" {
				continue
			}
			if !have[op] {
				bg.errs = append(bg.errs, fmt.Sprintf("%s: %s (%s) has no builder: add a prep block, or a raw line with the reason", specs.Path, v.Name, v.Pos.Short()))
			}
		}
	}
	// A c line names the liburing helper of a builder of this template
	// (every liburing helper has one, or a reason: see internal/builderdiff).
	names := map[string]bool{}
	for _, b := range specs.Builders {
		names[b.Name] = true
	}
	for _, b := range specs.Builders {
		if b.CHelper != "" && !names[b.CHelper] {
			bg.fail(b, b.CLine, "c line: io_uring_prep_%s is not the helper of any builder in this template (a typo?)", b.CHelper)
		}
	}
	bg.since = headersSince(specs, bg.consts)
	for _, s := range specs.Builders {
		info := BuilderInfo{Go: "Prep" + goname.Go(s.Name), Opcode: "IORING_OP_" + s.Op, Since: s.Since, SQE128: s.SQE128, CQE32: s.CQE32, Pos: fmt.Sprintf("%s:%d", specs.Path, s.Line),
			ArgPos: map[string]string{}}
		for _, a := range s.Args {
			info.ArgPos[a.Name] = fmt.Sprintf("%s:%d", specs.Path, a.Line)
		}
		if s.CHelper != "" {
			info.Liburing = "io_uring_prep_" + s.CHelper
			info.Counterpart = s.CHelper == s.Name
		}
		if k := headersRelease(bg.e.m.Headers.Version); k != "" && versionLess(k, s.Since) {
			info.Warning = fmt.Sprintf("SINCE %s is newer than these headers (Linux %s)", s.Since, k)
		}
		op := bg.consts["IORING_OP_"+s.Op]
		if op == nil {
			info.Skipped = fmt.Sprintf("IORING_OP_%s is not in these headers", s.Op)
			bg.infos = append(bg.infos, info)
			continue
		}
		b, absent := bg.resolve(s, op)
		if absent != "" {
			info.Skipped = absent
		}
		bg.infos = append(bg.infos, info)
		if b != nil {
			bg.built = append(bg.built, b)
		}
	}
	if len(bg.errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bg.errs, "\n"))
	}
	bg.emitMethods()
	if len(bg.errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bg.errs, "\n"))
	}
	bg.emitTable()
	return bg.infos, nil
}

// resolve checks a spec against the model. A field or constant the headers
// lack skips the builder, with the reason in absent, when the builder is
// newer than the headers (see headersSince); otherwise it is an error: a
// typo in the template, or a header that dropped something.
func (bg *builderGen) resolve(s *BuilderSpec, op *constant) (_ *builder, absent string) {
	b := &builder{spec: s, Go: "Prep" + goname.Go(s.Name), opGo: op.Go, opC: op.C}
	if op.Set != nil {
		b.opType = op.Set.Go
	}
	newer := versionLess(bg.since, s.Since)
	for _, fs := range s.Sets {
		if newer && !strings.HasPrefix(fs.Field, "cmd.") && !bg.anyMember(fs.Field) {
			return nil, fmt.Sprintf("struct io_uring_sqe has no member %s in these headers (Linux %s)", fs.Field, bg.since)
		}
		for _, t := range fs.Terms {
			if tm, err := parseTerm(t); newer && err == nil && tm.kind == "const" && bg.consts[tm.name] == nil {
				return nil, fmt.Sprintf("%s is not in these headers (Linux %s)", tm.name, bg.since)
			}
		}
	}
	nerr := len(bg.errs)
	for _, a := range s.Args {
		ga := bg.argType(s, a)
		if ga == nil {
			continue
		}
		if ga.kind == "int" && a.Keep {
			bg.fail(s, a.Line, "argument %s: keep applies to pointers and slices, not %s", a.Name, a.Type)
		}
		ga.slot = b.slots
		b.slots++
		if ga.kind == "slice" {
			b.slots++
		}
		b.args = append(b.args, ga)
	}
	for _, fs := range s.Sets {
		st := bg.store(s, b, fs)
		if st != nil {
			b.stores = append(b.stores, st)
		}
	}
	for _, a := range b.args {
		if !a.used {
			bg.fail(s, a.spec.Line, "argument %s sets no field", a.spec.Name)
		}
	}
	if s.CHelper != "" {
		bg.checkCArgs(s, b)
	}
	first := bg.e.m.Archs[0]
	sort.SliceStable(b.stores, func(i, j int) bool { return b.stores[i].offset[first] < b.stores[j].offset[first] })
	if len(bg.errs) > nerr {
		return nil, ""
	}
	return b, ""
}

// anyMember reports whether struct io_uring_sqe has a member named c of
// any type.
func (bg *builderGen) anyMember(c string) bool {
	for _, f := range bg.sqe.Fields {
		if f.C == c {
			return true
		}
	}
	for _, a := range bg.sqe.Access {
		if a.C == c {
			return true
		}
	}
	return false
}

var typeElemRE = regexp.MustCompile(`^(\*\[[0-9]+\]|\*|\[\])(.+)$`)

func (bg *builderGen) argType(s *BuilderSpec, a *ArgSpec) *goArg {
	if it, ok := intTypes[a.Type]; ok {
		return &goArg{spec: a, kind: "int", intType: a.Type, size: it.size, signed: it.signed}
	}
	if set, ok := bg.sets[a.Type]; ok {
		it := intTypes[set.Underlying]
		return &goArg{spec: a, kind: "int", intType: a.Type, size: it.size, signed: it.signed, set: set}
	}
	m := typeElemRE.FindStringSubmatch(a.Type)
	if m == nil {
		bg.fail(s, a.Line, "argument %s: unknown type %s", a.Name, a.Type)
		return nil
	}
	elem := m[2]
	switch {
	case elem == "byte":
	case strings.HasPrefix(elem, "unix.") && identRE.MatchString(elem[5:]):
	case bg.structs[elem]:
	default:
		if _, ok := intTypes[elem]; !ok {
			bg.fail(s, a.Line, "argument %s: unknown element type %s", a.Name, elem)
			return nil
		}
	}
	kind := "ptr"
	if m[1] == "[]" {
		kind = "slice"
	}
	return &goArg{spec: a, kind: kind, elem: a.Type[len(m[1]):]}
}

// typeCode renders a Go type as written in a template; local names are
// qualified with pkg when it is not empty.
func typeCode(t, pkg string) *jen.Statement {
	switch {
	case strings.HasPrefix(t, "[]"):
		return jen.Index().Add(typeCode(t[2:], pkg))
	case strings.HasPrefix(t, "*"):
		return jen.Op("*").Add(typeCode(t[1:], pkg))
	case strings.HasPrefix(t, "["):
		i := strings.Index(t, "]")
		n, _ := strconv.Atoi(t[1:i])
		return jen.Index(jen.Lit(n)).Add(typeCode(t[i+1:], pkg))
	case strings.HasPrefix(t, "unix."):
		return jen.Qual(unixPath, t[5:])
	case t == "byte":
		return jen.Byte()
	}
	if _, ok := intTypes[t]; ok || pkg == "" {
		return jen.Id(t)
	}
	return jen.Qual(pkg, t)
}

func (bg *builderGen) field(c string) *store {
	for _, f := range bg.sqe.Fields {
		if f.C == c && f.Type.Kind == model.KindInt {
			typ := f.Named
			if typ == "" {
				typ = intType(f.Type.Size, f.Type.Signed)
			}
			return &store{field: c, goName: f.Go, typ: typ, signed: f.Type.Signed, size: f.Type.Size, offset: f.Offset, cLHS: "sqe->" + c}
		}
	}
	for _, a := range bg.sqe.Access {
		if a.C == c && !a.Flex && a.Type.Kind == model.KindInt {
			return &store{field: c, goName: a.Go, access: true, typ: intType(a.Type.Size, a.Type.Signed), signed: a.Type.Signed, size: a.Type.Size, offset: a.Offset, cLHS: "sqe->" + c}
		}
	}
	return nil
}

// cmdField resolves "cmd.MEMBER" (or "cmd.MEMBER[I]") of the builder's
// payload struct, placed at the SQE's cmd area: 16 bytes in a 64-byte SQE,
// 80 in a 128-byte one.
func (bg *builderGen) cmdField(s *BuilderSpec, fs *FieldSet) *store {
	name := strings.TrimPrefix(fs.Field, "cmd.")
	index := int64(-1)
	if i := strings.Index(name, "["); i > 0 && strings.HasSuffix(name, "]") {
		n, err := strconv.ParseInt(name[i+1:len(name)-1], 10, 64)
		if err != nil || n < 0 {
			bg.fail(s, fs.Line, "field %s: bad array index", fs.Field)
			return nil
		}
		name, index = name[:i], n
	}
	if s.Cmd == "" {
		bg.fail(s, fs.Line, "field %s: the block has no cmd line naming the payload struct", fs.Field)
		return nil
	}
	g := bg.payload[s.Cmd]
	if g == nil {
		bg.fail(s, fs.Line, "cmd %s is not a struct of these headers", s.Cmd)
		return nil
	}
	var area *accessor
	for _, a := range bg.sqe.Access {
		if a.C == "cmd" && a.Flex {
			area = a
		}
	}
	if area == nil {
		bg.fail(s, fs.Line, "struct io_uring_sqe has no cmd area")
		return nil
	}
	for _, arch := range bg.e.m.Archs {
		room := bg.sqe.Src.Layout[arch].Size - area.Offset[arch]
		if s.SQE128 {
			room += bg.sqe.Src.Layout[arch].Size
		}
		if size := g.Src.Layout[arch].Size; size > room {
			bg.fail(s, fs.Line, "struct %s is %d bytes on %s; the cmd area of this SQE holds %d (sqe128 doubles the SQE)", s.Cmd, size, arch, room)
			return nil
		}
	}
	for _, f := range g.Fields {
		if f.C != name {
			continue
		}
		t, elem := f.Type, int64(0)
		if index >= 0 {
			if t.Kind != model.KindArray || t.Flexible || index >= t.Len {
				bg.fail(s, fs.Line, "field %s: %s is not an array of more than %d elements", fs.Field, name, index)
				return nil
			}
			t = t.Elem
			elem = index * t.Size
		}
		if t.Kind != model.KindInt {
			bg.fail(s, fs.Line, "field %s is not an integer member of struct %s", fs.Field, s.Cmd)
			return nil
		}
		typ := f.Named
		if typ == "" || index >= 0 {
			typ = intType(t.Size, t.Signed)
		}
		off := map[string]int64{}
		for _, arch := range bg.e.m.Archs {
			off[arch] = area.Offset[arch] + f.Offset[arch] + elem
		}
		return &store{field: fs.Field, goName: f.Go, typ: typ, signed: t.Signed, size: t.Size, offset: off,
			cLHS: fmt.Sprintf("((struct %s *)sqe->cmd)->%s", s.Cmd, strings.TrimPrefix(fs.Field, "cmd."))}
	}
	bg.fail(s, fs.Line, "struct %s has no member %s", s.Cmd, name)
	return nil
}

func (b *builder) arg(name string) *goArg {
	for _, a := range b.args {
		if a.spec.Name == name {
			return a
		}
	}
	return nil
}

// store resolves one "field = terms" line into an assignment expression.
func (bg *builderGen) store(s *BuilderSpec, b *builder, fs *FieldSet) *store {
	var st *store
	if strings.HasPrefix(fs.Field, "cmd.") {
		if st = bg.cmdField(s, fs); st == nil {
			return nil
		}
	} else if st = bg.field(fs.Field); st == nil {
		bg.fail(s, fs.Line, "field %s is not an integer member of struct io_uring_sqe", fs.Field)
		return nil
	}
	st.line = fs.Line
	if fs.Field == "opcode" || fs.Field == "user_data" {
		bg.fail(s, fs.Line, "field %s is not the builder's to set", fs.Field)
		return nil
	}
	// Every term becomes the field's bits, zero-extended to uint64: the
	// builders compose whole 64-bit words (see emitMethods).
	utype := intType(st.size, false)
	mask := "0x" + strconv.FormatUint(^uint64(0)>>(64-8*uint(st.size)), 16)
	wide := func(code *jen.Statement, typ string) *jen.Statement {
		if typ != utype {
			code = jen.Id(utype).Call(code)
		}
		if utype != "uint64" {
			code = jen.Uint64().Call(code)
		}
		return code
	}
	var parts []*jen.Statement
	var cTerms []string
	noC := false // a term without a C spelling: no twin
	cSlot := func(a *goArg, k int) string { return fmt.Sprintf("a[%d]", a.slot+k) }
	allZero := true
	for _, t := range fs.Terms {
		tm, err := parseTerm(t)
		if err != nil {
			bg.fail(s, fs.Line, "field %s: %v", fs.Field, err)
			return nil
		}
		if tm.kind != "lit" || tm.lit != 0 {
			allZero = false
		}
		var a *goArg
		switch tm.kind {
		case "arg", "ptr", "len", "size", "slot", "inc", "u32", "lo32", "hi32", "shl", "poll":
			if a = b.arg(tm.name); a == nil {
				bg.fail(s, fs.Line, "field %s: %s is not an argument", fs.Field, tm.name)
				return nil
			}
			a.used = true
		}
		needInt := func(want string) bool {
			if a.kind != "int" || (want != "" && a.intType != want) {
				bg.fail(s, fs.Line, "field %s: %s needs an argument of type %s, not %s", fs.Field, t, map[bool]string{true: want, false: "integer"}[want != ""], a.spec.Type)
				return false
			}
			return true
		}
		switch tm.kind {
		case "arg":
			if !needInt("") {
				return nil
			}
			parts = append(parts, wide(jen.Id(a.spec.Name), a.intType))
			cTerms = append(cTerms, cSlot(a, 0))
		case "inc":
			if !needInt("") {
				return nil
			}
			parts = append(parts, wide(jen.Id(a.spec.Name).Op("+").Lit(1), a.intType))
			cTerms = append(cTerms, fmt.Sprintf("(%s + 1)", cSlot(a, 0)))
		case "u32":
			if !needInt("") {
				return nil
			}
			parts = append(parts, wide(jen.Uint32().Call(jen.Id(a.spec.Name)), "uint32"))
			cTerms = append(cTerms, fmt.Sprintf("(unsigned int)%s", cSlot(a, 0)))
		case "lo32", "hi32":
			if !needInt("uint64") {
				return nil
			}
			if tm.kind == "lo32" {
				parts = append(parts, wide(jen.Uint32().Call(jen.Id(a.spec.Name)), "uint32"))
				cTerms = append(cTerms, fmt.Sprintf("(unsigned int)%s", cSlot(a, 0)))
			} else {
				parts = append(parts, wide(jen.Uint32().Call(jen.Id(a.spec.Name).Op(">>").Lit(32)), "uint32"))
				cTerms = append(cTerms, fmt.Sprintf("(unsigned int)(%s >> 32)", cSlot(a, 0)))
			}
		case "shl":
			if !needInt("") {
				return nil
			}
			// Shifted past the field's width, bits would land in the
			// neighbouring field of the same word: masked.
			parts = append(parts, jen.Parens(wide(jen.Id(a.spec.Name), a.intType).Op("<<").Lit(int(tm.lit))).Op("&").Op(mask))
			cTerms = append(cTerms, fmt.Sprintf("(%s << %d)", cSlot(a, 0), tm.lit))
		case "size":
			g := bg.byGo(strings.TrimPrefix(a.spec.Type, "*"))
			if a.kind != "ptr" || g == nil {
				bg.fail(s, fs.Line, "field %s: size(%s) needs a pointer to a struct of these headers", fs.Field, a.spec.Name)
				return nil
			}
			parts = append(parts, wide(jen.Qual("unsafe", "Sizeof").Call(jen.Op("*").Id(a.spec.Name)), "uintptr"))
			cTerms = append(cTerms, fmt.Sprintf("sizeof(%s)", g.C))
		case "slot":
			if !needInt("uint32") {
				return nil
			}
			bg.used["slot"] = true
			noC = true
			parts = append(parts, wide(jen.Id("sqeDirectSlot").Call(jen.Id(a.spec.Name)), "uint32"))
		case "poll":
			if !needInt("uint32") {
				return nil
			}
			bg.used["poll"] = true
			noC = true
			parts = append(parts, wide(jen.Id("sqePollMask").Call(jen.Id(a.spec.Name)), "uint32"))
		case "ptr":
			if st.size != 8 {
				bg.fail(s, fs.Line, "field %s: an address needs a 64-bit field", fs.Field)
				return nil
			}
			switch a.kind {
			case "ptr":
				parts = append(parts, jen.Uint64().Call(jen.Uintptr().Call(jen.Qual("unsafe", "Pointer").Call(jen.Id(a.spec.Name)))))
				cTerms = append(cTerms, cSlot(a, 0))
			case "slice":
				bg.used["slice"] = true
				parts = append(parts, jen.Id("sqeSliceAddr").Call(jen.Id(a.spec.Name)))
				cTerms = append(cTerms, cSlot(a, 0))
			default:
				bg.fail(s, fs.Line, "field %s: ptr(%s) needs a pointer or slice", fs.Field, a.spec.Name)
				return nil
			}
		case "len":
			if a.kind != "slice" {
				bg.fail(s, fs.Line, "field %s: len(%s) needs a slice", fs.Field, a.spec.Name)
				return nil
			}
			parts = append(parts, wide(jen.Len(jen.Id(a.spec.Name)), "int"))
			cTerms = append(cTerms, cSlot(a, 1))
		case "const":
			c := bg.consts[tm.name]
			if c == nil {
				bg.fail(s, fs.Line, "field %s: constant %s is not in the headers", fs.Field, tm.name)
				return nil
			}
			if c.Value.Negative {
				bg.fail(s, fs.Line, "field %s: constant %s is negative", fs.Field, tm.name)
				return nil
			}
			parts = append(parts, wide(bg.constRef(c), ""))
			cTerms = append(cTerms, c.C)
		case "unix":
			noC = true
			parts = append(parts, jen.Uint64().Call(jen.Qual(unixPath, tm.name).Op("&").Op(mask)))
		case "u32unix":
			noC = true
			parts = append(parts, jen.Uint64().Call(jen.Uint32().Call(jen.Qual(unixPath, tm.name).Op("&").Op("0xffffffff"))))
		case "io":
			// _IO(type, nr): the direction bits for "none" differ by arch.
			bg.used["io"] = true
			noC = true
			parts = append(parts, jen.Uint64().Call(jen.Id("iocNone").Op("<<").Id("iocDirShift").Op("|").Op(fmt.Sprintf("%#x", tm.lit))))
		case "lit":
			v := uint64(tm.lit) & (^uint64(0) >> (64 - 8*uint(st.size)))
			parts = append(parts, jen.Op("0x"+strconv.FormatUint(v, 16)))
			cTerms = append(cTerms, fmt.Sprintf("%#xULL", v))
		}
	}
	if !noC {
		st.cTerms = cTerms
	}
	if allZero {
		return st
	}
	st.parts = parts
	return st
}

// byGo returns this family's struct of a Go name.
func (bg *builderGen) byGo(name string) *goStruct {
	for _, g := range bg.payload {
		if g.Go == name {
			return g
		}
	}
	return nil
}

// constRef is the Go expression of a constant, qualified when a base
// family declares it.
func (bg *builderGen) constRef(c *constant) *jen.Statement {
	if q := bg.qual[c.C]; q != "" {
		return jen.Qual(q, c.Go)
	}
	return jen.Id(c.Go)
}

// sqeType is the SQE type the builders take.
func (bg *builderGen) sqeType() *jen.Statement {
	if bg.base != "" {
		return jen.Qual(bg.base, "SQE")
	}
	return jen.Id("SQE")
}

// cTwin spells the builder in C over the argument slots a (as urgen_prep
// gets them): the opcode, then every store in template order, on an SQE
// the caller zeroed. The round-trip test compiles it with the family's
// headers and compares its bytes with the Go builder's on every GOARCH:
// the check for builders liburing has no helper for. It is empty when a
// term has no C spelling (slot, poll, _IO, unix constants: those builders
// are compared with liburing).
func (b *builder) cTwin() string {
	var out strings.Builder
	fmt.Fprintf(&out, "sqe->opcode = %s;", b.opC)
	for _, fs := range b.spec.Sets {
		var st *store
		for _, x := range b.stores {
			if x.field == fs.Field {
				st = x
			}
		}
		if st == nil || st.cTerms == nil {
			return ""
		}
		fmt.Fprintf(&out, " %s = %s;", st.cLHS, strings.Join(st.cTerms, " | "))
	}
	return out.String()
}

var wordRE = regexp.MustCompile(`len\(([A-Za-z_][A-Za-z0-9_]*)\)|[A-Za-z_][A-Za-z0-9_]*`)

// cArgs translates the c line's arguments into C over the slot array a.
func (b *builder) cArgs() []string {
	var out []string
	for _, x := range b.spec.CArgs {
		out = append(out, wordRE.ReplaceAllStringFunc(x, func(w string) string {
			if m := wordRE.FindStringSubmatch(w); m[1] != "" {
				if a := b.arg(m[1]); a != nil && a.kind == "slice" {
					return fmt.Sprintf("a[%d]", a.slot+1)
				}
				return w
			}
			a := b.arg(w)
			switch {
			case a == nil:
				return w
			case a.kind == "int":
				return fmt.Sprintf("a[%d]", a.slot)
			}
			return fmt.Sprintf("(void *)(uintptr_t)a[%d]", a.slot)
		}))
	}
	return out
}

// checkCArgs fails when the c line leaves out an argument: the reference
// call would not exercise it.
func (bg *builderGen) checkCArgs(s *BuilderSpec, b *builder) {
	used := map[string]bool{}
	for _, x := range s.CArgs {
		for _, m := range wordRE.FindAllStringSubmatch(x, -1) {
			if m[1] != "" {
				used[m[1]+"#len"] = true
			} else {
				used[m[0]] = true
			}
		}
	}
	for _, a := range b.args {
		if !used[a.spec.Name] {
			bg.fail(s, s.CLine, "the c line does not pass argument %s", a.spec.Name)
		}
		if a.kind == "slice" && !used[a.spec.Name+"#len"] {
			bg.fail(s, s.CLine, "the c line does not pass len(%s)", a.spec.Name)
		}
	}
}

func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

func (bg *builderGen) emitMethods() {
	e := bg.e
	f := e.newFile()
	// Only the helpers the builders use (all of them for io_uring's).
	if bg.used["slot"] {
		f.Comment("sqeDirectSlot encodes a direct-descriptor index for file_index: the kernel\nreads index+1 (0 means no direct descriptor) and IORING_FILE_INDEX_ALLOC as is.")
		alloc := jen.Op("^").Uint32().Call(jen.Lit(0))
		if c := bg.consts["IORING_FILE_INDEX_ALLOC"]; c != nil {
			alloc = bg.constRef(c)
		}
		f.Func().Id("sqeDirectSlot").Params(jen.Id("i").Uint32()).Uint32().Block(
			jen.If(jen.Id("i").Op("==").Add(alloc)).Block(jen.Return(jen.Id("i"))),
			jen.Return(jen.Id("i").Op("+").Lit(1)),
		)
	}
	if bg.used["slice"] {
		f.Comment("sqeSliceAddr is the address of b's first element, or 0 when b is empty:\nnever the address of the slice header.")
		f.Func().Id("sqeSliceAddr").Types(jen.Id("T").Any()).Params(jen.Id("b").Index().Id("T")).Uint64().Block(
			jen.If(jen.Len(jen.Id("b")).Op("==").Lit(0)).Block(jen.Return(jen.Lit(0))),
			jen.Return(jen.Uint64().Call(jen.Uintptr().Call(jen.Qual("unsafe", "Pointer").Call(jen.Qual("unsafe", "SliceData").Call(jen.Id("b")))))),
		)
	}
	if bg.used["poll"] {
		f.Comment("sqePollMask puts a poll(2) event mask in poll32_events order: the kernel\nreads it with its 16-bit halves swapped on big-endian machines.")
		f.Func().Id("sqePollMask").Params(jen.Id("m").Uint32()).Uint32().Block(
			jen.If(jen.Id("bigEndian")).Block(jen.Return(jen.Id("m").Op("<<").Lit(16).Op("|").Id("m").Op(">>").Lit(16))),
			jen.Return(jen.Id("m")),
		)
	}
	e.put("builders.go", f)

	bg.emitStores()
	if !bg.used["io"] {
		return
	}
	tagged := func(name, tag string, defs ...jen.Code) {
		bf := e.newFile()
		bf.HeaderComment("//go:build " + tag)
		bf.Const().Defs(defs...)
		e.put(name, bf)
	}
	// _IO's direction field: asm-generic/ioctl.h, and the mips and powerpc
	// asm/ioctl.h that override it (_IOC_NONE 1U, _IOC_DIRSHIFT 29).
	alt := "mips || mipsle || mips64 || mips64le || ppc64 || ppc64le"
	iocDoc := "iocNone and iocDirShift place _IO's \"no data\" direction (_IOC_NONE, _IOC_DIRSHIFT)\nfor ioctl-style command numbers."
	tagged("builders_ioc.go", "!("+alt+")", jen.Comment(iocDoc).Line().Id("iocNone").Op("=").Lit(0), jen.Id("iocDirShift").Op("=").Lit(30))
	tagged("builders_ioc_alt.go", alt, jen.Comment(iocDoc).Line().Id("iocNone").Op("=").Lit(1), jen.Id("iocDirShift").Op("=").Lit(29))
}

// emitStores writes the builder methods: one file per byte order when
// every GOARCH of that order places the SQE's fields alike (the usual case),
// else one file per group of GOARCHes that do. A byte order none of the
// laid-out GOARCHes has gets the first one's offsets, so that the package
// builds for every GOARCH Go supports.
func (bg *builderGen) emitStores() {
	var bigArchs []string
	endian := map[string]bool{}
	for _, a := range model.Archs {
		endian[a.GOARCH] = a.BigEndian
		if a.BigEndian {
			bigArchs = append(bigArchs, a.GOARCH)
		}
	}
	bigTag := strings.Join(bigArchs, " || ")
	for _, be := range []bool{false, true} {
		var archs []string
		for _, a := range bg.e.m.Archs {
			if endian[a] == be {
				archs = append(archs, a)
			}
		}
		if len(archs) == 0 {
			archs = bg.e.m.Archs[:1]
		}
		plans := map[string][]*storePlan{}
		var order []string
		bySig := map[string][]string{}
		for _, a := range archs {
			ps := make([]*storePlan, len(bg.built))
			var sig strings.Builder
			for i, b := range bg.built {
				ps[i] = bg.plan(b, a, be)
				sig.WriteString(ps[i].signature())
			}
			k := sig.String()
			if bySig[k] == nil {
				order = append(order, k)
				plans[k] = ps
			}
			bySig[k] = append(bySig[k], a)
		}
		for _, k := range order {
			name, tag := "builders_little.go", "!("+bigTag+")"
			if be {
				name, tag = "builders_big.go", bigTag
			}
			group := bySig[k]
			if len(order) > 1 {
				name, tag = "builders_"+group[0]+".go", strings.Join(group, " || ")
			}
			bg.storeFile(name, tag, be, group, plans[k])
		}
	}
}

// storeFile writes one file of builder methods for the GOARCHes group.
func (bg *builderGen) storeFile(name, tag string, be bool, group []string, plans []*storePlan) {
	bf := bg.e.newFile()
	bf.HeaderComment("//go:build " + tag)
	order := "little"
	if be {
		order = "big"
	}
	doc := fmt.Sprintf("The builders write the SQE as 64-bit words, each the OR of its fields\n"+
		"shifted to their offsets (one store a word, nothing written twice); this\n"+
		"file has the %s-endian shifts for the offsets of %s.", order, strings.Join(group, ", "))
	for _, p := range plans {
		if p.Fields != "" {
			doc += "\nWhere the SQE's layout leaves that shape, a builder stores field by field\ninstead (its first line says why)."
			break
		}
	}
	bf.Comment(doc)
	bf.Line()
	if bg.used["poll"] {
		bf.Comment("bigEndian says whether poll masks need their halves swapped (see sqePollMask).")
		bf.Const().Id("bigEndian").Op("=").Lit(be)
	}
	for i, b := range bg.built {
		bg.method(bf, b, plans[i])
	}
	bg.e.put(name, bf)
}

// storePart is one field's value within a 64-bit word of the SQE.
type storePart struct {
	st    *store
	code  *jen.Statement // the field's bits in a uint64
	multi bool           // code is an OR of several terms
	shift int64
}

// storePlan is how one builder writes the SQE on one GOARCH: whole 64-bit
// words (Words, indexed by word), or, where the SQE's layout there leaves
// that shape (a size that is not a multiple of 8, a field across a word
// boundary), one store per field, with the reason in Fields.
type storePlan struct {
	Words  [][]storePart
	Fields string
	arch   string
	stores []*store // in offset order on arch
}

func (p *storePlan) signature() string {
	var b strings.Builder
	if p.Fields != "" {
		b.WriteString("fields:" + p.Fields)
		for _, st := range p.stores {
			fmt.Fprintf(&b, "%s@%d;", st.field, st.offset[p.arch])
		}
	}
	for i, w := range p.Words {
		for _, x := range w {
			fmt.Fprintf(&b, "%d:%s<<%d;", i, x.st.field, x.shift)
		}
	}
	return b.String() + "\n"
}

// plan places a builder's stores at the SQE offsets of arch, from the
// model. It fails (generation stops) where two stores overlap.
func (bg *builderGen) plan(b *builder, arch string, be bool) *storePlan {
	slot := bg.sqe.Src.Layout[arch].Size
	if b.spec.SQE128 {
		slot *= 2
	}
	p := &storePlan{arch: arch, stores: []*store{bg.opcode}}
	for _, st := range b.stores {
		if len(st.parts) > 0 {
			p.stores = append(p.stores, st)
		}
	}
	sort.SliceStable(p.stores, func(i, j int) bool { return p.stores[i].offset[arch] < p.stores[j].offset[arch] })
	for i, st := range p.stores {
		off := st.offset[arch]
		if i > 0 {
			prev := p.stores[i-1]
			if end := prev.offset[arch] + prev.size; off < end {
				bg.fail(b.spec, max(st.line, prev.line, b.spec.Line), "fields %s and %s overlap on %s (bytes %d-%d and %d-%d of struct io_uring_sqe)",
					prev.field, st.field, arch, prev.offset[arch], end-1, off, off+st.size-1)
			}
		}
		if p.Fields == "" && off%8+st.size > 8 {
			p.Fields = fmt.Sprintf("%s (offset %d, %d bytes) crosses a 64-bit word here", st.field, off, st.size)
		}
	}
	if slot%8 != 0 {
		p.Fields = fmt.Sprintf("struct io_uring_sqe is %d bytes here, not a whole number of 64-bit words", bg.sqe.Src.Layout[arch].Size)
	}
	if p.Fields != "" {
		return p
	}
	p.Words = make([][]storePart, slot/8)
	for _, st := range p.stores {
		off := st.offset[arch]
		code := jen.Uint64().Call(bg.constRef(bg.consts[b.opC]))
		if st != bg.opcode {
			code = jen.Add(st.parts[0])
			for _, x := range st.parts[1:] {
				code = code.Op("|").Add(x)
			}
		}
		shift := 8 * (off % 8)
		if be {
			shift = 8 * (8 - off%8 - st.size)
		}
		p.Words[off/8] = append(p.Words[off/8], storePart{st: st, code: code, multi: len(st.parts) > 1, shift: shift})
	}
	return p
}

// method emits one builder with its store plan for one group of GOARCHes.
func (bg *builderGen) method(f *jen.File, b *builder, p *storePlan) {
	s := b.spec
	var doc strings.Builder
	fmt.Fprintf(&doc, "%s prepares s for %s (Linux %s)", b.Go, b.opC, s.Since)
	if s.CHelper == s.Name {
		fmt.Fprintf(&doc, ", as io_uring_prep_%s in liburing does", s.Name)
	}
	doc.WriteString(".\n")
	doc.WriteString(wrap(sentence(strings.Join(s.Doc, " ")), 90))
	var keep []string
	for _, a := range b.args {
		if a.spec.Keep {
			keep = append(keep, a.spec.Name)
		}
	}
	doc.WriteString("\n\n")
	if s.SQE128 {
		doc.WriteString("s must start a 128-byte SQE slot (an IORING_SETUP_SQE128 ring, or two entries of an\nIORING_SETUP_SQE_MIXED ring); both halves are zeroed first, user_data included:\nset UserData after.")
	} else {
		doc.WriteString("The SQE is zeroed first, user_data included: set UserData after.")
	}
	if s.CQE32 {
		doc.WriteString(" The ring needs 32-byte CQEs\n(IORING_SETUP_CQE32, or IORING_SETUP_CQE_MIXED).")
	}
	switch len(keep) {
	case 0:
	case 1:
		fmt.Fprintf(&doc, " The kernel uses %s after submission:\nit must stay alive and unmoved until the completion.", keep[0])
	default:
		fmt.Fprintf(&doc, " The kernel uses %s after submission:\nthey must stay alive and unmoved until the completion.", strings.Join(keep, ", "))
	}
	var params []jen.Code
	for _, a := range b.args {
		params = append(params, jen.Id(a.spec.Name).Add(typeCode(a.spec.Type, "")))
	}
	var body []jen.Code
	if p.Fields != "" {
		body = bg.fieldStores(b, p)
	} else {
		body = wordStores(p)
	}
	f.Comment(doc.String())
	if bg.base == "" {
		f.Func().Params(jen.Id("s").Op("*").Id("SQE")).Id(b.Go).Params(params...).Block(body...)
		return
	}
	// A family built on another: a function taking the base's SQE.
	params = append([]jen.Code{jen.Id("s").Op("*").Qual(bg.base, "SQE")}, params...)
	f.Func().Id(b.Go).Params(params...).Block(body...)
}

// wordStores zeroes the words, then stores the non-zero ones: direct
// stores. (A composite literal with more than four non-zero words is built
// in a stack temporary and copied, several times slower.)
func wordStores(p *storePlan) []jen.Code {
	nw := len(p.Words)
	body := []jen.Code{
		jen.Id("w").Op(":=").Parens(jen.Op("*").Index(jen.Lit(nw)).Uint64()).Parens(jen.Qual("unsafe", "Pointer").Call(jen.Id("s"))),
		jen.Op("*").Id("w").Op("=").Index(jen.Lit(nw)).Uint64().Values(),
	}
	for i, ps := range p.Words {
		if len(ps) == 0 {
			continue
		}
		var x *jen.Statement
		var names []string
		for _, part := range ps {
			t := part.code
			if part.shift != 0 {
				if part.multi {
					t = jen.Parens(t)
				}
				t = jen.Add(t).Op("<<").Lit(int(part.shift))
			}
			if x == nil {
				x = jen.Add(t)
			} else {
				x = x.Op("|").Add(t)
			}
			names = append(names, part.st.field)
		}
		body = append(body, jen.Id("w").Index(jen.Lit(i)).Op("=").Add(x).Comment(strings.Join(names, ", ")))
	}
	return body
}

// fieldStores zeroes the SQE (both halves for a 128-byte one) and stores
// each field at its offset on these GOARCHes, as the unsigned integer of
// its size (a literal of all ones does not fit a signed field's type).
func (bg *builderGen) fieldStores(b *builder, p *storePlan) []jen.Code {
	zero := jen.Op("*").Id("s").Op("=").Add(bg.sqeType()).Values()
	if b.spec.SQE128 {
		zero = jen.Op("*").Parens(jen.Op("*").Index(jen.Lit(2)).Add(bg.sqeType())).Parens(jen.Qual("unsafe", "Pointer").Call(jen.Id("s"))).Op("=").Index(jen.Lit(2)).Add(bg.sqeType()).Values()
	}
	body := []jen.Code{jen.Comment("Field by field: " + p.Fields + "."), zero}
	for _, st := range p.stores {
		val := jen.Uint64().Call(bg.constRef(bg.consts[b.opC]))
		if st != bg.opcode {
			val = jen.Add(st.parts[0])
			for _, x := range st.parts[1:] {
				val = val.Op("|").Add(x)
			}
		}
		u := intType(st.size, false)
		if u != "uint64" {
			val = jen.Id(u).Call(val)
		}
		ptr := jen.Qual("unsafe", "Add").Call(jen.Qual("unsafe", "Pointer").Call(jen.Id("s")), jen.Lit(int(st.offset[p.arch])))
		body = append(body, jen.Op("*").Parens(jen.Op("*").Id(u)).Parens(ptr).Op("=").Add(val).Comment(st.field))
	}
	return body
}

// emitTable writes uapitest/builders.go: every builder with its argument
// kinds, a closure that calls it from raw argument slots, and the C source
// that calls the liburing reference for the same slots.
func (bg *builderGen) emitTable() {
	e := bg.e
	u := e.opt.PkgPath
	reg := RegistryDir(e.opt.PkgName)
	f := jen.NewFilePathName(u+"/"+reg, reg)
	f.HeaderComment(e.headerLine(" and templates/builders.txt"))
	sqePkg := u
	if bg.base != "" {
		sqePkg = bg.base
	} else {
		bg.tableTypes(f, u)
	}
	var rows []jen.Code
	var csrc strings.Builder
	csrc.WriteString("\n/* urgen_prep calls the liburing reference of builder case id on the argument slots a. */\n")
	csrc.WriteString("static void urgen_prep(int id, struct io_uring_sqe *sqe, const unsigned long long *a)\n{\n\t(void)a;\n\tswitch (id) {\n")
	idx := 0
	for _, b := range bg.built {
		rows = append(rows, bg.tableRow(b, u, sqePkg, &idx, &csrc))
	}
	csrc.WriteString("\tdefault:\n\t\tabort();\n\t}\n}\n")
	f.Comment("Builders lists every generated builder in template order.")
	f.Var().Id("Builders").Op("=").Index().Add(e.registryType("Builder")).Values(rows...)
	if bg.base == "" {
		f.Comment("LiburingC is C source defining urgen_prep; it needs liburing.h and stdlib.h.")
		f.Const().Id("LiburingC").Op("=").Op("`" + csrc.String() + "`")
	}
	e.put(reg+"/builders.go", f)
}

// tableTypes declares the builder table's types (in the base registry).
func (bg *builderGen) tableTypes(f *jen.File, u string) {
	f.Comment("ArgKind says how a builder argument travels in the argument slots.")
	f.Type().Id("ArgKind").Int()
	f.Const().Defs(
		jen.Comment("ArgInt is an integer: one slot holding its value, sign-extended.").Line().Id("ArgInt").Id("ArgKind").Op("=").Iota(),
		jen.Comment("ArgPointer is a pointer: one slot holding its address (from the pointer slot).").Line().Id("ArgPointer"),
		jen.Comment("ArgSlice is a slice: its address slot, then its length slot.").Line().Id("ArgSlice"),
	)
	f.Comment("Arg is one parameter of a builder.")
	f.Type().Id("Arg").Struct(
		jen.Id("Name").String(),
		jen.Id("Type").String().Comment("Go type as the template writes it"),
		jen.Id("Kind").Id("ArgKind"),
		jen.Id("Slot").Int().Comment("first slot"),
		jen.Id("Size").Int().Comment("integer size in bytes; element size for pointers and slices"),
		jen.Id("Signed").Bool(),
		jen.Id("Flags").Index().Uint64().Comment("values of the argument's typed constant set"),
		jen.Id("Keep").Bool().Comment("the kernel uses the memory after submission"),
	)
	f.Comment("Builder is a generated SQE builder: Call runs it on argument slots a\n(pointers and slice data in p at the same index), and LiburingC's\nurgen_prep(Index, sqe, a) runs its liburing reference on the same slots.")
	f.Type().Id("Builder").Struct(
		jen.Id("Go").String().Comment("method name on *SQE"),
		jen.Id("Op").Qual(u, "Op"),
		jen.Id("Since").String().Comment("first Linux release"),
		jen.Id("SQE128").Bool().Comment("needs a 128-byte SQE slot"),
		jen.Id("Liburing").String().Comment("liburing reference helper; empty when checked by hand"),
		jen.Id("Counterpart").Bool().Comment("Liburing is the builder's own helper"),
		jen.Id("CCall").String().Comment("the reference call as the template writes it"),
		jen.Id("Index").Int().Comment("case of urgen_prep in LiburingC; -1 without a reference"),
		jen.Id("CTwin").String().Comment("C statements doing what the template says to sqe from the slots a; empty where a term has no C spelling"),
		jen.Id("Slots").Int(),
		jen.Id("Args").Index().Id("Arg"),
		jen.Id("Call").Func().Params(jen.Id("s").Op("*").Qual(u, "SQE"), jen.Id("a").Index().Uint64(), jen.Id("p").Index().Qual("unsafe", "Pointer")),
	)
}

// tableRow is one builder's entry: its arguments, a closure calling it on
// argument slots, its liburing reference (a case of urgen_prep in csrc)
// and its C twin.
func (bg *builderGen) tableRow(b *builder, u, sqePkg string, idx *int, csrc *strings.Builder) jen.Code {
	e := bg.e
	{
		s := b.spec
		index := -1
		if s.CHelper != "" {
			index = *idx
			*idx++
			fmt.Fprintf(csrc, "\tcase %d: /* %s */\n\t\tio_uring_prep_%s(sqe%s);\n\t\tbreak;\n", index, b.Go, s.CHelper, prefixJoin(b.cArgs()))
		}
		var args []jen.Code
		var callArgs []jen.Code
		for _, a := range b.args {
			kind, size := "ArgInt", a.size
			var flags []jen.Code
			switch a.kind {
			case "int":
				callArgs = append(callArgs, typeCode(a.intType, u).Call(jen.Id("a").Index(jen.Lit(a.slot))))
				if a.set != nil {
					for _, c := range a.set.Consts {
						flags = append(flags, jen.Lit(c.Value.Bits))
					}
				}
			case "ptr":
				kind = "ArgPointer"
				callArgs = append(callArgs, jen.Parens(typeCode(a.spec.Type, u)).Call(jen.Id("p").Index(jen.Lit(a.slot))))
				size = 0
			case "slice":
				kind = "ArgSlice"
				callArgs = append(callArgs, jen.Qual("unsafe", "Slice").Call(jen.Parens(jen.Op("*").Add(typeCode(a.elem, u))).Call(jen.Id("p").Index(jen.Lit(a.slot))), jen.Id("a").Index(jen.Lit(a.slot+1))))
			}
			fields := jen.Dict{
				jen.Id("Name"): jen.Lit(a.spec.Name),
				jen.Id("Type"): jen.Lit(a.spec.Type),
				jen.Id("Kind"): e.registryType(kind),
				jen.Id("Slot"): jen.Lit(a.slot),
			}
			switch a.kind {
			case "ptr":
				fields[jen.Id("Size")] = jen.Int().Call(jen.Qual("unsafe", "Sizeof").Call(jen.Op("*").Parens(typeCode(a.spec.Type, u)).Call(jen.Nil())))
			case "slice":
				fields[jen.Id("Size")] = jen.Int().Call(jen.Qual("unsafe", "Sizeof").Call(jen.Op("*").Parens(jen.Op("*").Add(typeCode(a.elem, u))).Call(jen.Nil())))
			default:
				fields[jen.Id("Size")] = jen.Lit(int(size))
				if a.signed {
					fields[jen.Id("Signed")] = jen.True()
				}
			}
			if len(flags) > 0 {
				fields[jen.Id("Flags")] = jen.Index().Uint64().Values(flags...)
			}
			if a.spec.Keep {
				fields[jen.Id("Keep")] = jen.True()
			}
			args = append(args, jen.Values(fields))
		}
		call := jen.Id("s").Dot(b.Go).Call(callArgs...)
		if bg.base != "" {
			call = jen.Qual(u, b.Go).Call(append([]jen.Code{jen.Id("s")}, callArgs...)...)
		}
		row := jen.Dict{
			jen.Id("Go"):    jen.Lit(b.Go),
			jen.Id("Op"):    jen.Qual(sqePkg, b.opGo),
			jen.Id("Since"): jen.Lit(s.Since),
			jen.Id("Index"): jen.Lit(index),
			jen.Id("Slots"): jen.Lit(b.slots),
			jen.Id("Call"):  jen.Func().Params(jen.Id("s").Op("*").Qual(sqePkg, "SQE"), jen.Id("a").Index().Uint64(), jen.Id("p").Index().Qual("unsafe", "Pointer")).Block(call),
		}
		if twin := b.cTwin(); twin != "" {
			row[jen.Id("CTwin")] = jen.Lit(twin)
		}
		if len(args) > 0 {
			row[jen.Id("Args")] = jen.Index().Add(e.registryType("Arg")).Values(args...)
		}
		if s.SQE128 {
			row[jen.Id("SQE128")] = jen.True()
		}
		if s.CHelper != "" {
			row[jen.Id("Liburing")] = jen.Lit("io_uring_prep_" + s.CHelper)
			row[jen.Id("CCall")] = jen.Lit("io_uring_prep_" + s.CHelper + "(sqe" + prefixJoin(s.CArgs) + ")")
			if s.CHelper == s.Name {
				row[jen.Id("Counterpart")] = jen.True()
			}
		}
		return jen.Values(row)
	}
}

func prefixJoin(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return ", " + strings.Join(args, ", ")
}

// wrap breaks text into lines of at most width bytes at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(text) {
		if i > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
