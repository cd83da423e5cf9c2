package emit

import (
	"bufio"
	"errors"
	"fmt"
	"go/token"
	"go/types"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/urgen/urgen/gen/model"
)

// BuilderSpecs is templates/builders.txt: the SQE builders and the opcodes
// that deliberately have none.
type BuilderSpecs struct {
	Path     string
	Builders []*BuilderSpec
	Raw      []RawOp
}

// RawOp is an opcode marked raw: no builder, on purpose.
type RawOp struct {
	Op     string // C name without IORING_OP_
	Reason string
	Line   int
}

// BuilderSpec is one prep block.
type BuilderSpec struct {
	Name   string // liburing-style name: read_fixed
	Op     string // C opcode without IORING_OP_
	Since  string // first Linux release
	SQE128 bool
	CQE32  bool // the completions need 32-byte CQEs
	Doc    []string
	Args   []*ArgSpec
	Sets   []*FieldSet
	// Cmd is the C tag of the struct placed in the SQE's cmd area (the
	// uring_cmd payload) whose members "cmd.MEMBER = ..." lines set; empty
	// without a cmd line.
	Cmd string
	// CHelper is the liburing helper (without io_uring_prep_) of the c
	// line, CArgs its argument expressions; empty without a c line.
	CHelper string
	CArgs   []string
	Line    int // of the prep line
	CLine   int // of the c line
}

// ArgSpec is a Go parameter of a builder.
type ArgSpec struct {
	Name string
	Type string // Go type as written: int32, []byte, *unix.Msghdr, TimeoutFlags
	Keep bool
	Line int
}

// FieldSet is "field = term | term".
type FieldSet struct {
	Field string
	Terms []string
	Line  int
}

var (
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	cCallRE = regexp.MustCompile(`^([a-z0-9_]+)\((.*)\)$`)
	sinceRE = regexp.MustCompile(`^[1-9][0-9]?\.[0-9]{1,2}$`)
)

// LoadBuilderSpecs reads a builders template file.
func LoadBuilderSpecs(path string) (*BuilderSpecs, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadBuilderSpecs(path, f)
}

// ReadBuilderSpecs reads a builders template file from r; messages cite it
// as path.
func ReadBuilderSpecs(path string, r io.Reader) (*BuilderSpecs, error) {
	specs := &BuilderSpecs{Path: path}
	var cur *BuilderSpec
	sc := templateScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
		}
		indented := line[0] == ' ' || line[0] == '\t'
		w := strings.Fields(line)
		if !indented {
			cur = nil
			switch w[0] {
			case "prep":
				if len(w) < 4 {
					return nil, bad("want: prep NAME OPCODE SINCE [sqe128] [cqe32]")
				}
				opts := map[string]bool{}
				for _, o := range w[4:] {
					if (o != "sqe128" && o != "cqe32") || opts[o] {
						return nil, bad("want: prep NAME OPCODE SINCE [sqe128] [cqe32]")
					}
					opts[o] = true
				}
				if !identRE.MatchString(w[1]) || !identRE.MatchString(w[2]) {
					return nil, bad("bad builder name or opcode")
				}
				if !sinceRE.MatchString(w[3]) {
					return nil, bad("SINCE %q is not a Linux release (want MAJOR.MINOR, such as 6.1)", w[3])
				}
				for _, b := range specs.Builders {
					if b.Name == w[1] {
						return nil, bad("builder %s is already declared at line %d", w[1], b.Line)
					}
				}
				cur = &BuilderSpec{Name: w[1], Op: w[2], Since: w[3], SQE128: opts["sqe128"], CQE32: opts["cqe32"], Line: n}
				specs.Builders = append(specs.Builders, cur)
			case "raw":
				rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "raw"))
				op, reason, ok := strings.Cut(rest, " ")
				reason = strings.TrimSpace(reason)
				if !ok || len(reason) < 3 || reason[0] != '"' || reason[len(reason)-1] != '"' {
					return nil, bad(`want: raw OPCODE "reason"`)
				}
				specs.Raw = append(specs.Raw, RawOp{Op: op, Reason: reason[1 : len(reason)-1], Line: n})
			default:
				return nil, bad("unknown directive %s (want prep or raw)", w[0])
			}
			continue
		}
		if cur == nil {
			return nil, bad("indented line outside a prep block")
		}
		switch w[0] {
		case "doc":
			cur.Doc = append(cur.Doc, model.CommentText(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "doc"))))
		case "arg":
			if len(w) < 3 || len(w) > 4 || (len(w) == 4 && w[3] != "keep") || !identRE.MatchString(w[1]) {
				return nil, bad("want: arg NAME GOTYPE [keep]")
			}
			if reservedArg(w[1]) {
				return nil, bad("builder %s: argument name %s is a Go keyword, predeclared identifier or a name the builders use (s, w, unsafe, unix)", cur.Name, w[1])
			}
			for _, a := range cur.Args {
				if a.Name == w[1] {
					return nil, bad("builder %s: argument %s declared twice", cur.Name, w[1])
				}
			}
			cur.Args = append(cur.Args, &ArgSpec{Name: w[1], Type: w[2], Keep: len(w) == 4, Line: n})
		case "cmd":
			if len(w) != 2 || cur.Cmd != "" || !identRE.MatchString(w[1]) {
				return nil, bad("want one line: cmd STRUCT_TAG")
			}
			cur.Cmd = w[1]
		case "c":
			call := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "c"))
			m := cCallRE.FindStringSubmatch(call)
			if m == nil {
				return nil, bad("want: c HELPER(ARGS)")
			}
			if strings.ContainsAny(call, "`\x00") {
				return nil, bad("c line: a backtick or NUL cannot be in the C call (it is quoted in a Go raw string)")
			}
			cur.CHelper, cur.CLine = m[1], n
			if strings.TrimSpace(m[2]) != "" {
				for _, a := range strings.Split(m[2], ",") {
					cur.CArgs = append(cur.CArgs, strings.TrimSpace(a))
				}
			}
		default:
			if len(w) < 3 || w[1] != "=" {
				return nil, bad("want: FIELD = TERM [| TERM]...")
			}
			for _, s := range cur.Sets {
				if s.Field == w[0] {
					return nil, bad("builder %s: field %s set twice", cur.Name, w[0])
				}
			}
			_, rhs, _ := strings.Cut(line, "=")
			fs := &FieldSet{Field: w[0], Line: n}
			for _, t := range strings.Split(rhs, "|") {
				t = strings.TrimSpace(t)
				if t == "" {
					return nil, bad("empty term")
				}
				fs.Terms = append(fs.Terms, t)
			}
			cur.Sets = append(cur.Sets, fs)
		}
	}
	return specs, scanErr(sc, path, n)
}

// reservedArg reports whether an argument name would clash in the
// generated builder: a keyword, a predeclared identifier (uint64, len, nil,
// ...), the receiver s, the word pointer w, or the packages unsafe and unix.
func reservedArg(name string) bool {
	switch name {
	case "s", "w", "unsafe", "unix":
		return true
	}
	return token.IsKeyword(name) || types.Universe.Lookup(name) != nil
}

// templateScanner scans template lines of up to 16 MiB (bufio.Scanner
// stops at 64 KiB).
func templateScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return sc
}

// scanErr is a scanner's error with the position of the line after the
// last one read.
func scanErr(sc *bufio.Scanner, path string, n int) error {
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s:%d: line longer than 16 MiB", path, n+1)
		}
		return fmt.Errorf("%s:%d: %v", path, n+1, err)
	}
	return nil
}

// term is a parsed right-hand-side term.
type term struct {
	kind  string // arg, ptr, len, size, slot, inc, u32, lo32, hi32, shl, poll, const, unix, u32unix, lit
	name  string // argument, constant or unix name
	lit   int64
	isNeg bool
}

var (
	termRE = regexp.MustCompile(`^(ptr|len|size|slot|poll|uint32|lo32|hi32)\(([A-Za-z_][A-Za-z0-9_.]*)\)$`)
	shlRE  = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)<<([0-9]+)$`)
)

var ioRE = regexp.MustCompile(`^_IO\(\s*(0x[0-9a-fA-F]+|[0-9]+)\s*,\s*(0x[0-9a-fA-F]+|[0-9]+)\s*\)$`)

func parseTerm(t string) (term, error) {
	if m := ioRE.FindStringSubmatch(t); m != nil {
		typ, _ := strconv.ParseInt(m[1], 0, 64)
		nr, _ := strconv.ParseInt(m[2], 0, 64)
		if typ > 0xff || nr > 0xff {
			return term{}, fmt.Errorf("%s: type and number are 8-bit", t)
		}
		return term{kind: "io", lit: typ<<8 | nr}, nil
	}
	if m := termRE.FindStringSubmatch(t); m != nil {
		k := map[string]string{"ptr": "ptr", "len": "len", "size": "size", "slot": "slot", "poll": "poll", "uint32": "u32", "lo32": "lo32", "hi32": "hi32"}[m[1]]
		if strings.HasPrefix(m[2], "unix.") {
			if k != "u32" {
				return term{}, fmt.Errorf("%s(%s): only uint32() applies to unix constants", m[1], m[2])
			}
			return term{kind: "u32unix", name: strings.TrimPrefix(m[2], "unix.")}, nil
		}
		return term{kind: k, name: m[2]}, nil
	}
	if m := shlRE.FindStringSubmatch(t); m != nil {
		n, _ := strconv.Atoi(m[2])
		if n < 1 || n > 63 {
			return term{}, fmt.Errorf("%s: shift by 1 to 63", t)
		}
		return term{kind: "shl", name: m[1], lit: int64(n)}, nil
	}
	if strings.HasSuffix(t, "+1") && identRE.MatchString(strings.TrimSuffix(t, "+1")) {
		return term{kind: "inc", name: strings.TrimSuffix(t, "+1")}, nil
	}
	if strings.HasPrefix(t, "unix.") && identRE.MatchString(t[5:]) {
		return term{kind: "unix", name: t[5:]}, nil
	}
	if v, err := strconv.ParseInt(t, 0, 64); err == nil {
		return term{kind: "lit", lit: v, isNeg: v < 0}, nil
	}
	if identRE.MatchString(t) {
		if strings.ToUpper(t) == t && strings.Contains(t, "_") {
			return term{kind: "const", name: t}, nil
		}
		return term{kind: "arg", name: t}, nil
	}
	return term{}, fmt.Errorf("cannot parse term %q", t)
}
