package model

// macroCost estimates, before cc/v4 expands anything, how many tokens a
// macro expands to and how deeply the expansion nests brackets. cc/v4
// evaluates every object-like macro by expanding it in full (its
// Config.EvalAllMacros), and a 20-line chain "#define A1 (A0+A0)" doubles
// the tokens at each line: 2^20 of them took 39 s and more memory than the
// headers. The estimate is memoised per macro, so it takes time linear in
// the definitions however large the expansions are: an object-like macro
// costs the sum of its tokens' costs, a function-like one is a linear
// function of its arguments' costs (each parameter counts as often as the
// body uses it), composed through nested invocations. It follows every
// definition of a name (it does not evaluate #if) and does not model
// rescans that pick up a macro name produced by an expansion: an estimate,
// for spotting the pathological, not an exact count.

// maxExpansion is the most tokens an object-like macro may expand to
// before cc/v4 is kept from expanding it. The io_uring headers' largest
// expand to about a hundred.
const maxExpansion = 10000

// costCap saturates the estimates so that they cannot overflow.
const costCap = int64(1) << 40

func addCap(a, b int64) int64 { return min(a+b, costCap) }

func mulCap(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > costCap/b {
		return costCap
	}
	return min(a*b, costCap)
}

// linCost is the cost of a token sequence inside a function-like macro's
// body as a function of the arguments: size = base + sum coef[i]*size(arg
// i); depth = max(depth, max over i of dpar[i]+depth(arg i)), with dpar[i]
// -1 where parameter i does not occur.
type linCost struct {
	base, depth int64
	coef, dpar  []int64
}

func newLin(n int) *linCost {
	l := &linCost{coef: make([]int64, n), dpar: make([]int64, n)}
	for i := range l.dpar {
		l.dpar[i] = -1
	}
	return l
}

// macroCost holds the definitions seen so far and the memoised costs.
type macroCost struct {
	defs  map[string][]*define
	order []*define // every definition, in the order read
	memo  map[*define]*linCost
	busy  map[*define]bool
	// literal names the macros that stand for a literal (the ones kept
	// from cc/v4 are defined as their values): one token.
	literal map[string]bool
}

func newMacroCost() *macroCost {
	return &macroCost{defs: map[string][]*define{}, memo: map[*define]*linCost{}, busy: map[*define]bool{}, literal: map[string]bool{}}
}

// makeLiteral records that name now stands for a literal.
func (mc *macroCost) makeLiteral(name string) {
	mc.literal[name] = true
	clear(mc.memo)
}

// add records definitions. Earlier estimates that a new definition would
// change (a name they use that was not defined yet) are kept until reset:
// the guard re-estimates everything once at the end.
func (mc *macroCost) add(defs []*define) {
	for _, d := range defs {
		mc.defs[d.name] = append(mc.defs[d.name], d)
	}
	mc.order = append(mc.order, defs...)
}

// reset drops every estimate.
func (mc *macroCost) reset() { clear(mc.memo) }

// of returns the size and nesting of d's expansion (for a function-like
// macro, with arguments of one token).
func (mc *macroCost) of(d *define) (size, depth int64) {
	l := mc.model(d)
	size, depth = l.base, l.depth
	for i := range l.coef {
		size = addCap(size, l.coef[i])
		if l.dpar[i] >= 0 {
			depth = max(depth, l.dpar[i])
		}
	}
	return size, depth
}

// text returns the cost of tokens outside any macro body.
func (mc *macroCost) text(toks []ptok) (size, depth int64) {
	l := mc.seq(toks, nil)
	return l.base, l.depth
}

// model is d's cost, memoised. A macro within its own expansion is not
// expanded again, so a recursive reference costs one token.
func (mc *macroCost) model(d *define) *linCost {
	if l, ok := mc.memo[d]; ok {
		return l
	}
	mc.busy[d] = true
	var params []string
	if d.fnLike {
		params = d.params
	}
	l := mc.seq(d.body, params)
	delete(mc.busy, d)
	mc.memo[d] = l
	return l
}

// worst is the costliest definition of name that is not being expanded.
func (mc *macroCost) worst(name string, fnLike bool) *define {
	var w *define
	var ws int64 = -1
	for _, d := range mc.defs[name] {
		if d.fnLike != fnLike || mc.busy[d] {
			continue
		}
		if s, _ := mc.of(d); s > ws {
			w, ws = d, s
		}
	}
	return w
}

// seq is the cost of toks within a body with the given parameters.
func (mc *macroCost) seq(toks []ptok, params []string) *linCost {
	l := newLin(len(params))
	var nest int64
	param := func(name string) int {
		for i, p := range params {
			if p == name {
				return i
			}
		}
		return -1
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind == tokPunct {
			switch t.text {
			case "(", "[", "{":
				nest++
				l.depth = max(l.depth, nest)
			case ")", "]", "}":
				nest = max(nest-1, 0)
			case "#":
				if i+1 < len(toks) && param(toks[i+1].text) >= 0 {
					i++ // stringified: one token
				}
			case "##":
				continue
			}
			l.base = addCap(l.base, 1)
			continue
		}
		if t.kind != tokIdent {
			l.base = addCap(l.base, 1)
			continue
		}
		if p := param(t.text); p >= 0 {
			l.coef[p] = addCap(l.coef[p], 1)
			l.dpar[p] = max(l.dpar[p], nest)
			continue
		}
		if i+1 < len(toks) && toks[i+1].text == "(" {
			if g := mc.worst(t.text, true); g != nil {
				args, end := splitArgs(toks, i+1)
				gl := mc.model(g)
				inv := newLin(len(params))
				inv.base, inv.depth = gl.base, gl.depth
				for j := range gl.coef {
					var a *linCost
					if j < len(args) {
						a = mc.seq(args[j], params)
					} else {
						a = newLin(len(params))
					}
					inv.base = addCap(inv.base, mulCap(gl.coef[j], a.base))
					if gl.dpar[j] >= 0 {
						inv.depth = max(inv.depth, gl.dpar[j]+a.depth)
					}
					for k := range params {
						inv.coef[k] = addCap(inv.coef[k], mulCap(gl.coef[j], a.coef[k]))
						if gl.dpar[j] >= 0 && a.dpar[k] >= 0 {
							inv.dpar[k] = max(inv.dpar[k], gl.dpar[j]+a.dpar[k])
						}
					}
				}
				l.base = addCap(l.base, inv.base)
				l.depth = max(l.depth, min(nest+inv.depth, costCap))
				for k := range params {
					l.coef[k] = addCap(l.coef[k], inv.coef[k])
					if inv.dpar[k] >= 0 {
						l.dpar[k] = max(l.dpar[k], nest+inv.dpar[k])
					}
				}
				i = end
				continue
			}
		}
		if mc.literal[t.text] {
			l.base = addCap(l.base, 1)
			continue
		}
		if o := mc.worst(t.text, false); o != nil {
			s, d := mc.of(o)
			l.base = addCap(l.base, s)
			l.depth = max(l.depth, min(nest+d, costCap))
			continue
		}
		l.base = addCap(l.base, 1)
	}
	return l
}

// splitArgs splits the invocation arguments starting at toks[open] == "("
// and returns them with the index of the closing parenthesis (the last
// token when it is missing).
func splitArgs(toks []ptok, open int) (args [][]ptok, end int) {
	depth := 0
	start := open + 1
	for i := open; i < len(toks); i++ {
		switch toks[i].text {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return append(args, toks[start:i]), i
			}
		case ",":
			if depth == 1 {
				args = append(args, toks[start:i])
				start = i + 1
			}
		}
	}
	return append(args, toks[start:]), len(toks) - 1
}
