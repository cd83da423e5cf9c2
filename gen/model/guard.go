package model

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"modernc.org/cc/v4"
)

// The guard serves the header files to cc/v4 (through Config.FS) and
// handles its pragmas, so that no header makes the parser hang, crash or
// accept what a C compiler rejects:
//
//   - each file is prescanned first (see prescan): an unterminated comment
//     or brackets nested deeper than maxNesting stop it from reaching cc/v4;
//   - each served file is wrapped in marker pragmas, so the guard knows the
//     include nesting (cc/v4 has no working limit: a file that includes
//     itself grew memory without end) and stops it at GCC's 200;
//   - a line that looks like a directive but is none ("#defne") becomes a
//     marker pragma, which cc/v4 hands back only where the line is not in a
//     skipped #if group, as GCC reports it only there;
//   - #pragma pack (which cc/v4 ignores) is rejected with its position;
//   - object-like macros whose expansion is too large or too deep for cc/v4
//     (see macroCost) are kept from it and evaluated by macroEval instead;
//   - a sentinel after the headers gives cc/v4's parser a way out of the
//     loops it otherwise never leaves at the end of input, a deadline stops
//     waiting for it if it still does, and a panic in it becomes an error.

// maxIncludeDepth is GCC's limit on #include nesting.
const maxIncludeDepth = 200

// parseDeadline bounds one cc/v4 translation; the io_uring headers take
// about 0.15 s.
var parseDeadline = 20 * time.Second

// neutralName is the file, served by the guard alone, that defines the
// macros kept from cc/v4 as their values.
const neutralName = ".urgen-macros.h"

// sentinel ends every translation unit: the pragma tells the guard the
// headers are done, the include brings the values of the macros kept from
// cc/v4, and the declarations give cc/v4's parser tokens to resynchronise
// on when a header ends inside a declaration (it loops forever at the end
// of input after a lone "*" or "extern").
var sentinel = "#pragma __urgen_end\n#include <" + neutralName + ">\n" + strings.Repeat("typedef int __urgen_eof_t;\n", 32)

type guard struct {
	dir   string // absolute
	scope Scope
	cache map[string]*scanned // prescans by file, shared by the arches
	cost  *macroCost
	eval  *macroEval

	mu      sync.Mutex
	stack   []string // files being read, outermost first
	errs    []*Error
	neutral map[string]*define // object-like macros kept from cc/v4
	values  map[string]cval    // and their values
	nondir  map[string]map[int]*directive
	once    map[string]bool
	tooDeep bool   // the include depth error is reported
	last    string // the file read last
	ended   bool
	macros  []byte // the content of neutralName
}

func newGuard(dir string, scope Scope, lp64 bool, cache map[string]*scanned) *guard {
	g := &guard{dir: dir, scope: scope, cache: cache, cost: newMacroCost(),
		neutral: map[string]*define{}, values: map[string]cval{}, nondir: map[string]map[int]*directive{}, once: map[string]bool{}}
	g.eval = newMacroEval(g.cost, lp64)
	return g
}

func (g *guard) rel(name string) string {
	if r, err := filepath.Rel(g.dir, filepath.FromSlash(name)); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return name
}

func (g *guard) fail(p Pos, format string, args ...any) {
	e := &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
	for _, x := range g.errs {
		if *x == *e {
			return
		}
	}
	g.errs = append(g.errs, e)
}

// Open serves a header file to cc/v4 (Config.FS with FSOnly).
func (g *guard) Open(name string) (fs.File, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rel := g.rel(name)
	if rel == neutralName {
		return newMemFile(name, g.macros), nil
	}
	src, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	sc := g.cache[rel]
	if sc == nil {
		sc = prescan(rel, src)
		g.cache[rel] = sc
	}
	var pro bytes.Buffer
	fmt.Fprintf(&pro, "#pragma __urgen_enter\n")
	if len(sc.errs) > 0 {
		for _, e := range sc.errs {
			g.fail(e.Pos, "%s", e.Msg)
		}
		return newMemFile(name, pro.Bytes()), nil
	}
	g.cost.add(sc.defines)
	var lines [][]byte // split only when a line is replaced
	replace := func(first, last int, text string) {
		if lines == nil {
			lines = bytes.SplitAfter(append([]byte(nil), src...), []byte("\n"))
		}
		lines[first-1] = []byte(text)
		for l := first + 1; l <= last && l <= len(lines); l++ {
			lines[l-1] = []byte("\n")
		}
	}
	// Macros too costly for cc/v4: undefined where they are defined (or,
	// when a later definition made an earlier one costly, before this
	// file), then evaluated by macroEval at the end.
	for _, name := range g.costly(sc.defines) {
		defs := g.cost.defs[name]
		for _, d := range defs {
			if d.pos.File == rel {
				replace(d.line, d.end, "#undef "+d.name+"\n")
			}
		}
		if defs[0].pos.File != rel {
			fmt.Fprintf(&pro, "#undef %s\n", name)
		}
	}
	for _, d := range sc.directives {
		switch {
		case (isDigits(d.name) || d.name == "line") && lineDirectiveError(d) != "":
			d.bad = lineDirectiveError(d)
			if g.nondir[rel] == nil {
				g.nondir[rel] = map[int]*directive{}
			}
			g.nondir[rel][d.line] = d
			replace(d.line, d.end, "#pragma __urgen_directive\n")
		case d.name == "" || knownDirectives[d.name] || isDigits(d.name):
			// A line marker ("# 33 \"file\"") is GCC's #line; cc/v4 skips it.
		case d.name == "ident" || d.name == "sccs" || d.name == "warning":
			// cc/v4 skips these as GCC would (GCC prints #warning's text).
		default:
			if g.nondir[rel] == nil {
				g.nondir[rel] = map[int]*directive{}
			}
			g.nondir[rel][d.line] = d
			replace(d.line, d.end, "#pragma __urgen_directive\n")
		}
	}
	for _, t := range sc.text {
		// The tokens written count once each: what is bounded is what
		// macros add (a long line of plain declarations is linear work).
		if size, depth := g.cost.text(t); depth > maxNesting || size-int64(len(t)) > 10*maxExpansion {
			g.fail(Pos{File: rel, Line: t[0].line, Col: t[0].col}, "this line's macros expand it to about %d tokens nested %d deep (the limits are %d more than the line's %d and %d)", size, depth, 10*maxExpansion, len(t), maxNesting)
			return newMemFile(name, pro.Bytes()), nil
		}
	}
	fmt.Fprintf(&pro, "#line 1 \"%s\"\n", strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(filepath.FromSlash(name)))
	out := pro.Bytes()
	if lines == nil {
		out = append(out, src...)
	}
	for _, l := range lines {
		out = append(out, l...)
	}
	out = append(out, "\n\n#pragma __urgen_leave\n"...)
	return newMemFile(name, out), nil
}

// lineDirectiveError says what gcc rejects in a #line directive or a line
// marker ("# 33 \"file\" 1"), which cc/v4 reads loosely or skips: a
// filename that is no string literal, a flag other than 1 to 4.
func lineDirectiveError(d *directive) string {
	toks := d.toks
	if d.name == "line" {
		if len(toks) == 0 || !isDigits(toks[0].text) {
			return "" // a macro, or nothing: cc/v4 reports that
		}
		toks = toks[1:]
	}
	if len(toks) > 0 && toks[0].kind != tokString {
		return fmt.Sprintf("%q is not a valid filename", toks[0].text)
	}
	if d.name == "line" || len(toks) == 0 {
		return ""
	}
	for _, t := range toks[1:] {
		if t.text < "1" || t.text > "4" || len(t.text) != 1 {
			return fmt.Sprintf("invalid flag %q in line directive", t.text)
		}
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// costly lists the object-like macros of defs, in the order read, whose
// expansion is too large or too deep for cc/v4, and keeps each from it as
// it is found: from then on it stands for its value, one token, which makes
// most of the macros built on it cheap again (of a doubling chain only the
// first over the limit is kept from cc/v4).
func (g *guard) costly(defs []*define) []string {
	var r []string
	for _, d := range defs {
		if d.fnLike || g.neutral[d.name] != nil {
			continue
		}
		if size, depth := g.cost.of(d); size > maxExpansion || depth > maxNesting {
			r = append(r, d.name)
			defs := g.cost.defs[d.name]
			g.neutral[d.name] = defs[len(defs)-1]
			g.cost.makeLiteral(d.name)
		}
	}
	return r
}

// pragma is cc/v4's Config.PragmaHandler: the guard's markers, and the
// pragmas that change what the headers mean.
func (g *guard) pragma(toks []cc.Token) error {
	if len(toks) == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := toks[0].Position()
	file := g.rel(filepath.ToSlash(p.Filename))
	pos := Pos{File: file, Line: p.Line, Col: p.Column}
	switch word := toks[0].SrcStr(); word {
	case "__urgen_enter":
		if len(g.stack) >= maxIncludeDepth {
			if !g.tooDeep {
				g.tooDeep = true
				g.fail(g.includedFrom(file), "#include nested depth %d exceeds maximum of %d (%s includes itself, directly or through others: %s)",
					len(g.stack)+1, maxIncludeDepth, file, g.chain(file))
			}
			return cc.SkipSource
		}
		g.stack = append(g.stack, file)
	case "__urgen_leave":
		if len(g.stack) > 0 {
			g.last = g.stack[len(g.stack)-1]
			g.stack = g.stack[:len(g.stack)-1]
		}
	case "__urgen_directive":
		if d := g.nondir[file][p.Line]; d != nil {
			switch {
			case d.bad != "":
				g.fail(d.pos, "%s", d.bad)
			case d.name == "elifdef" || d.name == "elifndef" || d.name == "assert" || d.name == "unassert":
				g.fail(d.pos, "unsupported construct: #%s", d.name)
			case d.name[0] >= '0' && d.name[0] <= '9':
				g.fail(d.pos, "%q after # is not a positive integer", d.name)
			default:
				g.fail(d.pos, "invalid preprocessing directive #%s", d.name)
			}
		}
	case "__urgen_end":
		g.ended = true
		g.macros = g.evaluateCostly()
	case "pack", "scalar_storage_order", "ms_struct":
		g.fail(pos, "unsupported construct: #pragma %s changes struct layout (cc/v4 would ignore it); use __attribute__((packed)) or explicit padding", word)
	case "once":
		if g.once[file] {
			if len(g.stack) > 0 {
				g.stack = g.stack[:len(g.stack)-1]
			}
			return cc.SkipSource
		}
		g.once[file] = true
	case "GCC":
		if len(toks) > 1 && (toks[1].SrcStr() == "error" || toks[1].SrcStr() == "poison") {
			g.fail(pos, "#pragma GCC %s", toks[1].SrcStr())
		}
	}
	return nil
}

// evaluateCostly defines the macros kept from cc/v4 as their values, or
// fails for those of the model's scope that macroEval cannot evaluate.
func (g *guard) evaluateCostly() []byte {
	g.costlyAtEnd()
	names := make([]string, 0, len(g.neutral))
	for name := range g.neutral {
		names = append(names, name)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		d := g.neutral[name]
		v, err := g.eval.value(name)
		if err != nil {
			if g.scope.inScope(d.pos.File, name) {
				size, depth := g.cost.of(d)
				g.fail(d.pos, "macro %s expands to about %d tokens nested %d deep, more than cc/v4 can take (limits %d and %d), and it cannot be evaluated without expanding it: %v",
					name, size, depth, maxExpansion, maxNesting, err)
			}
			continue
		}
		g.values[name] = v
		fmt.Fprintf(&b, "#undef %s\n#define %s %s\n", name, name, g.eval.literal(v))
	}
	return b.Bytes()
}

// costlyAtEnd keeps from cc/v4 the macros that definitions in later files
// made costly, before it evaluates them.
func (g *guard) costlyAtEnd() {
	g.cost.reset()
	g.costly(g.cost.order)
}

// includedFrom is the position of the #include of file in the file that
// includes it (the innermost on the stack).
func (g *guard) includedFrom(file string) Pos {
	if len(g.stack) == 0 {
		return Pos{File: file, Line: 1, Col: 1}
	}
	from := g.stack[len(g.stack)-1]
	if sc := g.cache[from]; sc != nil {
		for _, d := range sc.directives {
			if (d.name == "include" || d.name == "include_next") && len(d.toks) > 0 {
				var b strings.Builder
				for _, t := range d.toks {
					b.WriteString(t.text)
				}
				if strings.Contains(b.String(), filepath.Base(file)) {
					return Pos{File: from, Line: d.toks[0].line, Col: d.toks[0].col}
				}
			}
		}
	}
	return Pos{File: from, Line: 1, Col: 1}
}

// chain is the include chain from the first inclusion of file.
func (g *guard) chain(file string) string {
	i := 0
	for i < len(g.stack) && g.stack[i] != file {
		i++
	}
	c := g.stack[i:]
	if len(c) > 4 {
		c = append(c[:3:3], "...", c[len(c)-1])
	}
	return strings.Join(append(c, file), " -> ")
}

// current is the file being read, for messages about crashes.
func (g *guard) current() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.stack) == 0 {
		return ""
	}
	return g.stack[len(g.stack)-1]
}

// errors returns the guard's errors, in the order found.
func (g *guard) errors() []*Error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Error(nil), g.errs...)
}

// translate runs cc.Translate under the guard: with a deadline, and with a
// panic in cc/v4 turned into an error.
func (g *guard) translate(cfg *cc.Config, sources []cc.Source) (*cc.AST, error) {
	cfg.FS = g
	cfg.FSOnly = true
	cfg.PragmaHandler = g.pragma
	sources = append(sources, cc.Source{Name: "<urgen-end>", Value: sentinel})
	type result struct {
		ast *cc.AST
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if e := recover(); e != nil {
				done <- result{err: fmt.Errorf("the C parser (modernc.org/cc/v4) crashed%s: %v", g.where(), e)}
			}
		}()
		ast, err := cc.Translate(cfg, sources)
		done <- result{ast, err}
	}()
	select {
	case r := <-done:
		return r.ast, r.err
	case <-time.After(parseDeadline):
		return nil, fmt.Errorf("the C parser (modernc.org/cc/v4) did not finish within %v%s; it loops on some malformed input", parseDeadline, g.where())
	}
}

func (g *guard) where() string {
	if f := g.current(); f != "" {
		return " while reading " + f
	}
	return ""
}

// memFile is a served file.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func newMemFile(name string, b []byte) *memFile {
	return &memFile{Reader: bytes.NewReader(b), name: name, size: int64(len(b))}
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f}, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct{ f *memFile }

func (i memInfo) Name() string       { return filepath.Base(i.f.name) }
func (i memInfo) Size() int64        { return i.f.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// expansionLimit bounds the work of cc/v4's macro expansion in one
// translation (Config.ExpansionLimit), a backstop behind macroCost: the
// pinned io_uring headers are far below it.
const expansionLimit = 50_000_000

// guardError reports the guard's errors, each with its source line.
func guardError(dir, arch string, errs []*Error) error {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
		b.WriteString(excerpt(dir, e.Pos))
	}
	if len(errs) == 1 {
		return &Error{Pos: errs[0].Pos, Msg: errs[0].Msg + excerpt(dir, errs[0].Pos)}
	}
	return &Error{Msg: fmt.Sprintf("arch %s:\n%s", arch, b.String())}
}

// excerpt quotes the source line of p with a caret under its column, as
// "\n\tline\n\t   ^", or returns "" without one.
func excerpt(dir string, p Pos) string {
	if p.File == "" || p.Line < 1 {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p.File)))
	if err != nil {
		return ""
	}
	src := strings.Split(string(b), "\n")
	if p.Line > len(src) || p.Col < 1 || p.Col > len(src[p.Line-1])+1 {
		return ""
	}
	text, col := src[p.Line-1], p.Col
	// A long line is quoted around the column only (a line of 100,000
	// brackets made a message of 200 KB).
	if len(text) > maxExcerpt {
		from := max(0, min(col-1-maxExcerpt/2, len(text)-maxExcerpt))
		to := from + maxExcerpt
		text, col = text[from:to], col-from
		if from > 0 {
			text, col = "..."+text, col+3
		}
		if to < len(src[p.Line-1]) {
			text += "..."
		}
	}
	caret := strings.Map(func(r rune) rune {
		if r == '\t' {
			return r
		}
		return ' '
	}, text[:col-1]) + "^"
	return "\n\t" + text + "\n\t" + caret
}

// maxExcerpt is the most bytes of a source line an excerpt quotes.
const maxExcerpt = 160

// explainEnd explains cc/v4's complaints about the end of the input
// (which it places in the sentinel, or nowhere: "-: unexpected EOF") by
// where the headers leave a declaration unfinished: a struct body that a
// later "}" closes, else the outermost bracket a file leaves open, else the
// last token of the last file read. It returns nil for other errors.
func (g *guard) explainEnd(err error) *Error {
	msg := err.Error()
	for _, line := range strings.Split(msg, "\n") {
		if strings.HasPrefix(line, g.dir+string(filepath.Separator)) {
			return nil // cc/v4 says where
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	files := make([]string, 0, len(g.cache))
	for f := range g.cache {
		files = append(files, f)
	}
	sort.Strings(files)
	if e := leftOpen(files, func(f string) *scanned { return g.cache[f] }); e != nil {
		return e
	}
	if sc := g.cache[g.last]; sc != nil && sc.last != nil {
		return &Error{Pos: Pos{File: g.last, Line: sc.last.line, Col: sc.last.col}, Msg: fmt.Sprintf("the headers end inside a declaration: %q is the last token of the last header read", sc.last.text)}
	}
	return &Error{Msg: "the headers end inside a declaration (" + strings.SplitN(msg, "\n", 2)[0] + ")"}
}

// leftOpen finds, in the scans of files in order, a struct body that a
// later "}" closes, else the outermost bracket a file leaves open: where
// the headers leave a declaration unfinished. It returns nil for none.
func leftOpen(files []string, scan func(f string) *scanned) *Error {
	at := func(f string, t *ptok, format string, args ...any) *Error {
		return &Error{Pos: Pos{File: f, Line: t.line, Col: t.col}, Msg: fmt.Sprintf(format, args...)}
	}
	for _, f := range files {
		if sc := scan(f); sc != nil && sc.misclosed != nil {
			return at(f, sc.misclosed, "this body is never closed by its own \"};\": the headers end inside it")
		}
	}
	for _, f := range files {
		if sc := scan(f); sc != nil && len(sc.unclosed) > 0 {
			return at(f, &sc.unclosed[0], "%q is never closed: the headers end inside this declaration", sc.unclosed[0].text)
		}
	}
	return nil
}
