// Command zcrx receives a TCP stream with io_uring zero-copy receive.
//
// Without flags it is self-contained and needs no NIC: it registers a
// ZCRX_REG_NODEV queue (Linux 7.x, CAP_NET_ADMIN), sends a known stream to
// itself over loopback, receives it through the queue and checks every byte:
//
//	zcrx -mib 64
//
// Given an interface and a hardware receive queue it receives for real:
// it listens on -listen, accepts one connection and receives until the peer
// closes, printing the throughput and how much the kernel had to copy:
//
//	zcrx -if eth0 -queue 1 -listen '[::]:9999'
//
// The NIC must be prepared out of band (see package runtime/zcrx): header
// split on ("ethtool -G eth0 tcp-data-split on"), RSS kept off the queue
// ("ethtool -X eth0 equal 1") and the flow steered to it ("ethtool -N eth0
// flow-type tcp6 dst-port 9999 action 1"); the program needs CAP_NET_ADMIN.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/query"
	"github.com/urgen/urgen/runtime/ring"
	"github.com/urgen/urgen/runtime/zcrx"
)

// options are the command's flags.
type options struct {
	ifName  string // NIC mode: interface name
	queue   uint   // NIC mode: hardware receive queue
	listen  string // NIC mode: address to accept one connection on
	mib     int    // NODEV demo: stream size in MiB
	areaMiB int
	entries uint
	huge    bool
}

func main() {
	var o options
	flag.StringVar(&o.ifName, "if", "", "network interface for zero copy (default: NODEV copy mode over loopback)")
	flag.UintVar(&o.queue, "queue", 1, "hardware receive queue of -if that the flow is steered to")
	flag.StringVar(&o.listen, "listen", "[::]:9999", "with -if: address to accept one TCP connection on")
	flag.IntVar(&o.mib, "mib", 64, "without -if: MiB to send to ourselves and verify")
	flag.IntVar(&o.areaMiB, "area", 16, "receive area in MiB")
	flag.UintVar(&o.entries, "entries", 4096, "refill ring entries")
	flag.BoolVar(&o.huge, "huge", true, "put the area on 2 MiB huge pages when some are reserved")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "zcrx:", err)
		os.Exit(1)
	}
}

// run registers the queue and receives, in NIC mode when o.ifName is set
// and in NODEV mode otherwise.
func run(o options, out io.Writer) error {
	// Kernels 6.15 to 6.17 have zcrx with a NIC but no query; Register
	// then assumes their refill layout.
	caps, qerr := zcrx.QueryCaps(query.NoRing)
	cfg := zcrx.Config{Entries: uint32(o.entries), AreaSize: o.areaMiB << 20, HugePages: o.huge, Caps: caps}
	if o.ifName == "" {
		if qerr != nil {
			return fmt.Errorf("NODEV mode needs Linux 7.x (give -if and -queue to use a NIC): %w", qerr)
		}
		if !caps.NoDev() {
			return errors.New("kernel lacks ZCRX_REG_NODEV (needs Linux 7.x); give -if and -queue to use a NIC")
		}
		cfg.NoDev = true
	} else {
		ifc, err := net.InterfaceByName(o.ifName)
		if err != nil {
			return err
		}
		cfg.Interface, cfg.Queue = uint32(ifc.Index), uint32(o.queue)
	}
	if caps != nil && caps.Stats() {
		cfg.Events = &zcrx.EventConfig{UserData: eventUserData, Stats: true}
	}

	// The ring and the queue belong to this thread (SINGLE_ISSUER).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := ring.New(256, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer|uapi.SetupSubmitAll|uapi.SetupCqe32),
		ring.WithCQSize(8192))
	if err != nil {
		return err
	}
	q, err := zcrx.Register(r, cfg)
	if err != nil {
		r.Close()
		return err
	}
	defer func() {
		r.Close()
		q.Close()
	}()
	mode := "NODEV (copy mode, loopback)"
	if !cfg.NoDev {
		mode = fmt.Sprintf("%s queue %d", o.ifName, o.queue)
	}
	fmt.Fprintf(out, "zcrx %d registered: %s, area %d MiB (huge pages: %v), %d refill entries\n",
		q.ID(), mode, o.areaMiB, q.HugePages(), q.Entries())

	conn, sent, err := connect(o, cfg.NoDev)
	if err != nil {
		return err
	}
	defer conn.Close()
	fd, err := socketFD(conn)
	if err != nil {
		return err
	}

	var pos uint64
	var mismatch error
	start := time.Now()
	loop := zcrx.Loop{FD: fd, UserData: 1, Data: func(b zcrx.Buf) error {
		if cfg.NoDev && mismatch == nil {
			for i, got := range b.Data {
				if want := streamByte(pos + uint64(i)); got != want {
					mismatch = fmt.Errorf("stream byte %d: got %#x, want %#x", pos+uint64(i), got, want)
					return mismatch
				}
			}
		}
		pos += uint64(b.Len())
		return nil
	}, Other: func(c *uapi.CQE) error { return nil }}
	if cfg.NoDev {
		loop.Limit = uint64(o.mib) << 20
	}
	n, reqs, err := q.Receive(loop)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	if sent != nil {
		if err := <-sent; err != nil {
			return err
		}
	}
	a := q.Accounting()
	fmt.Fprintf(out, "received %d bytes in %v (%.1f MB/s), %d buffers, %d requests, %d flushes\n",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds()/1e6, a.Buffers, reqs, a.Flushes)
	if cfg.NoDev {
		fmt.Fprintf(out, "verified all %d bytes; %d buffers outstanding\n", pos, a.Outstanding())
	}
	if s, ok := q.Stats(); ok {
		// The kernel leaves out what it copies from packets' linear
		// areas (see zcrx.IFQ.Stats).
		fmt.Fprintf(out, "kernel copy fallback: %d bytes in %d copies (%.1f%% of the data)\n",
			s.CopyBytes, s.CopyCount, 100*float64(s.CopyBytes)/float64(max(n, 1)))
	}
	return nil
}

const eventUserData = 0xe7e7

// connect returns the receiving connection: in NODEV mode a loopback pair
// whose other end a goroutine fills with the known stream, in NIC mode the
// first connection accepted on o.listen.
func connect(o options, nodev bool) (net.Conn, <-chan error, error) {
	addr := o.listen
	if nodev {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	var sent chan error
	if nodev {
		sent = make(chan error, 1)
		go func() { sent <- sendStream(ln.Addr().String(), uint64(o.mib)<<20) }()
	} else {
		fmt.Printf("waiting for a connection on %s\n", ln.Addr())
	}
	c, err := ln.Accept()
	return c, sent, err
}

// socketFD returns the connection's file descriptor for RECV_ZC.
func socketFD(c net.Conn) (int, error) {
	sc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := sc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// streamByte is byte i of the self-test stream.
func streamByte(i uint64) byte { return byte(i*2654435761>>24) ^ byte(i) }

// sendStream connects to addr and writes n bytes of the stream in chunks
// of varying size.
func sendStream(addr string, n uint64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	size := 1
	for pos := uint64(0); pos < n; {
		size = size*7%len(buf) + 1
		k := min(uint64(size), n-pos)
		for i := range k {
			buf[i] = streamByte(pos + i)
		}
		if _, err := c.Write(buf[:k]); err != nil {
			return err
		}
		pos += k
	}
	return nil
}
