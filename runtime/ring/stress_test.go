package ring

import (
	"bytes"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/fault"
	"github.com/urgen/urgen/internal/matrix/feature"
)

func TestCQOverflowLosesNothing(t *testing.T) {
	r := newRing(t, 16, WithCQSize(16))
	if r.Features()&uapi.FeatNodrop == 0 {
		t.Fatal("kernel lacks IORING_FEAT_NODROP (5.5)")
	}
	const total = 20000 // 1250 times what the CQ holds
	p := pipe(t)
	submitted := 0
	sawOverflow := false
	for submitted < total {
		for submitted < total {
			s := r.SQE()
			if s == nil {
				break
			}
			if submitted%100 == 0 {
				// Some requests complete later, through poll.
				rw(s, uapi.OpPollAdd, p[0], nil, 0, 0, uint64(submitted))
				s.SetPoll32Events(unix.POLLIN)
			} else {
				rw(s, uapi.OpNop, -1, nil, 0, 0, uint64(submitted))
			}
			submitted++
		}
		_, err := r.Submit()
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EAGAIN) {
			t.Fatalf("submit with a full CQ: %v (FEAT_NODROP kernels keep accepting)", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.SQRingFlags()&uapi.SQCQOverflow != 0 {
			sawOverflow = true
		}
	}
	if !sawOverflow {
		t.Fatal("the CQ never overflowed; the test proves nothing")
	}
	// Wake every poll, then reap everything.
	if _, err := unix.Write(p[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	seen := make([]int, total)
	cqes := make([]*uapi.CQE, 64)
	got := 0
	deadline := time.Now().Add(30 * time.Second)
	for got < total {
		n := r.PeekBatch(cqes)
		if n == 0 {
			if _, err := r.WaitCQETimeout(time.Second); err != nil && !errors.Is(err, unix.ETIME) {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d completions arrived", got, total)
			}
			continue
		}
		for _, c := range cqes[:n] {
			if c.UserData >= total {
				t.Fatalf("unknown user data %d", c.UserData)
			}
			if want := int32(0); c.UserData%100 != 0 && c.Res != want {
				t.Fatalf("NOP %d res %d", c.UserData, c.Res)
			}
			seen[c.UserData]++
		}
		got += n
		r.CQAdvance(uint32(n))
	}
	for ud, n := range seen {
		if n != 1 {
			t.Fatalf("user data %d completed %d times", ud, n)
		}
	}
	if o := r.Overflow(); o != 0 {
		t.Fatalf("kernel dropped %d completions", o)
	}
	if r.SQRingFlags()&uapi.SQCQOverflow != 0 {
		t.Fatal("overflow flag still set after reaping everything")
	}
}

// resources counts this process's open fds, its mappings, and the mappings
// of io_uring objects.
func resources(t *testing.T) (fds, maps, uring int) {
	t.Helper()
	maps, uring = fault.Mappings(t)
	return fault.OpenFDs(t), maps, uring
}

func TestNoLeaksOver10000Rings(t *testing.T) {
	cycles := 10000
	if testing.Short() {
		cycles = 1000
	}
	configs := [][]Option{
		nil,
		{WithFlags(uapi.SetupCqe32 | uapi.SetupSqe128)},
		{WithRegisteredRing()},
		{WithSQArray(), WithCQSize(64)},
	}
	// Rings in caller memory, and with no fd at all (Linux 6.5).
	for _, c := range []struct {
		feature string
		opts    []Option
	}{
		{"no_mmap", []Option{WithFlags(uapi.SetupNoMMap)}},
		{"registered_fd_only", []Option{WithFlags(uapi.SetupSingleIssuer | uapi.SetupDeferTaskrun | uapi.SetupNoMMap | uapi.SetupRegisteredFDOnly)}},
	} {
		if feature.Has(c.feature) {
			configs = append(configs, c.opts)
			continue
		}
		t.Run(c.feature, func(t *testing.T) { feature.Need(t, c.feature, "left out of the cycle") })
	}
	cycle := func(i int) {
		r, err := New(8, configs[i%len(configs)]...)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%7 == 0 {
			roundTrip(t, r, 2)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("cycle %d close: %v", i, err)
		}
	}
	for i := range 2 * len(configs) {
		cycle(i) // warm up the runtime's own allocations
	}
	runtime.GC()
	fds0, maps0, uring0 := resources(t)
	// The counters see a live ring (so a leak could not hide).
	live, err := New(8)
	if err != nil {
		t.Fatal(err)
	}
	if fds, _, uring := resources(t); fds != fds0+1 || uring <= uring0 {
		t.Fatalf("a live ring shows as fds %d->%d, io_uring maps %d->%d", fds0, fds, uring0, uring)
	}
	live.Close()
	for i := range cycles {
		cycle(i)
	}
	runtime.GC()
	fds1, maps1, uring1 := resources(t)
	t.Logf("%d cycles: fds %d->%d, maps %d->%d, io_uring maps %d->%d", cycles, fds0, fds1, maps0, maps1, uring0, uring1)
	if fds1 != fds0 || uring1 != uring0 {
		t.Fatalf("leak after %d rings: fds %d->%d, io_uring mappings %d->%d", cycles, fds0, fds1, uring0, uring1)
	}
	// Anonymous NO_MMAP memory does not say io_uring; the Go runtime may
	// add a few mappings of its own, never one per ring.
	if maps1 > maps0+16 {
		t.Fatalf("mappings grew %d->%d over %d rings", maps0, maps1, cycles)
	}
}

// TestKeepUnderGCPressure checks the safe path: buffers only the ring
// references stay alive and in place while the kernel reads and writes
// them, through forced GCs, heavy allocation and goroutine stack growth.
func TestKeepUnderGCPressure(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	r := newRing(t, 64)
	const n = 32
	readers := make([][2]int, n)
	for i := range readers {
		readers[i] = socketpair(t)
	}
	// Writers: fill a socket so that writes to it wait for room.
	wp := socketpair(t)
	if _, err := unix.FcntlInt(uintptr(wp[1]), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	fill := make([]byte, 4096)
	filled := 0
	for {
		m, err := unix.Write(wp[1], fill)
		if err != nil {
			break
		}
		filled += m
	}
	if _, err := unix.FcntlInt(uintptr(wp[1]), unix.F_SETFL, 0); err != nil {
		t.Fatal(err)
	}
	freed := make(chan uint64, 2*n)
	// Queue the requests from a deep stack in a separate function, so that
	// nothing but the ring refers to the buffers afterwards.
	queue := func(depth int) {
		var rec func(int)
		rec = func(d int) {
			var pad [256]byte // grow the stack as we go
			if d > 0 {
				rec(d - 1)
				pad[d%256]++
				return
			}
			for i := range n {
				rb := new([64]byte) // read target
				s := sqe(t, r)
				s.PrepRead(int32(readers[i][0]), rb[:], 0)
				s.UserData = uint64(i)
				r.Keep(uint64(i), rb)
				runtime.AddCleanup(rb, func(ud uint64) { freed <- ud }, uint64(i))
				wb := new([64]byte) // write source with a pattern
				for j := range wb {
					wb[j] = byte(i + j)
				}
				s = sqe(t, r)
				s.PrepWrite(int32(wp[1]), wb[:], 0)
				s.UserData = uint64(n + i)
				r.Keep(uint64(n+i), wb)
				runtime.AddCleanup(wb, func(ud uint64) { freed <- ud }, uint64(n+i))
			}
		}
		rec(depth)
	}
	queue(200)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	// Pressure: collections, garbage that would reuse freed memory, and
	// stack growth on this goroutine and others.
	var sink [][]byte
	for round := range 20 {
		runtime.GC()
		for range 2000 {
			sink = append(sink, bytes.Repeat([]byte{0xEE}, 64))
		}
		sink = sink[len(sink)/2:]
		done := make(chan struct{})
		go func() { deep(500); close(done) }()
		<-done
		_ = round
	}
	select {
	case ud := <-freed:
		t.Fatalf("buffer of in-flight request %d freed before its completion", ud)
	default:
	}
	// Now let the kernel run: data into every reader socket, room in the
	// write socket.
	for i := range n {
		if _, err := unix.Write(readers[i][1], []byte(strings.Repeat(string(rune('A'+i%26)), 64))); err != nil {
			t.Fatal(err)
		}
	}
	drain := make([]byte, filled)
	drained := make(chan struct{})
	go func() {
		// Read exactly the filler; the patterns follow it in the stream.
		defer close(drained)
		buf := drain
		for len(buf) > 0 {
			m, err := unix.Read(wp[0], buf)
			if err != nil {
				return
			}
			buf = buf[m:]
		}
	}()
	for got := 0; got < 2*n; got++ {
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatal(err)
		}
		if c.Res != 64 {
			t.Fatalf("request %d: res %d", c.UserData, c.Res)
		}
		if c.UserData < n {
			rb := r.keep[c.UserData].(*[64]byte)
			want := strings.Repeat(string(rune('A'+int(c.UserData)%26)), 64)
			if string(rb[:]) != want {
				t.Fatalf("read %d landed %q, want %q", c.UserData, rb[:], want)
			}
		}
		r.CQESeen(c)
	}
	// The socket now holds the written patterns, each intact.
	patterns := map[string]bool{}
	for i := range n {
		p := make([]byte, 64)
		for j := range p {
			p[j] = byte(i + j)
		}
		patterns[string(p)] = true
	}
	<-drained
	rest := make([]byte, 64*n)
	off := 0
	for off < len(rest) {
		m, err := unix.Read(wp[0], rest[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += m
	}
	for i := 0; i < len(rest); i += 64 {
		if !patterns[string(rest[i:i+64])] {
			t.Fatalf("written chunk %d corrupted: %v", i/64, rest[i:i+64])
		}
		delete(patterns, string(rest[i:i+64]))
	}
	if r.Kept() != 0 {
		t.Fatalf("%d values still kept", r.Kept())
	}
	runtime.KeepAlive(sink)
}

//go:noinline
func deep(d int) byte {
	var pad [512]byte
	if d == 0 {
		return pad[0]
	}
	pad[d%512] = byte(d)
	return deep(d-1) + pad[(d+1)%512]
}

// TestCloseWithRequestsInFlight closes a ring while reads into kept buffers
// are pending: Close cancels them and releases each buffer only after the
// kernel has posted its completion.
func TestCloseWithRequestsInFlight(t *testing.T) {
	r, err := New(8)
	if err != nil {
		t.Fatal(err)
	}
	p := socketpair(t)
	freed := make(chan uint64, 8)
	func() {
		for i := range 4 {
			buf := new([32]byte)
			s := sqe(t, r)
			s.PrepRead(int32(p[0]), buf[:], 0)
			s.UserData = uint64(i)
			r.Keep(uint64(i), buf)
			runtime.AddCleanup(buf, func(ud uint64) { freed <- ud }, uint64(i))
		}
	}()
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		runtime.GC()
	}
	select {
	case ud := <-freed:
		t.Fatalf("buffer of in-flight request %d freed", ud)
	case <-time.After(10 * time.Millisecond):
	}
	retiredBefore := len(retired.kept)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r.Kept() != 0 || len(retired.kept) != retiredBefore {
		t.Fatalf("after Close: %d kept, retired sets %d -> %d; want all cancelled and released", r.Kept(), retiredBefore, len(retired.kept))
	}
	// Released now, so the collector may free them.
	got := map[uint64]bool{}
	for deadline := time.Now().Add(5 * time.Second); len(got) < 4 && time.Now().Before(deadline); {
		runtime.GC()
		select {
		case ud := <-freed:
			got[ud] = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	if len(got) != 4 {
		t.Fatalf("only %d of 4 buffers were freed after Close", len(got))
	}
}
