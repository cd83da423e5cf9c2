package roundtrip

import "unsafe"

// The registry types of a generated package (uapitest.Struct, Member and
// Constant) have these underlying types; FromRegistry relies on it.
type (
	registryMember interface {
		~struct {
			C        string
			Go       string
			Accessor bool
			Flex     bool
			Int      int
			Size     int
			Get      func(unsafe.Pointer) uint64
			Set      func(unsafe.Pointer, uint64)
			Ptr      func(unsafe.Pointer) unsafe.Pointer
		}
	}
	registryStruct[M registryMember] interface {
		~struct {
			Go      string
			C       string
			Size    uintptr
			Align   uintptr
			Members []M
		}
	}
	registryConstant interface {
		~struct {
			C        string
			Go       string
			Bits     uint64
			Negative bool
		}
	}
)

// FromRegistry converts a generated package's registry
// (uapitest.Structs, uapitest.Constants) into the round trip's types.
func FromRegistry[M registryMember, S registryStruct[M], K registryConstant](structs []S, constants []K) ([]Struct, []Constant) {
	rs := make([]Struct, len(structs))
	for i, s := range structs {
		v := struct {
			Go      string
			C       string
			Size    uintptr
			Align   uintptr
			Members []M
		}(s)
		rs[i] = Struct{Go: v.Go, C: v.C, Size: v.Size, Align: v.Align, Members: make([]Member, len(v.Members))}
		for j, m := range v.Members {
			rs[i].Members[j] = Member(m)
		}
	}
	rc := make([]Constant, len(constants))
	for i, c := range constants {
		rc[i] = Constant(c)
	}
	return rs, rc
}
