package builderkernel_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/generated/uapi/uapitest"
	"github.com/urgen/urgen/runtime/ring"
)

// kring is a ring with a probe, for one test.
type kring struct {
	t *testing.T
	r *ring.Ring
	p *ring.Probe
}

func newRing(t *testing.T) *kring {
	t.Helper()
	r, err := ring.New(16)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			t.Skipf("needs io_uring: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	return &kring{t, r, p}
}

// on is k for subtest t: its failures must stop t, not the parent.
func (k *kring) on(t *testing.T) *kring { return &kring{t, k.r, k.p} }

// need skips t unless the kernel supports every op. The feature is
// "opcode IORING_OP_X": the matrix can tell it from each kernel's last_op.
func (k *kring) need(t *testing.T, ops ...uapi.Op) {
	t.Helper()
	for _, op := range ops {
		if !k.p.Supported(op) {
			t.Skipf("needs opcode %s: the kernel's probe (last op %d) does not list it", op, k.p.LastOp())
		}
	}
}

// do prepares n SQEs with prep (i is the index; user data is i+1),
// submits them and returns the results by user data.
func (k *kring) do(n int, prep func(i int, s *uapi.SQE)) map[uint64]int32 {
	k.t.Helper()
	for i := range n {
		s := k.r.SQE()
		if s == nil {
			k.t.Fatal("SQ full")
		}
		prep(i, s)
		s.UserData = uint64(i + 1)
	}
	if _, err := k.r.Submit(); err != nil {
		k.t.Fatalf("Submit: %v", err)
	}
	res := map[uint64]int32{}
	for len(res) < n {
		c, err := k.r.WaitCQE()
		if err != nil {
			k.t.Fatalf("WaitCQE: %v", err)
		}
		res[c.UserData] = c.Res
		k.r.CQESeen(c)
	}
	return res
}

// one runs a single SQE and returns its result. A lone request that ends
// with -ECANCELED was dropped by the kernel before it ran (nothing here
// cancels a lone request): Linux 6.1 hands buffered writes to tmpfs, like
// fsync, statx and ftruncate everywhere, to an io-wq worker of the
// submitting thread, and cancels the queued work when creating that
// thread's first worker keeps being interrupted by signals (Go's
// preemption). It is submitted again, as the goroutine layer does, a few
// times at most.
func (k *kring) one(prep func(s *uapi.SQE)) int32 {
	k.t.Helper()
	for try := 1; ; try++ {
		res := k.do(1, func(_ int, s *uapi.SQE) { prep(s) })[1]
		if res != -int32(unix.ECANCELED) || try == 5 {
			return res
		}
		k.t.Logf("the kernel cancelled a lone request before it ran (try %d); submitting it again", try)
	}
}

func tempFile(t *testing.T, data []byte) (string, int32) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return path, int32(fd)
}

func cstr(t *testing.T, s string) *byte {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKernelFileIO: write, read, writev, readv, fsync, ftruncate and statx
// through the builders, checked by reading the file back.
func TestKernelFileIO(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpWrite, uapi.OpRead, uapi.OpWritev, uapi.OpReadv, uapi.OpFsync, uapi.OpStatx)
	path, fd := tempFile(t, nil)
	msg := []byte("hello, io_uring")
	if res := k.one(func(s *uapi.SQE) { s.PrepWrite(fd, msg, 0) }); res != int32(len(msg)) {
		t.Fatalf("PrepWrite: res %d", res)
	}
	buf := make([]byte, 64)
	if res := k.one(func(s *uapi.SQE) { s.PrepRead(fd, buf, 7) }); res != int32(len(msg)-7) || !bytes.Equal(buf[:res], msg[7:]) {
		t.Fatalf("PrepRead at 7: res %d, %q", res, buf[:max(res, 0)])
	}
	a, b := []byte("abc"), []byte("defg")
	iov := []unix.Iovec{{Base: &a[0]}, {Base: &b[0]}}
	iov[0].SetLen(len(a))
	iov[1].SetLen(len(b))
	if res := k.one(func(s *uapi.SQE) { s.PrepWritev2(fd, iov, 100, 0) }); res != 7 {
		t.Fatalf("PrepWritev2: res %d", res)
	}
	x, y := make([]byte, 2), make([]byte, 5)
	riov := []unix.Iovec{{Base: &x[0]}, {Base: &y[0]}}
	riov[0].SetLen(2)
	riov[1].SetLen(5)
	if res := k.one(func(s *uapi.SQE) { s.PrepReadv(fd, riov, 100) }); res != 7 || string(x)+string(y) != "abcdefg" {
		t.Fatalf("PrepReadv: res %d, %q %q", res, x, y)
	}
	if res := k.one(func(s *uapi.SQE) { s.PrepFsync(fd, uapi.FsyncDatasync) }); res != 0 {
		t.Fatalf("PrepFsync: res %d", res)
	}
	var stx unix.Statx_t
	if res := k.one(func(s *uapi.SQE) { s.PrepStatx(unix.AT_FDCWD, cstr(t, path), 0, unix.STATX_SIZE, &stx) }); res != 0 || stx.Size != 107 {
		t.Fatalf("PrepStatx: res %d size %d, want 107", res, stx.Size)
	}
	t.Run("ftruncate", func(t *testing.T) {
		k := k.on(t)
		k.need(t, uapi.OpFtruncate)
		if res := k.one(func(s *uapi.SQE) { s.PrepFtruncate(fd, 3) }); res != 0 {
			t.Fatalf("PrepFtruncate: res %d", res)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != 3 {
			t.Fatalf("after PrepFtruncate(3): %v, size %d", err, fi.Size())
		}
	})
	runtime.KeepAlive(iov)
	runtime.KeepAlive(riov)
}

// TestKernelOpenClose: openat2 and openat into a fixed slot and into an
// allocated one (the file_index encoding), read through the fixed file,
// close_direct; a path that does not exist gives -ENOENT.
func TestKernelOpenClose(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpOpenat2, uapi.OpOpenat, uapi.OpClose, uapi.OpRead)
	path, _ := tempFile(t, []byte("fixed file data"))
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC}
	fd := k.one(func(s *uapi.SQE) { s.PrepOpenat2(unix.AT_FDCWD, cstr(t, path), &how) })
	if fd < 0 {
		t.Fatalf("PrepOpenat2: res %d", fd)
	}
	if res := k.one(func(s *uapi.SQE) { s.PrepClose(fd) }); res != 0 {
		t.Fatalf("PrepClose: res %d", res)
	}
	if res := k.one(func(s *uapi.SQE) { s.PrepOpenat2(unix.AT_FDCWD, cstr(t, path+".missing"), &how) }); res != -int32(unix.ENOENT) {
		t.Fatalf("PrepOpenat2 of a missing file: res %d, want -ENOENT", res)
	}
	if err := k.r.RegisterFiles([]int32{-1, -1, -1, -1}); err != nil {
		t.Skipf("needs registered files: %v", err)
	}
	// O_CLOEXEC is refused with a direct descriptor (EINVAL).
	direct := unix.OpenHow{Flags: unix.O_RDONLY}
	if res := k.one(func(s *uapi.SQE) { s.PrepOpenat2Direct(unix.AT_FDCWD, cstr(t, path), &how, 2) }); res != -int32(unix.EINVAL) {
		t.Fatalf("PrepOpenat2Direct with O_CLOEXEC: res %d, want -EINVAL", res)
	}
	if res := k.one(func(s *uapi.SQE) { s.PrepOpenat2Direct(unix.AT_FDCWD, cstr(t, path), &direct, 2) }); res != 0 {
		t.Fatalf("PrepOpenat2Direct into slot 2: res %d", res)
	}
	buf := make([]byte, 32)
	res := k.one(func(s *uapi.SQE) {
		s.PrepRead(2, buf, 0)
		s.Flags |= uapi.SQEFixedFile
	})
	if res != 15 || string(buf[:15]) != "fixed file data" {
		t.Fatalf("read through fixed slot 2: res %d %q", res, buf[:max(res, 0)])
	}
	slot := k.one(func(s *uapi.SQE) {
		s.PrepOpenatDirect(unix.AT_FDCWD, cstr(t, path), unix.O_RDONLY, 0, uapi.FileIndexAlloc)
	})
	if slot < 0 || slot > 3 || slot == 2 {
		t.Fatalf("PrepOpenatDirect(FileIndexAlloc): res %d, want a free slot", slot)
	}
	for _, i := range []uint32{2, uint32(slot)} {
		if res := k.one(func(s *uapi.SQE) { s.PrepCloseDirect(i) }); res != 0 {
			t.Fatalf("PrepCloseDirect(%d): res %d", i, res)
		}
	}
	if res := k.one(func(s *uapi.SQE) { s.PrepCloseDirect(2) }); res != -int32(unix.EBADF) {
		t.Fatalf("PrepCloseDirect of an empty slot: res %d, want -EBADF", res)
	}
	runtime.KeepAlive(&how)
	runtime.KeepAlive(&direct)
}

// TestKernelTimeouts: a timeout expires with -ETIME; a read of a silent
// socket linked to a 10 ms timeout is cancelled; timeout_remove finds a
// pending timeout by user data.
func TestKernelTimeouts(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpTimeout, uapi.OpLinkTimeout, uapi.OpRead, uapi.OpTimeoutRemove)
	ts := uapi.KernelTimespec{TvNsec: int64(time.Millisecond)}
	if res := k.one(func(s *uapi.SQE) { s.PrepTimeout(&ts, 0, 0) }); res != -int32(unix.ETIME) {
		t.Fatalf("PrepTimeout: res %d, want -ETIME", res)
	}
	// A socket, not a pipe: Linux 6.1 hands pipe reads to io-wq workers,
	// whose creation Go's preemption signals can interrupt, cancelling the
	// read before its timeout does.
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	buf := make([]byte, 8)
	lt := uapi.KernelTimespec{TvNsec: int64(10 * time.Millisecond)}
	res := k.do(2, func(i int, s *uapi.SQE) {
		if i == 0 {
			s.PrepRead(int32(p[0]), buf, ^uint64(0))
			s.Flags |= uapi.SQEIOLink
			return
		}
		s.PrepLinkTimeout(&lt, 0)
	})
	if res[1] != -int32(unix.ECANCELED) || res[2] != -int32(unix.ETIME) {
		t.Fatalf("read linked to a timeout: read %d (want -ECANCELED), timeout %d (want -ETIME)", res[1], res[2])
	}
	long := uapi.KernelTimespec{TvSec: 60}
	res = k.do(2, func(i int, s *uapi.SQE) {
		if i == 0 {
			s.PrepTimeout(&long, 0, 0)
			return
		}
		s.PrepTimeoutRemove(1, 0)
	})
	if res[1] != -int32(unix.ECANCELED) || res[2] != 0 {
		t.Fatalf("timeout_remove: timeout %d (want -ECANCELED), remove %d (want 0)", res[1], res[2])
	}
	// Multishot: three expirations, the first two flagged IORING_CQE_F_MORE.
	t.Run("multishot", func(t *testing.T) {
		sq := k.r.SQE()
		sq.PrepTimeoutMultishot(&ts, 3, 0)
		sq.UserData = 9
		if _, err := k.r.Submit(); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			c, err := k.r.WaitCQE()
			if err != nil {
				t.Fatal(err)
			}
			more := c.Flags&uapi.CQEFMore != 0
			if i == 0 && c.UserData == 9 && c.Res == -int32(unix.EINVAL) {
				k.r.CQESeen(c)
				t.Skip("needs timeout_multishot: IORING_TIMEOUT_MULTISHOT (Linux 6.4) rejected")
			}
			if c.UserData != 9 || c.Res != -int32(unix.ETIME) || more != (i < 2) {
				t.Fatalf("PrepTimeoutMultishot CQE %d: user data %d res %d flags %v", i, c.UserData, c.Res, c.Flags)
			}
			k.r.CQESeen(c)
		}
	})
	runtime.KeepAlive(&ts)
	runtime.KeepAlive(&lt)
	runtime.KeepAlive(&long)
}

// TestKernelPollAndEpoll: poll_add on a readable pipe reports POLLIN;
// epoll_ctl adds the pipe (its fd travels zero-extended in off) and
// epoll_wait sees it.
func TestKernelPollAndEpoll(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpPollAdd, uapi.OpEpollCtl)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := unix.Write(p[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	if res := k.one(func(s *uapi.SQE) { s.PrepPollAdd(int32(p[0]), unix.POLLIN) }); res&unix.POLLIN == 0 {
		t.Fatalf("PrepPollAdd: res %#x, want POLLIN", res)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0])}
	if res := k.one(func(s *uapi.SQE) { s.PrepEpollCtl(int32(epfd), int32(p[0]), unix.EPOLL_CTL_ADD, &ev) }); res != 0 {
		t.Fatalf("PrepEpollCtl: res %d", res)
	}
	t.Run("epoll_wait", func(t *testing.T) {
		k := k.on(t)
		k.need(t, uapi.OpEpollWait)
		evs := make([]unix.EpollEvent, 4)
		if res := k.one(func(s *uapi.SQE) { s.PrepEpollWait(int32(epfd), evs, 0) }); res != 1 || evs[0].Fd != int32(p[0]) {
			t.Fatalf("PrepEpollWait: res %d, event fd %d", res, evs[0].Fd)
		}
	})
	runtime.KeepAlive(&ev)
}

// TestKernelMsgRing: msg_ring to the ring itself posts a CQE with the
// given user data and result.
func TestKernelMsgRing(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpMsgRing)
	got := map[uint64]int32{}
	s := k.r.SQE()
	s.PrepMsgRing(int32(k.r.FD()), 77, 0xabcdef, 0)
	s.UserData = 1
	if _, err := k.r.Submit(); err != nil {
		t.Fatal(err)
	}
	for len(got) < 2 {
		c, err := k.r.WaitCQE()
		if err != nil {
			t.Fatal(err)
		}
		got[c.UserData] = c.Res
		k.r.CQESeen(c)
	}
	if got[1] != 0 || got[0xabcdef] != 77 {
		t.Fatalf("PrepMsgRing: results by user data %v, want 1:0 0xabcdef:77", got)
	}
}

// TestKernelSockets: a TCP listener made with socket, bind and listen; a
// client socket connects; accept, send, the SIOCINQ socket command (the
// bytes queued) and recv.
func TestKernelSockets(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpSocket, uapi.OpConnect, uapi.OpAccept, uapi.OpSend, uapi.OpRecv, uapi.OpBind, uapi.OpListen)
	socket := func() int32 {
		fd := k.one(func(s *uapi.SQE) { s.PrepSocket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0, 0) })
		if fd < 0 {
			t.Fatalf("PrepSocket: res %d", fd)
		}
		t.Cleanup(func() { unix.Close(int(fd)) })
		return fd
	}
	ln := socket()
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	addr := (*unix.RawSockaddrAny)(unsafe.Pointer(&sa))
	if res := k.one(func(s *uapi.SQE) { s.PrepBind(ln, addr, unix.SizeofSockaddrInet4) }); res != 0 {
		t.Fatalf("PrepBind: res %d", res)
	}
	if res := k.one(func(s *uapi.SQE) { s.PrepListen(ln, 8) }); res != 0 {
		t.Fatalf("PrepListen: res %d", res)
	}
	got, err := unix.Getsockname(int(ln))
	if err != nil {
		t.Fatal(err)
	}
	port := got.(*unix.SockaddrInet4).Port
	if port == 0 {
		t.Fatal("bound to port 0")
	}
	sa.Port = uint16(port>>8) | uint16(port&0xff)<<8 // network order
	cl := socket()
	var peer unix.RawSockaddrAny
	peerLen := uint32(unix.SizeofSockaddrAny)
	res := k.do(2, func(i int, s *uapi.SQE) {
		if i == 0 {
			s.PrepAccept(ln, &peer, &peerLen, unix.SOCK_CLOEXEC)
			return
		}
		s.PrepConnect(cl, addr, unix.SizeofSockaddrInet4)
	})
	conn := res[1]
	if conn < 0 || res[2] != 0 {
		t.Fatalf("PrepAccept %d, PrepConnect %d", conn, res[2])
	}
	defer unix.Close(int(conn))
	if peer.Addr.Family != unix.AF_INET || peerLen != unix.SizeofSockaddrInet4 {
		t.Fatalf("PrepAccept peer: family %d len %d", peer.Addr.Family, peerLen)
	}
	if r := k.one(func(s *uapi.SQE) { s.PrepSend(cl, []byte("12345"), 0) }); r != 5 {
		t.Fatalf("PrepSend: res %d", r)
	}
	if k.p.Supported(uapi.OpUringCmd) {
		// Give loopback a moment to queue the bytes on the accepted side.
		deadline := time.Now().Add(time.Second)
		for {
			r := k.one(func(s *uapi.SQE) { s.PrepCmdSIOCINQ(conn) })
			if r == -int32(unix.EOPNOTSUPP) {
				t.Logf("needs socket uring_cmd: res %d; PrepCmdSIOCINQ not checked", r)
				break
			}
			if r == 5 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("PrepCmdSIOCINQ: res %d, want 5", r)
			}
			time.Sleep(time.Millisecond)
		}
	}
	buf := make([]byte, 8)
	if r := k.one(func(s *uapi.SQE) { s.PrepRecv(conn, buf, 0) }); r != 5 || string(buf[:5]) != "12345" {
		t.Fatalf("PrepRecv: res %d %q", r, buf[:max(r, 0)])
	}
	runtime.KeepAlive(&sa)
	runtime.KeepAlive(&peer)
	runtime.KeepAlive(&peerLen)
}

// TestKernelPipe: the pipe opcode writes two working descriptors to fds.
func TestKernelPipe(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpPipe)
	fds := [2]int32{-1, -1}
	if res := k.one(func(s *uapi.SQE) { s.PrepPipe(&fds, unix.O_CLOEXEC) }); res != 0 || fds[0] < 0 || fds[1] < 0 {
		t.Fatalf("PrepPipe: res %d fds %v", res, fds)
	}
	defer unix.Close(int(fds[0]))
	defer unix.Close(int(fds[1]))
	if _, err := unix.Write(int(fds[1]), []byte("p")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if n, err := unix.Read(int(fds[0]), b); n != 1 || err != nil || b[0] != 'p' {
		t.Fatalf("through the pipe: %d %v %q", n, err, b)
	}
}

// TestKernelFutexAndNop: a futex wake with no waiters wakes 0; nop is 0.
func TestKernelFutexAndNop(t *testing.T) {
	k := newRing(t)
	k.need(t, uapi.OpNop)
	if res := k.one(func(s *uapi.SQE) { s.PrepNop() }); res != 0 {
		t.Fatalf("PrepNop: res %d", res)
	}
	t.Run("futex_wake", func(t *testing.T) {
		k := k.on(t)
		k.need(t, uapi.OpFutexWake)
		var word uint32
		// FUTEX2_SIZE_U32 = 2, FUTEX_BITSET_MATCH_ANY = 0xffffffff (linux/futex.h).
		if res := k.one(func(s *uapi.SQE) { s.PrepFutexWake(&word, 1, 0xffffffff, 2, 0) }); res != 0 {
			t.Fatalf("PrepFutexWake: res %d, want 0 woken", res)
		}
		runtime.KeepAlive(&word)
	})
}

// TestKernelSinceMatchesProbe checks the templates' release numbers against
// the running kernel: an opcode is supported exactly when its first release
// (the oldest Since among its builders) is not newer than the kernel's.
func TestKernelSinceMatchesProbe(t *testing.T) {
	k := newRing(t)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	first := map[uapi.Op][2]int{}
	for _, b := range uapitest.Builders {
		var v [2]int
		if _, err := fmt.Sscanf(b.Since, "%d.%d", &v[0], &v[1]); err != nil {
			t.Fatalf("%s: since %q: %v", b.Go, b.Since, err)
		}
		if f, ok := first[b.Op]; !ok || v[0] < f[0] || v[0] == f[0] && v[1] < f[1] {
			first[b.Op] = v
		}
	}
	for op, v := range first {
		older := v[0] < major || v[0] == major && v[1] <= minor
		if got := k.p.Supported(op); got != older {
			t.Errorf("%s: templates say Linux %d.%d, kernel %s's probe says supported=%v", op, v[0], v[1], release, got)
		}
	}
	t.Logf("kernel %s: %d opcodes' first releases agree with the probe", release, len(first))
}
