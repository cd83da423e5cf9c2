package heap_test

import (
	"testing"
	"unsafe"

	"github.com/urgen/urgen/internal/heap"
)

// A local whose address goes through Escape must be heap allocated: one
// allocation per call, where the same code without Escape allocates none.
func TestEscapeMovesToHeap(t *testing.T) {
	with := testing.AllocsPerRun(100, func() {
		var buf [64]byte
		heap.Escape(unsafe.Pointer(&buf))
		buf[0] = 1
	})
	without := testing.AllocsPerRun(100, func() {
		var buf [64]byte
		p := unsafe.Pointer(&buf)
		_ = uintptr(p)
		buf[0] = 1
	})
	if with != 1 || without != 0 {
		t.Fatalf("allocations: %v with Escape (want 1), %v without (want 0)", with, without)
	}
}
