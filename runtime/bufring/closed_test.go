package bufring

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/closedtest"
	"github.com/urgen/urgen/runtime/ring"
)

var errClosed = fmt.Errorf("closed: %w", os.ErrClosed)

// check is closedtest.Check with the closed error these cases return.
func check(ok bool, what string) error { return closedtest.Check(ok, what, errClosed) }

// afterClose calls every exported method of *Ring (see closedtest).
var afterClose = closedtest.Calls[*Ring]{
	"Advance":   func(b *Ring) error { b.Advance(); return errClosed },
	"Available": func(b *Ring) error { return check(b.Available() == 0, "Available not 0") },
	"Buf":       func(b *Ring) error { return check(b.Buf(0) == nil, "Buf not nil") },
	"BufSize":   func(b *Ring) error { _ = b.BufSize(); return errClosed },
	"Bundle": func(b *Ring) error {
		return b.Bundle(bufCQE(0, 8), func([]byte, uint16, bool) { panic("Bundle called fn after Close") })
	},
	"Close":   func(b *Ring) error { return check(b.Close() == nil, "second Close failed") },
	"Data":    func(b *Ring) error { _, _, _, err := b.Data(bufCQE(0, 8)); return err },
	"Entries": func(b *Ring) error { _ = b.Entries(); return errClosed },
	"Group":   func(b *Ring) error { _ = b.Group(); return errClosed },
	"Head":    func(b *Ring) error { _, err := b.Head(); return err },
	"Held":    func(b *Ring) error { return check(b.Held() == 0, "Held not 0") },
	"Len":     func(b *Ring) error { return check(b.Len() == 0, "Len not 0") },
	"Put":     func(b *Ring) error { b.Put(0); return check(b.Available() == 0, "Put staged a buffer") },
	"PutLen":  func(b *Ring) error { b.PutLen(1, 4); return check(b.Available() == 0, "PutLen staged a buffer") },
	"Return":  func(b *Ring) error { b.Return(2); return check(b.Available() == 0, "Return staged a buffer") },
}

// bufCQE is a completion of n bytes into buffer bid.
func bufCQE(bid uint16, n int32) *uapi.CQE {
	return &uapi.CQE{Res: n, Flags: uapi.CQEFBuffer | uapi.CQEFlags(bid)<<uapi.CQEBufferShift}
}

func TestAfterCloseCoversRing(t *testing.T) { closedtest.Cover(t, afterClose) }

// TestAfterClose: a closed buffer ring, with buffers held by the caller and
// by the kernel, and one whose io_uring ring closed first, never touch
// their unmapped memory.
func TestAfterClose(t *testing.T) {
	for _, ringFirst := range []bool{false, true} {
		for _, opts := range [][]Option{nil, {KernelMemory()}} {
			t.Run(fmt.Sprintf("ring closed first %v, %d options", ringFirst, len(opts)), func(t *testing.T) {
				r, err := ring.New(8)
				if err != nil {
					t.Skipf("needs io_uring: %v", err)
				}
				defer r.Close()
				b, err := New(r, 3, 8, 64, opts...)
				if err != nil {
					if len(opts) > 0 && errors.Is(err, unix.EINVAL) {
						t.Skipf("needs pbuf_ring_mmap: KernelMemory (IOU_PBUF_RING_MMAP, Linux 6.4): %v", err)
					}
					t.Fatal(err)
				}
				// The caller holds buffer 0 as if a completion had handed it out.
				if _, _, _, err := b.Data(bufCQE(0, 5)); err != nil {
					t.Fatal(err)
				}
				if ringFirst {
					if err := r.Close(); err != nil {
						t.Fatal(err)
					}
				}
				if err := b.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				closedtest.Run(t, b, afterClose)
			})
		}
	}
}
