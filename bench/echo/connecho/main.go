// Command connecho is netecho on urgen's goroutine layer: the same
// goroutine-per-connection echo server, with the listener from
// runtime/uring instead of package net (the one line that differs).
//
// It prints "listening on <addr>" once ready and runs until killed.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/urgen/urgen/runtime/uring"

	"github.com/urgen/urgen/bench/echo/echoserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	bufSize := flag.Int("bufsize", 16384, "read buffer per connection")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: the default, one per CPU)")
	rings := flag.Int("rings", 0, "rings (0: GOMAXPROCS)")
	multishot := flag.Bool("multishot", false, "receive through multishot receives into provided buffers")
	ringRecv := flag.Bool("ringrecv", false, "receive through one ring receive per Read instead of recv(2) on readiness")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file (until interrupted)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "connecho:", err)
			os.Exit(1)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-sig
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if err := uring.SetNetOptions(uring.NetOptions{Rings: *rings, Multishot: *multishot, RingRecv: *ringRecv}); err != nil {
		fmt.Fprintln(os.Stderr, "connecho:", err)
		os.Exit(1)
	}
	l, err := uring.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connecho:", err)
		os.Exit(1)
	}
	echoserver.Serve("connecho", l, *bufSize)
}
