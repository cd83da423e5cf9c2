package ring

import (
	"testing"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// BenchmarkKeep measures the safe path's bookkeeping per request: Keep at
// submission, release at the completion.
func BenchmarkKeep(b *testing.B) {
	r := &Ring{state: stateOpen} // bookkeeping only: no kernel ring
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	c := &uapi.CQE{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ud := uint64(i % 64)
		r.Keep(ud, &bufs[ud][0])
		c.UserData = ud
		r.release1(c)
	}
}

// TestKeepEmptyBuffers: both forms the Keep doc gives work for empty and
// nil buffers (&buf[0] would panic).
func TestKeepEmptyBuffers(t *testing.T) {
	r := &Ring{state: stateOpen}
	for i, b := range [][]byte{nil, {}, make([]byte, 0, 8)} {
		r.Keep(uint64(i), b)
		r.Keep(uint64(i), unsafe.SliceData(b))
	}
	if r.Kept() != 3 {
		t.Fatalf("kept %d user data, want 3", r.Kept())
	}
	b, c := make([]byte, 0, 8), &uapi.CQE{UserData: 9}
	if n := testing.AllocsPerRun(100, func() { r.Keep(9, unsafe.SliceData(b)); r.release1(c) }); n != 0 {
		t.Errorf("Keep of unsafe.SliceData(buf) allocates %v times", n)
	}
}

func TestKeepReleasesOnFinalCompletion(t *testing.T) {
	r := &Ring{state: stateOpen} // bookkeeping only: no kernel ring
	x, y := new(int), new(int)
	r.Keep(1, x)
	r.Keep(1, y)
	r.Keep(2, x)
	r.release1(&uapi.CQE{UserData: 1, Flags: uapi.CQEFMore}) // multishot: more to come
	if r.Kept() != 2 {
		t.Fatalf("released on a CQE with IORING_CQE_F_MORE: %d kept", r.Kept())
	}
	if l, ok := r.keep[1].(keepList); !ok || len(l) != 2 || l[0] != any(x) || l[1] != any(y) {
		t.Fatalf("two values under one user data: %#v", r.keep[1])
	}
	r.release1(&uapi.CQE{UserData: 1})
	if _, ok := r.keep[1]; ok || r.Kept() != 1 {
		t.Fatalf("final CQE did not release: %v", r.keep)
	}
	r.release1(&uapi.CQE{UserData: 3}) // nothing kept: no effect
	if r.Kept() != 1 {
		t.Fatal("release of an unknown user data changed the table")
	}
}
