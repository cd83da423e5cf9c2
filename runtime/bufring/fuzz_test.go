package bufring

import (
	"testing"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// FuzzBundle walks bundle completions (IORING_RECVSEND_BUNDLE) over a
// buffer ring whose descriptors, buffer lengths, consumed offsets and
// kernel ownership the fuzzer chooses, as a confused or hostile kernel
// could leave them, for plain and incremental rings. Properties: Bundle
// never panics or loops; every slice it hands out lies inside the buffer
// the descriptor names and inside the buffer memory; the slices add up to
// the completion's result when it succeeds; a buffer is handed out done at
// most once and only if the kernel held it; an error leaves the rest held.
func FuzzBundle(f *testing.F) {
	f.Add(uint8(2), uint16(64), false, int32(100), uint16(0), uint32(uapi.CQEFBuffer), []byte{0, 1, 2, 3}, []byte{64, 64, 64, 64}, []byte{0, 0, 0, 0})
	f.Add(uint8(3), uint16(16), true, int32(40), uint16(5), uint32(uapi.CQEFBuffer|uapi.CQEFBufMore), []byte{5, 6, 7, 0}, []byte{16, 8, 16}, []byte{4, 0, 20})
	f.Add(uint8(1), uint16(8), false, int32(-11), uint16(1), uint32(uapi.CQEFBuffer), []byte{1, 1}, []byte{0}, []byte{9})
	f.Fuzz(func(t *testing.T, logEntries uint8, size uint16, inc bool, res int32, start uint16, flags uint32, bids, blens, offs []byte) {
		entries := 1 << (logEntries%5 + 1) // 2..32
		nbufs := entries
		bsize := int(size%256) + 1
		b := &Ring{entries: uint16(entries), mask: uint16(entries - 1), size: bsize, inc: inc, nbufs: nbufs,
			descs: make([]uapi.Buf, entries), bufMem: make([]byte, nbufs*bsize),
			slotOf: make([]uint16, nbufs), off: make([]uint32, nbufs), blen: make([]uint32, nbufs), out: make([]bool, nbufs)}
		for i := range entries {
			if len(bids) > 0 {
				b.descs[i].Bid = uint16(bids[i%len(bids)]) % uint16(nbufs+2) // some out of range
			}
		}
		for id := range nbufs {
			b.slotOf[id] = uint16(id)
			if len(blens) > 0 {
				b.blen[id] = uint32(blens[id%len(blens)]) % uint32(bsize+1) // Put never exceeds the size
			}
			if len(offs) > 0 {
				b.off[id] = uint32(offs[id%len(offs)])
			}
			b.out[id] = len(bids) == 0 || bids[id%len(bids)]&0x80 == 0
			if b.out[id] {
				b.inRing++
			}
		}
		first := uint32(start % uint16(nbufs+1))
		c := &uapi.CQE{Res: res, Flags: uapi.CQEFlags(flags&^(0xffff<<uapi.CQEBufferShift) | first<<uapi.CQEBufferShift)}
		held := append([]bool(nil), b.out...)
		base := uintptr(unsafe.Pointer(&b.bufMem[0]))
		total, calls := 0, 0
		doneTwice := map[uint16]bool{}
		err := b.Bundle(c, func(data []byte, bid uint16, done bool) {
			calls++
			if calls > entries+1 {
				t.Fatalf("Bundle called fn %d times on a ring of %d", calls, entries)
			}
			if int(bid) >= nbufs || !held[bid] {
				t.Fatalf("Bundle handed out buffer %d, which the kernel did not hold", bid)
			}
			if len(data) > 0 {
				at := int(uintptr(unsafe.Pointer(&data[0])) - base)
				if at < int(bid)*bsize || at+len(data) > (int(bid)+1)*bsize || at+len(data) > len(b.bufMem) {
					t.Fatalf("buffer %d: %d bytes at %d, outside its %d bytes at %d", bid, len(data), at, bsize, int(bid)*bsize)
				}
			}
			if done {
				if doneTwice[bid] {
					t.Fatalf("buffer %d handed out done twice", bid)
				}
				doneTwice[bid] = true
			}
			total += len(data)
		})
		if err == nil && res > 0 && total != int(res) {
			t.Fatalf("Bundle of res %d handed out %d bytes", res, total)
		}
		if err == nil && flags&uint32(uapi.CQEFBuffer) == 0 {
			t.Fatal("Bundle of a CQE without a buffer succeeded")
		}
	})
}
