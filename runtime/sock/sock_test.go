package sock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/fault"
	"github.com/urgen/urgen/runtime/bufring"
	"github.com/urgen/urgen/runtime/ring"
)

// TestTCP runs a whole TCP exchange through the ring (socket, bind, listen,
// connect, accept, send, recv, shutdown, close) and checks every step
// against plain system calls on the same sockets.
func TestTCP(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			needFamily(t, f)
			r := newRing(t, 16)
			h := tr{t, r}
			lfd := h.do(Socket(r, 1, f.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
			defer unix.Close(lfd)
			if typ, err := unix.GetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
				t.Fatalf("ring socket: SO_TYPE %d, %v", typ, err)
			}
			h.bind(2, lfd, netip.AddrPortFrom(f.lo, 0))
			if ringHas(t, r, uapi.OpListen) {
				h.do(Listen(r, 3, lfd, 16))
			} else if err := unix.Listen(lfd, 16); err != nil {
				t.Fatal(err)
			}
			if acc, _ := unix.GetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); acc != 1 {
				t.Fatal("listen through the ring left the socket not listening")
			}
			laddr := sockname(t, lfd)
			if laddr.Addr() != f.lo || laddr.Port() == 0 {
				t.Fatalf("bound to %v", laddr)
			}

			cfd := h.do(Socket(r, 4, f.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
			defer unix.Close(cfd)
			h.do(Connect(r, 5, cfd, AddrFrom(laddr)))
			peer := NewAddr()
			afd := h.do(Accept(r, 6, lfd, peer, unix.SOCK_CLOEXEC))
			defer unix.Close(afd)
			got, err := peer.AddrPort()
			if err != nil {
				t.Fatal(err)
			}
			if want := sockname(t, cfd); got != want {
				t.Fatalf("accept reported peer %v, the client is %v", got, want)
			}

			msg := []byte("hello through io_uring")
			if n := h.do(Send(r, 7, cfd, msg, 0)); n != len(msg) {
				t.Fatalf("send: %d", n)
			}
			buf := make([]byte, 64)
			n, err := unix.Read(afd, buf)
			if err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("peer read %q, %v", buf[:n], err)
			}
			if _, err := unix.Write(afd, []byte("reply")); err != nil {
				t.Fatal(err)
			}
			rbuf := make([]byte, 64)
			n = h.do(Recv(r, 8, cfd, rbuf, 0))
			if string(rbuf[:n]) != "reply" {
				t.Fatalf("recv %q", rbuf[:n])
			}
			h.do(Shutdown(r, 9, cfd, unix.SHUT_WR))
			if n, err := unix.Read(afd, buf); n != 0 || err != nil {
				t.Fatalf("after SHUT_WR the peer reads %d, %v; want EOF", n, err)
			}
			if r.Kept() != 0 {
				t.Errorf("%d requests still keep memory", r.Kept())
			}
		})
	}
}

// TestMultishotAccept accepts several connections with one request, then
// cancels it.
func TestMultishotAccept(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			needFamily(t, f)
			r := newRing(t, 16)
			lfd, laddr := tcpListener(t, f)
			if _, err := AcceptMultishot(r, 1, lfd, unix.SOCK_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			want := map[netip.AddrPort]bool{}
			for range 5 {
				c := dial(t, laddr)
				want[c.LocalAddr().(*net.TCPAddr).AddrPort()] = true
			}
			for range 5 {
				c := next(t, r)
				if c.ud != 1 || c.res < 0 || !c.more() {
					t.Fatalf("accept completion %+v", c)
				}
				p := peername(t, int(c.res))
				if !want[netip.AddrPortFrom(p.Addr().Unmap(), p.Port())] && !want[p] {
					t.Errorf("accepted %v, not one of the dialled %v", p, want)
				}
				unix.Close(int(c.res))
			}
			if _, err := Cancel(r, 2, 1); err != nil {
				t.Fatal(err)
			}
			got := map[uint64]cqe{}
			for range 2 {
				c := next(t, r)
				got[c.ud] = c
			}
			if got[2].res != 0 {
				t.Errorf("cancel: %v", unix.Errno(-got[2].res))
			}
			if got[1].res != -int32(unix.ECANCELED) || got[1].more() {
				t.Errorf("cancelled accept ended with %+v, want -ECANCELED without F_MORE", got[1])
			}
		})
	}
}

// TestDirect creates and accepts direct descriptors (registered file table)
// and moves data over them.
func TestDirect(t *testing.T) {
	r := newRing(t, 16)
	h := tr{t, r}
	reg := uapi.RsrcRegister{Nr: 8, Flags: uapi.RsrcRegisterSparse}
	if _, err := r.Register(uapi.RegisterFiles2, unsafe.Pointer(&reg), uint32(unsafe.Sizeof(reg))); err != nil {
		t.Fatal(err)
	}
	f := families[0]
	lfd, laddr := tcpListener(t, f)
	// socket straight into slot 3.
	slot := h.do(SocketDirect(r, 1, f.domain, unix.SOCK_STREAM, 0, 3))
	if slot != 0 {
		t.Fatalf("socket into slot 3 returned %d, want 0", slot)
	}
	s, err := Connect(r, 2, 3, AddrFrom(laddr))
	if err == nil {
		s.Flags |= uapi.SQEFixedFile
	}
	h.do(s, err)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)
	// The kernel picks a slot for a direct accept: a second client.
	c := dial(t, laddr)
	aslot := h.do(AcceptDirect(r, 3, lfd, nil, 0, uapi.FileIndexAlloc))
	if aslot < 0 || aslot >= 8 || aslot == 3 {
		t.Fatalf("direct accept slot %d", aslot)
	}
	s, err = Send(r, 4, aslot, []byte("via slot"), 0)
	if err == nil {
		s.Flags |= uapi.SQEFixedFile
	}
	h.do(s, err)
	buf := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "via slot" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}
	s, err = Send(r, 5, 3, []byte("from 3"), 0)
	if err == nil {
		s.Flags |= uapi.SQEFixedFile
	}
	h.do(s, err)
	n, err = unix.Read(afd, buf)
	if err != nil || string(buf[:n]) != "from 3" {
		t.Fatalf("peer of slot 3 read %q, %v", buf[:n], err)
	}
	h.do(CloseDirect(r, 6, 3))
	// The slot is free again: a send on it fails with EBADF.
	s, err = Send(r, 7, 3, []byte("x"), 0)
	if err == nil {
		s.Flags |= uapi.SQEFixedFile
	}
	if _, err := h.try(s, err); !errors.Is(err, unix.EBADF) {
		t.Fatalf("send on a closed slot: %v, want EBADF", err)
	}
	if n, _ := unix.Read(afd, buf); n != 0 {
		t.Fatalf("closing slot 3 did not close the connection (read %d)", n)
	}
}

// TestMultishotRecv receives a stream with one multishot request and a
// buffer ring, and checks the bytes against what Go's net sent.
func TestMultishotRecv(t *testing.T) {
	for _, bundle := range []bool{false, true} {
		name := "single"
		if bundle {
			name = "bundle"
		}
		t.Run(name, func(t *testing.T) {
			r := newRing(t, 64)
			if bundle && r.Features()&uapi.FeatRecvsendBundle == 0 {
				t.Skipf("needs recvsend_bundle: IORING_FEAT_RECVSEND_BUNDLE not in %v", r.Features())
			}
			br, err := bufring.New(r, 5, 64, 256)
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			lfd, laddr := tcpListener(t, families[0])
			c := dial(t, laddr)
			afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(afd)
			how := uapi.RecvMultishot
			if bundle {
				how |= uapi.RecvsendBundle
			}
			arm := func() {
				if _, err := RecvSelect(r, 9, afd, br.Group(), 0, how); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Submit(); err != nil {
					t.Fatal(err)
				}
			}
			arm()
			want := make([]byte, 100_000)
			for i := range want {
				want[i] = byte(i * 7)
			}
			go func() {
				for p := want; len(p) > 0; {
					n := min(len(p), 3000)
					c.Write(p[:n])
					p = p[n:]
				}
				c.CloseWrite()
			}()
			var got []byte
			completions, rearms := 0, 0
			for {
				cq, err := r.WaitCQETimeout(10 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				completions++
				if cq.Res == 0 {
					if cq.Flags&uapi.CQEFMore != 0 {
						t.Fatal("EOF with F_MORE")
					}
					r.CQESeen(cq)
					break
				}
				if bufring.Dry(cq) {
					// The kernel outran us: buffers are back by now, re-arm.
					r.CQESeen(cq)
					rearms++
					arm()
					continue
				}
				if cq.Res < 0 {
					t.Fatalf("recv: %v", unix.Errno(-cq.Res))
				}
				if bundle {
					err = br.Bundle(cq, func(d []byte, bid uint16, done bool) {
						got = append(got, d...)
						br.Put(bid)
					})
					br.Advance()
				} else {
					var d []byte
					var bid uint16
					d, bid, _, err = br.Data(cq)
					got = append(got, d...)
					br.Return(bid)
				}
				if err != nil {
					t.Fatal(err)
				}
				more := cq.Flags&uapi.CQEFMore != 0
				r.CQESeen(cq)
				if !more {
					// A multishot request may end after data (a bundle
					// that took the last buffers): re-arm.
					rearms++
					arm()
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("received %d bytes, differing from the %d sent", len(got), len(want))
			}
			if br.Held() != 0 {
				t.Errorf("%d buffers not returned", br.Held())
			}
			t.Logf("%d bytes in %d completions, %d re-arms", len(got), completions, rearms)
		})
	}
}

// TestUDPMsg sends and receives datagrams with sendmsg/recvmsg (with
// addresses), and with a multishot recvmsg whose output is parsed.
func TestUDPMsg(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			needFamily(t, f)
			r := newRing(t, 16)
			h := tr{t, r}
			pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.lo, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			fd, err := unix.Socket(f.domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			h.bind(1, fd, netip.AddrPortFrom(f.lo, 0))
			me := sockname(t, fd)
			peer := pc.LocalAddr().(*net.UDPAddr).AddrPort()

			// sendmsg with a destination and two buffers.
			m := &Msg{Name: AddrFrom(peer), Buffers: [][]byte{[]byte("two "), []byte("parts")}}
			if n := h.do(Sendmsg(r, 2, fd, m, 0)); n != 9 {
				t.Fatalf("sendmsg: %d", n)
			}
			buf := make([]byte, 64)
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "two parts" || from.Port() != me.Port() {
				t.Fatalf("peer got %q from %v (%v); want \"two parts\" from %v", buf[:n], from, err, me)
			}

			// recvmsg fills the source address.
			if _, err := pc.WriteToUDPAddrPort([]byte("answer"), me); err != nil {
				t.Fatal(err)
			}
			rm := &Msg{Name: NewAddr(), Buffers: [][]byte{make([]byte, 3), make([]byte, 10)}}
			n = h.do(Recvmsg(r, 3, fd, rm, 0))
			rm.Finish()
			src, err := rm.Name.AddrPort()
			if err != nil || n != 6 || string(rm.Buffers[0])+string(rm.Buffers[1][:3]) != "answer" || src.Port() != peer.Port() {
				t.Fatalf("recvmsg %d %q %q from %v (%v)", n, rm.Buffers[0], rm.Buffers[1], src, err)
			}

			// Multishot recvmsg through a buffer ring.
			br, err := bufring.New(r, 6, 8, 256)
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			nameLen := uint32(unix.SizeofSockaddrAny)
			if _, err := RecvmsgMultishot(r, 4, fd, br.Group(), nameLen, 0, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Submit(); err != nil {
				t.Fatal(err)
			}
			for i, w := range []string{"first", "second datagram", "3"} {
				if _, err := pc.WriteToUDPAddrPort([]byte(w), me); err != nil {
					t.Fatal(err)
				}
				cq, err := r.WaitCQETimeout(5 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if cq.Res < 0 || cq.Flags&uapi.CQEFMore == 0 {
					t.Fatalf("datagram %d: res %d flags %v", i, cq.Res, cq.Flags)
				}
				d, bid, _, err := br.Data(cq)
				r.CQESeen(cq)
				if err != nil {
					t.Fatal(err)
				}
				o, err := ParseRecvmsg(d, nameLen, 0)
				if err != nil {
					t.Fatal(err)
				}
				a, err := o.Addr()
				if err != nil {
					t.Fatal(err)
				}
				src, err := a.AddrPort()
				if err != nil || string(o.Payload) != w || o.PayloadLen != len(w) || src.Port() != peer.Port() {
					t.Fatalf("datagram %d: %q (len %d) from %v (%v)", i, o.Payload, o.PayloadLen, src, err)
				}
				br.Return(bid)
			}
			h.do(Cancel(r, 5, 4))
		})
	}
}

// TestSendZC sends with zero copy (plain and from a registered buffer) and
// checks the notification and the bytes the peer gets.
func TestSendZC(t *testing.T) {
	r := newRing(t, 16)
	needOp(t, r, uapi.OpSendZC)
	lfd, laddr := tcpListener(t, families[0])
	c := dial(t, laddr)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)

	// Registered buffer from mmap'd memory.
	fixed, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(fixed)
	copy(fixed, "registered bytes")
	iov := unix.Iovec{Base: &fixed[0]}
	iov.SetLen(len(fixed))
	if _, err := r.Register(uapi.RegisterBuffers, unsafe.Pointer(&iov), 1); err != nil {
		t.Fatal(err)
	}

	for i, send := range []func() (*uapi.SQE, error){
		func() (*uapi.SQE, error) {
			return SendZC(r, 10, afd, []byte("zero copy payload"), 0, uapi.SendZCReportUsage)
		},
		func() (*uapi.SQE, error) {
			return SendZCFixed(r, 10, afd, fixed[:16], 0, 0, uapi.SendZCReportUsage)
		},
		func() (*uapi.SQE, error) {
			m := &Msg{Buffers: [][]byte{[]byte("zc"), []byte("msg")}}
			return SendmsgZC(r, 10, afd, m, 0, uapi.SendZCReportUsage)
		},
	} {
		want := []string{"zero copy payload", "registered bytes", "zcmsg"}[i]
		if _, err := send(); err != nil {
			t.Fatal(err)
		}
		first := next(t, r)
		if first.res != int32(len(want)) || !first.more() || first.flags&uapi.CQEFNotif != 0 {
			t.Fatalf("send %d: first completion %+v", i, first)
		}
		if r.Kept() != 1 && i != 1 {
			t.Fatalf("send %d: buffer released before the notification", i)
		}
		notif := next(t, r)
		cq := uapi.CQE{UserData: notif.ud, Res: notif.res, Flags: notif.flags}
		if !Notif(&cq) || notif.more() || notif.ud != 10 {
			t.Fatalf("send %d: second completion %+v, want the notification", i, notif)
		}
		// Loopback copies: with REPORT_USAGE the kernel says so.
		if !ZCCopied(&cq) {
			t.Errorf("send %d: loopback notification does not report a copy (res %#x)", i, uint32(notif.res))
		}
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.ReadFull(c, buf[:len(want)])
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("send %d: peer read %q, %v", i, buf[:n], err)
		}
	}
	if r.Kept() != 0 {
		t.Errorf("%d requests still keep memory", r.Kept())
	}
}

// TestSendVectorized sends three buffers in one request.
func TestSendVectorized(t *testing.T) {
	r := newRing(t, 16)
	h := tr{t, r}
	lfd, laddr := tcpListener(t, families[0])
	c := dial(t, laddr)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)
	n, err := h.try(SendVectorized(r, 1, afd, [][]byte{[]byte("a"), []byte("bc"), []byte("def")}, 0))
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("needs send_vectorized: IORING_SEND_VECTORIZED refused: %v", err)
	}
	if err != nil || n != 6 {
		t.Fatalf("send vectorized: %d, %v", n, err)
	}
	buf := make([]byte, 6)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "abcdef" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

// TestSendBundle queues data in provided buffers and sends several of
// them with one bundle request.
func TestSendBundle(t *testing.T) {
	r := newRing(t, 16)
	h := tr{t, r}
	if r.Features()&uapi.FeatRecvsendBundle == 0 {
		t.Skipf("needs recvsend_bundle: IORING_FEAT_RECVSEND_BUNDLE not in %v", r.Features())
	}
	sb, err := bufring.New(r, 8, 8, 32, bufring.Unfilled())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	lfd, laddr := tcpListener(t, families[0])
	c := dial(t, laddr)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)
	var want []byte
	for i, s := range []string{"alpha ", "beta ", "gamma ", "a buffer filled to its 32 bytes!", "end"} {
		n := copy(sb.Buf(uint16(i)), s)
		sb.PutLen(uint16(i), n)
		want = append(want, s...)
	}
	sb.Advance()
	s, err := SendBundle(r, 1, afd, sb.Group(), 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = s
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	cq, err := r.WaitCQETimeout(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cq.Res != int32(len(want)) {
		t.Fatalf("bundle send: res %d, want %d", cq.Res, len(want))
	}
	var sent []byte
	var bids []uint16
	if err := sb.Bundle(cq, func(d []byte, bid uint16, done bool) {
		sent = append(sent, d...)
		bids = append(bids, bid)
	}); err != nil {
		t.Fatal(err)
	}
	r.CQESeen(cq)
	if !bytes.Equal(sent, want) || len(bids) != 5 || sb.Held() != 8 {
		t.Fatalf("bundle walk: %q in buffers %v, held %d", sent, bids, sb.Held())
	}
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("peer read %q, %v", got, err)
	}
	// An empty group: the bundle send finds nothing to send.
	if _, err := h.try(SendBundle(r, 2, afd, sb.Group(), 0)); !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("bundle send from an empty group: %v, want ENOBUFS", err)
	}
}

// TestSockCmds checks the socket uring_cmds against the same calls made as
// system calls.
func TestSockCmds(t *testing.T) {
	r := newRing(t, 16)
	h := tr{t, r}
	needOp(t, r, uapi.OpUringCmd)
	lfd, laddr := tcpListener(t, families[0])
	c := dial(t, laddr)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)

	// setsockopt through the ring, read back with getsockopt(2).
	val := make([]byte, 4)
	binary.NativeEndian.PutUint32(val, 1)
	if _, err := h.try(Setsockopt(r, 1, afd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, val)); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			t.Skipf("needs sock_cmd: socket uring_cmd refused: %v", err)
		}
		t.Fatal(err)
	}
	if v, err := unix.GetsockoptInt(afd, unix.SOL_SOCKET, unix.SO_KEEPALIVE); err != nil || v != 1 {
		t.Fatalf("SO_KEEPALIVE after ring setsockopt: %d, %v", v, err)
	}
	// getsockopt through the ring against getsockopt(2).
	if err := unix.SetsockoptInt(afd, unix.SOL_SOCKET, unix.SO_SNDBUF, 65536); err != nil {
		t.Fatal(err)
	}
	want, _ := unix.GetsockoptInt(afd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	out := make([]byte, 4)
	n := h.do(Getsockopt(r, 2, afd, unix.SOL_SOCKET, unix.SO_SNDBUF, out))
	if n != 4 || int(binary.NativeEndian.Uint32(out)) != want {
		t.Fatalf("ring getsockopt SO_SNDBUF: len %d value %d, getsockopt(2) says %d", n, binary.NativeEndian.Uint32(out), want)
	}
	// The kernel takes SOL_SOCKET only.
	if _, err := h.try(Getsockopt(r, 3, afd, unix.IPPROTO_TCP, unix.TCP_NODELAY, out)); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("getsockopt at IPPROTO_TCP: %v, want EOPNOTSUPP", err)
	}

	// SIOCINQ: bytes waiting, compared with ioctl(2).
	c.Write(bytes.Repeat([]byte{1}, 777))
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, _ := unix.IoctlGetInt(afd, unix.SIOCINQ)
		if q == 777 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if n := h.do(InQ(r, 4, afd)); n != 777 {
		t.Fatalf("SIOCINQ %d, want 777", n)
	}
	q, _ := unix.IoctlGetInt(afd, unix.SIOCOUTQ)
	if n := h.do(OutQ(r, 5, afd)); n != q {
		t.Fatalf("SIOCOUTQ %d, ioctl says %d", n, q)
	}

}

// TestGetsockname checks SOCKET_URING_OP_GETSOCKNAME (Linux 6.19) against
// getsockname(2) and getpeername(2).
func TestGetsockname(t *testing.T) {
	r := newRing(t, 16)
	h := tr{t, r}
	needOp(t, r, uapi.OpUringCmd)
	lfd, laddr := tcpListener(t, families[0])
	dial(t, laddr)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)
	a := NewAddr()
	if _, err := h.try(Getsockname(r, 6, afd, a, false)); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("needs sock_getsockname: SOCKET_URING_OP_GETSOCKNAME refused: %v", err)
		}
		t.Fatal(err)
	}
	if got, err := a.AddrPort(); err != nil || got != sockname(t, afd) {
		t.Fatalf("getsockname %v (%v), want %v", got, err, sockname(t, afd))
	}
	h.do(Getsockname(r, 7, afd, a, true))
	if got, err := a.AddrPort(); err != nil || got != peername(t, afd) {
		t.Fatalf("getpeername %v (%v), want %v", got, err, peername(t, afd))
	}
}

// TestTxTimestamp arms SOCKET_URING_OP_TX_TIMESTAMP and checks the software
// send timestamp of a TCP write against the clock around the write.
func TestTxTimestamp(t *testing.T) {
	r, err := ring.New(16, ring.WithFlags(uapi.SetupCqe32))
	if err != nil {
		t.Skipf("needs io_uring: CQE32 ring: %v", err)
	}
	defer r.Close()
	h := tr{t, r}
	lfd, laddr := tcpListener(t, families[0])
	c := dial(t, laddr)
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)
	flags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE | unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY
	if err := unix.SetsockoptInt(afd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags); err != nil {
		t.Fatal(err)
	}
	if _, err := TxTimestamp(r, 1, afd); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	// An unsupported command fails at once; give it a moment.
	if cq, err := r.WaitCQETimeout(50 * time.Millisecond); err == nil {
		res := cq.Res
		r.CQESeen(cq)
		if res == -int32(unix.EINVAL) || res == -int32(unix.EOPNOTSUPP) {
			t.Skipf("needs sock_tx_timestamp: SOCKET_URING_OP_TX_TIMESTAMP: %v", unix.Errno(-res))
		}
		t.Fatalf("timestamp request completed before any send: res %d", res)
	}
	before := time.Now()
	if _, err := unix.Write(afd, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	cq, err := r.WaitCQETimeout(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := ParseTimestamp(cq)
	r.CQESeen(cq)
	if err != nil {
		t.Fatal(err)
	}
	// OPT_ID on TCP: the key is the offset of the write's last byte.
	if ts.Key != 99 || ts.Type != unix.SCM_TSTAMP_SND || ts.Hardware {
		t.Errorf("timestamp %+v, want key 99, type SCM_TSTAMP_SND, software", ts)
	}
	if ts.Time.Before(before.Add(-time.Millisecond)) || ts.Time.After(after.Add(time.Millisecond)) {
		t.Errorf("timestamp %v outside the write's window [%v, %v]", ts.Time, before, after)
	}
	io.ReadFull(c, make([]byte, 100))
	h.do(Cancel(r, 2, 1))
	if c := next(t, r); c.ud != 1 || c.res != -int32(unix.ECANCELED) {
		t.Errorf("cancelled timestamp request ended with %+v", c)
	}
}

// TestCancelMultishotRecv cancels an armed multishot recv that has already
// delivered data, by user data and by descriptor, and checks that it ends
// once, with -ECANCELED, holding no buffer and no kept memory.
func TestCancelMultishotRecv(t *testing.T) {
	for _, byFD := range []bool{false, true} {
		r := newRing(t, 16)
		h := tr{t, r}
		br, err := bufring.New(r, 1, 8, 64)
		if err != nil {
			t.Fatal(err)
		}
		fdsBefore := fault.OpenFDs(t)
		lfd, laddr := tcpListener(t, families[0])
		c := dial(t, laddr)
		afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RecvSelect(r, 7, afd, br.Group(), 0, uapi.RecvMultishot); err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("before cancel"))
		got := next(t, r)
		if got.ud != 7 || got.res != 13 || !got.more() {
			t.Fatalf("first recv completion %+v", got)
		}
		cq := uapi.CQE{UserData: got.ud, Res: got.res, Flags: got.flags}
		data, bid, _, err := br.Data(&cq)
		if err != nil || string(data) != "before cancel" {
			t.Fatalf("first recv: %q, %v", data, err)
		}
		br.Return(bid)
		if byFD {
			if n := h.do(CancelFD(r, 8, afd)); n != 1 {
				t.Errorf("cancel by fd matched %d requests, want 1", n)
			}
		} else {
			h.do(Cancel(r, 8, 7))
		}
		end := next(t, r)
		if end.ud != 7 || end.res != -int32(unix.ECANCELED) || end.more() {
			t.Fatalf("cancelled recv ended with %+v", end)
		}
		// Nothing more arrives for it, even with data on the socket.
		c.Write([]byte("after"))
		if cq, err := r.WaitCQETimeout(50 * time.Millisecond); err == nil {
			t.Fatalf("completion after the final one: %+v", *cq)
		}
		if br.Held() != 0 || r.Kept() != 0 {
			t.Errorf("after cancel: %d buffers held, %d requests keep memory", br.Held(), r.Kept())
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		unix.Close(afd)
		c.Close()
		unix.Close(lfd)
		if n := fault.OpenFDs(t); n != fdsBefore {
			t.Errorf("descriptors: %d before, %d after", fdsBefore, n)
		}
	}
}

// TestAddr round-trips addresses through the kernel's layout and checks it
// against what getsockname(2) writes.
func TestAddr(t *testing.T) {
	for _, s := range []string{"127.0.0.1:80", "10.1.2.3:65535", "[::1]:443", "[fe80::1%1]:8", "[2001:db8::7]:0"} {
		ap := netip.MustParseAddrPort(s)
		a := AddrFrom(ap)
		got, err := a.AddrPort()
		want := netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
		if err != nil || got != want {
			t.Errorf("%s: round trip %v, %v", s, got, err)
		}
		if ap.Addr().Zone() == "1" {
			sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
			if sa.Scope_id != 1 {
				t.Errorf("%s: scope id %d", s, sa.Scope_id)
			}
		}
	}
	// The raw bytes are what the kernel itself writes for the same address.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	var raw unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(raw))
	if _, _, e := unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&raw)), uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	a := AddrFrom(sockname(t, fd))
	if a.Len != n || !bytes.Equal(unsafe.Slice((*byte)(unsafe.Pointer(&a.raw)), n), unsafe.Slice((*byte)(unsafe.Pointer(&raw)), n)) {
		t.Errorf("AddrFrom bytes differ from the kernel's sockaddr")
	}
	bad := &Addr{Len: 2}
	if _, err := bad.AddrPort(); !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Errorf("empty address: %v", err)
	}
}

// TestMultishotAcceptDirect accepts connections straight into free slots of
// the registered file table and echoes a byte over each slot.
func TestMultishotAcceptDirect(t *testing.T) {
	r := newRing(t, 16)
	h := tr{t, r}
	reg := uapi.RsrcRegister{Nr: 4, Flags: uapi.RsrcRegisterSparse}
	if _, err := r.Register(uapi.RegisterFiles2, unsafe.Pointer(&reg), uint32(unsafe.Sizeof(reg))); err != nil {
		t.Fatal(err)
	}
	// Go's poller opens its descriptors with the first connection.
	_, warmAddr := tcpListener(t, families[0])
	dial(t, warmAddr).Close()
	fdsBefore := fault.OpenFDs(t)
	lfd, laddr := tcpListener(t, families[0])
	if _, err := AcceptMultishotDirect(r, 1, lfd, 0); err != nil {
		t.Fatal(err)
	}
	var conns []*net.TCPConn
	slots := map[int]bool{}
	for i := range 3 {
		conns = append(conns, dial(t, laddr))
		c := next(t, r)
		if c.ud != 1 || c.res < 0 || c.res >= 4 || !c.more() || slots[int(c.res)] {
			t.Fatalf("direct accept %d: %+v", i, c)
		}
		slots[int(c.res)] = true
	}
	// Direct descriptors are not process descriptors: only the listener
	// and the three client ends are.
	if n := fault.OpenFDs(t); n != fdsBefore+4 {
		t.Errorf("%d process descriptors, want %d: the listener, 3 clients and no server ends", n, fdsBefore+4)
	}
	i := 0
	for slot := range slots {
		s, err := Send(r, uint64(10+i), slot, []byte{byte(slot)}, 0)
		if err == nil {
			s.Flags |= uapi.SQEFixedFile
		}
		h.do(s, err)
		i++
	}
	got := map[int]bool{}
	for _, c := range conns {
		b := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		got[int(b[0])] = true
	}
	for slot := range slots {
		if !got[slot] {
			t.Errorf("no client got the byte sent on slot %d (got %v)", slot, got)
		}
	}
	// The table is full after a fourth connection; the fifth fails the
	// accept with ENFILE, which ends the multishot request.
	dial(t, laddr)
	dial(t, laddr)
	if c := next(t, r); c.res < 0 || !c.more() {
		t.Fatalf("fourth direct accept: %+v", c)
	}
	if c := next(t, r); c.res != -int32(unix.ENFILE) || c.more() {
		t.Fatalf("accept into a full table: %+v, want -ENFILE without F_MORE", c)
	}
}
