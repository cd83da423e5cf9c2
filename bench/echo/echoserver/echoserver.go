// Package echoserver is the goroutine-per-connection echo server that
// netecho (on package net) and connecho (on runtime/uring) both run, so
// the two differ only in their listener.
package echoserver

import (
	"fmt"
	"net"
	"os"
)

// Serve accepts connections from l and echoes each in its own goroutine
// through a bufSize read buffer; it prints "listening on <addr>" first
// and exits the process when Accept fails.
func Serve(name string, l net.Listener, bufSize int) {
	fmt.Println("listening on", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			buf := make([]byte, bufSize)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
