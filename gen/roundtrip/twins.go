package roundtrip

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// Twin is an SQE builder whose template terms all have a C spelling: C
// does to an SQE what the template says the builder does (for builders
// liburing has no helper for, this is their proof).
type Twin struct {
	Go     string // the builder
	C      string // C statements writing sqe from the slots a
	SQE128 bool   // writes a 128-byte SQE
	Slots  int
	Args   []Arg
	// Call runs the builder on the SQE at sqe with the argument slots a
	// (pointer and slice data in p, at the same index).
	Call func(sqe unsafe.Pointer, a []uint64, p []unsafe.Pointer)
}

// Arg is how one builder argument travels in the slots.
type Arg struct {
	Kind   ArgKind
	Slot   int // first slot
	Size   int // integer size in bytes
	Signed bool
}

// ArgKind is the registry's ArgKind, with the same values.
type ArgKind int

// The argument kinds.
const (
	ArgInt     ArgKind = iota // an integer: one slot, sign-extended
	ArgPointer                // a pointer: one slot holding its address
	ArgSlice                  // a slice: its address slot, then its length slot
)

// twinChecks runs every twin, compiled by cc with the package's headers
// and linux/io_uring.h (struct io_uring_sqe), and its Go builder on the
// same argument vectors (zero, all ones, random), and compares the SQE
// bytes: the Go builder starts from garbage and must write what the twin
// writes, zeros included, and leave alone what lies past its SQE.
func twinChecks(r *Result, p Package, files []string, cc string, includes []string, exec []string, work string) error {
	if len(p.Twins) == 0 {
		return nil
	}
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stddef.h>\n")
	for _, f := range append(files, "linux/io_uring.h") {
		fmt.Fprintf(&src, "#include <%s>\n", f)
	}
	src.WriteString("static void twin(int id, struct io_uring_sqe *sqe, const unsigned long long *a)\n{\n\tswitch (id) {\n")
	for i, b := range p.Twins {
		fmt.Fprintf(&src, "\tcase %d: /* %s */\n\t\t%s\n\t\tbreak;\n", i, b.Go, b.C)
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
	cfile, bin := filepath.Join(work, "twin.c"), filepath.Join(work, "twin")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		return err
	}
	args := append([]string{"-std=gnu11", "-O0", "-w"}, includes...)
	if out, err := runCmd(cc, append(args, "-o", bin, cfile)...); err != nil {
		return fmt.Errorf("%s (builder twins): %v\n%s", cc, err, out)
	}
	// Pointer and slice arguments point into arena; nothing reads it.
	arena := make([]uint64, 4096)
	rng := rand.New(rand.NewPCG(7, uint64(len(p.Twins))))
	type job struct {
		b    *Twin
		a    []uint64
		p    []unsafe.Pointer
		what string
	}
	var jobs []job
	var in strings.Builder
	for i := range p.Twins {
		b := &p.Twins[i]
		for v := 0; v < 12; v++ {
			a, ptrs := make([]uint64, b.Slots), make([]unsafe.Pointer, b.Slots)
			for _, arg := range b.Args {
				x := rng.Uint64()
				switch v {
				case 0:
					x = 0
				case 1:
					x = ^uint64(0)
				}
				switch arg.Kind {
				case ArgInt:
					bits := uint(arg.Size * 8)
					x &= ^uint64(0) >> (64 - bits)
					if arg.Signed && x>>(bits-1) == 1 {
						x |= ^uint64(0) << bits
					}
					a[arg.Slot] = x
				case ArgPointer:
					if v != 0 {
						ptrs[arg.Slot] = unsafe.Pointer(&arena[x%1024*2])
						a[arg.Slot] = uint64(uintptr(ptrs[arg.Slot]))
					}
				case ArgSlice:
					if n := x % 5; v != 0 && n != 0 {
						ptrs[arg.Slot] = unsafe.Pointer(&arena[x%1024*2])
						a[arg.Slot], a[arg.Slot+1] = uint64(uintptr(ptrs[arg.Slot])), n
					}
				}
			}
			jobs = append(jobs, job{b, a, ptrs, fmt.Sprintf("%x", a)})
			fmt.Fprintf(&in, "%d %d", i, len(a))
			for _, x := range a {
				fmt.Fprintf(&in, " %x", x)
			}
			in.WriteByte('\n')
		}
	}
	run := append(append([]string(nil), exec...), bin)
	out, err := runInput(in.String(), run[0], run[1:]...)
	if err != nil {
		return fmt.Errorf("builder twins: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(jobs) {
		return fmt.Errorf("builder twins printed %d SQEs for %d cases", len(lines), len(jobs))
	}
	for j, jb := range jobs {
		want, err := hex.DecodeString(lines[j])
		if err != nil {
			return err
		}
		// Two SQEs of 64 bytes, 8-aligned like the ring's, pre-filled.
		var sqes [16]uint64
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&sqes[0])), 128)
		for i := range raw {
			raw[i] = 0xa5
		}
		jb.b.Call(unsafe.Pointer(&sqes[0]), jb.a, jb.p)
		size := 64
		if jb.b.SQE128 {
			size = 128
		}
		r.Checks++
		for i := 0; i < 128; i++ {
			if i >= size && raw[i] != 0xa5 {
				r.Failures = append(r.Failures, fmt.Sprintf("%s(slots %s): byte %d written past the %d-byte SQE", jb.b.Go, jb.what, i, size))
				break
			}
			if i < size && raw[i] != want[i] {
				r.Failures = append(r.Failures, fmt.Sprintf("%s(slots %s): byte %d is %#02x, the C twin's %#02x (%s)", jb.b.Go, jb.what, i, raw[i], want[i], jb.b.C))
				break
			}
		}
	}
	return nil
}
