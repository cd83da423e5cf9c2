package uring

import (
	"testing"
)

// ReadAt and WriteAt allocate nothing, on either path.
func TestAllocs(t *testing.T) {
	name, _ := testFile(t, 1<<20)
	for _, o := range []Options{{}, {RingOnly: true}} {
		e := newEngine(t, o)
		f, err := e.OpenFile(name, 2 /* O_RDWR */, 0)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 4096)
		off := int64(0)
		read := testing.AllocsPerRun(1000, func() {
			off = (off + 4096*7) % (1 << 20)
			if _, err := f.ReadAt(p, off); err != nil {
				t.Fatal(err)
			}
		})
		write := testing.AllocsPerRun(1000, func() {
			off = (off + 4096*7) % (1 << 20)
			if _, err := f.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("RingOnly=%v: %v allocs per ReadAt, %v per WriteAt", o.RingOnly, read, write)
		if read != 0 || write != 0 {
			t.Errorf("RingOnly=%v: %v allocs per ReadAt, %v per WriteAt; want 0", o.RingOnly, read, write)
		}
		f.Close()
	}
}
