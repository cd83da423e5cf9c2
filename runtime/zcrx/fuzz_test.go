package zcrx

import (
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// FuzzRecvZC decodes RECV_ZC completions with any result, flags and area
// token|offset word, against queues of one to three areas of any size
// (one without memory, as dma-buf areas are). Properties: Buf never
// panics; a negative result is an error wrapping its errno; a positive one
// yields a view of exactly res bytes inside the area its token names, at
// the offset the CQE says, or an error wrapping ERANGE (unknown area,
// outside it) or EPROTO (no 32-byte part); res 0 is the empty Buf; Release
// of a Buf queues it on the refill ring or flushes.
func FuzzRecvZC(f *testing.F) {
	f.Add(int32(100), uint32(uapi.CQEF32), uint64(1)<<uapi.ZCRXAreaShift|40, uint8(2), uint32(4096), false)
	f.Add(int32(-104), uint32(0), uint64(0), uint8(1), uint32(64), true)
	f.Add(int32(1), uint32(uapi.CQEF32), ^uint64(0), uint8(3), uint32(1), false)
	f.Add(int32(0x7fffffff), uint32(uapi.CQEF32), uint64(2)<<uapi.ZCRXAreaShift|0xffffffffffff, uint8(3), uint32(0xffffffff), false)
	f.Fuzz(func(t *testing.T, res int32, flags uint32, word uint64, nareas uint8, size uint32, cqe32 bool) {
		sh := &shared{}
		for i := range int(nareas%3) + 1 {
			a := area{size: uint64(size%(1<<16)) + uint64(i), token: uint64(i) << uapi.ZCRXAreaShift}
			if i != 2 { // the third has no memory, like a dma-buf area
				a.mem = make([]byte, a.size)
			}
			sh.areas = append(sh.areas, a)
		}
		head, tail := uint32(0), uint32(0)
		sh.rq = refill{khead: &head, ktail: &tail, rqes: make([]uapi.ZCRXRQE, 4), mask: 3}
		q := &IFQ{id: 7, sh: sh, cqe32: cqe32}
		flushes := 0
		q.flush = func() error { flushes++; head = tail; return nil } // the kernel takes every entry
		var pair [2]uapi.CQE
		pair[0] = uapi.CQE{Res: res, Flags: uapi.CQEFlags(flags)}
		*(*uint64)(unsafe.Pointer(&pair[1])) = word
		b, err := q.Buf(&pair[0])
		switch {
		case res < 0:
			if !errors.Is(err, unix.Errno(-res)) {
				t.Fatalf("res %d: %v, want the errno", res, err)
			}
			return
		case res == 0:
			if err != nil || b.Len() != 0 || b.Data != nil {
				t.Fatalf("res 0: %+v, %v", b, err)
			}
			return
		case !cqe32 && flags&uint32(uapi.CQEF32) == 0:
			if !errors.Is(err, unix.EPROTO) {
				t.Fatalf("no 32-byte part: %v, want EPROTO", err)
			}
			return
		}
		token, pos := word&uapi.ZCRXAreaMask, word&^uapi.ZCRXAreaMask
		var a *area
		for i := range sh.areas {
			if sh.areas[i].token == token {
				a = &sh.areas[i]
			}
		}
		if a == nil || pos+uint64(res) > a.size || pos > a.size {
			if !errors.Is(err, unix.ERANGE) {
				t.Fatalf("word %#x res %d: %v, want ERANGE", word, res, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("word %#x res %d in an area of %d: %v", word, res, a.size, err)
		}
		if b.Len() != int(res) || b.Offset != pos || &sh.areas[b.Area] != a {
			t.Fatalf("Buf %+v for word %#x res %d", b, word, res)
		}
		if a.mem != nil && (len(b.Data) != int(res) || &b.Data[0] != &a.mem[pos]) {
			t.Fatalf("Data of %d bytes, not the %d at %d of the area", len(b.Data), res, pos)
		}
		if a.mem == nil && b.Data != nil {
			t.Fatal("Data for an area without memory")
		}
		for range 6 { // more than the refill ring holds: one flush
			if err := q.Release(b); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
		if flushes != 1 || q.acct.Released != 6 {
			t.Fatalf("6 releases into 4 entries: %d flushes, %d released", flushes, q.acct.Released)
		}
	})
}
