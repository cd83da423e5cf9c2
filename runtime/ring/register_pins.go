package ring

import (
	"runtime"
	"sync"
	"weak"
)

// pins holds the Go memory a ring's registrations point to (registered
// buffers, provided buffer rings, memory regions): the kernel maps those
// pages until the registration ends, so the Go objects must not be freed
// and reused meanwhile. It lives outside Ring, keyed weakly by it, and dies
// with the Ring.
type pins struct {
	mu      sync.Mutex
	buffers map[uint32][]byte // registered buffer table: slot -> memory
	bufRing map[uint16][]byte // provided buffer rings in caller memory: group -> ring
	region  []byte            // caller memory of IORING_REGISTER_MEM_REGION
}

var (
	pinsMu  sync.Mutex
	pinsFor = map[weak.Pointer[Ring]]*pins{}
)

func (r *Ring) pins() *pins {
	k := weak.Make(r)
	pinsMu.Lock()
	defer pinsMu.Unlock()
	p := pinsFor[k]
	if p == nil {
		p = &pins{buffers: map[uint32][]byte{}, bufRing: map[uint16][]byte{}}
		pinsFor[k] = p
		runtime.AddCleanup(r, func(k weak.Pointer[Ring]) {
			pinsMu.Lock()
			delete(pinsFor, k)
			pinsMu.Unlock()
		}, k)
	}
	return p
}
