// Command gnetecho is the event-loop peer of examples/echo in the echo
// benchmark: an echo server on github.com/panjf2000/gnet/v2, the epoll
// event-loop library Go users pick for raw network speed, written the way
// its own echo example is (multicore, one event loop per CPU, data echoed
// from the inbound buffer).
//
// It prints "listening on <addr>" once ready and runs until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

type echo struct {
	gnet.BuiltinEventEngine
	eng   gnet.Engine
	ready chan struct{}
}

func (e *echo) OnBoot(eng gnet.Engine) gnet.Action {
	e.eng = eng
	close(e.ready)
	return gnet.None
}

func (e *echo) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}

// quiet is gnet's logger: warnings and errors to stderr, nothing on stdout
// (which carries the "listening on" line the benchmark waits for).
type quiet struct{}

func (quiet) Debugf(string, ...any)     {}
func (quiet) Infof(string, ...any)      {}
func (quiet) Warnf(f string, a ...any)  { fmt.Fprintf(os.Stderr, "gnetecho: "+f+"\n", a...) }
func (quiet) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, "gnetecho: "+f+"\n", a...) }
func (quiet) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnetecho: "+f+"\n", a...)
	os.Exit(1)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "event loops")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: the default, one per CPU)")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	e := &echo{ready: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		errc <- gnet.Run(e, "tcp://"+*addr,
			gnet.WithMulticore(true), gnet.WithNumEventLoop(*loops),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithReusePort(false),
			gnet.WithLogger(quiet{}))
	}()
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "gnetecho:", err)
		os.Exit(1)
	case <-e.ready:
	}
	// Port 0 picks a port: read it from a duplicate of the listener.
	fd, err := e.eng.Dup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnetecho:", err)
		os.Exit(1)
	}
	sa, err := unix.Getsockname(fd)
	unix.Close(fd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnetecho: getsockname:", err)
		os.Exit(1)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		fmt.Fprintf(os.Stderr, "gnetecho: listener address %T\n", sa)
		os.Exit(1)
	}
	fmt.Printf("listening on %d.%d.%d.%d:%d\n", in4.Addr[0], in4.Addr[1], in4.Addr[2], in4.Addr[3], in4.Port)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "gnetecho:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.eng.Stop(ctx)
}
