package ring

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

func tempFile(t *testing.T, content []byte) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

// ioWorkers binds the test to its thread and makes sure the thread's io-wq
// has a worker of each kind (bound, for files; unbound, for sockets and
// pipes) before the test's own requests need one. File writes to tmpfs
// (Linux 6.1), fsync, statx, the *at operations, splice and tee run on
// io-wq; io-wq creates a thread's first worker on demand and cancels the
// queued work (-ECANCELED) when creating it keeps being interrupted by
// signals (Go's preemption), which Linux 6.1 under TCG does now and then.
// The last worker of each kind then stays for the thread's lifetime. Only
// the warm-up requests (NOPs and reads forced to io-wq) are retried.
func ioWorkers(t *testing.T, r *Ring) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	const ud = 0xfeed
	p := socketpair(t)
	buf := make([]byte, 1)
	for _, kind := range []string{"bound", "unbound"} {
		for try := 1; ; try++ {
			s := sqe(t, r)
			if kind == "bound" {
				s.PrepNop()
			} else {
				if _, err := unix.Write(p[1], []byte{'w'}); err != nil {
					t.Fatal(err)
				}
				s.PrepRead(int32(p[0]), buf, 0)
			}
			s.Flags |= uapi.SQEAsync
			s.UserData = ud
			res := submitReap(t, r, 1)[ud].res
			if res >= 0 {
				break
			}
			if res != -int32(unix.ECANCELED) || try == 10 {
				t.Fatalf("io-wq warm-up (%s worker), try %d: res %d", kind, try, res)
			}
		}
	}
	runtime.KeepAlive(buf)
}

func TestReadWrite(t *testing.T) {
	r := newRing(t, 8)
	ioWorkers(t, r)
	f, path := tempFile(t, nil)
	data := []byte("hello, io_uring write then read")
	w := append([]byte(nil), data...)
	s := sqe(t, r)
	s.PrepWrite(int32(f.Fd()), w, 3)
	s.UserData = 1
	r.Keep(1, w)
	res := submitReap(t, r, 1)
	if res[1].res != int32(len(data)) {
		t.Fatalf("write res %d, want %d", res[1].res, len(data))
	}
	// Truth: the file as the kernel's read(2) sees it.
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0, 0, 0}, data...); !bytes.Equal(got, want) {
		t.Fatalf("file = %q, want %q", got, want)
	}
	buf := make([]byte, 64)
	s = sqe(t, r)
	s.PrepRead(int32(f.Fd()), buf, 3)
	s.UserData = 2
	r.Keep(2, buf)
	res = submitReap(t, r, 1)
	if n := res[2].res; n != int32(len(data)) || !bytes.Equal(buf[:n], data) {
		t.Fatalf("read res %d %q, want %q", n, buf[:max(n, 0)], data)
	}
	if r.Kept() != 0 {
		t.Fatalf("%d kept values after their completions", r.Kept())
	}
}

func TestReadvWritev(t *testing.T) {
	r := newRing(t, 8)
	ioWorkers(t, r)
	f, path := tempFile(t, nil)
	parts := [][]byte{[]byte("first "), []byte("second "), []byte("third")}
	iov := make([]unix.Iovec, len(parts))
	for i, p := range parts {
		iov[i].Base = &p[0]
		iov[i].SetLen(len(p))
	}
	s := sqe(t, r)
	s.PrepWritev(int32(f.Fd()), iov, 0)
	s.UserData = 1
	r.Keep(1, iov)
	r.Keep(1, parts)
	if res := submitReap(t, r, 1); res[1].res != 18 {
		t.Fatalf("writev res %d, want 18", res[1].res)
	}
	if got, _ := os.ReadFile(path); string(got) != "first second third" {
		t.Fatalf("file %q", got)
	}
	a, b := make([]byte, 7), make([]byte, 20)
	riov := []unix.Iovec{{Base: &a[0]}, {Base: &b[0]}}
	riov[0].SetLen(len(a))
	riov[1].SetLen(len(b))
	s = sqe(t, r)
	s.PrepReadv(int32(f.Fd()), riov, 0)
	s.UserData = 2
	r.Keep(2, riov)
	if res := submitReap(t, r, 1); res[2].res != 18 {
		t.Fatalf("readv res %d", res[2].res)
	}
	if string(a) != "first s" || string(b[:11]) != "econd third" {
		t.Fatalf("readv got %q %q", a, b[:11])
	}
}

func TestFixedBuffers(t *testing.T) {
	r := newRing(t, 8)
	ioWorkers(t, r)
	f, path := tempFile(t, bytes.Repeat([]byte("x"), 8192))
	bufs := [][]byte{make([]byte, 4096), make([]byte, 4096)}
	iov := make([]unix.Iovec, 2)
	for i := range bufs {
		iov[i].Base = &bufs[i][0]
		iov[i].SetLen(4096)
	}
	if _, err := r.Register(uapi.RegisterBuffers, ptr(&iov[0]), 2); err != nil {
		t.Fatal(err)
	}
	copy(bufs[1], "fixed buffer one")
	s := sqe(t, r)
	s.PrepWriteFixed(int32(f.Fd()), bufs[1][:16], 4096, 1)
	s.UserData = 1
	if res := submitReap(t, r, 1); res[1].res != 16 {
		t.Fatalf("write_fixed res %d", res[1].res)
	}
	got, _ := os.ReadFile(path)
	if string(got[4096:4112]) != "fixed buffer one" {
		t.Fatalf("file at 4096: %q", got[4096:4112])
	}
	s = sqe(t, r)
	s.PrepReadFixed(int32(f.Fd()), bufs[0][100:120], 4090, 0)
	s.UserData = 2
	if res := submitReap(t, r, 1); res[2].res != 20 {
		t.Fatalf("read_fixed res %d", res[2].res)
	}
	if string(bufs[0][100:120]) != "xxxxxxfixed buffer o" {
		t.Fatalf("read_fixed got %q", bufs[0][100:120])
	}
	// An address outside the registered buffer is refused.
	outside := make([]byte, 16)
	s = sqe(t, r)
	s.PrepReadFixed(int32(f.Fd()), outside, 0, 0)
	s.UserData = 3
	if res := submitReap(t, r, 1); res[3].res != -int32(unix.EFAULT) {
		t.Fatalf("read_fixed outside the buffer: res %d, want EFAULT", res[3].res)
	}
	if _, err := r.Register(uapi.UnregisterBuffers, nil, 0); err != nil {
		t.Fatal(err)
	}
	_ = bufs // registered memory stays referenced until unregistered
}

func TestFsync(t *testing.T) {
	r := newRing(t, 4)
	ioWorkers(t, r)
	f, _ := tempFile(t, []byte("sync me"))
	s := sqe(t, r)
	s.PrepFsync(int32(f.Fd()), 0)
	s.UserData = 1
	s = sqe(t, r)
	s.PrepFsync(int32(f.Fd()), uapi.FsyncDatasync)
	s.UserData = 2
	s = sqe(t, r)
	s.PrepFsync(1<<20, 0) // not an open fd
	s.UserData = 3
	res := submitReap(t, r, 3)
	if res[1].res != 0 || res[2].res != 0 || res[3].res != -int32(unix.EBADF) {
		t.Fatalf("fsync results %v", res)
	}
}

func TestOpenStatCloseUnlink(t *testing.T) {
	r := newRing(t, 8)
	ioWorkers(t, r)
	dir := t.TempDir()
	dfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)

	// openat creates "a".
	pa := cstr("a")
	s := sqe(t, r)
	s.PrepOpenat(int32(dfd), pa, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o640)
	s.UserData = 1
	r.Keep(1, pa)
	res := submitReap(t, r, 1)
	fd := int(res[1].res)
	if fd < 0 {
		t.Fatalf("openat: %v", unix.Errno(-fd))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Ino != fi.Sys().(*syscall.Stat_t).Ino || fi.Mode().Perm() != 0o640 {
		t.Fatalf("openat fd inode %d, file %d mode %v", st.Ino, fi.Sys().(*syscall.Stat_t).Ino, fi.Mode())
	}
	if _, err := unix.Write(fd, []byte("12345")); err != nil {
		t.Fatal(err)
	}

	// statx against the statx(2) system call.
	var sx unix.Statx_t
	s = sqe(t, r)
	s.PrepStatx(int32(dfd), pa, 0, unix.STATX_BASIC_STATS, &sx)
	s.UserData = 2
	r.Keep(2, pa)
	r.Keep(2, &sx)
	if res := submitReap(t, r, 1); res[2].res != 0 {
		t.Fatalf("statx: %v", unix.Errno(-res[2].res))
	}
	var want unix.Statx_t
	if err := unix.Statx(dfd, "a", 0, unix.STATX_BASIC_STATS, &want); err != nil {
		t.Fatal(err)
	}
	if sx.Ino != want.Ino || sx.Size != 5 || sx.Size != want.Size || sx.Mode != want.Mode || sx.Mtime != want.Mtime {
		t.Fatalf("statx %+v, want %+v", sx, want)
	}

	// close; afterwards the fd is gone.
	s = sqe(t, r)
	s.PrepClose(int32(fd))
	s.UserData = 3
	if res := submitReap(t, r, 1); res[3].res != 0 {
		t.Fatalf("close: %v", unix.Errno(-res[3].res))
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("fcntl on the closed fd: %v, want EBADF", err)
	}

	// openat2 with RESOLVE_BENEATH: "a" opens, "../x" is refused.
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH}
	up := cstr("../" + filepath.Base(dir))
	s = sqe(t, r)
	s.PrepOpenat2(int32(dfd), pa, how)
	s.UserData = 4
	s = sqe(t, r)
	s.PrepOpenat2(int32(dfd), up, how)
	s.UserData = 5
	r.Keep(4, how)
	r.Keep(5, up)
	res = submitReap(t, r, 2)
	if res[4].res < 0 || res[5].res != -int32(unix.EXDEV) {
		t.Fatalf("openat2 results %v (want fd, EXDEV)", res)
	}
	unix.Close(int(res[4].res))

	// mkdirat, renameat, unlinkat (file and directory).
	pd, pb := cstr("d"), cstr("d/b")
	s = sqe(t, r)
	s.PrepMkdirat(int32(dfd), pd, 0o750)
	s.UserData = 6
	s.Flags |= uapi.SQEIOLink
	s = sqe(t, r)
	s.PrepRenameat(int32(dfd), pa, int32(dfd), pb, 0)
	s.UserData = 7
	r.Keep(6, pd)
	r.Keep(7, pb)
	res = submitReap(t, r, 2)
	if res[6].res != 0 || res[7].res != 0 {
		t.Fatalf("mkdirat/renameat: %v", res)
	}
	if fi, err := os.Stat(filepath.Join(dir, "d")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Fatalf("mkdirat result: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatalf("a still exists after rename: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "d", "b")); err != nil || string(b) != "12345" {
		t.Fatalf("renamed file: %q %v", b, err)
	}
	s = sqe(t, r)
	s.PrepUnlinkat(int32(dfd), pb, 0)
	s.UserData = 8
	s.Flags |= uapi.SQEIOLink
	s = sqe(t, r)
	s.PrepUnlinkat(int32(dfd), pd, unix.AT_REMOVEDIR)
	s.UserData = 9
	res = submitReap(t, r, 2)
	if res[8].res != 0 || res[9].res != 0 {
		t.Fatalf("unlinkat: %v", res)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("dir not empty after unlinkat: %v", ents)
	}
}

func TestSpliceTee(t *testing.T) {
	r := newRing(t, 8)
	ioWorkers(t, r)
	f, _ := tempFile(t, []byte("0123456789abcdef"))
	var p1, p2 [2]int
	if err := unix.Pipe2(p1[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if err := unix.Pipe2(p2[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, fd := range append(p1[:], p2[:]...) {
			unix.Close(fd)
		}
	}()
	// splice 6 bytes from file offset 4 into pipe 1, linked to a tee of
	// pipe 1 into pipe 2.
	s := sqe(t, r)
	s.PrepSplice(int32(f.Fd()), 4, int32(p1[1]), -1, 6, 0)
	s.UserData = 1
	s.Flags |= uapi.SQEIOLink
	s = sqe(t, r)
	s.PrepTee(int32(p1[0]), int32(p2[1]), 6, 0)
	s.UserData = 2
	res := submitReap(t, r, 2)
	if res[1].res != 6 || res[2].res != 6 {
		t.Fatalf("splice/tee: %v", res)
	}
	for i, fd := range []int{p1[0], p2[0]} {
		b := make([]byte, 16)
		n, err := unix.Read(fd, b)
		if err != nil || string(b[:n]) != "456789" {
			t.Fatalf("pipe %d holds %q (%v), want 456789", i+1, b[:n], err)
		}
	}
}
