// Command netecho is the baseline for the echo benchmark: an echo server on
// Go's net package, one goroutine per connection, as Go programs usually
// write it.
//
// It prints "listening on <addr>" once ready and runs until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/urgen/urgen/bench/echo/echoserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	bufSize := flag.Int("bufsize", 16384, "read buffer per connection")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: the default, one per CPU)")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netecho:", err)
		os.Exit(1)
	}
	echoserver.Serve("netecho", l, *bufSize)
}
