// Command echo is an echo server on io_uring: one ring per CPU, each driven
// by its own goroutine, with a multishot accept, a multishot recv per
// connection into a provided buffer ring, and sends straight from the
// received buffers.
//
//	go run ./examples/echo -addr 127.0.0.1:9000
//
// It prints "listening on <addr>" once ready and runs until interrupted.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	workers := flag.Int("workers", runtime.NumCPU(), "rings (one per CPU)")
	entries := flag.Uint("entries", 512, "SQ entries per ring")
	buffers := flag.Int("buffers", 1024, "provided buffers per ring (a power of two)")
	bufSize := flag.Int("bufsize", 16384, "bytes per provided buffer")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(2)
	}
	s, err := Listen(Config{Addr: ap, Workers: *workers, Entries: uint32(*entries), Buffers: *buffers, BufSize: *bufSize})
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", s.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	st := s.Stats()
	fmt.Printf("accepted %d, open %d, in flight %d, buffers held %d\n", st.Accepted, st.Open, st.Inflight, st.HeldBufs)
}
