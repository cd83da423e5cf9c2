// Package fault produces, for tests, the faults a machine inflicts on a
// program that runs out of something: a descriptor table with no free
// slot (RLIMIT_NOFILE), a locked-memory limit the kernel charges io_uring
// memory to (RLIMIT_MEMLOCK), a storm of signals that interrupts every
// sleeping system call, and the counters (descriptors, mappings) that
// prove a failed call leaked nothing.
//
// Every fault is undone when the test ends (t.Cleanup), and earlier if the
// test calls the function it returns. RLIMIT_NOFILE and RLIMIT_MEMLOCK are
// process-wide: tests that use them must not run in parallel with tests
// that open descriptors or register memory.
package fault

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// InVM reports whether the test runs in a matrix VM (as root, on a
// throw-away kernel), where faults that change the whole machine (memory
// cgroups, global limits) may be produced.
func InVM() bool { return os.Getenv("URGEN_VM") == "1" }

// OpenFDs returns the number of this process's open descriptors.
func OpenFDs(t testing.TB) int {
	t.Helper()
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// Mappings returns the number of this process's memory mappings and how
// many of them map io_uring objects (rings, SQE arrays, buffer rings).
func Mappings(t testing.TB) (all, uring int) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		all++
		if strings.Contains(sc.Text(), "io_uring") {
			uring++
		}
	}
	return all, uring
}

// ExhaustFDs lowers RLIMIT_NOFILE's soft limit to just above the highest
// descriptor in use and fills every free descriptor below it with
// /dev/null but spare, so that once the spare ones are taken the next call
// that needs a descriptor fails with EMFILE. It returns the undo: close
// the fillers and restore the limit.
//
// The kernel reads the limit when a request is prepared: an io_uring
// accept or open submitted before the limit dropped still allocates under
// the old one. For those, lower the limit first (LowerFDLimit), arm them,
// then fill the table (FDLimit.Fill).
func ExhaustFDs(t testing.TB, spare int) (restore func()) {
	t.Helper()
	l := LowerFDLimit(t, 4)
	l.Fill(spare)
	return l.Restore
}

// FDLimit is a lowered RLIMIT_NOFILE and the descriptors filling the
// table below it.
type FDLimit struct {
	t       testing.TB
	old     unix.Rlimit
	fillers []int
	once    sync.Once
}

// LowerFDLimit lowers RLIMIT_NOFILE's soft limit to the highest
// descriptor in use plus room, restored when the test ends (or by
// Restore).
func LowerFDLimit(t testing.TB, room int) *FDLimit {
	t.Helper()
	l := &FDLimit{t: t}
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l.old); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, n)
		}
	}
	lim := unix.Rlimit{Cur: uint64(highest + 1 + room), Max: l.old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit RLIMIT_NOFILE %d: %v", lim.Cur, err)
	}
	t.Cleanup(l.Restore)
	return l
}

// Fill takes every free descriptor below the limit but spare, with
// /dev/null.
func (l *FDLimit) Fill(spare int) {
	l.t.Helper()
	var got []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			l.Restore()
			l.t.Fatalf("filling the descriptor table: %v", err)
		}
		got = append(got, fd)
	}
	if spare > len(got) {
		l.Restore()
		l.t.Fatalf("%d spare descriptors asked, the limit leaves %d", spare, len(got))
	}
	for _, fd := range got[len(got)-spare:] {
		unix.Close(fd)
	}
	l.fillers = append(l.fillers, got[:len(got)-spare]...)
}

// Restore closes the fillers and puts the old limit back.
func (l *FDLimit) Restore() {
	l.once.Do(func() {
		for _, fd := range l.fillers {
			unix.Close(fd)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &l.old); err != nil {
			l.t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
	})
}

// OnThreadWithoutIPCLock runs f on a fresh OS thread whose effective
// capabilities lack CAP_IPC_LOCK, with RLIMIT_MEMLOCK lowered to limit
// bytes, and returns when f has. Without CAP_IPC_LOCK (a capability of
// each thread, which root has) the kernel charges a ring's registered
// buffers, and on newer kernels its rings, to RLIMIT_MEMLOCK: rings set
// up on that thread are refused memory beyond the limit (ENOMEM). f runs
// locked to the thread, which exits afterwards, so no thread of the
// process keeps the lowered capability; the limit (process-wide) is
// restored when f returns. f reports with t.Error (t.Fatal, on that
// goroutine, ends only f).
func OnThreadWithoutIPCLock(t testing.TB, limit uint64, f func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		// Never unlocked: the thread exits with this goroutine. Threads
		// the runtime starts meanwhile come from its template thread, so
		// none inherits the dropped capability.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var caps [2]unix.CapUserData
		if err := unix.Capget(&hdr, &caps[0]); err != nil {
			done <- "capget: " + err.Error()
			return
		}
		caps[0].Effective &^= 1 << unix.CAP_IPC_LOCK
		if err := unix.Capset(&hdr, &caps[0]); err != nil {
			done <- "capset: " + err.Error()
			return
		}
		if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: limit, Max: old.Max}); err != nil {
			done <- "setrlimit RLIMIT_MEMLOCK: " + err.Error()
			return
		}
		defer func() {
			unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old)
			if p := recover(); p != nil {
				done <- fmt.Sprint("panic: ", p)
				return
			}
			done <- ""
		}()
		f()
	}()
	if msg := <-done; msg != "" {
		t.Fatal(msg)
	}
}

// Pages returns n bytes of anonymous memory in small pages
// (MADV_NOHUGEPAGE), unmapped when the test ends. The kernel charges
// pinned memory by the page or folio that holds it, so a buffer in the
// Go heap, which may sit in a transparent huge page, can cost 2 MiB of
// RLIMIT_MEMLOCK; these cost exactly their pages.
func Pages(t testing.TB, n int) []byte {
	t.Helper()
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap %d bytes: %v", n, err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	if err := unix.Madvise(m, unix.MADV_NOHUGEPAGE); err != nil {
		t.Fatalf("madvise MADV_NOHUGEPAGE: %v", err)
	}
	return m
}

// SignalStorm sends SIGURG (Go's own preemption signal, which the runtime
// handles and ignores) to thread tid of this process, or with tid 0 to
// the process (the kernel picks a thread each time), every interval until
// the returned stop is called; stop returns how many signals were sent.
// Each one interrupts a system call sleeping on the thread it hits with
// EINTR.
func SignalStorm(tid int, interval time.Duration) (stop func() int) {
	var quit atomic.Bool
	sent := make(chan int)
	send := func() error { return unix.Tgkill(unix.Getpid(), tid, unix.SIGURG) }
	if tid == 0 {
		send = func() error { return unix.Kill(unix.Getpid(), unix.SIGURG) }
	}
	go func() {
		n := 0
		for !quit.Load() {
			if send() == nil {
				n++
			}
			time.Sleep(interval)
		}
		sent <- n
	}()
	var once sync.Once
	var n int
	return func() int {
		once.Do(func() { quit.Store(true); n = <-sent })
		return n
	}
}
