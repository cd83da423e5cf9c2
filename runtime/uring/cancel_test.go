package uring

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const poison = 0xA5

// grow uses about n KiB of stack, so the goroutine's stack is copied to a
// larger one (and any pointer into the old one would be left dangling).
func grow(n int) byte {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return grow(n-1) + pad[n%1024]
}

// A storm of reads on pipes, most cancelled while the kernel holds them,
// with the GC forced and stacks growing meanwhile. After each call
// returns, its buffer is filled with a poison pattern; the writers then
// push far more data than the reads took. At the end every buffer must
// still be all poison (the kernel never wrote into a buffer after its call
// returned), and every byte written must have been read by a call that
// returned it (no cancelled request consumed data).
func TestCancellationStorm(t *testing.T) {
	e := newEngine(t, Options{Entries: 64})
	const pipes = 16
	calls := 4000
	if testing.Short() {
		calls = 1000
	}
	type pipeEnds struct{ r, w *File }
	ps := make([]pipeEnds, pipes)
	for i := range ps {
		var p [2]int
		if err := osPipe(&p); err != nil {
			t.Fatal(err)
		}
		ps[i] = pipeEnds{e.NewFile(uintptr(p[0]), "r"), e.NewFile(uintptr(p[1]), "w")}
	}
	stop := make(chan struct{})
	var gcs sync.WaitGroup
	gcs.Add(1)
	go func() { // forced GC, all along
		defer gcs.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()

	var written, read atomic.Int64
	var mu sync.Mutex
	var returned [][]byte // every buffer, poisoned once its call returned
	var cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < calls/32; i++ {
				buf := make([]byte, 64+rng.IntN(4096))
				for j := range buf {
					buf[j] = byte(j)
				}
				p := ps[rng.IntN(pipes)]
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(300))*time.Microsecond)
				grow(rng.IntN(64))
				n, err := p.r.ReadContext(ctx, buf)
				cancel()
				switch {
				case err == nil:
					read.Add(int64(n))
				case errors.Is(err, context.DeadlineExceeded):
					cancelled.Add(1)
					if n != 0 {
						t.Errorf("cancelled read returned %d bytes", n)
					}
					// Nothing may have landed in a cancelled read.
					for j, c := range buf {
						if c != byte(j) {
							t.Errorf("cancelled read's buffer changed at %d", j)
							break
						}
					}
				default:
					t.Errorf("read: %v", err)
				}
				for j := range buf {
					buf[j] = poison
				}
				mu.Lock()
				returned = append(returned, buf)
				mu.Unlock()
				grow(rng.IntN(64))
				if rng.IntN(4) == 0 { // feed some pipe now and then
					d := bytes.Repeat([]byte{byte(g)}, 1+rng.IntN(512))
					if _, err := ps[rng.IntN(pipes)].w.Write(d); err != nil {
						t.Error(err)
					}
					written.Add(int64(len(d)))
				}
			}
		}()
	}
	wg.Wait()
	// Far more data than the pipes hold in flight: any request the kernel
	// still had would take some of it, into a poisoned buffer.
	junk := bytes.Repeat([]byte{0x5A}, 1024)
	for i := range ps {
		for range 8 {
			n, err := ps[i].w.Write(junk)
			if err != nil {
				t.Fatal(err)
			}
			written.Add(int64(n))
		}
	}
	// Drain everything with reads that are not cancelled while the pipe
	// holds data (FIONREAD, TIOCINQ in x/sys), so that a slow machine (the matrix's TCG
	// under the GC storm) cannot pass for an empty pipe: a drain with a
	// 20 ms timeout once left a pipe's 8192 bytes unread on 6.12. Only a
	// request the kernel still had could take the data now: the read then
	// times out and the counts below differ.
	for i := range ps {
		buf := make([]byte, 64<<10)
		for {
			avail, err := unix.IoctlGetInt(ps[i].r.fd, unix.TIOCINQ)
			if err != nil {
				t.Fatal(err)
			}
			if avail == 0 {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			n, err := ps[i].r.ReadContext(ctx, buf)
			cancel()
			read.Add(int64(n))
			if err != nil {
				t.Errorf("drain read of pipe %d with %d bytes in it: %v", i, avail, err)
				break
			}
		}
	}
	close(stop)
	gcs.Wait()
	runtime.GC()
	for i, b := range returned {
		for j, c := range b {
			if c != poison {
				t.Fatalf("buffer %d of %d written at byte %d after its call returned", i, len(returned), j)
			}
		}
	}
	if w, r := written.Load(), read.Load(); w != r {
		t.Errorf("%d bytes written, %d read: %d consumed by cancelled requests", w, r, w-r)
	}
	t.Logf("%d calls, %d cancelled in flight, %d bytes through the pipes, every buffer intact", len(returned), cancelled.Load(), read.Load())
	if cancelled.Load() == 0 {
		t.Error("no call was cancelled: the test proved nothing")
	}
	for _, p := range ps {
		p.r.Close()
		p.w.Close()
	}
}
