package ring

import (
	"sync"

	"github.com/urgen/urgen/generated/uapi"
)

// Keep holds v reachable until the ring has seen the final completion
// (one without IORING_CQE_F_MORE) carrying userData, through CQESeen or
// CQAdvance. It is the safe way to hand Go memory to the kernel: pass the
// buffer, iovec array, timespec ... that an SQE points to, and it neither
// gets freed nor, since storing it makes it escape to the heap, moved with a
// goroutine stack while the kernel uses it. Several values may be kept
// under one user data. User data must be unique among in-flight requests
// that use Keep, and such requests must post a completion (no
// IOSQE_CQE_SKIP_SUCCESS), or the values stay until Close.
//
// Pass the buffer itself, r.Keep(ud, buf): that is the form the examples
// and the README use, and it is safe for an empty or nil buffer. On hot
// paths pass a pointer instead, which converts to any without an allocation
// (a slice costs one) and makes Keep allocation-free once the map has grown
// to the number of requests in flight: unsafe.SliceData(buf) keeps all of
// buf's array alive and, unlike &buf[0], does not panic on an empty buffer;
// any *T works the same way.
//
// The zero-overhead path is not to call Keep: then the caller guarantees
// that everything an SQE references was allocated on the heap (for
// example with make or new and stored somewhere reachable) and stays
// reachable until its completion has been reaped, for instance by calling
// runtime.KeepAlive on it after the wait.
//
// On a closed ring, where nothing is in flight, Keep does nothing.
func (r *Ring) Keep(userData uint64, v any) {
	if r.state != stateOpen {
		return
	}
	if r.keep == nil {
		r.keep = make(map[uint64]any)
	}
	old, ok := r.keep[userData]
	switch {
	case !ok:
		r.keep[userData] = v
	default:
		if l, isList := old.(keepList); isList {
			r.keep[userData] = append(l, v)
		} else {
			r.keep[userData] = keepList{old, v}
		}
	}
}

// keepList holds several values kept under one user data.
type keepList []any

// Kept returns how many user data values have kept objects.
func (r *Ring) Kept() int { return len(r.keep) }

func (r *Ring) release1(c *uapi.CQE) {
	if c.Flags&uapi.CQEFMore == 0 {
		delete(r.keep, c.UserData)
	}
}

// retired keeps the values of rings closed with requests in flight: the
// kernel cancels those asynchronously and may touch their memory after Close
// returns, so they are never released.
var retired graveyard

type graveyard struct {
	mu   sync.Mutex
	kept []map[uint64]any
}

func (g *graveyard) park(m map[uint64]any) {
	g.mu.Lock()
	g.kept = append(g.kept, m)
	g.mu.Unlock()
}
