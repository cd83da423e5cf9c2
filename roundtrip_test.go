package urgen_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/urgen/urgen/gen/family"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/generated/nvme/nvmetest"
	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/generated/uapi/uapitest"
	"github.com/urgen/urgen/generated/ublk/ublktest"
)

// registry is one header family's generated registry.
type registry struct {
	dir       string // templates dir
	structs   []uapitest.Struct
	constants []uapitest.Constant
	builders  []uapitest.Builder
}

// families are the header families under templates/ and their registries;
// TestFamiliesCovered checks that none is missing.
var families = []registry{
	{"templates", uapitest.Structs, uapitest.Constants, uapitest.Builders},
	{"templates/nvme", nvmetest.Structs, nvmetest.Constants, nvmetest.Builders},
	{"templates/ublk", ublktest.Structs, ublktest.Constants, ublktest.Builders},
}

// TestFamiliesCovered fails when a header family has no round trip.
func TestFamiliesCovered(t *testing.T) {
	all, err := family.All("templates")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range families {
		have[filepath.Clean(r.dir)] = true
	}
	for _, f := range all {
		if !have[filepath.Clean(f.Dir)] {
			t.Errorf("family %s (%s) is not in roundtrip_test.go's families", f.Package, f.Dir)
		}
	}
	if len(all) != len(families) {
		t.Errorf("templates/ has %d families, roundtrip_test.go %d", len(all), len(families))
	}
}

// TestRoundTrip proves every generated family (generated/uapi, nvme,
// ublk) against gcc compiling the same headers/: every struct's size and alignment, every member's offset and
// size (fields and union accessors), every constant's value, and a byte
// round trip both ways for every member: Go writes a distinct value
// through its field or accessor and C reads it by member name, then C
// writes by name and Go reads. The checks come from the model and the
// generated registry, so a struct in a new header is covered unedited.
func TestRoundTrip(t *testing.T) {
	// URGEN_CC and URGEN_EXEC run the test for a foreign GOARCH: the test
	// binary (GOARCH=s390x go test -c) runs under qemu-user, compiles with
	// that arch's cross gcc and runs the C program under qemu-user too
	// (make roundtrip-cross).
	cc := os.Getenv("URGEN_CC")
	if cc == "" {
		cc = "gcc"
	}
	runner := strings.Fields(os.Getenv("URGEN_EXEC"))
	gcc, err := exec.LookPath(cc)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("gcc is required in CI: %v", err)
		}
		t.Skipf("needs gcc: %v", err)
	}
	arch, err := model.LookupArch(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	for _, reg := range families {
		fam, err := family.Load(reg.dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fam.Package, func(t *testing.T) { roundTrip(t, gcc, runner, arch, fam, reg) })
	}
}

func roundTrip(t *testing.T, gcc string, runner []string, arch model.Arch, fam *family.Family, reg registry) {
	m, err := model.Load("headers", []string{runtime.GOARCH}, fam.Scope)
	if err != nil {
		t.Fatal(err)
	}

	// Every model struct must be in the registry.
	inReg := map[string]bool{}
	for _, s := range reg.structs {
		inReg[s.C] = true
	}
	for _, s := range m.Structs {
		if !inReg[s.CName()] {
			t.Errorf("%s (%s) has no generated struct in the registry", s.CName(), s.Pos)
		}
	}
	if n := len(m.Macros) + countEnumerators(m); n != len(reg.constants) {
		t.Errorf("model has %d constants, registry %d", n, len(reg.constants))
	}

	dir := t.TempDir()
	prog := cProgram(m, reg)
	src := filepath.Join(dir, "roundtrip.c")
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "roundtrip")
	cmd := exec.Command(gcc, "-std=gnu11", "-O0", "-Wall", "-Werror", "-Wno-unused-variable",
		"-I", "headers", "-I", filepath.Join("headers", arch.Triplet), "-o", bin, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}

	// Go -> C input: one block per member, the struct's bytes with only
	// that member written from Go.
	var in bytes.Buffer
	for si, s := range reg.structs {
		for mi, mem := range s.Members {
			if mem.Flex {
				continue
			}
			buf := make([]byte, s.Size)
			p := unsafe.Pointer(&buf[0])
			if mem.Int > 0 {
				mem.Set(p, patValue(si, mem.Int, mi))
			} else {
				copy(unsafe.Slice((*byte)(mem.Ptr(p)), mem.Size), pattern(si, mi, mem.Size))
			}
			in.Write(buf)
		}
	}
	inFile, outFile := filepath.Join(dir, "go2c.bin"), filepath.Join(dir, "c2go.bin")
	if err := os.WriteFile(inFile, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run := append(runner, bin, inFile, outFile)
	out, err := exec.Command(run[0], run[1:]...).Output()
	if err != nil {
		t.Fatalf("roundtrip program: %v", err)
	}

	checks := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
	}
	c2go, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "S": // S si size align
			si, size, align := atoi(f[1]), atou(f[2]), atou(f[3])
			s := reg.structs[si]
			checks += 2
			if uint64(s.Size) != size {
				fail("%s: Go size %d, C size %d (%s)", s.Go, s.Size, size, s.C)
			}
			if uint64(s.Align) != align && !(align > 4 && !is64()) {
				fail("%s: Go alignment %d, C alignment %d (%s)", s.Go, s.Align, align, s.C)
			}
		case "M": // M si mi offset size
			si, mi, off, size := atoi(f[1]), atoi(f[2]), atou(f[3]), atou(f[4])
			s := reg.structs[si]
			mem := s.Members[mi]
			buf := make([]byte, s.Size+64)
			p := unsafe.Pointer(&buf[0])
			goOff := memberOffset(mem, p)
			checks += 2
			if goOff != off {
				fail("%s.%s (%s %s): Go offset %d, C offset %d", s.Go, mem.Go, s.C, mem.C, goOff, off)
			}
			if uint64(mem.Size) != size {
				fail("%s.%s (%s %s): Go size %d, C size %d", s.Go, mem.Go, s.C, mem.C, mem.Size, size)
			}
		case "K": // K name negative bits
			name, negative, bits := f[1], f[2] == "1", atou(f[3])
			c := constant(reg, name)
			checks++
			if c == nil {
				fail("constant %s: not generated", name)
			} else if c.Bits != bits || c.Negative != negative {
				fail("constant %s (Go %s): Go value %s, C value %s", name, c.Go, showValue(c.Bits, c.Negative), showValue(bits, negative))
			}
		case "R": // R si mi value: C read an integer member written by Go
			si, mi, v := atoi(f[1]), atoi(f[2]), atou(f[3])
			s := reg.structs[si]
			mem := s.Members[mi]
			checks++
			if want := patValue(si, mem.Int, mi); v != want {
				fail("Go->C %s.%s (%s): Go wrote %#x, C read %#x", s.Go, mem.Go, mem.C, want, v)
			}
		case "B": // B si mi hex: C read a byte member written by Go
			si, mi := atoi(f[1]), atoi(f[2])
			s := reg.structs[si]
			mem := s.Members[mi]
			checks++
			if want := hex.EncodeToString(pattern(si, mi, mem.Size)); f[3] != want {
				fail("Go->C %s.%s (%s): Go wrote %s, C read %s", s.Go, mem.Go, mem.C, want, f[3])
			}
		}
	}
	// C -> Go: the program wrote one block per member, by member name.
	for si, s := range reg.structs {
		for mi, mem := range s.Members {
			if mem.Flex {
				continue
			}
			if len(c2go) < int(s.Size) {
				t.Fatalf("C->Go data ends early at %s.%s", s.Go, mem.Go)
			}
			buf := append([]byte(nil), c2go[:s.Size]...)
			c2go = c2go[s.Size:]
			p := unsafe.Pointer(&buf[0])
			checks++
			if mem.Int > 0 {
				if got, want := mem.Get(p), patValue(si, mem.Int, mi); got != want {
					fail("C->Go %s.%s (%s): C wrote %#x, Go read %#x", s.Go, mem.Go, mem.C, want, got)
				}
				continue
			}
			got := unsafe.Slice((*byte)(mem.Ptr(p)), mem.Size)
			if want := pattern(si, mi, mem.Size); !bytes.Equal(got, want) {
				fail("C->Go %s.%s (%s): C wrote %x, Go read %x", s.Go, mem.Go, mem.C, want, got)
			}
		}
	}
	checks += twinChecks(t, gcc, runner, arch, reg)
	if checks < 100 {
		t.Fatalf("only %d checks ran", checks)
	}
	t.Logf("%d round-trip checks of %s against %s on %s", checks, fam.Package, gcc, runtime.GOARCH)
}

func is64() bool { return unsafe.Sizeof(uintptr(0)) == 8 }

func countEnumerators(m *model.Model) int {
	n := 0
	for _, e := range m.Enums {
		n += len(e.Values)
	}
	return n
}

func constant(reg registry, name string) *uapitest.Constant {
	for i := range reg.constants {
		if reg.constants[i].C == name {
			return &reg.constants[i]
		}
	}
	return nil
}

func showValue(bits uint64, negative bool) string {
	if negative {
		return strconv.FormatInt(int64(bits), 10)
	}
	return strconv.FormatUint(bits, 10)
}

// memberOffset finds a member's offset through its Go field or accessor:
// by address, or for integer accessors by writing through Set and seeing
// which bytes change.
func memberOffset(mem uapitest.Member, p unsafe.Pointer) uint64 {
	if q := mem.Ptr(p); q != nil {
		return uint64(uintptr(q) - uintptr(p))
	}
	buf := unsafe.Slice((*byte)(p), 4096)
	for i := range buf[:64+mem.Size*2] {
		buf[i] = 0
	}
	mem.Set(p, ^uint64(0))
	for i, b := range buf {
		if b != 0 {
			return uint64(i)
		}
	}
	return ^uint64(0)
}

// pattern is n distinct non-zero bytes for member mi of struct si.
func pattern(si, mi, n int) []byte {
	b := make([]byte, n)
	for k := range b {
		b[k] = byte((si*31+mi*7+k*13)%251 + 1)
	}
	return b
}

// patValue is an n-byte integer made of pattern bytes, with the sign bit
// clear so signed and unsigned members read it alike.
func patValue(si, n, mi int) uint64 {
	var v uint64
	for k, b := range pattern(si, mi, n) {
		if k == n-1 {
			b &= 0x7f
		}
		v |= uint64(b) << (8 * k)
	}
	return v
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func atou(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

// cProgram writes the C side: layout and constant lines, then reading
// Go's blocks and writing its own, member by member, by name.
func cProgram(m *model.Model, reg registry) string {
	var b strings.Builder
	b.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n#include <stdlib.h>\n")
	for _, f := range m.Files {
		fmt.Fprintf(&b, "#include <%s>\n", f)
	}
	b.WriteString(`
static __attribute__((unused)) void hexdump(const void *p, size_t n) {
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) printf("%02x", c[i]);
	printf("\n");
}
static __attribute__((unused)) unsigned char *pat(int si, int mi, size_t n) {
	static unsigned char b[4096];
	for (size_t k = 0; k < n; k++) b[k] = (unsigned char)((si*31 + mi*7 + k*13) % 251 + 1);
	return b;
}
static unsigned long long patv(int si, int mi, size_t n) {
	unsigned char *b = pat(si, mi, n);
	unsigned long long v = 0;
	for (size_t k = 0; k < n; k++) v |= (unsigned long long)(k == n-1 ? b[k] & 0x7f : b[k]) << (8*k);
	return v;
}
int main(int argc, char **argv) {
	FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
	if (!in || !out) { perror("open"); return 1; }
`)
	for si, s := range reg.structs {
		fmt.Fprintf(&b, "\tprintf(\"S %d %%zu %%zu\\n\", sizeof(%s), _Alignof(%s));\n", si, s.C, s.C)
		for mi, mem := range s.Members {
			size := fmt.Sprintf("sizeof(((%s *)0)->%s)", s.C, mem.C)
			if mem.Flex {
				size = fmt.Sprintf("sizeof(((%s *)0)->%s[0])", s.C, mem.C)
			}
			fmt.Fprintf(&b, "\tprintf(\"M %d %d %%zu %%zu\\n\", offsetof(%s, %s), %s);\n", si, mi, s.C, mem.C, size)
		}
	}
	for _, c := range reg.constants {
		fmt.Fprintf(&b, "\tprintf(\"K %s %%d %%llu\\n\", (%s) < 0, (unsigned long long)(%s));\n", c.C, c.C, c.C)
	}
	for si, s := range reg.structs {
		for mi, mem := range s.Members {
			if mem.Flex {
				continue
			}
			fmt.Fprintf(&b, "\t{ %s s; if (fread(&s, sizeof s, 1, in) != 1) return 2; ", s.C)
			if mem.Int > 0 {
				fmt.Fprintf(&b, "printf(\"R %d %d %%llu\\n\", (unsigned long long)s.%s); ", si, mi, mem.C)
			} else {
				fmt.Fprintf(&b, "printf(\"B %d %d \"); hexdump(&s.%s, sizeof s.%s); ", si, mi, mem.C, mem.C)
			}
			fmt.Fprintf(&b, "memset(&s, 0, sizeof s); ")
			if mem.Int > 0 {
				fmt.Fprintf(&b, "s.%s = patv(%d, %d, sizeof s.%s); ", mem.C, si, mi, mem.C)
			} else {
				fmt.Fprintf(&b, "memcpy(&s.%s, pat(%d, %d, sizeof s.%s), sizeof s.%s); ", mem.C, si, mi, mem.C, mem.C)
			}
			b.WriteString("fwrite(&s, sizeof s, 1, out); }\n")
		}
	}
	b.WriteString("\tfclose(out);\n\treturn 0;\n}\n")
	return b.String()
}

// twinChecks runs every builder of the family that has a C twin (the
// template's stores spelled in C, for builders liburing has no helper
// for) and the twin itself, compiled by gcc with all families' headers, on
// the same argument vectors, and compares the SQE bytes: the Go builder
// starts from garbage and must zero what the twin leaves zero, and leave
// alone what lies past its SQE. It returns the number of comparisons.
func twinChecks(t *testing.T, gcc string, runner []string, arch model.Arch, reg registry) int {
	var twins []*uapitest.Builder
	for i := range reg.builders {
		if reg.builders[i].CTwin != "" {
			twins = append(twins, &reg.builders[i])
		}
	}
	if len(twins) == 0 {
		return 0
	}
	fams, err := family.All("templates")
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stddef.h>\n")
	scope := family.Union(fams)
	m, err := model.Load("headers", []string{runtime.GOARCH}, scope)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		fmt.Fprintf(&src, "#include <%s>\n", f)
	}
	src.WriteString("static void twin(int id, struct io_uring_sqe *sqe, const unsigned long long *a)\n{\n\tswitch (id) {\n")
	for i, b := range twins {
		fmt.Fprintf(&src, "\tcase %d: /* %s */\n\t\t%s\n\t\tbreak;\n", i, b.Go, b.CTwin)
	}
	src.WriteString(`	default:
		abort();
	}
}
int main(void)
{
	static char line[1 << 16];
	unsigned long long a[64];
	unsigned char buf[128] __attribute__((aligned(64)));
	while (fgets(line, sizeof line, stdin)) {
		char *p = line;
		int id = (int)strtol(p, &p, 10);
		int n = (int)strtol(p, &p, 10);
		for (int i = 0; i < n && i < 64; i++)
			a[i] = strtoull(p, &p, 16);
		memset(buf, 0, sizeof buf);
		twin(id, (struct io_uring_sqe *)buf, a);
		for (int i = 0; i < 128; i++)
			printf("%02x", buf[i]);
		putchar('\n');
	}
	return 0;
}
`)
	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "twin.c"), filepath.Join(dir, "twin")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-std=gnu11", "-O0", "-w", "-I", "headers", "-I", filepath.Join("headers", arch.Triplet), "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("gcc (builder twins): %v\n%s", err, out)
	}
	// Pointer and slice arguments point into arena; nothing reads it.
	arena := make([]uint64, 4096)
	rng := rand.New(rand.NewPCG(7, uint64(len(twins))))
	type job struct {
		b    *uapitest.Builder
		a    []uint64
		p    []unsafe.Pointer
		what string
	}
	var jobs []job
	var in strings.Builder
	for i, b := range twins {
		for v := 0; v < 12; v++ {
			a, p := make([]uint64, b.Slots), make([]unsafe.Pointer, b.Slots)
			for _, arg := range b.Args {
				r := rng.Uint64()
				switch v {
				case 0:
					r = 0
				case 1:
					r = ^uint64(0)
				}
				switch arg.Kind {
				case uapitest.ArgInt:
					bits := uint(arg.Size * 8)
					r &= ^uint64(0) >> (64 - bits)
					if arg.Signed && r>>(bits-1) == 1 {
						r |= ^uint64(0) << bits
					}
					a[arg.Slot] = r
				case uapitest.ArgPointer:
					if v != 0 {
						p[arg.Slot] = unsafe.Pointer(&arena[r%1024*2])
						a[arg.Slot] = uint64(uintptr(p[arg.Slot]))
					}
				case uapitest.ArgSlice:
					if n := r % 5; v != 0 && n != 0 {
						p[arg.Slot] = unsafe.Pointer(&arena[r%1024*2])
						a[arg.Slot], a[arg.Slot+1] = uint64(uintptr(p[arg.Slot])), n
					}
				}
			}
			jobs = append(jobs, job{b, a, p, fmt.Sprintf("%x", a)})
			fmt.Fprintf(&in, "%d %d", i, len(a))
			for _, x := range a {
				fmt.Fprintf(&in, " %x", x)
			}
			in.WriteByte('\n')
		}
	}
	run := append(runner[:len(runner):len(runner)], bin)
	cmd := exec.Command(run[0], run[1:]...)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("builder twins: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(jobs) {
		t.Fatalf("builder twins printed %d SQEs for %d cases", len(lines), len(jobs))
	}
	for j, jb := range jobs {
		want, err := hex.DecodeString(lines[j])
		if err != nil {
			t.Fatal(err)
		}
		var sqes [2]uapi.SQE
		raw := (*[128]byte)(unsafe.Pointer(&sqes[0]))
		for i := range raw {
			raw[i] = 0xa5
		}
		jb.b.Call(&sqes[0], jb.a, jb.p)
		size := 64
		if jb.b.SQE128 {
			size = 128
		}
		for i := 0; i < 128; i++ {
			switch {
			case i >= size && raw[i] != 0xa5:
				t.Errorf("%s(slots %s): byte %d written past the %d-byte SQE", jb.b.Go, jb.what, i, size)
			case i < size && raw[i] != want[i]:
				t.Errorf("%s(slots %s): byte %d is %#02x, the C twin's %#02x (%s)", jb.b.Go, jb.what, i, raw[i], want[i], jb.b.CTwin)
			default:
				continue
			}
			break
		}
	}
	return len(jobs)
}
