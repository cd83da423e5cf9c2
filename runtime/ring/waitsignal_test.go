package ring

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// TestSubmitAndWaitSurvivesSignals checks that SubmitAndWait neither fails
// (EINTR) nor returns before its completion while signals hit the waiting
// thread: Go itself preempts with SIGURG, and this test sends it to the
// waiting thread every 200 µs, on a plain and on an SQPOLL ring.
func TestSubmitAndWaitSurvivesSignals(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	for _, kind := range []struct {
		name string
		opts []Option
	}{{"plain", nil}, {"sqpoll", []Option{WithSQPoll(10 * time.Millisecond)}}} {
		t.Run(kind.name, func(t *testing.T) {
			r := newRing(t, 8, kind.opts...)
			var stop atomic.Bool
			done := make(chan int)
			go func() {
				n := 0
				for !stop.Load() {
					if unix.Tgkill(unix.Getpid(), tid, unix.SIGURG) == nil {
						n++
					}
					time.Sleep(200 * time.Microsecond)
				}
				done <- n
			}()
			ts := uapi.KernelTimespec{TvNsec: int64(30 * time.Millisecond)}
			s := r.SQE()
			s.PrepTimeout(&ts, 0, 0)
			s.UserData = 7
			start := time.Now()
			_, err := r.SubmitAndWait(1)
			elapsed := time.Since(start)
			stop.Store(true)
			signals := <-done
			runtime.KeepAlive(&ts)
			if err != nil {
				t.Fatal(err)
			}
			if r.CQReady() < 1 {
				t.Fatalf("SubmitAndWait(1) returned after %v (%d signals sent) with no completion ready", elapsed, signals)
			}
			c, err := r.WaitCQE()
			if err != nil {
				t.Fatal(err)
			}
			if c.UserData != 7 || c.Res != -int32(unix.ETIME) {
				t.Fatalf("completion %+v, want user data 7, res -ETIME", *c)
			}
			r.CQESeen(c)
			t.Logf("waited %v through %d signals", elapsed, signals)
		})
	}
}
