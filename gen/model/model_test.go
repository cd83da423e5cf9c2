package model_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/internal/testheaders"
)

// synthetic exercises the C constructs the model must get right, beyond
// what today's io_uring headers happen to use. The test compares the model
// with what the host gcc computes for the same file.
const synthetic = `#ifndef URGEN_SYNTHETIC_H
#define URGEN_SYNTHETIC_H
#include <linux/types.h>
#include <linux/stddef.h>

#define URGEN_ALL_ONES    (~0U)
#define URGEN_NEG         (-2)
#define URGEN_NEG_CAST    ((__s32)-17)
#define URGEN_U32_MAX     ((__u32)-1)
#define URGEN_TOP_BIT     (1ULL << 63)
#define URGEN_MASK        (~(__u64)0 >> 16)
#define URGEN_SHIFTED     (3U << 30)
#define URGEN_CHAR        'A'
#define URGEN_SUM         (URGEN_SHIFTED | 5)

enum urgen_implicit {
	URGEN_A,
	URGEN_B = 10,
	URGEN_C,
	URGEN_D = -3,
	URGEN_E,
};

enum {
	URGEN_ANON_X = 1 << 4,
	URGEN_ANON_Y,
};

/* a packed struct: no padding at all */
struct urgen_packed {
	__u8	a;
	__u64	b;
	__u16	c;
} __attribute__((packed));

struct urgen_aligned {
	__u8	a;
	__u32	b __attribute__((aligned(16)));
	__aligned_u64 c;
};

struct urgen_nested {
	__u8	kind;
	union {
		__u64	u64;
		struct {
			__u16	lo;
			__u8	mid[3];
		};
		struct urgen_packed	p;
	};
	struct {
		__s32	x;
		__u8	y;
	} named;
	__u16	tail;
	union {
		__DECLARE_FLEX_ARRAY(__u32, words);
		__DECLARE_FLEX_ARRAY(__u8, bytes);
	};
};

union urgen_union {
	__u8	b[5];
	__u32	w;
	__u64	d __attribute__((aligned(4)));
};

struct urgen_flex {
	__u32	n;
	__u64	items[];
};
#endif
`

func TestSyntheticAgainstGCC(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("needs gcc for the layout truth: %v", err)
	}
	dir := testheaders.Copy(t, filepath.Join("..", "..", "headers"), "linux", "asm-generic", "x86_64-linux-gnu")
	if err := os.WriteFile(filepath.Join(dir, "linux", "io_uring", "urgen_synthetic.h"), []byte(synthetic), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, []string{"amd64"}, model.DefaultScope)
	if err != nil {
		t.Fatal(err)
	}

	// Build a C program printing gcc's answer for every value the model
	// has for the synthetic header.
	var c strings.Builder
	c.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <linux/io_uring/urgen_synthetic.h>\nint main(void) {\n")
	type check struct {
		what string
		want string
	}
	var checks []check
	emit := func(what, expr, want string) {
		checks = append(checks, check{what, want})
		fmt.Fprintf(&c, "\tprintf(\"%%s\\n\", (%s) < 0 ? \"-\" : \"+\"); printf(\"%%llu\\n\", (unsigned long long)(%s));\n", expr, expr)
	}
	value := func(v model.Value) string {
		sign := "+"
		if v.Negative {
			sign = "-"
		}
		return sign + "\n" + strconv.FormatUint(v.Bits, 10)
	}
	n := 0
	for _, s := range m.Structs {
		if !strings.HasPrefix(s.C, "urgen_") {
			continue
		}
		n++
		l := s.Layout["amd64"]
		emit(s.CName()+" size", "sizeof("+s.CName()+")", "+\n"+strconv.FormatInt(l.Size, 10))
		emit(s.CName()+" align", "_Alignof("+s.CName()+")", "+\n"+strconv.FormatInt(l.Align, 10))
		var walk func(prefix string, base int64, fields []*model.Field)
		walk = func(prefix string, base int64, fields []*model.Field) {
			for _, f := range fields {
				off := base + f.Offset["amd64"]
				p := prefix + f.Name
				if f.Name != "" && !strings.HasPrefix(f.Name, "__empty_") {
					emit(s.CName()+"."+p, "offsetof("+s.CName()+", "+p+")", "+\n"+strconv.FormatInt(off, 10))
				}
				if f.Type.Kind == model.KindInline {
					next := prefix
					if f.Name != "" {
						next = p + "."
					}
					walk(next, off, f.Type.Inline.Fields)
				}
			}
		}
		walk("", 0, s.Fields)
	}
	if n != 5 {
		t.Errorf("model has %d urgen_ structs, want 5", n)
	}
	nc := 0
	for _, mc := range m.Macros {
		if strings.HasPrefix(mc.Name, "URGEN_") && mc.Name != "URGEN_SYNTHETIC_H" {
			nc++
			emit(mc.Name, mc.Name, value(mc.Value))
		}
	}
	for _, e := range m.Enums {
		for _, v := range e.Values {
			if strings.HasPrefix(v.Name, "URGEN_") {
				nc++
				emit(v.Name, v.Name, value(v.Value))
			}
		}
	}
	if nc != 9+5+2 {
		t.Errorf("model has %d URGEN_ constants, want 16", nc)
	}
	c.WriteString("\treturn 0;\n}\n")

	work := t.TempDir()
	src, bin := filepath.Join(work, "s.c"), filepath.Join(work, "s")
	if err := os.WriteFile(src, []byte(c.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-I", dir, "-I", filepath.Join(dir, "x86_64-linux-gnu"), "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2*len(checks) {
		t.Fatalf("gcc program printed %d lines for %d checks", len(lines), len(checks))
	}
	for i, ch := range checks {
		if got := lines[2*i] + "\n" + lines[2*i+1]; got != ch.want {
			t.Errorf("%s: model %q, gcc %q", ch.what, strings.ReplaceAll(ch.want, "\n", ""), strings.ReplaceAll(got, "\n", ""))
		}
	}
	t.Logf("%d layout and constant values compared with gcc", len(checks))

	p := m.Struct("urgen_packed")
	if p == nil || !p.Packed {
		t.Errorf("struct urgen_packed is not marked packed: %+v", p)
	}
	if fl := m.Struct("urgen_flex"); fl == nil || !fl.Fields[1].Type.Flexible {
		t.Errorf("urgen_flex.items is not a flexible array")
	}
	for _, e := range m.Enums {
		for _, v := range e.Values {
			if v.Name == "URGEN_C" && v.Explicit || v.Name == "URGEN_B" && !v.Explicit {
				t.Errorf("%s: Explicit = %v", v.Name, v.Explicit)
			}
		}
	}
	for _, mc := range m.Macros {
		if mc.Name == "URGEN_NEG" && mc.Pos.Line != 7 {
			t.Errorf("URGEN_NEG at %s, want line 7", mc.Pos)
		}
	}
}

// TestPerArchMacros: the ioctl numbers of nvme_ioctl.h encode their
// direction bits differently on mips (and powerpc): _IO sets _IOC_NONE (1)
// at bit 29 there, nothing elsewhere; _IOW's size field is the struct's
// size on each arch (44 bytes on 386, 48 on amd64).
func TestPerArchMacros(t *testing.T) {
	scope := model.Scope{Files: []string{"linux/nvme_ioctl.h"}, Include: []string{"linux/ioctl.h"}}
	m, err := model.Load("../../headers", []string{"amd64", "386", "mips"}, scope)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]uint64{
		"NVME_IOCTL_ID":        {"amd64": 0x4e40, "386": 0x4e40, "mips": 0x20004e40},
		"NVME_IOCTL_SUBMIT_IO": {"amd64": 0x40304e42, "386": 0x402c4e42, "mips": 0x80304e42},
		"NVME_URING_CMD_IO":    {"amd64": 0xc0484e80, "386": 0xc0484e80, "mips": 0xc0484e80},
	}
	for _, c := range m.Macros {
		w, ok := want[c.Name]
		if !ok {
			continue
		}
		delete(want, c.Name)
		for arch, v := range w {
			if got := c.ValueOn(arch).Bits; got != v {
				t.Errorf("%s on %s = %#x, want %#x", c.Name, arch, got, v)
			}
		}
		if same := c.Name == "NVME_URING_CMD_IO"; same != (c.PerArch == nil) {
			t.Errorf("%s: PerArch %v", c.Name, c.PerArch)
		}
	}
	for name := range want {
		t.Errorf("%s is not in the model", name)
	}
}
