// Command httpserver is the server of the HTTP benchmark: net/http's
// Server with two handlers, /hello ("hello") and /16k (16 KiB), on a
// listener from package net (-listener net) or from runtime/uring
// (-listener urgen); nothing else differs.
//
// It prints "listening on <addr>" once ready and runs until interrupted.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/urgen/urgen/runtime/uring"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	listener := flag.String("listener", "net", "net or urgen")
	multishot := flag.Bool("multishot", false, "urgen: receive through multishot receives into provided buffers")
	ringRecv := flag.Bool("ringrecv", false, "urgen: receive through one ring receive per Read instead of recv(2) on readiness")
	flag.Parse()
	var ln net.Listener
	var err error
	switch *listener {
	case "net":
		ln, err = net.Listen("tcp", *addr)
	case "urgen":
		if err = uring.SetNetOptions(uring.NetOptions{Multishot: *multishot, RingRecv: *ringRecv}); err == nil {
			ln, err = uring.Listen("tcp", *addr)
		}
	default:
		err = fmt.Errorf("unknown listener %q", *listener)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
	hello := []byte("hello")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { w.Write(hello) })
	mux.HandleFunc("/16k", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	srv := &http.Server{Handler: mux}
	fmt.Println("listening on", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
}
