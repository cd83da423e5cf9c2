package ring_test

import (
	"testing"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// TestNextSQE checks the unzeroed fast path: after the ring wraps, NextSQE
// hands out a slot still holding an earlier request's bytes, and a builder
// overwrites all of them, so the kernel sees exactly what SQE+builder gives.
func TestNextSQE(t *testing.T) {
	var garbage [64]byte
	for i := range garbage {
		garbage[i] = 0xa5
	}
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 8)
	var want uapi.SQE
	want.PrepRead(-1, buf, 77)
	want.UserData = 9

	var slots []*[64]byte
	for round := range 3 {
		for i := range 4 {
			s := r.NextSQE()
			if s == nil {
				t.Fatalf("round %d: NextSQE %d returned nil on an empty 4-entry SQ", round, i)
			}
			raw := (*[64]byte)(unsafe.Pointer(s))
			if round > 0 && *raw != garbage {
				t.Fatalf("round %d: slot %d does not hold the garbage left in it: NextSQE must not clear it", round, i)
			}
			if round == 0 {
				slots = append(slots, raw)
			}
			s.PrepRead(-1, buf, 77)
			s.UserData = 9
			if *s != want {
				t.Fatalf("round %d: builder on a used slot left %+v, want %+v", round, *s, want)
			}
		}
		if s := r.NextSQE(); s != nil {
			t.Fatalf("round %d: NextSQE on a full SQ returned an entry", round)
		}
		if _, err := r.SubmitAndWait(4); err != nil {
			t.Fatal(err)
		}
		cqes := make([]*uapi.CQE, 4)
		n := r.PeekBatch(cqes)
		for _, c := range cqes[:n] {
			if c.UserData != 9 || c.Res != -9 { // EBADF for fd -1
				t.Errorf("round %d: completion %+v, want user data 9, res -EBADF", round, *c)
			}
		}
		r.CQAdvance(uint32(n))
		if n != 4 {
			t.Fatalf("round %d: %d completions, want 4", round, n)
		}
		// The kernel is done with the slots: fill them with garbage that
		// the next round's builders must overwrite completely.
		for _, p := range slots {
			*p = garbage
		}
	}
}
