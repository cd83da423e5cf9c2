// Package model is what the kernel's io_uring UAPI headers say, in a form the
// emitters can read without knowing C: every struct and union with each
// member's offset per GOARCH, every enum, and every object-like macro with a
// constant value, each with its source position and comment.
//
// The model is built by Load from a headers directory (see headers/ in the
// repository) with modernc.org/cc/v4; nothing downstream parses C.
package model

import (
	"fmt"
	"strconv"
	"strings"
)

// Model is the parsed content of one headers directory.
type Model struct {
	// Headers describes where the headers came from (headers/VERSION).
	Headers HeaderSource `json:"headers"`
	// Archs lists the GOARCH values the layouts were computed for.
	Archs []string `json:"archs"`
	// Files lists the in-scope header files, relative to the headers dir.
	Files []string `json:"files"`
	// Structs holds named structs and unions in source order, followed by
	// the out-of-scope ones they reference (such as __kernel_timespec).
	Structs []*Struct `json:"structs"`
	// Enums holds named and anonymous enums in source order.
	Enums []*Enum `json:"enums"`
	// Macros holds object-like macros with a constant integer value.
	Macros []*Macro `json:"macros"`
	// Unsupported lists in-scope constructs the model does not represent,
	// with the reason, so that nothing is dropped silently.
	Unsupported []Unsupported `json:"unsupported,omitempty"`
	// Warnings lists what the model has but gcc would warn about (a
	// redefined macro, whose last definition the model has).
	Warnings []Unsupported `json:"warnings,omitempty"`
}

// HeaderSource records where the headers came from: the Debian package
// named by the directory's VERSION file (empty when it has none) and the
// directory itself.
type HeaderSource struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Suite   string `json:"suite,omitempty"` // the Debian suite that carried the version
	SHA256  string `json:"sha256"`          // of the .deb
	Dir     string `json:"dir"`
}

// String names the headers' origin for people: "linux-libc-dev
// 7.3.4-1~bpo13+1", or "the headers in /usr/include (no VERSION file)".
func (h HeaderSource) String() string {
	if h.Package == "" {
		return "the headers in " + h.Dir + " (no VERSION file)"
	}
	return h.Package + " " + h.Version
}

// Pos is a source position; File is relative to the headers directory.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

// String is "file:line:col".
func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Short is file:line, the form used in generated doc comments.
func (p Pos) Short() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Layout is the size and alignment of a type on one architecture.
type Layout struct {
	Size  int64 `json:"size"`
	Align int64 `json:"align"`
}

// Struct is a C struct or union. Anonymous ones appear only inline, as the
// type of a Field.
type Struct struct {
	C      string `json:"c"` // tag; empty for an anonymous struct or union
	Union  bool   `json:"union,omitempty"`
	Packed bool   `json:"packed,omitempty"`
	// External is set for structs declared outside the in-scope headers
	// that are referenced from them.
	External bool              `json:"external,omitempty"`
	Pos      Pos               `json:"pos"`
	Doc      string            `json:"doc,omitempty"`
	Fields   []*Field          `json:"fields"`
	Layout   map[string]Layout `json:"layout"` // by GOARCH
}

// CName is the C spelling of a named struct's type: "struct io_uring_sqe".
func (s *Struct) CName() string {
	if s.Union {
		return "union " + s.C
	}
	return "struct " + s.C
}

// Field is a member of a struct or union. Name is empty for an anonymous
// struct or union member, whose Type is then Inline.
type Field struct {
	Name   string           `json:"name"`
	Type   *Type            `json:"type"`
	Pos    Pos              `json:"pos"`
	Doc    string           `json:"doc,omitempty"`
	Offset map[string]int64 `json:"offset"` // from the start of the enclosing struct, by GOARCH
}

// Kind classifies a member type.
type Kind int

// The member type kinds.
const (
	KindInt    Kind = iota // fixed-size integer
	KindArray              // array, possibly of length zero or flexible
	KindStruct             // a named struct or union, by reference
	KindInline             // an anonymous struct or union defined in place
)

var kindNames = [...]string{"int", "array", "struct", "inline"}

// String is the kind's name: "int", "array", "struct" or "inline".
func (k Kind) String() string { return kindNames[k] }

// MarshalText makes kinds readable in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Type is the type of a member.
type Type struct {
	Kind Kind   `json:"kind"`
	C    string `json:"c"` // the C spelling, e.g. "__u64" or "struct io_uring_buf"
	// KindInt
	Size   int64 `json:"size,omitempty"`
	Signed bool  `json:"signed,omitempty"`
	// BigEndian marks __be16/__be32/__be64: the value is in network order.
	BigEndian bool `json:"big_endian,omitempty"`
	// KindArray: Len is the length; Flexible marks a flexible array member
	// ("T x[]") or a zero-length array ("T x[0]"), which occupy no storage.
	Elem     *Type `json:"elem,omitempty"`
	Len      int64 `json:"len,omitempty"`
	Flexible bool  `json:"flexible,omitempty"`
	// KindStruct: the tag of the referenced struct or union.
	Ref   string `json:"ref,omitempty"`
	Union bool   `json:"union,omitempty"`
	// KindInline: the anonymous struct or union.
	Inline *Struct `json:"inline,omitempty"`
}

// Enum is a C enum; C is empty for an anonymous one.
type Enum struct {
	C      string        `json:"c"`
	Pos    Pos           `json:"pos"`
	Doc    string        `json:"doc,omitempty"`
	Values []*Enumerator `json:"values"`
}

// Enumerator is one enum constant.
type Enumerator struct {
	Name string `json:"name"`
	// Explicit is set when the enumerator has an "= value" in the source.
	Explicit bool   `json:"explicit,omitempty"`
	Value    Value  `json:"value"`
	Pos      Pos    `json:"pos"`
	Doc      string `json:"doc,omitempty"`
}

// Macro is an object-like macro whose replacement evaluates to an integer.
type Macro struct {
	Name string `json:"name"`
	// Value is the value on the first arch of Model.Archs; PerArch holds
	// every arch's when they differ (ioctl numbers: mips and powerpc
	// encode the direction bits of _IO, _IOR and _IOW differently), and is
	// nil when all agree.
	Value   Value            `json:"value"`
	PerArch map[string]Value `json:"per_arch,omitempty"`
	CType   string           `json:"ctype"` // the C type of the evaluated expression
	Expr    string           `json:"expr"`  // the replacement list as written
	Pos     Pos              `json:"pos"`
	Doc     string           `json:"doc,omitempty"`
}

// ValueOn is the macro's value on arch.
func (c *Macro) ValueOn(arch string) Value {
	if v, ok := c.PerArch[arch]; ok {
		return v
	}
	return c.Value
}

// Unsupported is a construct the model leaves out, and why.
type Unsupported struct {
	Name   string `json:"name"`
	Pos    Pos    `json:"pos"`
	Reason string `json:"reason"`
}

// CommentText makes header text safe to quote in a Go comment: invalid
// UTF-8 becomes U+FFFD, control characters other than newline and tab are
// dropped, and "*/" (which would end a block comment) becomes "* /".
func CommentText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.ReplaceAll(s, "*/", "* /")
}

// Value is an integer constant wide enough for any C integer constant:
// the two's complement bits and whether the value is negative.
type Value struct {
	Bits     uint64
	Negative bool
}

// Int64 returns the value as a signed integer (meaningful when Negative or
// when the value fits).
func (v Value) Int64() int64 { return int64(v.Bits) }

// String is the value in decimal, with a minus sign when Negative.
func (v Value) String() string {
	if v.Negative {
		return strconv.FormatInt(int64(v.Bits), 10)
	}
	return strconv.FormatUint(v.Bits, 10)
}

// MarshalJSON writes the value as a JSON number.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalJSON reads a JSON number.
func (v *Value) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) > 0 && s[0] == '-' {
		i, err := strconv.ParseInt(s, 10, 64)
		*v = Value{Bits: uint64(i), Negative: true}
		return err
	}
	u, err := strconv.ParseUint(s, 10, 64)
	*v = Value{Bits: u}
	return err
}

// Struct returns the named struct or union with the given tag, or nil.
func (m *Model) Struct(tag string) *Struct {
	for _, s := range m.Structs {
		if s.C == tag {
			return s
		}
	}
	return nil
}

// Constant looks up a macro or enumerator by name.
func (m *Model) Constant(name string) (Value, bool) {
	for _, c := range m.Macros {
		if c.Name == name {
			return c.Value, true
		}
	}
	for _, e := range m.Enums {
		for _, v := range e.Values {
			if v.Name == name {
				return v.Value, true
			}
		}
	}
	return Value{}, false
}
