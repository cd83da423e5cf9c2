package bpf

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Program builds a classic BPF program over struct io_uring_bpf_ctx.
//
// The kernel runs it for every request of the opcode it is registered for:
// a return value of 0 denies the request (it completes with -EACCES), any
// other value allows it. The kernel accepts only a subset of classic BPF:
// 32-bit loads at 4-byte aligned offsets of the context (read in host byte
// order), ALU, jumps, the scratch memory and returns. Program emits only
// those; narrower or big-endian fields are loaded as their word and then
// shifted, masked and, for network-order fields, byte-swapped.
//
// Jumps go to named labels; an empty label means the next instruction.
// Methods record the first error and return the program, so a chain of calls
// is checked once by Assemble.
type Program struct {
	insns  []unix.SockFilter
	labels map[string]int
	jumps  []jump
	pdu    uint8
	err    error
}

type jump struct {
	at      int
	ifTrue  string
	ifFalse string
	always  bool
}

// Cond is a jump condition comparing the accumulator with a constant.
type Cond int

// The conditions. Classic BPF has only ==, >, >= and bit test; the others are
// the same jumps with their targets swapped.
const (
	Eq    Cond = iota // A == k
	Ne                // A != k
	Gt                // A > k (unsigned)
	Ge                // A >= k (unsigned)
	Lt                // A < k (unsigned)
	Le                // A <= k (unsigned)
	Set               // A & k != 0
	Clear             // A & k == 0
)

// Allow and Deny are the values a program returns.
const (
	Deny  = 0
	Allow = 1
)

// scratch is the scratch memory slot Load uses to assemble byte-swapped
// fields.
const scratch = 0

// NewProgram returns an empty program.
func NewProgram() *Program { return &Program{labels: map[string]int{}} }

func (p *Program) emit(code uint16, k uint32) {
	p.insns = append(p.insns, unix.SockFilter{Code: code, K: k})
}

func (p *Program) fail(err error) *Program {
	if p.err == nil {
		p.err = err
	}
	return p
}

// loadWord emits A = the host-order 32-bit word at byte offset off.
func (p *Program) loadWord(off uint32) {
	p.emit(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off)
}

// byteShift is how far right the word at off&^3 must be shifted to bring the
// byte at off to the low 8 bits.
func byteShift(off uint32) uint32 {
	if littleEndian {
		return 8 * (off & 3)
	}
	return 8 * (3 - off&3)
}

// Load sets the accumulator to field f: zero-extended for 1- and 2-byte
// fields, as a number for network-order fields (ports, IPv4 addresses and
// IPv6 address words). 64-bit fields are loaded a half at a time (Low, High).
func (p *Program) Load(f Field) *Program {
	if f.size != 1 && f.size != 2 && f.size != 4 {
		return p.fail(fmt.Errorf("bpf: load %s: %d-byte field; load Low/High (64-bit) or Word (IPv6)", f.name, f.size))
	}
	if f.off+f.size > uapi.SizeofBPFCtx || (f.off&3)+f.size > 4 {
		return p.fail(fmt.Errorf("bpf: load %s: offset %d size %d does not fit one word of io_uring_bpf_ctx", f.name, f.off, f.size))
	}
	p.pdu = max(p.pdu, f.pdu)
	word := f.off &^ 3
	mask := uint32(1)<<(8*f.size) - 1
	if !f.net || f.size == 1 || !littleEndian {
		// In host order already: one load, shift the field's low byte
		// down, mask the rest away.
		shift := byteShift(f.off + f.size - 1)
		if !f.net && littleEndian {
			shift = byteShift(f.off)
		}
		p.loadWord(word)
		if shift != 0 {
			p.emit(unix.BPF_ALU|unix.BPF_RSH|unix.BPF_K, shift)
		}
		if f.size != 4 {
			p.emit(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, mask)
		}
		return p
	}
	// Network order on a little-endian host: assemble the number byte by
	// byte, most significant (lowest address) first, in scratch memory.
	for i := uint32(0); i < f.size; i++ {
		p.loadWord(word)
		if s := byteShift(f.off + i); s != 0 {
			p.emit(unix.BPF_ALU|unix.BPF_RSH|unix.BPF_K, s)
		}
		p.emit(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 0xff)
		if s := 8 * (f.size - 1 - i); s != 0 {
			p.emit(unix.BPF_ALU|unix.BPF_LSH|unix.BPF_K, s)
		}
		if i > 0 {
			p.emit(unix.BPF_LDX|unix.BPF_MEM, scratch)
			p.emit(unix.BPF_ALU|unix.BPF_OR|unix.BPF_X, 0)
		}
		if i+1 < f.size {
			p.emit(unix.BPF_ST, scratch)
		}
	}
	return p
}

// And sets A = A & k.
func (p *Program) And(k uint32) *Program {
	p.emit(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k)
	return p
}

// Label names the next instruction.
func (p *Program) Label(name string) *Program {
	if name == "" {
		return p.fail(errors.New("bpf: empty label"))
	}
	if _, dup := p.labels[name]; dup {
		return p.fail(fmt.Errorf("bpf: label %q defined twice", name))
	}
	p.labels[name] = len(p.insns)
	return p
}

// Jump compares A with k and continues at label ifTrue or ifFalse; an empty
// label is the next instruction. Jumps go forward only (classic BPF).
func (p *Program) Jump(c Cond, k uint32, ifTrue, ifFalse string) *Program {
	code := uint16(unix.BPF_JMP | unix.BPF_K)
	switch c {
	case Eq:
		code |= unix.BPF_JEQ
	case Ne:
		code |= unix.BPF_JEQ
		ifTrue, ifFalse = ifFalse, ifTrue
	case Gt:
		code |= unix.BPF_JGT
	case Ge:
		code |= unix.BPF_JGE
	case Lt:
		code |= unix.BPF_JGE
		ifTrue, ifFalse = ifFalse, ifTrue
	case Le:
		code |= unix.BPF_JGT
		ifTrue, ifFalse = ifFalse, ifTrue
	case Set:
		code |= unix.BPF_JSET
	case Clear:
		code |= unix.BPF_JSET
		ifTrue, ifFalse = ifFalse, ifTrue
	default:
		return p.fail(fmt.Errorf("bpf: unknown condition %d", c))
	}
	p.jumps = append(p.jumps, jump{at: len(p.insns), ifTrue: ifTrue, ifFalse: ifFalse})
	p.emit(code, k)
	return p
}

// Goto continues at label.
func (p *Program) Goto(label string) *Program {
	p.jumps = append(p.jumps, jump{at: len(p.insns), ifTrue: label, always: true})
	p.emit(unix.BPF_JMP|unix.BPF_JA, 0)
	return p
}

// Return ends the program with verdict v (Allow, Deny or any value; only
// zero denies).
func (p *Program) Return(v uint32) *Program {
	p.emit(unix.BPF_RET|unix.BPF_K, v)
	return p
}

// Allow ends the program allowing the request.
func (p *Program) Allow() *Program { return p.Return(Allow) }

// Deny ends the program denying the request.
func (p *Program) Deny() *Program { return p.Return(Deny) }

// PDUSize returns the size of the opcode-specific context the program reads
// (0 if it reads only the common fields): the pdu_size to register with.
func (p *Program) PDUSize() uint8 { return p.pdu }

// Assemble resolves the labels and returns the instructions.
func (p *Program) Assemble() ([]unix.SockFilter, error) {
	if p.err != nil {
		return nil, p.err
	}
	if len(p.insns) == 0 {
		return nil, errors.New("bpf: empty program")
	}
	if len(p.insns) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("bpf: %d instructions, limit %d", len(p.insns), unix.BPF_MAXINSNS)
	}
	if last := p.insns[len(p.insns)-1].Code; last&0x07 != unix.BPF_RET {
		return nil, errors.New("bpf: program does not end with a return")
	}
	out := append([]unix.SockFilter(nil), p.insns...)
	target := func(from int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		at, ok := p.labels[label]
		if !ok {
			return 0, fmt.Errorf("bpf: jump to undefined label %q", label)
		}
		if at <= from || at >= len(out) {
			return 0, fmt.Errorf("bpf: jump to label %q is not forward inside the program", label)
		}
		return uint32(at - from - 1), nil
	}
	for _, j := range p.jumps {
		t, err := target(j.at, j.ifTrue)
		if err != nil {
			return nil, err
		}
		if j.always {
			out[j.at].K = t
			continue
		}
		f, err := target(j.at, j.ifFalse)
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("bpf: conditional jump at %d spans more than 255 instructions", j.at)
		}
		out[j.at].Jt, out[j.at].Jf = uint8(t), uint8(f)
	}
	return out, nil
}
