package sock

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/fault"
	"github.com/urgen/urgen/runtime/bufring"
	"github.com/urgen/urgen/runtime/ring"
)

// Accepts and receives when the process runs out of descriptors, the
// file table fills up, or a peer resets: an error naming the operation,
// and no connection, byte or buffer lost.

// wantResult fails unless the completion's result, through
// ring.ResultError, is an error naming op that wraps errno, on a final
// completion (no F_MORE).
func wantResult(t testing.TB, what string, c cqe, op string, errno unix.Errno) {
	t.Helper()
	err := ring.ResultError(op, c.res)
	switch {
	case !errors.Is(err, errno):
		t.Errorf("%s: %v (res %d), want %v", what, err, c.res, errno)
	case !strings.Contains(err.Error(), op):
		t.Errorf("%s: %q does not name %s", what, err, op)
	case c.more():
		t.Errorf("%s: failed with IORING_CQE_F_MORE: the request should have ended", what)
	}
}

// rawClient connects a client socket made before the descriptors run out
// (connect itself needs none), and returns it.
func rawClient(t testing.TB, fd int, to unix.Sockaddr) {
	t.Helper()
	if err := unix.Connect(fd, to); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// TestFaultAcceptNoFile: with RLIMIT_NOFILE exhausted, an accept fails
// with EMFILE, single or multishot (which ends), whether the table filled
// up before it was armed or while it waited; the connection stays in the
// listen backlog, and once a descriptor is free the next accept returns
// it, with its data.
func TestFaultAcceptNoFile(t *testing.T) {
	for _, mode := range []string{"single", "multishot", "multishot waiting"} {
		t.Run(mode, func(t *testing.T) {
			r := newRing(t, 16)
			h := tr{t, r}
			lfd, laddr := tcpListener(t, families[0])
			cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(cfd)
			arm := func(ud uint64) {
				var err error
				if mode == "single" {
					_, err = Accept(r, ud, lfd, nil, unix.SOCK_CLOEXEC)
				} else {
					_, err = AcceptMultishot(r, ud, lfd, unix.SOCK_CLOEXEC)
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r.Submit(); err != nil {
					t.Fatal(err)
				}
			}
			fds := fault.OpenFDs(t)
			var restore func()
			last := -1
			if mode == "multishot waiting" {
				// Armed with one descriptor free, it waits for a
				// connection holding none; then the last one is taken.
				restore = fault.ExhaustFDs(t, 1)
				arm(1)
				if last, err = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
					t.Fatal(err)
				}
			} else {
				restore = fault.ExhaustFDs(t, 0)
			}
			rawClient(t, cfd, &unix.SockaddrInet4{Addr: laddr.Addr().As4(), Port: int(laddr.Port())})
			if _, err := unix.Write(cfd, []byte("queued")); err != nil {
				t.Fatal(err)
			}
			if mode != "multishot waiting" {
				arm(1)
			}
			wantResult(t, "accept with no free descriptor", next(t, r), "accept", unix.EMFILE)
			if last >= 0 {
				unix.Close(last)
			}
			restore()
			if n := fault.OpenFDs(t); n != fds {
				t.Errorf("descriptors: %d before, %d after the failed accept", fds, n)
			}
			peer := NewAddr()
			afd := h.do(Accept(r, 2, lfd, peer, unix.SOCK_CLOEXEC))
			defer unix.Close(afd)
			got, err := peer.AddrPort()
			if err != nil {
				t.Fatal(err)
			}
			if want := sockname(t, cfd); got != want {
				t.Errorf("accepted %v after the limit lifted, the waiting client is %v", got, want)
			}
			if s := readFull(t, afd, 6); s != "queued" {
				t.Errorf("accepted connection reads %q, want the bytes sent before", s)
			}
			if r.Kept() != 0 {
				t.Errorf("%d requests still keep memory", r.Kept())
			}
		})
	}
}

// TestFaultAcceptDirect: direct descriptors take no process descriptor,
// so a direct accept works with RLIMIT_NOFILE exhausted; the file table
// itself is bounded by RLIMIT_NOFILE at registration (EMFILE); and an
// accept into a full table fails with ENFILE, the slots already filled
// keep working, and the connection it could not place is closed by the
// kernel (its client sees the end of the stream, it is not left hanging)
// while the next waiting connection is accepted once a slot is free.
func TestFaultAcceptDirect(t *testing.T) {
	r := newRing(t, 16)
	h := tr{t, r}
	lfd, laddr := tcpListener(t, families[0])
	to := &unix.SockaddrInet4{Addr: laddr.Addr().As4(), Port: int(laddr.Port())}
	var clients [4]int
	for i := range clients {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		clients[i] = fd
	}

	restore := fault.ExhaustFDs(t, 0)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterFilesSparse(uint32(lim.Cur) + 1); err == nil {
		t.Error("a file table larger than RLIMIT_NOFILE registered")
		r.UnregisterFiles()
	} else if !errors.Is(err, unix.EMFILE) || !strings.Contains(err.Error(), "IORING_REGISTER_FILES") {
		t.Errorf("file table larger than RLIMIT_NOFILE: %v, want EMFILE from IORING_REGISTER_FILES", err)
	}
	if err := r.RegisterFilesSparse(2); err != nil {
		t.Fatal(err)
	}
	rawClient(t, clients[0], to)
	slot0 := h.do(AcceptDirect(r, 1, lfd, nil, 0, uapi.FileIndexAlloc))
	restore()
	rawClient(t, clients[1], to)
	slot1 := h.do(AcceptDirect(r, 2, lfd, nil, 0, uapi.FileIndexAlloc))

	// The table is full: the third connection cannot be placed.
	rawClient(t, clients[2], to)
	if _, err := AcceptDirect(r, 3, lfd, nil, 0, uapi.FileIndexAlloc); err != nil {
		t.Fatal(err)
	}
	wantResult(t, "direct accept into a full table", next(t, r), "accept", unix.ENFILE)
	if s := readTimeout(t, clients[2], 5*time.Second); s != "EOF" {
		t.Errorf("the connection the full table refused: client reads %s, want EOF (closed by the kernel)", s)
	}
	for i, slot := range []int{slot0, slot1} {
		s, err := Send(r, uint64(10+i), slot, []byte{'a' + byte(i)}, 0)
		if err == nil {
			s.Flags |= uapi.SQEFixedFile
		}
		h.do(s, err)
		if got := readFull(t, clients[i], 1); got != string(rune('a'+i)) {
			t.Errorf("slot %d after the refused accept: client %d reads %q", slot, i, got)
		}
	}
	// A slot freed, the next waiting connection goes into it.
	h.do(CloseDirect(r, 20, uint32(slot0)))
	rawClient(t, clients[3], to)
	slot := h.do(AcceptDirect(r, 21, lfd, nil, 0, uapi.FileIndexAlloc))
	if slot != slot0 {
		t.Errorf("accept after freeing slot %d went to slot %d", slot0, slot)
	}
	s, err := Send(r, 22, slot, []byte("3"), 0)
	if err == nil {
		s.Flags |= uapi.SQEFixedFile
	}
	h.do(s, err)
	if got := readFull(t, clients[3], 1); got != "3" {
		t.Errorf("fourth client reads %q through the freed slot", got)
	}
}

// TestFaultResetDuringMultishotRecv runs three streams through multishot
// receives on one buffer ring and resets two of the peers (SO_LINGER 0,
// close) in the middle: one while its receive waits, armed, between
// messages; one with bytes it sent still queued unread at the receiver.
// Each reset receive delivers every byte that reached the receiver, in
// order, then ends with ECONNRESET (no F_MORE); the third stream, which
// ends normally, arrives whole; every buffer returns to the ring and
// nothing completes after a final completion.
//
// Linux 6.12 to 7.3 (not 6.1) may miss a reset that follows data the
// multishot receive is still draining: the request stays armed, with no
// final completion, on a socket that reports the error (measured: about 1
// in 4 queued resets, 1 in 6 resets that arrive mid-copy; never one that
// arrives while the request waits). For the queued stream the test then
// checks that the reset is not lost: cancelled, the receive ends with
// ECANCELED, and a single receive returns ECONNRESET.
func TestFaultResetDuringMultishotRecv(t *testing.T) {
	r := newRing(t, 64)
	br, err := bufring.New(r, 3, 64, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	lfd, laddr := tcpListener(t, families[0])
	const (
		idle   = 0 // reset while its receive waits between messages
		queued = 1 // reset with its last message unread at the receiver
		whole  = 2 // ends normally
		size   = 100_000
	)
	var clients [3]*net.TCPConn
	var servers [3]int
	var want [3][]byte
	for i := range clients {
		clients[i] = dial(t, laddr)
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		servers[i] = fd
		want[i] = make([]byte, size)
		for j := range want[i] {
			want[i][j] = byte(j*7 + i*13)
		}
	}
	resetPeer := func(i int) {
		clients[i].SetLinger(0)
		clients[i].Close()
	}
	arm := func(i int) {
		if _, err := RecvSelect(r, uint64(i), servers[i], br.Group(), 0, uapi.RecvMultishot); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
	}
	// The queued stream's peer sends its part and resets before the
	// receiver arms: the bytes wait in the receive queue with the reset.
	clients[queued].Write(want[queued][:size/2])
	waitQueued(t, servers[queued], size/2)
	resetPeer(queued)
	for i := range clients {
		arm(i)
	}
	go func() {
		for p := want[whole]; len(p) > 0; {
			n := min(len(p), 4000)
			clients[whole].Write(p[:n])
			p = p[n:]
		}
		clients[whole].CloseWrite()
	}()
	clients[idle].Write(want[idle][:size/2])

	var got [3][]byte
	var final [3]*cqe
	missed := false // the kernel kept the queued stream's receive armed
	for done, quiet := 0, 0; done < len(clients); {
		cq, err := r.WaitCQETimeout(time.Second)
		if err != nil {
			quiet++
			if done == 2 && final[queued] == nil && len(got[queued]) == size/2 && !missed {
				// Linux 6.12 to 7.3 (not 6.1) may drain the queued bytes
				// and miss the reset queued behind them: the receive
				// stays armed although the socket reports the error.
				// The reset is not lost: cancelled, the next receive
				// returns it.
				missed = true
				h := tr{t, r}
				h.do(Cancel(r, 50, queued))
				continue
			}
			if quiet < 10 {
				continue
			}
			t.Fatalf("waiting (%d streams ended; received %d, %d, %d bytes; final %v %v %v): %v", done, len(got[0]), len(got[1]), len(got[2]), final[0], final[1], final[2], err)
		}
		quiet = 0
		c := cqe{cq.UserData, cq.Res, cq.Flags}
		if c.ud == 50 {
			if c.res != 0 {
				t.Fatalf("cancelling the queued stream's receive: %v", unix.Errno(-c.res))
			}
			r.CQESeen(cq)
			continue
		}
		i := int(c.ud)
		if final[i] != nil {
			t.Fatalf("stream %d: completion %+v after its final one", i, c)
		}
		switch {
		case bufring.Dry(cq):
			r.CQESeen(cq)
			arm(i)
			continue
		case c.res > 0:
			d, bid, _, err := br.Data(cq)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = append(got[i], d...)
			br.Return(bid)
			r.CQESeen(cq)
			if !c.more() {
				arm(i)
			}
			if i == idle && len(got[i]) == size/2 {
				// All it sent has been received, and the request waits.
				waitArmed(t, servers[idle])
				resetPeer(idle)
			}
			continue
		}
		r.CQESeen(cq)
		if c.more() {
			t.Fatalf("stream %d: completion %+v with F_MORE", i, c)
		}
		final[i] = &c
		done++
	}
	if missed {
		wantResult(t, "cancelled receive of the queued stream", *final[queued], "recv", unix.ECANCELED)
		buf := make([]byte, 16)
		n, err := tr{t, r}.try(Recv(r, 51, servers[queued], buf, 0))
		if !errors.Is(err, unix.ECONNRESET) {
			t.Errorf("receive after the missed reset: %d bytes, %v; want ECONNRESET", n, err)
		}
		t.Log("the kernel missed the reset queued behind the data (multishot receive left armed); a single receive reported it")
	}
	for _, i := range []int{idle, queued} {
		if i != queued || !missed {
			wantResult(t, "reset stream", *final[i], "recv", unix.ECONNRESET)
		}
		if !bytes.Equal(got[i], want[i][:size/2]) {
			t.Errorf("reset stream %d: %d bytes received, want the %d sent before the reset", i, len(got[i]), size/2)
		}
	}
	if final[whole].res != 0 || !bytes.Equal(got[whole], want[whole]) {
		t.Errorf("whole stream ended with %+v after %d bytes, want EOF after the %d sent", *final[whole], len(got[whole]), size)
	}
	if cq, err := r.WaitCQETimeout(50 * time.Millisecond); err == nil {
		t.Errorf("completion after every stream ended: %+v", *cq)
	}
	if br.Held() != 0 || r.Kept() != 0 {
		t.Errorf("after the resets: %d buffers held, %d requests keep memory", br.Held(), r.Kept())
	}
}

// waitQueued waits until n bytes wait in fd's receive queue (SIOCINQ).
func waitQueued(t testing.TB, fd, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if q, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil && q >= n {
			return
		}
	}
	t.Fatalf("%d bytes never queued at the receiver", n)
}

// waitArmed gives a multishot receive that has drained fd the moment the
// kernel needs to go back to waiting on it: the receive queue is empty,
// and the copy that emptied it has completed (its CQE is seen).
func waitArmed(t testing.TB, fd int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if q, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil && q == 0 {
			time.Sleep(5 * time.Millisecond)
			return
		}
	}
	t.Fatal("the receive queue never drained")
}

// readFull reads n bytes from fd (blocking, at most 5 s).
func readFull(t testing.TB, fd, n int) string {
	t.Helper()
	buf := make([]byte, 0, n)
	for len(buf) < n {
		s := readTimeout(t, fd, 5*time.Second)
		if s == "EOF" || strings.HasPrefix(s, "error") || s == "timeout" {
			t.Fatalf("reading %d bytes: %s after %q", n, s, buf)
		}
		buf = append(buf, s...)
	}
	return string(buf)
}

// readTimeout returns what one read of fd gives within d: the data, "EOF",
// "timeout" or "error: ...".
func readTimeout(t testing.TB, fd int, d time.Duration) string {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, int(d/time.Millisecond))
	if err != nil {
		return "error: " + err.Error()
	}
	if n == 0 {
		return "timeout"
	}
	buf := make([]byte, 64)
	m, err := unix.Read(fd, buf)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case m == 0:
		return "EOF"
	}
	return string(buf[:m])
}
