package ring_test

import (
	"testing"

	"github.com/urgen/urgen/runtime/ring"
)

// One slot of the fixed file table replaced per op, the hot registration
// call of servers that juggle connections.
func BenchmarkUpdateFiles(b *testing.B) {
	r, err := ring.New(8)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	_, wr := socketpair(b)
	if err := r.RegisterFilesSparse(64); err != nil {
		b.Fatal(err)
	}
	fds := []int32{int32(wr)}
	for b.Loop() {
		if _, err := r.UpdateFiles(5, fds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRegisterBuffers(b *testing.B) {
	r, err := ring.New(8)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	bufs := [][]byte{make([]byte, 4096), make([]byte, 4096)}
	for b.Loop() {
		if err := r.RegisterBuffers(bufs); err != nil {
			b.Fatal(err)
		}
		if err := r.UnregisterBuffers(); err != nil {
			b.Fatal(err)
		}
	}
}
