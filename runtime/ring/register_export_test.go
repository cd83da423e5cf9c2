package ring

import "maps"

// RegisteredBuffersForTest returns the buffers the ring keeps for its fixed
// buffer table, by slot.
func (r *Ring) RegisteredBuffersForTest() map[uint32][]byte {
	p := r.pins()
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.buffers)
}
