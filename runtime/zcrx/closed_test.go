package zcrx

import (
	"fmt"
	"os"
	"testing"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/closedtest"
)

var errClosed = fmt.Errorf("closed: %w", os.ErrClosed)

func check(ok bool, what string) error { return closedtest.Check(ok, what, errClosed) }

// afterClose calls every exported method of *IFQ (see closedtest).
var afterClose = closedtest.Calls[*IFQ]{
	"Accounting": func(q *IFQ) error { _ = q.Accounting(); return errClosed },
	"AddArea":    func(q *IFQ) error { _, err := q.AddArea(make([]byte, os.Getpagesize())); return err },
	"Area":       func(q *IFQ) error { return check(q.Area(0) == nil, "Area of a closed IFQ is not nil") },
	"AreaToken":  func(q *IFQ) error { _ = q.AreaToken(0); return errClosed },
	"Areas":      func(q *IFQ) error { _ = q.Areas(); return errClosed },
	"ArmEvent":   func(q *IFQ) error { return q.ArmEvent(uapi.ZCRXEventType(0)) },
	"Buf": func(q *IFQ) error {
		_, err := q.Buf(&uapi.CQE{Res: 8})
		return err
	},
	"Close":     func(q *IFQ) error { return check(q.Close() == nil, "second Close failed") },
	"Entries":   func(q *IFQ) error { _ = q.Entries(); return errClosed },
	"Event":     func(q *IFQ) error { _, _ = q.Event(&uapi.CQE{}); return errClosed },
	"Export":    func(q *IFQ) error { _, err := q.Export(); return err },
	"Flush":     func(q *IFQ) error { return q.Flush() },
	"HugePages": func(q *IFQ) error { _ = q.HugePages(); return errClosed },
	"ID":        func(q *IFQ) error { _ = q.ID(); return errClosed },
	"Offsets":   func(q *IFQ) error { _ = q.Offsets(); return errClosed },
	"PrepRecv":  func(q *IFQ) error { q.PrepRecv(new(uapi.SQE), 0, 0); return errClosed },
	"Queued":    func(q *IFQ) error { return check(q.Queued() == 0, "Queued of a closed IFQ is not 0") },
	"Receive":   func(q *IFQ) error { _, _, err := q.Receive(Loop{FD: -1}); return err },
	"Release":   func(q *IFQ) error { return q.Release(Buf{off: 0, n: 4096}) },
	"Stats":     func(q *IFQ) error { _, ok := q.Stats(); return check(!ok, "Stats of a closed IFQ") },
}

func TestAfterCloseCoversIFQ(t *testing.T) { closedtest.Cover(t, afterClose) }

// TestAfterClose: an IFQ whose refill region and area Register mapped (and
// Close unmapped) never touches them again.
func TestAfterClose(t *testing.T) {
	caps := needNoDev(t)
	r := zcrxRing(t, uapi.SetupCqe32)
	q, err := Register(r, Config{NoDev: true, Entries: 16, AreaSize: 16 * os.Getpagesize(), Caps: caps,
		Events: &EventConfig{Stats: true}})
	if err != nil {
		q, err = Register(r, Config{NoDev: true, Entries: 16, AreaSize: 16 * os.Getpagesize(), Caps: caps})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	closedtest.Run(t, q, afterClose)
}
