// Package heap moves memory the kernel will see through an integer address
// onto the Go heap.
//
// io_uring argument structs carry user pointers as __u64 fields, which the
// garbage collector neither sees nor fixes up when a goroutine stack moves
// and its objects with it. Memory on the heap stays put, so the runtime
// packages pass every such pointer through Escape before taking its address
// as an integer.
package heap

import "unsafe"

// Escape makes the memory p points to escape to the heap. The store never
// runs, but escape analysis cannot know that, so the compiler allocates the
// object on the heap; the call costs one load and a branch.
func Escape(p unsafe.Pointer) {
	if never {
		sink = append(sink, p)
	}
}

var (
	never bool
	sink  []unsafe.Pointer
)
