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

// ReadFile of a small file allocates its result and nothing else: the
// chain's open_how, path and read buffer are pooled.
func TestReadFileAllocs(t *testing.T) {
	name, data := testFile(t, 3000)
	e := newEngine(t, Options{})
	if !e.shard().fixed {
		t.Skip("needs a sparse file table (IORING_REGISTER_FILES2, Linux 5.19) for the one-chain ReadFile")
	}
	var got []byte
	allocs := testing.AllocsPerRun(1000, func() {
		var err error
		if got, err = e.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	})
	if string(got) != string(data) {
		t.Fatalf("ReadFile returned %d bytes, not the file's %d", len(got), len(data))
	}
	t.Logf("%v allocs per ReadFile of %d bytes", allocs, len(data))
	if allocs != 1 {
		t.Errorf("%v allocs per ReadFile; want 1 (the result)", allocs)
	}
}
