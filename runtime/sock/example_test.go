package sock_test

import (
	"fmt"
	"log"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
	"github.com/urgen/urgen/runtime/sock"
)

// A TCP connection over loopback made through the ring: socket, bind,
// listen (on kernels that have them as opcodes), connect, accept, send and
// recv.
func Example() {
	r, err := ring.New(8)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	// run submits the request just queued and waits for its result.
	run := func(_ *uapi.SQE, err error) int {
		if err != nil {
			log.Fatal(err)
		}
		if _, err := r.Submit(); err != nil {
			log.Fatal(err)
		}
		c, err := r.WaitCQE()
		if err != nil {
			log.Fatal(err)
		}
		n, err := ring.Result("request", c)
		r.CQESeen(c)
		if err != nil {
			log.Fatal(err)
		}
		return n
	}

	lfd := run(sock.Socket(r, 1, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
	defer unix.Close(lfd)
	probe, err := r.Probe()
	if err != nil {
		log.Fatal(err)
	}
	if probe.Supported(uapi.OpBind) && probe.Supported(uapi.OpListen) {
		run(sock.Bind(r, 2, lfd, sock.AddrFrom(netip.MustParseAddrPort("127.0.0.1:0"))))
		run(sock.Listen(r, 3, lfd, 16))
	} else {
		// Kernels before 6.11 have no IORING_OP_BIND and LISTEN: the
		// system calls do the same.
		if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			log.Fatal(err)
		}
		if err := unix.Listen(lfd, 16); err != nil {
			log.Fatal(err)
		}
	}
	sa, _ := unix.Getsockname(lfd)
	port := sa.(*unix.SockaddrInet4).Port

	cfd := run(sock.Socket(r, 4, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
	defer unix.Close(cfd)
	run(sock.Connect(r, 5, cfd, sock.AddrFrom(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))))
	peer := sock.NewAddr()
	afd := run(sock.Accept(r, 6, lfd, peer, unix.SOCK_CLOEXEC))
	defer unix.Close(afd)
	from, _ := peer.AddrPort()
	fmt.Println("accepted a connection from", from.Addr())

	run(sock.Send(r, 7, cfd, []byte("hello"), 0))
	buf := make([]byte, 16)
	n := run(sock.Recv(r, 8, afd, buf, 0))
	fmt.Printf("received %q\n", buf[:n])
	// Output:
	// accepted a connection from 127.0.0.1
	// received "hello"
}
