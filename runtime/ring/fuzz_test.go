package ring

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// FuzzCQE reads a completion queue the fuzzer fills (any CQE contents and
// flags, any head and tail, plain, CQE32 and CQE_MIXED rings) with
// PeekBatch, PeekCQE and CQAdvance, as the kernel's ring memory would be
// read. Properties: nothing panics or loops; every CQE returned lies in
// the CQ array and between head and tail, in order, none a CQE_MIXED
// filler and none a 32-byte CQE whose second slot the tail does not cover;
// CQAdvance of what PeekBatch returned moves the head exactly past them,
// never past the tail.
func FuzzCQE(f *testing.F) {
	f.Add(uint8(3), uint8(0), uint32(0), uint16(4), []byte{1, 2, 3})
	f.Add(uint8(3), uint8(2), uint32(5), uint16(7), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0})    // mixed, F_32 flags
	f.Add(uint8(2), uint8(2), uint32(0xfffffffe), uint16(3), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80}) // wrap
	f.Add(uint8(4), uint8(1), uint32(1), uint16(16), []byte{9})                                                   // CQE32
	f.Fuzz(func(t *testing.T, logEntries, kind uint8, head uint32, ready uint16, fill []byte) {
		entries := uint32(1) << (logEntries%6 + 1) // 2..64
		r := &Ring{}
		q := &r.cq
		switch kind % 3 {
		case 1:
			q.shift = 1
		case 2:
			q.mixed = true
		}
		slot := 16 << q.shift
		mem := make([]uint64, int(entries)*slot/8) // 8-aligned, as the kernel maps it
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
		for i := range raw {
			if len(fill) > 0 {
				raw[i] = fill[i%len(fill)]
			}
		}
		// Flags are what the parse keys on: let the fuzzer set them often.
		for i := uint32(0); i < entries && len(fill) > 0; i++ {
			flags := binary.LittleEndian.Uint32(append(fill[int(i)%len(fill):], 0, 0, 0, 0))
			binary.LittleEndian.PutUint32(raw[int(i)*slot+12:], flags&uint32(uapi.CQEF32|uapi.CQEFSkip|uapi.CQEFMore))
		}
		tail := head + uint32(ready)%(entries+1)
		var kflags, koverflow uint32
		q.khead, q.ktail, q.kflags, q.koverflow = &head, &tail, &kflags, &koverflow
		q.cqes, q.mask, q.entries = unsafe.Pointer(&mem[0]), entries-1, entries
		r.sq.kflags = &kflags
		r.flags = 0

		start := head
		batch := make([]*uapi.CQE, 128)
		n := r.peekBatch(batch)
		if n > int(tail-start) {
			t.Fatalf("PeekBatch returned %d CQEs from %d slots", n, tail-start)
		}
		at := start
		for i, c := range batch[:n] {
			off := uintptr(unsafe.Pointer(c)) - uintptr(unsafe.Pointer(&mem[0]))
			if off >= uintptr(len(raw)) || off%uintptr(slot) != 0 {
				t.Fatalf("CQE %d at byte %d of a %d-byte CQ array", i, off, len(raw))
			}
			idx := uint32(off) / uint32(slot)
			for q.mixed && at != tail && r.cqeAt(at).Flags&uapi.CQEFSkip != 0 {
				at++
			}
			if at == tail || idx != at&q.mask {
				t.Fatalf("CQE %d is slot %d, want slot %d (head %d tail %d)", i, idx, at&q.mask, start, tail)
			}
			if q.mixed && c.Flags&uapi.CQEFSkip != 0 {
				t.Fatalf("CQE %d is a filler", i)
			}
			if q.mixed && c.Flags&uapi.CQEF32 != 0 {
				if tail-at < 2 {
					t.Fatalf("CQE %d is 32 bytes but only its first slot is posted (at %d, tail %d)", i, at, tail)
				}
				at += 2
			} else {
				at++
			}
		}
		if c, ok := r.PeekCQE(); ok != (n > 0) || ok && c != batch[0] {
			t.Fatalf("PeekCQE = %p, %v after PeekBatch found %d", c, ok, n)
		}
		head = start // PeekCQE may have stepped over fillers
		if err := r.CQAdvance(uint32(n)); err != nil {
			t.Fatalf("CQAdvance(%d) after PeekBatch: %v", n, err)
		}
		if head-start > tail-start {
			t.Fatalf("CQAdvance(%d) moved the head past the tail: %d..%d, head %d", n, start, tail, head)
		}
		if n < len(batch) && !q.mixed && head != tail {
			t.Fatalf("CQAdvance(%d) left the head at %d, tail %d", n, head, tail)
		}
		if err := r.CQAdvance(uint32(tail-start) + 1); err == nil {
			t.Fatal("CQAdvance past the tail succeeded")
		}
	})
}
