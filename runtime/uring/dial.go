package uring

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Dial connects to address on network ("tcp", "tcp4", "tcp6" or "unix"),
// like net.Dial. The connection is a *Conn.
func Dial(network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, address)
}

// DialContext is Dial bounded by ctx: cancelling it while the connection
// is being set up fails the dial.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(ctx, network, address)
}

// Dialer holds dial options, like net.Dialer.
type Dialer struct {
	// Timeout bounds the whole dial (0: none but ctx's).
	Timeout time.Duration
	// LocalAddr is the local address to bind to (nil: any).
	LocalAddr net.Addr
	// ReadBuffer and WriteBuffer set SO_RCVBUF and SO_SNDBUF (0: the
	// system's defaults).
	ReadBuffer, WriteBuffer int
}

// Dial connects to address on network.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network; ctx bounds the connection
// setup, not the connection. Its signature is net.Dialer's, so it serves
// as http.Transport's DialContext as it is. The connection is a *Conn.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	opErr := func(err error, addr net.Addr) error {
		return &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: addr, Err: err}
	}
	targets, err := dialAddrs(ctx, network, address)
	if err != nil {
		return nil, opErr(err, nil)
	}
	var first error
	for _, t := range targets {
		c, err := d.dialOne(ctx, network, t)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

func (d *Dialer) dialOne(ctx context.Context, network string, to unix.Sockaddr) (*Conn, error) {
	raddr := fromSockaddr(to, network)
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: raddr, Err: err}
	}
	family := familyOf(to)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opErr(os.NewSyscallError("socket", err))
	}
	if d.LocalAddr != nil {
		la, err := sockaddrOf(d.LocalAddr, family)
		if err == nil {
			err = unix.Bind(fd, la)
			if err != nil {
				err = os.NewSyscallError("bind", err)
			}
		}
		if err != nil {
			unix.Close(fd)
			return nil, opErr(err)
		}
	}
	if err := tuneConn(fd, network, d.ReadBuffer, d.WriteBuffer); err != nil {
		unix.Close(fd)
		return nil, opErr(err)
	}
	l, err := pickLoop()
	if err != nil {
		unix.Close(fd)
		return nil, opErr(err)
	}
	c := newConn(fd, network, l)
	c.raddr = raddr
	if err := c.connect(ctx, to); err != nil {
		c.Close()
		return nil, opErr(err)
	}
	c.laddr, c.raddr = connAddrs(fd, network)
	if err := c.startRecv(); err != nil {
		c.Close()
		return nil, opErr(err)
	}
	return c, nil
}

// connect runs a non-blocking connect(2); when it is in progress, a
// POLLOUT poll through the ring waits for it, cancelled (and awaited)
// when ctx ends.
func (c *Conn) connect(ctx context.Context, to unix.Sockaddr) error {
	for {
		err := unix.Connect(c.fd, to)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EINPROGRESS):
			return os.NewSyscallError("connect", err)
		}
		break
	}
	if err := ctx.Err(); err != nil {
		return mapContextErr(err)
	}
	stop := context.AfterFunc(ctx, func() { c.signal(c.wready) })
	defer stop()
	c.wreq.op = opPollOut
	res, err := c.do(&c.wreq, &deadline{}, ctx, func(s *uapi.SQE) {
		s.PrepPollAdd(int32(c.fd), unix.POLLOUT)
	})
	c.wreq.op = opSend
	if err != nil {
		return err
	}
	if res < 0 {
		if res == -int32(unix.ECANCELED) && ctx.Err() != nil {
			return mapContextErr(ctx.Err())
		}
		return os.NewSyscallError("connect", unix.Errno(-res))
	}
	soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if soerr != 0 {
		return os.NewSyscallError("connect", unix.Errno(soerr))
	}
	return nil
}

// mapContextErr turns a context error into net's dial errors.
func mapContextErr(err error) error {
	switch err {
	case context.Canceled:
		return errCanceled
	case context.DeadlineExceeded:
		return errTimeout
	}
	return err
}

// The errors net's dial returns for a cancelled or expired context: they
// match context.Canceled and context.DeadlineExceeded with errors.Is, and
// a timeout is a net.Error whose Timeout is true.
var (
	errCanceled = &dialCtxError{err: context.Canceled, msg: "operation was canceled"}
	errTimeout  = &dialCtxError{err: context.DeadlineExceeded, msg: "i/o timeout", timeout: true}
)

type dialCtxError struct {
	err     error
	msg     string
	timeout bool
}

func (e *dialCtxError) Error() string   { return e.msg }
func (e *dialCtxError) Unwrap() error   { return e.err }
func (e *dialCtxError) Timeout() bool   { return e.timeout }
func (e *dialCtxError) Temporary() bool { return e.timeout }

// listenAddr resolves a listen address to a socket address and family.
func listenAddr(ctx context.Context, network, address string) (unix.Sockaddr, int, net.Addr, error) {
	switch network {
	case "unix":
		a := &net.UnixAddr{Name: address, Net: network}
		return &unix.SockaddrUnix{Name: address}, unix.AF_UNIX, a, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, 0, nil, net.UnknownNetworkError(network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, nil, err
	}
	pn, err := net.DefaultResolver.LookupPort(ctx, "tcp", port)
	if err != nil {
		return nil, 0, nil, err
	}
	var ip netip.Addr
	if host != "" {
		ips, err := resolve(ctx, network, host)
		if err != nil {
			return nil, 0, nil, err
		}
		ip = ips[0]
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		// Every address: dual-stack [::] for "tcp" where IPv6 works, as
		// net does.
		switch {
		case network == "tcp4" || (network == "tcp" && (ip.Is4() || !ipv6Works())):
			ip = netip.IPv4Unspecified()
		default:
			ip = netip.IPv6Unspecified()
		}
	}
	ap := netip.AddrPortFrom(ip, uint16(pn))
	sa := toSockaddr(ap)
	return sa, familyOf(sa), net.TCPAddrFromAddrPort(ap), nil
}

// ipv6Works reports whether the system can make IPv6 sockets.
func ipv6Works() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// dialAddrs resolves a dial address to the socket addresses to try.
func dialAddrs(ctx context.Context, network, address string) ([]unix.Sockaddr, error) {
	switch network {
	case "unix":
		return []unix.Sockaddr{&unix.SockaddrUnix{Name: address}}, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, net.UnknownNetworkError(network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	pn, err := net.DefaultResolver.LookupPort(ctx, "tcp", port)
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = "localhost" // as net dials the local system
	}
	ips, err := resolve(ctx, network, host)
	if err != nil {
		return nil, err
	}
	var sas []unix.Sockaddr
	for _, ip := range ips {
		sas = append(sas, toSockaddr(netip.AddrPortFrom(ip, uint16(pn))))
	}
	return sas, nil
}

// resolve looks host up, keeping the addresses network allows, IPv4
// first.
func resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var all []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		all = []netip.Addr{ip}
	} else {
		ias, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		all = ias
	}
	var v4, v6 []netip.Addr
	for _, ip := range all {
		if ip.Is4In6() {
			ip = ip.Unmap()
		}
		switch {
		case ip.Is4() && network != "tcp6":
			v4 = append(v4, ip)
		case ip.Is6() && network != "tcp4":
			v6 = append(v6, ip)
		}
	}
	ips := append(v4, v6...)
	if len(ips) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return ips, nil
}

func toSockaddr(ap netip.AddrPort) unix.Sockaddr {
	ip := ap.Addr()
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa
}

func familyOf(sa unix.Sockaddr) int {
	switch sa.(type) {
	case *unix.SockaddrInet4:
		return unix.AF_INET
	case *unix.SockaddrInet6:
		return unix.AF_INET6
	}
	return unix.AF_UNIX
}

// sockaddrOf converts a local address for a socket of family.
func sockaddrOf(a net.Addr, family int) (unix.Sockaddr, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		if family == unix.AF_INET6 && ap.Addr().Is4() {
			ap = netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
		}
		return toSockaddr(ap), nil
	case *net.UnixAddr:
		return &unix.SockaddrUnix{Name: a.Name}, nil
	}
	return nil, &net.AddrError{Err: "unsupported local address", Addr: a.String()}
}

// fromSockaddr converts a socket address to net's type for network.
func fromSockaddr(sa unix.Sockaddr, network string) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *unix.SockaddrInet6:
		a := &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: network}
	}
	if strings.HasPrefix(network, "unix") {
		return &net.UnixAddr{Net: network}
	}
	return nil
}

// connAddrs reads a connected socket's local and peer addresses.
func connAddrs(fd int, network string) (local, remote net.Addr) {
	if sa, err := unix.Getsockname(fd); err == nil {
		local = fromSockaddr(sa, network)
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		remote = fromSockaddr(sa, network)
	}
	if local == nil {
		local = fromSockaddr(nil, network)
	}
	if remote == nil {
		remote = fromSockaddr(nil, network)
	}
	return local, remote
}
