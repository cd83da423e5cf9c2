package sock

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Addr is a socket address in the kernel's layout (struct sockaddr_storage
// and its length), ready for bind, connect, accept and getsockname. It must
// stay reachable while a request that points to it is in flight; the
// functions of this package keep it with ring.Keep.
type Addr struct {
	raw unix.RawSockaddrAny
	// Len is the address length: set by AddrFrom, updated by the kernel
	// for accept and getsockname.
	Len uint32
}

// AddrFrom converts an IPv4 or IPv6 address and port (netip.AddrPort) to
// an Addr. IPv4-mapped IPv6 addresses stay IPv6.
func AddrFrom(ap netip.AddrPort) *Addr {
	a := new(Addr)
	ip := ap.Addr()
	if ip.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
		sa.Addr = ip.As4()
		a.Len = unix.SizeofSockaddrInet4
		return a
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
	sa.Family = unix.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
	sa.Addr = ip.As16()
	if z := ip.Zone(); z != "" {
		// A zone is an interface name or index (fe80::1%eth0, %2).
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.Scope_id = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.Scope_id = uint32(n)
		}
	}
	a.Len = unix.SizeofSockaddrInet6
	return a
}

// NewAddr returns an empty Addr with room for any address, for accept and
// getsockname to fill.
func NewAddr() *Addr { return &Addr{Len: unix.SizeofSockaddrAny} }

// AddrPort decodes an AF_INET or AF_INET6 address.
func (a *Addr) AddrPort() (netip.AddrPort, error) {
	switch a.raw.Addr.Family {
	case unix.AF_INET:
		if a.Len < unix.SizeofSockaddrInet4 {
			break
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), nil
	case unix.AF_INET6:
		if a.Len < unix.SizeofSockaddrInet6 {
			break
		}
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), nil
	}
	return netip.AddrPort{}, fmt.Errorf("sock: address family %d, length %d: not IPv4 or IPv6: %w", a.raw.Addr.Family, a.Len, unix.EAFNOSUPPORT)
}

// Family returns the address family (unix.AF_INET ...).
func (a *Addr) Family() int { return int(a.raw.Addr.Family) }
