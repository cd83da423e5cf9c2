package uring

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

// ErrClosed is returned by operations on a closed Engine (and, wrapped in
// an *fs.PathError, on a closed File): it is os.ErrClosed.
var ErrClosed = os.ErrClosed

// Options configure an Engine. The zero value is the measured default.
type Options struct {
	// Rings is the number of rings, one per P by default (GOMAXPROCS at
	// creation). Each goroutine uses the ring of the P it runs on.
	Rings int
	// Entries is each ring's submission queue size, which is also how many
	// requests may be in flight on it (more wait their turn). 0 means 256.
	Entries uint32
	// NoYield makes the goroutine that opens a batch submit it at once
	// instead of first letting the goroutines runnable on its P join (which
	// measured 1.5x faster on O_DIRECT reads from 32 goroutines).
	NoYield bool
	// RingOnly sends every request through the rings, also those that the
	// system call on the calling thread does faster: page-cache reads and
	// writes, which the package tries first with RWF_NOWAIT, and requests
	// of a goroutine that has a ring to itself. For measuring and testing.
	RingOnly bool
	// Spin is how long the reaper keeps polling its ring after an
	// asynchronous completion before it sleeps again (0: it sleeps at once;
	// 50 us measured no faster on O_DIRECT reads, at more CPU).
	Spin time.Duration
}

// An Engine is a set of io_uring instances shared by every goroutine of
// the process: a File or FS does its I/O through one. Package-level
// functions (Open, DirFS ...) use the default Engine; NewEngine makes
// another with different Options. All methods are safe for concurrent use.
type Engine struct {
	shards []*shard
	opts   Options
	closed atomic.Bool
	std    bool // the default Engine
	probe  *ring.Probe
	once   sync.Once
	err    error
	reg    registry // fixed buffers and registered files (fixed.go)
}

// NewEngine creates an Engine's rings and their reapers.
func NewEngine(o Options) (*Engine, error) {
	if o.Rings <= 0 {
		o.Rings = runtime.GOMAXPROCS(0)
	}
	if o.Entries == 0 {
		o.Entries = 256
	}
	o.Entries = max(o.Entries, 2*maxChain)
	e := &Engine{opts: o}
	p, err := ring.KernelProbe()
	if err != nil {
		return nil, err
	}
	e.probe = p
	for range o.Rings {
		s, err := newShard(e, &e.opts)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.shards = append(e.shards, s)
	}
	e.initRegistry()
	return e, nil
}

var defaultEngine = sync.OnceValues(func() (*Engine, error) {
	e, err := NewEngine(Options{})
	if e != nil {
		e.std = true
	}
	return e, err
})

// Default returns the process-wide Engine that the package-level functions
// use, creating it on first use. It is never closed.
func Default() (*Engine, error) { return defaultEngine() }

// shard returns the ring of the caller's P.
func (e *Engine) shard() *shard {
	p := currentP()
	if p >= len(e.shards) {
		p %= len(e.shards)
	}
	return e.shards[p]
}

// Close cancels the requests in flight, waits for their completions, and
// closes the rings; the reaper goroutines exit and every descriptor the
// Engine owns is closed. Files opened through it are not closed, but fail
// with ErrClosed from then on. Close of the default Engine fails.
func (e *Engine) Close() error {
	if e.std {
		return errors.New("uring: the default Engine cannot be closed")
	}
	e.once.Do(func() {
		e.closed.Store(true)
		e.reg.close()
		for _, s := range e.shards {
			if err := s.shutdown(); e.err == nil {
				e.err = err
			}
		}
	})
	return e.err
}

// has reports whether the kernel supports op.
func (e *Engine) has(op uapi.Op) bool { return e.probe.Supported(op) }

// cancelFD cancels every request on descriptor fd, on every ring
// (IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL).
func (e *Engine) cancelFD(fd int) {
	for _, s := range e.shards {
		var c uapi.SQE
		c.PrepCancelFD(int32(fd), uapi.AsyncCancelAll)
		if s.queue(&c, udIgnore) {
			s.submit()
		}
	}
}
