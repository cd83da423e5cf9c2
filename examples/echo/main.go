// Command echo is an echo server on io_uring: one ring per CPU, each driven
// by its own goroutine, with a multishot accept, a multishot recv per
// connection into a provided buffer ring, and sends straight from the
// received buffers. Connections are direct descriptors (-direct=false:
// ordinary ones), passed from the accepting ring to the others with
// IORING_MSG_SEND_FD.
//
//	go run ./examples/echo -addr 127.0.0.1:9000
//
// It prints "listening on <addr>" once ready and runs until interrupted.
//
// At one connection what decides the speed is where the scheduler runs the
// threads, not the loop's own work (bench/echo, 1 December 2026, 2 CPUs
// shared with the client). With the servers and the client held to one CPU
// the loop made 54 k round trips/s at 64 B and 53 k at 16 KiB, at 6 to 7
// us of server CPU each (net 49 k and 45 k, gnet 57 k and 56 k); with the
// servers on one CPU and the client on the other, 49 k and 35 k (net 33 k
// and 28 k, gnet 28 k and 29 k). Left to the scheduler, net and gnet come
// out near their one-CPU figures and the loop nearer its two-CPU ones: a
// socket's wake-up tells epoll that the waker is about to sleep (WF_SYNC),
// which lets the scheduler run the woken thread on the waker's CPU, while
// io_uring wakes a sleeping worker with no such hint (wake_up_state), on
// its own CPU. Tried against the defaults in the same runs and not kept:
// polling without yielding for the first 5, 20 or 100 us of the spin
// (0.89x to 0.99x the default at 1x64 and 1x16384), a shorter spin (0, 5
// or 20 us: 0.78x to 0.93x), sleeping in epoll_wait on the connections'
// sockets to get their wake-ups (0.91x and 0.92x without a spin, 0.87x to
// 1.08x with one), waiting in Go's netpoller on an eventfd registered with
// the ring (0.54x and 0.70x without a spin, 0.83x and 0.86x with one: the
// worker's goroutine is locked to its thread, so every wake-up is handed
// from the netpoller's thread to it), and, over all cells, worker i
// pinned to CPU i, 8 or 32 buffers, and ordinary descriptors (each between
// 0.83x and 1.26x, the sign changing from run to run).
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	workers := flag.Int("workers", runtime.NumCPU(), "rings (one per CPU)")
	entries := flag.Uint("entries", 512, "SQ entries per ring")
	// Few buffers keep the ring's working set in cache: 16 KiB echoes ran
	// faster with 64 or 128 buffers than with 1024 (16 MiB cycled through),
	// even at 256 connections, where receives then wait for buffers now
	// and then (ENOBUFS, re-armed as buffers return).
	buffers := flag.Int("buffers", 128, "provided buffers per ring (a power of two)")
	bufSize := flag.Int("bufsize", 16384, "bytes per provided buffer")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: workers+1)")
	spin := flag.Duration("spin", 100*time.Microsecond, "how long a worker polls for more work before it sleeps (0: never)")
	pack := flag.Int("pack", 32, "connections the first ring serves alone before it deals new ones to the least loaded ring (0: spread from the first)")
	direct := flag.Bool("direct", true, "connections as direct descriptors (in the rings' file tables)")
	slots := flag.Uint("slots", 8192, "file table slots per ring (with -direct)")
	slice := flag.Duration("slice", 100*time.Microsecond, "scheduler time slice the worker threads ask for (Linux 6.12+; 0: the default)")
	flag.Parse()
	// The kernel refuses a file table larger than RLIMIT_NOFILE.
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && uint64(*slots) > rl.Cur {
		*slots = uint(rl.Cur)
	}
	// Every worker spends its idle time blocked in io_uring_enter, holding
	// its P in a system call. With a P to spare the scheduler leaves those
	// Ps alone instead of handing each one off (waking another thread)
	// whenever a wait lasts longer than 20 us.
	if *procs == 0 {
		*procs = *workers + 1
	}
	runtime.GOMAXPROCS(*procs)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(2)
	}
	s, err := Listen(Config{Addr: ap, Workers: *workers, Entries: uint32(*entries), Buffers: *buffers, BufSize: *bufSize, Spin: *spin, Pack: *pack, Direct: *direct, Slots: uint32(*slots), Slice: *slice})
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", s.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	err = s.Close()
	st := s.Stats()
	fmt.Fprintf(os.Stderr, "echo: accepted %d, open %d, in flight %d, buffers held %d\n", st.Accepted, st.Open, st.Inflight, st.HeldBufs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
