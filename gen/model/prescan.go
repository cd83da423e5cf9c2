package model

import "fmt"

// The prescan reads each header file once, before cc/v4 does, and finds
// what cc/v4 would hang or crash on, accept silently, or report without a
// position: comments that never end, brackets nested deeper than a C
// compiler allows, lines that look like directives but are none, and every
// #define, whose expansion is estimated before cc/v4 expands it (see
// macroCost). It is a tokenizer, not a parser: it does not evaluate #if,
// so it sees the directives of every branch.

// maxNesting is how deeply brackets may nest, in a header or in a macro's
// expansion: clang's default -fbracket-depth. cc/v4's recursive-descent
// parser overflows the goroutine stack (a fatal error, not a panic)
// somewhere near 100,000.
const maxNesting = 256

// ptok is a preprocessing token of the prescan.
type ptok struct {
	kind tokKind
	text string
	line int // physical line, 1-based
	col  int // byte column, 1-based
}

type tokKind int

const (
	tokIdent tokKind = iota
	tokNumber
	tokChar
	tokString
	tokPunct
)

// directive is a preprocessing directive of the file.
type directive struct {
	bad       string // what gcc says about it, for the guard
	name      string // "define", "include", ...; "" for a null directive
	pos       Pos    // of the name (of the # for a null directive)
	line, end int    // physical lines it spans
	toks      []ptok // after the name
}

// define is a #define.
type define struct {
	name     string
	pos      Pos
	fnLike   bool
	params   []string
	body     []ptok
	line     int // physical lines of the directive
	end      int
	variadic bool
}

// scanned is what the prescan found in one file.
type scanned struct {
	directives []*directive
	defines    []*define
	// unclosed lists the brackets still open at the end of the file,
	// outside directives, outermost first.
	unclosed []ptok
	// text holds the logical lines outside directives.
	text [][]ptok
	// last is the file's last token outside directives.
	last *ptok
	// misclosed is the first struct, union or enum body whose "}" is
	// not followed by what ends a declaration: where a "};" is missing.
	misclosed *ptok
	errs      []*Error // fatal: the file must not reach cc/v4
}

// knownDirectives are the directives cc/v4 implements. GCC also knows
// these, plus warning, ident, sccs, assert, unassert, elifdef and
// elifndef; cc/v4 skips the first five silently and would misread the C23
// pair as text inside the preceding group.
var knownDirectives = map[string]bool{
	"if": true, "ifdef": true, "ifndef": true, "elif": true, "else": true, "endif": true,
	"include": true, "include_next": true, "define": true, "undef": true, "line": true,
	"error": true, "pragma": true,
}

// prescan tokenizes src, the file at file (relative to the headers dir).
func prescan(file string, src []byte) *scanned {
	s := &scanned{}
	lx := &lexer{src: src, line: 1, col: 1}
	pos := func(t ptok) Pos { return Pos{File: file, Line: t.line, Col: t.col} }
	fatal := func(p Pos, format string, args ...any) {
		s.errs = append(s.errs, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
	for {
		line := lx.logicalLine()
		if lx.err != nil {
			fatal(Pos{File: file, Line: lx.err.line, Col: lx.err.col}, "%s", lx.err.text)
			return s
		}
		if line == nil && lx.eof() {
			break
		}
		if len(line) > 0 && line[0].text == "#" && line[0].kind == tokPunct {
			d := &directive{pos: pos(line[0]), line: line[0].line, end: lx.line}
			if lx.col == 1 && lx.line > line[0].line {
				d.end = lx.line - 1
			}
			rest := line[1:]
			if len(rest) > 0 {
				d.name, d.pos, d.toks = rest[0].text, pos(rest[0]), rest[1:]
			}
			s.directives = append(s.directives, d)
			if d.name == "define" && len(d.toks) > 0 && d.toks[0].kind == tokIdent {
				s.defines = append(s.defines, parseDefine(d, pos(d.toks[0])))
			}
			if depth, at := nesting(d.toks); depth > maxNesting {
				fatal(pos(at), "brackets nested %d deep in #%s (the limit is %d)", depth, d.name, maxNesting)
			}
			continue
		}
		if len(line) > 0 {
			s.text = append(s.text, line)
		}
	}
	var flat []ptok
	for _, l := range s.text {
		flat = append(flat, l...)
	}
	if len(flat) > 0 {
		s.last = &flat[len(flat)-1]
	}
	var stack []int // indexes of open brackets
	for i, t := range flat {
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "(", "[", "{":
			stack = append(stack, i)
			if len(stack) == maxNesting+1 {
				fatal(pos(t), "brackets nested more than %d deep", maxNesting)
				return s
			}
		case ")", "]", "}":
			if len(stack) == 0 {
				break
			}
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if t.text == "}" && s.misclosed == nil && tagBody(flat, open) && !endsDeclarator(flat, i+1) {
				s.misclosed = &flat[open]
			}
		}
	}
	for _, i := range stack {
		s.unclosed = append(s.unclosed, flat[i])
	}
	return s
}

// tagBody reports whether the "{" at flat[i] opens a struct, union or enum
// body.
func tagBody(flat []ptok, i int) bool {
	for j := i - 1; j >= 0 && j >= i-2; j-- {
		switch flat[j].text {
		case "struct", "union", "enum":
			return true
		}
		if flat[j].kind != tokIdent {
			return false
		}
	}
	return false
}

// endsDeclarator reports whether what follows a struct body's "}" at
// flat[i] can: a ";", a declarator or an attribute, where a "}" closing
// something else (extern "C" {) is followed by nothing of the kind.
func endsDeclarator(flat []ptok, i int) bool {
	if i >= len(flat) {
		return false
	}
	t := flat[i]
	return t.text == ";" || t.text == "*" || t.text == "," || t.text == ")" || t.kind == tokIdent || t.text == "("
}

// nesting returns the deepest bracket nesting in toks and the token that
// reaches it.
func nesting(toks []ptok) (int, ptok) {
	depth, most := 0, 0
	var at ptok
	for _, t := range toks {
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "(", "[", "{":
			depth++
			if depth > most {
				most, at = depth, t
			}
		case ")", "]", "}":
			if depth > 0 {
				depth--
			}
		}
	}
	return most, at
}

func parseDefine(d *directive, p Pos) *define {
	name := d.toks[0]
	def := &define{name: name.text, pos: p, line: d.line, end: d.end}
	rest := d.toks[1:]
	// Function-like when "(" follows the name without white space.
	if len(rest) > 0 && rest[0].text == "(" && rest[0].line == name.line && rest[0].col == name.col+len(name.text) {
		def.fnLike = true
		i := 1
		for ; i < len(rest) && rest[i].text != ")"; i++ {
			switch t := rest[i]; {
			case t.kind == tokIdent:
				def.params = append(def.params, t.text)
			case t.text == "...":
				def.variadic = true
				def.params = append(def.params, "__VA_ARGS__")
			}
		}
		if i < len(rest) {
			i++
		}
		rest = rest[i:]
	}
	def.body = rest
	return def
}

// lexer splits a file into preprocessing tokens, line by line.
type lexer struct {
	src       []byte
	off       int
	line, col int
	err       *ptok // a fatal lexical error, its text the message
}

func (lx *lexer) eof() bool { return lx.off >= len(lx.src) }

// peek returns the byte at off after line splices (backslash-newline),
// and how many source bytes it spans.
func (lx *lexer) peekAt(off int) (byte, int) {
	n := 0
	for off+n+1 < len(lx.src) && lx.src[off+n] == '\\' && (lx.src[off+n+1] == '\n' || lx.src[off+n+1] == '\r' && off+n+2 < len(lx.src) && lx.src[off+n+2] == '\n') {
		if lx.src[off+n+1] == '\r' {
			n += 3
		} else {
			n += 2
		}
	}
	if off+n >= len(lx.src) {
		return 0, n
	}
	return lx.src[off+n], n + 1
}

// next consumes one (spliced) byte, keeping line and column.
func (lx *lexer) next() byte {
	c, n := lx.peekAt(lx.off)
	for i := 0; i < n; i++ {
		if lx.src[lx.off+i] == '\n' {
			lx.line++
			lx.col = 1
		} else {
			lx.col++
		}
	}
	lx.off += n
	return c
}

func (lx *lexer) peek() byte {
	c, _ := lx.peekAt(lx.off)
	return c
}

func (lx *lexer) peek2() byte {
	_, n := lx.peekAt(lx.off)
	c, _ := lx.peekAt(lx.off + n)
	return c
}

// logicalLine returns the tokens up to the end of the current logical
// line (a comment is white space, even one across lines).
func (lx *lexer) logicalLine() []ptok {
	var toks []ptok
	for !lx.eof() {
		c := lx.peek()
		switch {
		case c == '\n':
			lx.next()
			return toks
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			lx.next()
		case c == 0 && lx.peekAtEnd():
			lx.next()
		case c == '/' && lx.peek2() == '*':
			line, col := lx.line, lx.col
			lx.next()
			lx.next()
			closed := false
			for !lx.eof() {
				if lx.peek() == '*' && lx.peek2() == '/' {
					lx.next()
					lx.next()
					closed = true
					break
				}
				lx.next()
			}
			if !closed {
				lx.err = &ptok{text: "unterminated comment: it runs to the end of the file", line: line, col: col}
				return toks
			}
		case c == '/' && lx.peek2() == '/':
			for !lx.eof() && lx.peek() != '\n' {
				lx.next()
			}
		default:
			toks = append(toks, lx.token())
		}
	}
	return toks
}

// peekAtEnd reports whether only line splices are left.
func (lx *lexer) peekAtEnd() bool {
	_, n := lx.peekAt(lx.off)
	return lx.off+n >= len(lx.src)
}

func isIdent(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9' || c >= 0x80
}

// punct3 and punct2 are the multi-byte punctuators, longest first.
var punct3 = []string{"...", "<<=", ">>="}
var punct2 = []string{"<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "##", "->", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^="}

func (lx *lexer) token() ptok {
	t := ptok{line: lx.line, col: lx.col}
	var b []byte
	c := lx.peek()
	switch {
	case isIdent(c, true) && !((c == 'L' || c == 'u' || c == 'U') && (lx.peek2() == '\'' || lx.peek2() == '"')):
		t.kind = tokIdent
		for !lx.eof() && isIdent(lx.peek(), false) {
			b = append(b, lx.next())
		}
	case c >= '0' && c <= '9' || c == '.' && lx.peek2() >= '0' && lx.peek2() <= '9':
		t.kind = tokNumber
		for !lx.eof() {
			c := lx.peek()
			if (c == '+' || c == '-') && len(b) > 0 && (b[len(b)-1]|0x20 == 'e' || b[len(b)-1]|0x20 == 'p') {
				b = append(b, lx.next())
				continue
			}
			if !isIdent(c, false) && c != '.' {
				break
			}
			b = append(b, lx.next())
		}
	case c == '\'' || c == '"' || c == 'L' || c == 'u' || c == 'U':
		t.kind = tokChar
		for c != '\'' && c != '"' {
			b = append(b, lx.next())
			c = lx.peek()
		}
		if c == '"' {
			t.kind = tokString
		}
		b = append(b, lx.next())
		for !lx.eof() {
			x := lx.peek()
			if x == '\n' {
				break // unterminated: GCC warns; the literal ends here
			}
			b = append(b, lx.next())
			if x == '\\' && !lx.eof() && lx.peek() != '\n' {
				b = append(b, lx.next())
				continue
			}
			if x == c {
				break
			}
		}
	default:
		t.kind = tokPunct
		for _, set := range [][]string{punct3, punct2} {
			for _, p := range set {
				if lx.hasPrefix(p) {
					for range p {
						b = append(b, lx.next())
					}
					t.text = string(b)
					return t
				}
			}
		}
		b = append(b, lx.next())
	}
	t.text = string(b)
	return t
}

func (lx *lexer) hasPrefix(p string) bool {
	off := lx.off
	for i := 0; i < len(p); i++ {
		c, n := lx.peekAt(off)
		if c != p[i] || n == 0 {
			return false
		}
		off += n
	}
	return true
}
