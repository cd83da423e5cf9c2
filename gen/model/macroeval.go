package model

import (
	"fmt"
	"strconv"
	"strings"
)

// macroEval evaluates the object-like macros that are too large for cc/v4
// to expand (see macroCost), without expanding them: a macro whose body is
// one token or one parenthesized expression stands for its value, so its
// value is computed once and used wherever it is referenced. It covers
// integer constant expressions over integer and character literals, the
// arithmetic, bitwise, shift, comparison, logical and conditional
// operators, and other such macros; anything else (casts, sizeof,
// enumerators, function-like macros) it leaves to the error it reports.
// Types follow C11 for the arch's int, long and long long.
type macroEval struct {
	cost *macroCost
	lp64 bool
	memo map[string]cval
	errs map[string]string
	busy map[string]bool
}

// cval is a typed integer constant.
type cval struct {
	bits uint64
	kind ckind
}

// ckind is an integer type after the integer promotions.
type ckind int

const (
	kInt ckind = iota
	kUint
	kLong
	kUlong
	kLlong
	kUllong
)

// ckindNames spell the kinds as cc/v4 does (Macro.CType).
var ckindNames = [...]string{"int", "unsigned", "long", "unsigned long", "long long", "unsigned long long"}

func (e *macroEval) width(k ckind) uint {
	switch k {
	case kInt, kUint:
		return 32
	case kLong, kUlong:
		if e.lp64 {
			return 64
		}
		return 32
	}
	return 64
}

func signed(k ckind) bool { return k == kInt || k == kLong || k == kLlong }

// norm truncates v to its type, sign-extending signed types.
func (e *macroEval) norm(v cval) cval {
	w := e.width(v.kind)
	if w == 64 {
		return v
	}
	v.bits &= 1<<w - 1
	if signed(v.kind) && v.bits>>(w-1) == 1 {
		v.bits |= ^uint64(0) << w
	}
	return v
}

func (e *macroEval) negative(v cval) bool { return signed(v.kind) && int64(v.bits) < 0 }

// literal is v as C source with the same value and type.
func (e *macroEval) literal(v cval) string {
	suffix := [...]string{"", "U", "L", "UL", "LL", "ULL"}[v.kind]
	if e.negative(v) {
		if int64(v.bits) == -1<<(e.width(v.kind)-1) {
			return fmt.Sprintf("(-%d%s-1)", uint64(-(int64(v.bits) + 1)), suffix)
		}
		return fmt.Sprintf("(-%d%s)", uint64(-int64(v.bits)), suffix)
	}
	return fmt.Sprintf("(%d%s)", v.bits, suffix)
}

func newMacroEval(cost *macroCost, lp64 bool) *macroEval {
	return &macroEval{cost: cost, lp64: lp64, memo: map[string]cval{}, errs: map[string]string{}, busy: map[string]bool{}}
}

// value evaluates the object-like macro name, or says why it cannot.
func (e *macroEval) value(name string) (cval, error) {
	if v, ok := e.memo[name]; ok {
		return v, nil
	}
	if why, ok := e.errs[name]; ok {
		return cval{}, fmt.Errorf("%s", why)
	}
	defs := e.cost.defs[name]
	fail := func(format string, args ...any) (cval, error) {
		e.errs[name] = fmt.Sprintf(format, args...)
		return cval{}, fmt.Errorf("%s", e.errs[name])
	}
	if len(defs) != 1 || defs[0].fnLike {
		return fail("%s has %d definitions", name, len(defs))
	}
	e.busy[name] = true
	v, err := e.eval(defs[0].body)
	delete(e.busy, name)
	if err != nil {
		return fail("%v", err)
	}
	e.memo[name] = v
	return v, nil
}

// tokens evaluates C source text, such as a macro's replacement list.
func (e *macroEval) tokens(src string) (cval, error) { return e.eval(lexExpr(src)) }

// eval expands and evaluates a replacement list.
func (e *macroEval) eval(body []ptok) (cval, error) {
	toks, err := e.expand(body, 0)
	if err != nil {
		return cval{}, err
	}
	p := &exprParser{e: e, toks: toks}
	v, err := p.conditional(0)
	if err == nil && p.i < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.i].text)
	}
	return v, err
}

// atomic reports whether a body stands for one operand wherever it is
// used: a single token, or a parenthesized expression.
func atomic(body []ptok) bool {
	if len(body) == 1 {
		return true
	}
	if len(body) < 2 || body[0].text != "(" || body[len(body)-1].text != ")" {
		return false
	}
	depth := 0
	for i, t := range body {
		switch t.text {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 && i != len(body)-1 {
				return false
			}
		}
	}
	return true
}

// expand replaces the macro names in toks: an atomic macro by its value,
// another by its body (expanded in turn), up to maxExpansion tokens.
func (e *macroEval) expand(toks []ptok, depth int) ([]ptok, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("macros nest more than %d deep", maxNesting)
	}
	var out []ptok
	for i, t := range toks {
		if len(out) > maxExpansion {
			return nil, fmt.Errorf("the expansion exceeds %d tokens", maxExpansion)
		}
		if t.kind != tokIdent || e.busy[t.text] {
			out = append(out, t)
			continue
		}
		defs := e.cost.defs[t.text]
		if len(defs) == 0 {
			out = append(out, t)
			continue
		}
		if len(defs) > 1 {
			return nil, fmt.Errorf("%s has %d definitions", t.text, len(defs))
		}
		d := defs[0]
		if d.fnLike {
			if i+1 < len(toks) && toks[i+1].text == "(" {
				return nil, fmt.Errorf("it uses the function-like macro %s", t.text)
			}
			out = append(out, t)
			continue
		}
		if atomic(d.body) {
			v, err := e.value(t.text)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", t.text, err)
			}
			out = append(out, ptok{kind: tokNumber, text: e.literal(v), line: t.line, col: t.col})
			continue
		}
		e.busy[t.text] = true
		sub, err := e.expand(d.body, depth+1)
		delete(e.busy, t.text)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// exprParser parses an integer constant expression by precedence climbing.
type exprParser struct {
	e    *macroEval
	toks []ptok
	i    int
}

func (p *exprParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i].text
	}
	return ""
}

// binary operator precedences, from || (1) to * / % (10).
var precedence = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
	"<": 7, ">": 7, "<=": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

func (p *exprParser) conditional(depth int) (cval, error) {
	if depth > maxNesting {
		return cval{}, fmt.Errorf("the expression nests more than %d deep", maxNesting)
	}
	c, err := p.binary(1, depth)
	if err != nil || p.peek() != "?" {
		return c, err
	}
	p.i++
	a, err := p.conditional(depth + 1)
	if err != nil {
		return cval{}, err
	}
	if p.peek() != ":" {
		return cval{}, fmt.Errorf("want : in a conditional expression")
	}
	p.i++
	b, err := p.conditional(depth + 1)
	if err != nil {
		return cval{}, err
	}
	a, b = p.e.convert(a, b)
	if c.bits != 0 {
		return a, nil
	}
	return b, nil
}

func (p *exprParser) binary(minPrec, depth int) (cval, error) {
	l, err := p.unary(depth)
	if err != nil {
		return cval{}, err
	}
	for {
		op := p.peek()
		prec, ok := precedence[op]
		if !ok || prec < minPrec || p.toks[p.i].kind != tokPunct {
			return l, nil
		}
		p.i++
		r, err := p.binary(prec+1, depth+1)
		if err != nil {
			return cval{}, err
		}
		if l, err = p.e.apply(op, l, r); err != nil {
			return cval{}, err
		}
	}
}

func (p *exprParser) unary(depth int) (cval, error) {
	if depth > maxNesting {
		return cval{}, fmt.Errorf("the expression nests more than %d deep", maxNesting)
	}
	if p.i >= len(p.toks) {
		return cval{}, fmt.Errorf("unexpected end of the expression")
	}
	t := p.toks[p.i]
	p.i++
	e := p.e
	switch {
	case t.kind == tokPunct && t.text == "(":
		v, err := p.conditional(depth + 1)
		if err != nil {
			return cval{}, err
		}
		if p.peek() != ")" {
			return cval{}, fmt.Errorf("want )")
		}
		p.i++
		return v, nil
	case t.kind == tokPunct && (t.text == "-" || t.text == "+" || t.text == "~" || t.text == "!"):
		v, err := p.unary(depth + 1)
		if err != nil {
			return cval{}, err
		}
		switch t.text {
		case "-":
			v.bits = -v.bits
		case "~":
			v.bits = ^v.bits
		case "!":
			return cval{bits: b2u(v.bits == 0), kind: kInt}, nil
		}
		return e.norm(v), nil
	case t.kind == tokNumber:
		if strings.HasPrefix(t.text, "(") {
			// A value substituted by expand: parse it as a subexpression.
			sub := &exprParser{e: e, toks: lexExpr(t.text)}
			return sub.conditional(depth + 1)
		}
		return e.intLiteral(t.text)
	case t.kind == tokChar:
		return charLiteral(t.text)
	case t.kind == tokIdent:
		return cval{}, fmt.Errorf("%s is not an integer constant it can evaluate", t.text)
	}
	return cval{}, fmt.Errorf("unexpected %q", t.text)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// lexExpr tokenizes a literal produced by macroEval.literal.
func lexExpr(s string) []ptok {
	lx := &lexer{src: []byte(s), line: 1, col: 1}
	return lx.logicalLine()
}

// rank orders the integer types for the usual arithmetic conversions.
func rank(k ckind) int { return int(k) / 2 }

// convert applies the usual arithmetic conversions.
func (e *macroEval) convert(a, b cval) (cval, cval) {
	if a.kind == b.kind {
		return a, b
	}
	t := e.common(a.kind, b.kind)
	a.kind, b.kind = t, t
	return e.norm(a), e.norm(b)
}

func (e *macroEval) common(a, b ckind) ckind {
	if signed(a) == signed(b) {
		return max(a, b)
	}
	s, u := a, b
	if !signed(a) {
		s, u = b, a
	}
	if rank(u) >= rank(s) {
		return u
	}
	if e.width(s) > e.width(u) {
		return s
	}
	return s + 1 // the unsigned type of s's rank
}

func (e *macroEval) apply(op string, l, r cval) (cval, error) {
	switch op {
	case "&&":
		return cval{bits: b2u(l.bits != 0 && r.bits != 0), kind: kInt}, nil
	case "||":
		return cval{bits: b2u(l.bits != 0 || r.bits != 0), kind: kInt}, nil
	case "<<", ">>":
		w := e.width(l.kind)
		if e.negative(r) || r.bits >= uint64(w) {
			return cval{}, fmt.Errorf("shift count %d is out of range for %s", int64(r.bits), ckindNames[l.kind])
		}
		if op == "<<" {
			l.bits <<= r.bits
		} else if signed(l.kind) {
			l.bits = uint64(int64(l.bits) >> r.bits)
		} else {
			l.bits >>= r.bits
		}
		return e.norm(l), nil
	}
	l, r = e.convert(l, r)
	s := signed(l.kind)
	cmp := func(lt bool) (cval, error) { return cval{bits: b2u(lt), kind: kInt}, nil }
	less := l.bits < r.bits
	if s {
		less = int64(l.bits) < int64(r.bits)
	}
	switch op {
	case "==":
		return cmp(l.bits == r.bits)
	case "!=":
		return cmp(l.bits != r.bits)
	case "<":
		return cmp(less)
	case ">=":
		return cmp(!less)
	case ">":
		return cmp(!less && l.bits != r.bits)
	case "<=":
		return cmp(less || l.bits == r.bits)
	case "*":
		l.bits *= r.bits
	case "+":
		l.bits += r.bits
	case "-":
		l.bits -= r.bits
	case "&":
		l.bits &= r.bits
	case "|":
		l.bits |= r.bits
	case "^":
		l.bits ^= r.bits
	case "/", "%":
		if r.bits == 0 {
			return cval{}, fmt.Errorf("division by zero")
		}
		switch {
		case s && op == "/":
			l.bits = uint64(int64(l.bits) / int64(r.bits))
		case s:
			l.bits = uint64(int64(l.bits) % int64(r.bits))
		case op == "/":
			l.bits /= r.bits
		default:
			l.bits %= r.bits
		}
	}
	return e.norm(l), nil
}

// intLiteral types an integer constant as C11 6.4.4.1 does.
func (e *macroEval) intLiteral(s string) (cval, error) {
	digits := strings.TrimRight(s, "uUlL")
	suffix := strings.ToLower(s[len(digits):])
	base := 10
	switch {
	case strings.HasPrefix(digits, "0x") || strings.HasPrefix(digits, "0X"):
		base, digits = 16, digits[2:]
	case strings.HasPrefix(digits, "0b") || strings.HasPrefix(digits, "0B"):
		base, digits = 2, digits[2:]
	case len(digits) > 1 && digits[0] == '0':
		base, digits = 8, digits[1:]
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		return cval{}, fmt.Errorf("bad integer constant %s", s)
	}
	var kinds []ckind
	dec := base == 10
	switch suffix {
	case "":
		kinds = []ckind{kInt, kUint, kLong, kUlong, kLlong, kUllong}
		if dec {
			kinds = []ckind{kInt, kLong, kLlong}
		}
	case "u":
		kinds = []ckind{kUint, kUlong, kUllong}
	case "l":
		kinds = []ckind{kLong, kUlong, kLlong, kUllong}
		if dec {
			kinds = []ckind{kLong, kLlong}
		}
	case "ul", "lu":
		kinds = []ckind{kUlong, kUllong}
	case "ll":
		kinds = []ckind{kLlong, kUllong}
		if dec {
			kinds = []ckind{kLlong}
		}
	case "ull", "llu":
		kinds = []ckind{kUllong}
	default:
		return cval{}, fmt.Errorf("bad integer suffix in %s", s)
	}
	for _, k := range kinds {
		w := e.width(k)
		if signed(k) {
			w--
		}
		if w == 64 || v < 1<<w {
			return cval{bits: v, kind: k}, nil
		}
	}
	return cval{}, fmt.Errorf("integer constant %s is too large for its type", s)
}

// charLiteral is a plain character constant of a 7-bit character: type
// int. (Whether char is signed depends on the arch.)
func charLiteral(s string) (cval, error) {
	if len(s) >= 3 && s[0] == '\'' && s[len(s)-1] == '\'' {
		r, _, tail, err := strconv.UnquoteChar(s[1:len(s)-1], '\'')
		if err == nil && tail == "" && r < 0x80 {
			return cval{bits: uint64(r), kind: kInt}, nil
		}
	}
	return cval{}, fmt.Errorf("character constant %s is not supported", s)
}
