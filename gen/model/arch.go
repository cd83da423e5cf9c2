package model

import (
	"encoding/binary"
	"fmt"

	"modernc.org/cc/v4"
)

// Arch describes how to lay out C for one Linux GOARCH.
type Arch struct {
	GOARCH  string
	Triplet string // Debian multiarch triplet holding the arch's asm/ headers
	// ABIFrom names the cc/v4 ABI whose type sizes and alignments this arch
	// shares; cc/v4 has none for mips, mipsle, mips64 and ppc64, whose C
	// layouts equal those of a sibling with the other byte order.
	ABIFrom   string
	BigEndian bool
	LP64      bool
	// Macros are the compiler's predefined arch macros that the kernel
	// headers test; cc.NewConfig would give the host's instead.
	Macros string
}

// Archs are all Linux GOARCH values Go supports, in the order they are
// reported. The macro sets follow what GCC predefines for each target.
var Archs = []Arch{
	{"amd64", "x86_64-linux-gnu", "amd64", false, true, "__x86_64__ 1\n__x86_64 1\n__amd64__ 1\n"},
	{"386", "i386-linux-gnu", "386", false, false, "__i386__ 1\n__i386 1\ni386 1\n"},
	{"arm", "arm-linux-gnueabihf", "arm", false, false, "__arm__ 1\n__ARM_EABI__ 1\n__ARMEL__ 1\n"},
	{"arm64", "aarch64-linux-gnu", "arm64", false, true, "__aarch64__ 1\n__AARCH64EL__ 1\n"},
	{"loong64", "loongarch64-linux-gnu", "loong64", false, true, "__loongarch__ 1\n__loongarch64 1\n__loongarch_grlen 64\n"},
	{"mips", "mips-linux-gnu", "arm", true, false, "__mips__ 1\n__mips 32\n__MIPSEB__ 1\n_MIPS_SZLONG 32\n_MIPS_SZPTR 32\n_MIPS_SIM 1\n_ABIO32 1\n"},
	{"mipsle", "mipsel-linux-gnu", "arm", false, false, "__mips__ 1\n__mips 32\n__MIPSEL__ 1\n_MIPS_SZLONG 32\n_MIPS_SZPTR 32\n_MIPS_SIM 1\n_ABIO32 1\n"},
	{"mips64", "mips64-linux-gnuabi64", "mips64le", true, true, "__mips__ 1\n__mips 64\n__mips64 1\n__MIPSEB__ 1\n_MIPS_SZLONG 64\n_MIPS_SZPTR 64\n_MIPS_SIM 3\n_ABI64 3\n"},
	{"mips64le", "mips64el-linux-gnuabi64", "mips64le", false, true, "__mips__ 1\n__mips 64\n__mips64 1\n__MIPSEL__ 1\n_MIPS_SZLONG 64\n_MIPS_SZPTR 64\n_MIPS_SIM 3\n_ABI64 3\n"},
	{"ppc64", "powerpc64-linux-gnu", "ppc64le", true, true, "__powerpc__ 1\n__powerpc64__ 1\n__PPC64__ 1\n__BIG_ENDIAN__ 1\n"},
	{"ppc64le", "powerpc64le-linux-gnu", "ppc64le", false, true, "__powerpc__ 1\n__powerpc64__ 1\n__PPC64__ 1\n__LITTLE_ENDIAN__ 1\n"},
	{"riscv64", "riscv64-linux-gnu", "riscv64", false, true, "__riscv 1\n__riscv_xlen 64\n"},
	{"s390x", "s390x-linux-gnu", "s390x", true, true, "__s390__ 1\n__s390x__ 1\n"},
}

// ArchNames returns the GOARCH names of Archs.
func ArchNames() []string {
	r := make([]string, len(Archs))
	for i, a := range Archs {
		r[i] = a.GOARCH
	}
	return r
}

// LookupArch returns the Arch for a GOARCH.
func LookupArch(goarch string) (Arch, error) {
	for _, a := range Archs {
		if a.GOARCH == goarch {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("unknown GOARCH %q (known: %v)", goarch, ArchNames())
}

// abi returns the cc/v4 ABI for the arch.
func (a Arch) abi() (*cc.ABI, error) {
	base, err := cc.NewABI("linux", a.ABIFrom)
	if err != nil {
		return nil, fmt.Errorf("arch %s: %v", a.GOARCH, err)
	}
	abi := *base
	abi.ByteOrder = binary.ByteOrder(binary.LittleEndian)
	if a.BigEndian {
		abi.ByteOrder = binary.BigEndian
	}
	return &abi, nil
}

// predefined returns the predefined macros for the arch: the generic GCC
// ones the headers and cc/v4's builtins need, then the arch's own.
func (a Arch) predefined() string {
	long, u64 := "4", "unsigned long long"
	if a.LP64 {
		long, u64 = "8", "unsigned long"
	}
	order := "__ORDER_LITTLE_ENDIAN__"
	if a.BigEndian {
		order = "__ORDER_BIG_ENDIAN__"
	}
	s := "#define __linux__ 1\n#define __linux 1\n#define __unix__ 1\n#define __GNUC__ 12\n#define __GNUC_MINOR__ 2\n" +
		"#define __STDC__ 1\n#define __STDC_VERSION__ 201710L\n#define __CHAR_BIT__ 8\n" +
		"#define __SIZEOF_INT__ 4\n#define __SIZEOF_LONG_LONG__ 8\n" +
		"#define __SIZEOF_LONG__ " + long + "\n#define __SIZEOF_POINTER__ " + long + "\n" +
		"#define __ORDER_LITTLE_ENDIAN__ 1234\n#define __ORDER_BIG_ENDIAN__ 4321\n" +
		"#define __BYTE_ORDER__ " + order + "\n" +
		"#define __SIZE_TYPE__ unsigned long\n#define __PTRDIFF_TYPE__ long\n#define __WCHAR_TYPE__ int\n" +
		"#define __UINT16_TYPE__ unsigned short\n#define __UINT32_TYPE__ unsigned int\n" +
		"#define __UINT64_TYPE__ " + u64 + "\n"
	if a.LP64 {
		s += "#define __LP64__ 1\n#define _LP64 1\n"
	} else {
		s += "#define __ILP32__ 1\n"
	}
	for _, line := range splitLines(a.Macros) {
		s += "#define " + line + "\n"
	}
	return s
}

func splitLines(s string) []string {
	var r []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > start {
				r = append(r, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		r = append(r, s[start:])
	}
	return r
}
