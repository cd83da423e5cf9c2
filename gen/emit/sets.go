package emit

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/urgen/urgen/gen/goname"
	"github.com/urgen/urgen/gen/model"
)

// Config is templates/constants.txt: typed constant sets, enum renames and
// typed struct members.
type Config struct {
	Sets    []*Set
	Enums   map[string]EnumRename // by C tag
	Members map[string]string     // "struct.member" -> Go set type
	// Omit names what the model leaves out on purpose, with the reason:
	// "omit NAME reason..." (without it, each is a warning).
	Omit map[string]Omission
	// Path is the constants file's name in messages.
	Path string
	// Missing lists template files that are absent, as warnings.
	Missing []string
	// Builders is templates/builders.txt; nil generates no builders.
	Builders *BuilderSpecs
	used     map[string]bool
	// lines holds the line of each enum and member directive, by its
	// tag or "struct.member".
	lines map[string]int
}

// at is where the enum or member directive of key is: "path:line", or
// path where the config was not read from a file.
func (c *Config) at(key string) string {
	if n := c.lines[key]; n > 0 {
		return fmt.Sprintf("%s:%d", c.Path, n)
	}
	return c.Path
}

// Set is a typed constant set.
type Set struct {
	Go         string
	Underlying string
	Flags      bool
	Prefixes   []string // C prefixes
	EnumTags   []string
	Exclude    map[string]bool
	As         string // Go prefix replacing Prefixes[0]
	Line       int
}

// Omission is an omit line.
type Omission struct {
	Reason string
	Pos    string // "templates/constants.txt:12"
}

// EnumRename overrides the Go type of a named enum.
type EnumRename struct {
	Go, Underlying string
}

// LoadConfig reads a constants file.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadConfig(path, f)
}

// ReadConfig reads a constants file from r; messages cite it as path.
func ReadConfig(path string, r io.Reader) (*Config, error) {
	c := &Config{Path: path, Enums: map[string]EnumRename{}, Members: map[string]string{}, Omit: map[string]Omission{}, lines: map[string]int{}}
	sc := templateScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		w := strings.Fields(line)
		if len(w) == 0 {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s", path, n, why) }
		switch w[0] {
		case "set":
			if len(w) < 5 || (w[3] != "enum" && w[3] != "flags") {
				return nil, bad("want: set GoType underlying enum|flags SELECTOR... [as GoPrefix]")
			}
			s := &Set{Go: w[1], Underlying: w[2], Flags: w[3] == "flags", Exclude: map[string]bool{}, Line: n}
			sel := w[4:]
			if k := len(sel); k >= 2 && sel[k-2] == "as" {
				s.As, sel = sel[k-1], sel[:k-2]
			}
			for _, x := range sel {
				switch {
				case strings.HasPrefix(x, "!"):
					s.Exclude[x[1:]] = true
				case strings.HasPrefix(x, "enum:"):
					s.EnumTags = append(s.EnumTags, x[5:])
				case strings.HasSuffix(x, "_"):
					s.Prefixes = append(s.Prefixes, x)
				default:
					return nil, bad(fmt.Sprintf("selector %q is neither PREFIX_, enum:tag nor !NAME", x))
				}
			}
			if !validUnderlying(s.Underlying) {
				return nil, bad("unknown underlying type " + s.Underlying)
			}
			c.Sets = append(c.Sets, s)
		case "enum":
			if len(w) != 3 && len(w) != 4 {
				return nil, bad("want: enum tag GoType [underlying]")
			}
			r := EnumRename{Go: w[2]}
			if len(w) == 4 {
				if !validUnderlying(w[3]) {
					return nil, bad("unknown underlying type " + w[3])
				}
				r.Underlying = w[3]
			}
			c.Enums[w[1]] = r
			c.lines[w[1]] = n
		case "member":
			if len(w) != 3 || !strings.Contains(w[1], ".") {
				return nil, bad("want: member struct.member GoType")
			}
			c.Members[w[1]] = w[2]
			c.lines[w[1]] = n
		case "omit":
			if len(w) < 3 {
				return nil, bad("want: omit NAME REASON...")
			}
			c.Omit[w[1]] = Omission{Reason: strings.Join(w[2:], " "), Pos: fmt.Sprintf("%s:%d", path, n)}
		default:
			return nil, bad("unknown directive " + w[0])
		}
	}
	return c, scanErr(sc, path, n)
}

func validUnderlying(s string) bool {
	switch s {
	case "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64":
		return true
	}
	return false
}

// constSet is one Go type with its constants, ready to emit.
type constSet struct {
	Go         string
	Underlying string
	Flags      bool
	Doc        string
	Pos        model.Pos
	Consts     []*constant
}

// constant is a macro or enumerator with its Go name and set.
type constant struct {
	C     string
	Go    string
	Value model.Value
	Pos   model.Pos
	Doc   string
	Expr  string // macro replacement list; empty for enumerators
	// PerArch holds the value on every arch when they differ (see
	// model.Macro.PerArch).
	PerArch map[string]model.Value
	Set     *constSet
}

// values returns every value the constant takes.
func (c *constant) values() []model.Value {
	if c.PerArch == nil {
		return []model.Value{c.Value}
	}
	var vs []model.Value
	for _, v := range c.PerArch {
		vs = append(vs, v)
	}
	return vs
}

// classify assigns every macro and enumerator of the model a Go name and,
// where the config or a named enum says so, a typed set.
//
// Config lines that match nothing in the headers (older headers lack newer
// constants) are not errors: they come back in absent, one message each, and
// Generate lists them in Result.Absent. A test over the pinned headers
// requires absent to be empty, which catches typos in the config.
func classify(m *model.Model, cfg *Config, namer goname.Namer) (sets []*constSet, loose []*constant, absent []string, err error) {
	byGo := map[string]*constSet{}
	for _, s := range cfg.Sets {
		cs := &constSet{Go: s.Go, Underlying: s.Underlying, Flags: s.Flags}
		sets = append(sets, cs)
		byGo[s.Go] = cs
	}
	used := map[*Set]bool{}
	pick := func(name string, enumTag string) (*Set, error) {
		var hit *Set
		for _, s := range cfg.Sets {
			if s.Exclude[name] {
				continue
			}
			match := false
			for _, p := range s.Prefixes {
				if strings.HasPrefix(name, p) {
					match = true
				}
			}
			for _, t := range s.EnumTags {
				if t == enumTag && t != "" {
					match = true
				}
			}
			if !match {
				continue
			}
			if hit != nil {
				return nil, fmt.Errorf("%s:%d: %s is also in set %s (line %d)", cfg.Path, s.Line, name, hit.Go, hit.Line)
			}
			hit = s
		}
		if hit != nil {
			used[hit] = true
		}
		return hit, nil
	}
	name := func(c string, s *Set) string {
		if s != nil && s.As != "" {
			return namer.WithPrefix(c, s.Prefixes[0], s.As)
		}
		return namer.Go(c)
	}
	add := func(c *constant, s *Set) {
		if s == nil {
			loose = append(loose, c)
			return
		}
		cs := byGo[s.Go]
		c.Set = cs
		cs.Consts = append(cs.Consts, c)
		if cs.Pos.File == "" {
			cs.Pos = c.Pos
		}
	}
	for _, e := range m.Enums {
		var es *constSet
		if e.C != "" {
			r := cfg.Enums[e.C]
			goName := r.Go
			if goName == "" {
				goName = namer.Go(e.C)
			}
			under := r.Underlying
			if under == "" {
				under = "uint32"
				for _, v := range e.Values {
					if v.Value.Negative {
						under = "int32"
					}
				}
			}
			if es = byGo[goName]; es == nil {
				es = &constSet{Go: goName, Underlying: under, Doc: e.Doc, Pos: e.Pos}
				sets = append(sets, es)
				byGo[goName] = es
			}
		}
		for _, v := range e.Values {
			s, err := pick(v.Name, e.C)
			if err != nil {
				return nil, nil, nil, err
			}
			c := &constant{C: v.Name, Go: name(v.Name, s), Value: v.Value, Pos: v.Pos, Doc: v.Doc}
			switch {
			case s != nil:
				add(c, s)
			case es != nil:
				c.Set = es
				es.Consts = append(es.Consts, c)
			default:
				loose = append(loose, c)
			}
		}
	}
	for _, mc := range m.Macros {
		s, err := pick(mc.Name, "")
		if err != nil {
			return nil, nil, nil, err
		}
		add(&constant{C: mc.Name, Go: name(mc.Name, s), Value: mc.Value, PerArch: mc.PerArch, Pos: mc.Pos, Doc: mc.Doc, Expr: mc.Expr}, s)
	}
	for _, s := range cfg.Sets {
		if !used[s] && len(s.EnumTags) == 0 {
			absent = append(absent, fmt.Sprintf("%s:%d: set %s matches no constant in the headers", cfg.Path, s.Line, s.Go))
		}
	}
	for t := range cfg.Enums {
		found := false
		for _, e := range m.Enums {
			found = found || e.C == t
		}
		if !found {
			absent = append(absent, fmt.Sprintf("%s: enum %s is not in the headers", cfg.at(t), t))
		}
	}
	var kept []*constSet
	for _, s := range sets {
		if len(s.Consts) > 0 {
			kept = append(kept, s)
		}
	}
	for _, s := range kept {
		if err := checkFits(s); err != nil {
			return nil, nil, nil, err
		}
	}
	sort.Strings(absent)
	return kept, loose, absent, nil
}

// checkFits fails when a constant does not fit its set's type.
func checkFits(s *constSet) error {
	bits := map[string]uint{"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64, "int8": 8, "int16": 16, "int32": 32, "int64": 64}[s.Underlying]
	signed := strings.HasPrefix(s.Underlying, "int")
	for _, c := range s.Consts {
		for _, v := range c.values() {
			if err := fits(s, c, v, bits, signed); err != nil {
				return err
			}
		}
	}
	return nil
}

func fits(s *constSet, c *constant, v model.Value, bits uint, signed bool) error {
	var ok bool
	switch {
	case v.Negative:
		ok = signed && bits < 64 && v.Int64() >= -(1<<(bits-1)) || signed && bits == 64
	case signed:
		ok = bits == 64 && v.Bits < 1<<63 || bits < 64 && v.Bits < 1<<(bits-1)
	default:
		ok = bits == 64 || v.Bits < 1<<bits
	}
	if !ok {
		return &model.Error{Pos: c.Pos, Msg: fmt.Sprintf("%s = %s does not fit %s's type %s", c.C, v, s.Go, s.Underlying)}
	}
	return nil
}

// forSets returns a copy of c whose member typings name only sets that
// exist in these headers; the dropped ones are added to absent.
func (c *Config) forSets(sets []*constSet, absent *[]string) *Config {
	have := map[string]bool{}
	for _, s := range sets {
		have[s.Go] = true
	}
	out := *c
	out.used = nil
	out.Members = map[string]string{}
	for key, set := range c.Members {
		if !have[set] {
			*absent = append(*absent, fmt.Sprintf("%s: member %s: set %s has no constants in the headers", c.at(key), key, set))
			continue
		}
		out.Members[key] = set
	}
	return &out
}
