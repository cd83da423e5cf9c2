package bpf

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// fuzzFields are the loads the fuzzer picks from: every field, its halves
// and words, and some the builder must refuse.
var fuzzFields = []Field{
	UserData, UserData.Low(), UserData.High(), Opcode, SQEFlags, PDUSize,
	SocketFamily, SocketType, SocketProtocol, OpenFlags.Low(), OpenFlags.High(), OpenMode.Low(), OpenResolve.High(),
	ConnectFamily, ConnectPort, ConnectV4Addr, ConnectV6Addr.Word(0), ConnectV6Addr.Word(3), ConnectV6Addr, ConnectV6Addr.Word(4),
	{name: "misaligned", off: 3, size: 2}, {name: "past the end", off: uapi.SizeofBPFCtx - 2, size: 4},
}

// FuzzProgram builds programs from random sequences of Load, And, Jump,
// Goto, Label and Return, assembles them and, when Assemble accepts one,
// checks it as the kernel's checker would (only the instructions it
// allows, loads of aligned words inside io_uring_bpf_ctx, scratch memory
// in range, jumps forward inside the program, a return at the end) and
// runs it on contexts the fuzzer fills: its verdict must be the one the
// same operations give evaluated directly on the context's fields (the
// field as a number, network-order ones converted).
func FuzzProgram(f *testing.F) {
	// Load opcode; if == 1 goto L1; deny; L1: allow.
	f.Add([]byte{0, 3, 2, 0, 1, 0, 0, 0, 1, 4, 5, 0, 0, 0, 0, 4, 1, 5, 1, 0, 0, 0}, []byte{1, 2, 3, 4})
	// The same on connect.port (network order) == 80.
	f.Add([]byte{0, 14, 2, 0, 0x50, 0, 0, 0, 1, 4, 5, 0, 0, 0, 0, 4, 1, 5, 1, 0, 0, 0}, []byte{0, 0x50, 0xff})
	// connect.v4_addr == 127.0.0.1.
	f.Add([]byte{0, 15, 2, 0, 1, 0, 0, 0x7f, 2, 4, 5, 0, 0, 0, 0, 4, 2, 5, 1, 0, 0, 0}, []byte{0x7f, 0, 0, 1})
	// sqe_flags & 0xff, bit test, goto, an unreachable deny.
	f.Add([]byte{0, 4, 1, 0xff, 0, 0, 0, 2, 6, 1, 0, 0, 0, 3, 4, 3, 3, 5, 0, 0, 0, 0, 4, 3, 5, 7, 0, 0, 0}, []byte{3})
	f.Add([]byte{3, 1, 4, 1, 5, 0, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, ops, ctxFill []byte) {
		type op struct {
			kind       byte
			field      Field
			k          uint32
			cond       Cond
			lt, lf, lb string
		}
		var prog []op
		label := func(b byte) string {
			if b%5 == 4 {
				return ""
			}
			return fmt.Sprintf("L%d", b%5)
		}
		for i := 0; i < len(ops) && len(prog) < 64; {
			o := op{kind: ops[i] % 6}
			arg := func(n int) []byte {
				b := make([]byte, n)
				copy(b, ops[min(i+1, len(ops)):])
				return b
			}
			switch o.kind {
			case 0:
				o.field = fuzzFields[int(arg(1)[0])%len(fuzzFields)]
				i += 2
			case 1, 5:
				o.k = binary.LittleEndian.Uint32(arg(4))
				i += 5
			case 2:
				a := arg(7)
				o.cond, o.k, o.lt, o.lf = Cond(a[0]%9), binary.LittleEndian.Uint32(a[1:]), label(a[5]), label(a[6])
				i += 8
			case 3, 4:
				o.lb = label(arg(1)[0])
				i += 2
			}
			prog = append(prog, o)
		}
		p := NewProgram()
		for _, o := range prog {
			switch o.kind {
			case 0:
				p.Load(o.field)
			case 1:
				p.And(o.k)
			case 2:
				p.Jump(o.cond, o.k, o.lt, o.lf)
			case 3:
				p.Goto(o.lb)
			case 4:
				p.Label(o.lb)
			case 5:
				p.Return(o.k)
			}
		}
		insns, err := p.Assemble()
		if err != nil {
			return
		}
		if len(insns) == 0 || len(insns) > unix.BPF_MAXINSNS {
			t.Fatalf("%d instructions", len(insns))
		}
		ctx := make([]byte, uapi.SizeofBPFCtx)
		for i := range ctx {
			if len(ctxFill) > 0 {
				ctx[i] = ctxFill[i%len(ctxFill)] + byte(i)
			}
		}
		got, err := run(insns, ctx)
		if err != nil {
			t.Fatalf("the kernel would refuse it: %v\n%v", err, insns)
		}
		// The same operations on the fields themselves.
		at := map[string]int{}
		for i, o := range prog {
			if _, ok := at[o.lb]; o.kind == 4 && !ok {
				at[o.lb] = i
			}
		}
		var a uint32
		pc, steps := 0, 0
		want := uint32(0)
	eval:
		for pc < len(prog) {
			if steps++; steps > len(prog) {
				t.Fatal("the reference evaluation loops")
			}
			o := prog[pc]
			pc++
			next := func(l string) int {
				if l == "" {
					return pc
				}
				return at[l]
			}
			switch o.kind {
			case 0:
				b := ctx[o.field.off : o.field.off+o.field.size]
				switch {
				case o.field.size == 1:
					a = uint32(b[0])
				case o.field.size == 2 && o.field.net:
					a = uint32(binary.BigEndian.Uint16(b))
				case o.field.size == 2:
					a = uint32(binary.NativeEndian.Uint16(b))
				case o.field.net:
					a = binary.BigEndian.Uint32(b)
				default:
					a = binary.NativeEndian.Uint32(b)
				}
			case 1:
				a &= o.k
			case 2:
				var c bool
				switch o.cond {
				case Eq:
					c = a == o.k
				case Ne:
					c = a != o.k
				case Gt:
					c = a > o.k
				case Ge:
					c = a >= o.k
				case Lt:
					c = a < o.k
				case Le:
					c = a <= o.k
				case Set:
					c = a&o.k != 0
				case Clear:
					c = a&o.k == 0
				}
				if c {
					pc = next(o.lt)
				} else {
					pc = next(o.lf)
				}
			case 3:
				pc = next(o.lb)
			case 5:
				want = o.k
				break eval
			}
		}
		if got != want {
			t.Fatalf("the program returns %d, its operations %d\n%v", got, want, insns)
		}
	})
}

// run interprets the classic BPF subset the io_uring filter checker
// accepts, failing on anything else.
func run(insns []unix.SockFilter, ctx []byte) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(insns); pc++ {
		in := insns[pc]
		jump := func(c bool) error {
			off := int(in.Jf)
			if c {
				off = int(in.Jt)
			}
			if pc+1+off >= len(insns) {
				return fmt.Errorf("insn %d jumps out of the program", pc)
			}
			pc += off
			return nil
		}
		var err error
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || int(in.K)+4 > len(ctx) {
				return 0, fmt.Errorf("insn %d loads offset %d of a %d-byte context", pc, in.K, len(ctx))
			}
			a = binary.NativeEndian.Uint32(ctx[in.K:])
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			if in.K >= 32 {
				return 0, fmt.Errorf("insn %d shifts by %d", pc, in.K)
			}
			a >>= in.K
		case unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K:
			if in.K >= 32 {
				return 0, fmt.Errorf("insn %d shifts by %d", pc, in.K)
			}
			a <<= in.K
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= in.K
		case unix.BPF_ALU | unix.BPF_OR | unix.BPF_X:
			a |= x
		case unix.BPF_LDX | unix.BPF_MEM:
			if in.K >= 16 {
				return 0, fmt.Errorf("insn %d reads scratch %d", pc, in.K)
			}
			x = mem[in.K]
		case unix.BPF_ST:
			if in.K >= 16 {
				return 0, fmt.Errorf("insn %d writes scratch %d", pc, in.K)
			}
			mem[in.K] = a
		case unix.BPF_JMP | unix.BPF_JA:
			if pc+1+int(in.K) >= len(insns) {
				return 0, fmt.Errorf("insn %d jumps out of the program", pc)
			}
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			err = jump(a == in.K)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			err = jump(a > in.K)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			err = jump(a >= in.K)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			err = jump(a&in.K != 0)
		case unix.BPF_RET | unix.BPF_K:
			return in.K, nil
		default:
			return 0, fmt.Errorf("insn %d: opcode %#x", pc, in.Code)
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("the program runs off its end")
}
