package emit

import "github.com/urgen/urgen/gen/model"

// Summary is what a Result declares, in exported form for reports: the Go
// name of every generated struct, member and constant next to its C origin.
type Summary struct {
	// Structs lists the generated struct types in emit order, each followed
	// by the types of its named inline members.
	Structs []StructInfo
	// Constants lists every macro and enumerator: typed sets in emit
	// order, then the untyped constants.
	Constants []ConstInfo
}

// StructInfo is one generated Go struct type.
type StructInfo struct {
	// Go is the Go type name.
	Go string
	// C is the C type: "struct io_uring_sqe", or the parent's C type and
	// the member name ("struct io_uring_sqe.name") for the type of a
	// named inline member.
	C string
	// Src is the model struct or union the type is made from.
	Src *model.Struct
	// Members lists the C members reached through the type: fields in
	// field order, then accessors in declaration order.
	Members []MemberInfo
}

// MemberKind says how Go reaches a C member.
type MemberKind string

// The member kinds.
const (
	// MemberField is a Go struct field.
	MemberField MemberKind = "field"
	// MemberAccessor is a union member reached through accessor methods.
	MemberAccessor MemberKind = "accessor"
	// MemberFlex is a flexible array member reached through a method
	// that takes the element count.
	MemberFlex MemberKind = "flex"
)

// MemberInfo is one C member of a generated struct.
type MemberInfo struct {
	// Go is the field or accessor method name.
	Go string
	// C is the member path from the struct, through named members only
	// ("addr_len"; anonymous structs and unions add no path element).
	C string
	// Kind says whether Go has a field, an accessor or a flexible array
	// method for the member.
	Kind MemberKind
	// Type is the member's C type.
	Type *model.Type
	// Named is the Go type used instead of the plain one for the member's
	// type (a typed set or a nested struct type), or "".
	Named string
	// Offset is the member's offset from the start of the struct, by
	// GOARCH.
	Offset map[string]int64
}

// ConstInfo is one generated constant.
type ConstInfo struct {
	// C and Go are the C and Go names.
	C, Go string
	// Value is the constant's value.
	Value model.Value
	// Set is the Go type of the constant's typed set, or "" when the
	// constant is untyped.
	Set string
	// Pos is where C declares the constant.
	Pos model.Pos
}

// Summary describes the declarations of r.
func (r *Result) Summary() Summary {
	var s Summary
	var walk func(g *goStruct)
	walk = func(g *goStruct) {
		info := StructInfo{Go: g.Go, C: g.C, Src: g.Src}
		for _, f := range g.Fields {
			if f.Blank != nil {
				// Storage for a union whose members are all accessors.
				continue
			}
			info.Members = append(info.Members, MemberInfo{Go: f.Go, C: f.C, Kind: MemberField, Type: f.Type, Named: f.Named, Offset: f.Offset})
		}
		for _, a := range g.Access {
			k := MemberAccessor
			if a.Flex {
				k = MemberFlex
			}
			info.Members = append(info.Members, MemberInfo{Go: a.Go, C: a.C, Kind: k, Type: a.Type, Named: a.Named, Offset: a.Offset})
		}
		s.Structs = append(s.Structs, info)
		for _, n := range g.Nested {
			walk(n)
		}
	}
	for _, g := range r.Structs {
		walk(g)
	}
	for _, set := range r.Sets {
		for _, c := range set.Consts {
			s.Constants = append(s.Constants, ConstInfo{C: c.C, Go: c.Go, Value: c.Value, Set: set.Go, Pos: c.Pos})
		}
	}
	for _, c := range r.Loose {
		s.Constants = append(s.Constants, ConstInfo{C: c.C, Go: c.Go, Value: c.Value, Pos: c.Pos})
	}
	return s
}
