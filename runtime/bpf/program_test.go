package bpf_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bpf"
)

// The kernel's own classic BPF interpreter is the judge here, also on kernels
// without io_uring filters: the program is attached to the receiving end of
// a unix datagram socket pair (SO_ATTACH_FILTER) and a packet carrying an
// io_uring_bpf_ctx image is sent; the packet arrives iff the program returns
// non-zero. Socket filters read 32-bit words in network order while io_uring
// filters read them in host order, so each word of the image is re-encoded
// big-endian: the program then sees exactly the words an io_uring filter
// would see.
func verdict(t *testing.T, prog []unix.SockFilter, c *uapi.BPFCtx) bool {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	fprog := &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fds[1], unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, fprog); err != nil {
		t.Fatalf("SO_ATTACH_FILTER: kernel refused the program: %v", err)
	}
	img := unsafe.Slice((*byte)(unsafe.Pointer(c)), uapi.SizeofBPFCtx)
	pkt := make([]byte, len(img))
	for i := 0; i < len(img); i += 4 {
		binary.BigEndian.PutUint32(pkt[i:], binary.NativeEndian.Uint32(img[i:]))
	}
	if _, err := unix.Write(fds[0], pkt); err != nil {
		t.Fatal(err)
	}
	// unix datagrams are queued (or dropped by the filter) synchronously
	// inside the send, so a non-blocking receive decides.
	buf := make([]byte, 64)
	_, _, err = unix.Recvfrom(fds[1], buf, unix.MSG_DONTWAIT)
	switch {
	case err == nil:
		return true
	case errors.Is(err, unix.EAGAIN):
		return false
	}
	t.Fatal(err)
	return false
}

// The instruction classes io_uring accepts (io_uring/bpf_filter.c,
// io_uring_check_cbpf_filter); anything else fails registration.
var ioUringAllowed = map[uint16]bool{
	unix.BPF_LD | unix.BPF_W | unix.BPF_ABS: true,
	unix.BPF_RET | unix.BPF_K:               true, unix.BPF_RET | unix.BPF_A: true,
	unix.BPF_ALU | unix.BPF_AND | unix.BPF_K: true, unix.BPF_ALU | unix.BPF_OR | unix.BPF_X: true,
	unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K: true, unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K: true,
	unix.BPF_LDX | unix.BPF_MEM: true, unix.BPF_ST: true,
	unix.BPF_JMP | unix.BPF_JA: true, unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K: true,
	unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K: true, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K: true,
	unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K: true,
}

func checkSubset(t *testing.T, prog []unix.SockFilter) {
	t.Helper()
	for i, in := range prog {
		if !ioUringAllowed[in.Code] {
			t.Fatalf("instruction %d code %#x is outside io_uring's classic BPF subset", i, in.Code)
		}
		if in.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_ABS && (in.K&3 != 0 || in.K >= uapi.SizeofBPFCtx) {
			t.Fatalf("instruction %d loads offset %d: io_uring needs aligned offsets inside the context", i, in.K)
		}
	}
}

// equals builds "allow iff field == want".
func equals(t *testing.T, f bpf.Field, want uint32) []unix.SockFilter {
	t.Helper()
	prog, err := bpf.NewProgram().Load(f).Jump(bpf.Eq, want, "", "no").Allow().Label("no").Deny().Assemble()
	if err != nil {
		t.Fatalf("%s: %v", f.Name(), err)
	}
	checkSubset(t, prog)
	return prog
}

func TestFieldLoads(t *testing.T) {
	var common uapi.BPFCtx
	common.UserData = 0x1122334455667788
	common.Opcode = uint8(uapi.OpSocket)
	common.SQEFlags = uint8(uapi.SQEAsync | uapi.SQEIOLink)
	common.PDUSize = uapi.SizeofBPFCtxSocket
	common.Pad = [5]uint8{0xff, 0xff, 0xff, 0xff, 0xff} // must not leak into the byte fields

	sock := common
	sock.Socket().Family = unix.AF_INET6
	sock.Socket().Type = unix.SOCK_STREAM | unix.SOCK_NONBLOCK
	sock.Socket().Protocol = unix.IPPROTO_TCP

	open := common
	open.Open().Flags = unix.O_CREAT | unix.O_WRONLY | 1<<40
	open.Open().Mode = 0o640
	open.Open().Resolve = unix.RESOLVE_BENEATH | 7<<33

	conn := common
	c := conn.Connect()
	c.Family = unix.AF_INET
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&c.Port))[:], 8080)
	c.Pad = [2]uint8{0xee, 0xee}
	copy(c.V6Addr()[:], []byte{127, 0, 0, 1, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef})

	cases := []struct {
		ctx  *uapi.BPFCtx
		f    bpf.Field
		want uint32
	}{
		{&common, bpf.UserData.Low(), 0x55667788},
		{&common, bpf.UserData.High(), 0x11223344},
		{&common, bpf.Opcode, uint32(uapi.OpSocket)},
		{&common, bpf.SQEFlags, uint32(uapi.SQEAsync | uapi.SQEIOLink)},
		{&common, bpf.PDUSize, uapi.SizeofBPFCtxSocket},
		{&sock, bpf.SocketFamily, unix.AF_INET6},
		{&sock, bpf.SocketType, unix.SOCK_STREAM | unix.SOCK_NONBLOCK},
		{&sock, bpf.SocketProtocol, unix.IPPROTO_TCP},
		{&open, bpf.OpenFlags.Low(), unix.O_CREAT | unix.O_WRONLY},
		{&open, bpf.OpenFlags.High(), 1 << 8},
		{&open, bpf.OpenMode.Low(), 0o640},
		{&open, bpf.OpenResolve.Low(), unix.RESOLVE_BENEATH},
		{&open, bpf.OpenResolve.High(), 7 << 1},
		{&conn, bpf.ConnectFamily, unix.AF_INET},
		{&conn, bpf.ConnectPort, 8080},
		{&conn, bpf.ConnectV4Addr, 0x7f000001},
		{&conn, bpf.ConnectV6Addr.Word(0), 0x7f000001},
		{&conn, bpf.ConnectV6Addr.Word(1), 0xfe800000},
		{&conn, bpf.ConnectV6Addr.Word(3), 0xdeadbeef},
	}
	for _, tc := range cases {
		if !verdict(t, equals(t, tc.f, tc.want), tc.ctx) {
			t.Errorf("%s: kernel says the loaded value is not %#x", tc.f.Name(), tc.want)
		}
		if verdict(t, equals(t, tc.f, tc.want+1), tc.ctx) {
			t.Errorf("%s: kernel says the loaded value equals %#x too", tc.f.Name(), tc.want+1)
		}
	}
}

func TestFieldLayoutFromGenerated(t *testing.T) {
	var c uapi.BPFCtx
	base := uintptr(unsafe.Pointer(&c))
	checks := []struct {
		f    bpf.Field
		off  uintptr
		size uintptr
	}{
		{bpf.UserData, unsafe.Offsetof(c.UserData), 8},
		{bpf.Opcode, unsafe.Offsetof(c.Opcode), 1},
		{bpf.SocketFamily, uintptr(unsafe.Pointer(&c.Socket().Family)) - base, 4},
		{bpf.SocketProtocol, uintptr(unsafe.Pointer(&c.Socket().Protocol)) - base, 4},
		{bpf.OpenResolve, uintptr(unsafe.Pointer(&c.Open().Resolve)) - base, 8},
		{bpf.ConnectPort, uintptr(unsafe.Pointer(&c.Connect().Port)) - base, 2},
		{bpf.ConnectV6Addr, uintptr(unsafe.Pointer(c.Connect().V6Addr())) - base, 16},
	}
	for _, ch := range checks {
		if uintptr(ch.f.Offset()) != ch.off || uintptr(ch.f.Size()) != ch.size {
			t.Errorf("%s: offset %d size %d, generated layout %d %d", ch.f.Name(), ch.f.Offset(), ch.f.Size(), ch.off, ch.size)
		}
	}
}

func TestPolicies(t *testing.T) {
	mk := func(op uapi.Op) *uapi.BPFCtx { return &uapi.BPFCtx{Opcode: uint8(op)} }

	sock := bpf.SocketInetOnly()
	if sock.Op != uapi.OpSocket || sock.PDUSize != uapi.SizeofBPFCtxSocket {
		t.Errorf("SocketInetOnly: op %s pdu %d", sock.Op, sock.PDUSize)
	}
	checkSubset(t, sock.Program)
	for fam, want := range map[uint32]bool{unix.AF_INET: true, unix.AF_INET6: true, unix.AF_UNIX: false, unix.AF_NETLINK: false, unix.AF_PACKET: false} {
		c := mk(uapi.OpSocket)
		c.Socket().Family = fam
		c.Socket().Type = unix.SOCK_STREAM
		if got := verdict(t, sock.Program, c); got != want {
			t.Errorf("SocketInetOnly family %d: allowed %v, want %v", fam, got, want)
		}
	}

	opens := bpf.OpenBeneath()
	if len(opens) != 2 || opens[0].Op != uapi.OpOpenat || opens[1].Op != uapi.OpOpenat2 {
		t.Fatalf("OpenBeneath: %+v", opens)
	}
	for _, f := range opens {
		checkSubset(t, f.Program)
		if f.PDUSize != uapi.SizeofBPFCtxOpen {
			t.Errorf("OpenBeneath %s: pdu %d", f.Op, f.PDUSize)
		}
		for res, want := range map[uint64]bool{
			0: false, unix.RESOLVE_BENEATH: true, unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS: true,
			unix.RESOLVE_IN_ROOT: false, unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS: false,
		} {
			c := mk(f.Op)
			c.Open().Flags = unix.O_RDONLY
			c.Open().Resolve = res
			if got := verdict(t, f.Program, c); got != want {
				t.Errorf("OpenBeneath %s resolve %#x: allowed %v, want %v", f.Op, res, got, want)
			}
		}
	}

	conn := bpf.ConnectPorts(1000, 2000)
	checkSubset(t, conn.Program)
	if conn.PDUSize != uapi.SizeofBPFCtxConnect {
		t.Errorf("ConnectPorts pdu %d", conn.PDUSize)
	}
	type tc struct {
		fam  uint32
		port uint16
		want bool
	}
	for _, x := range []tc{
		{unix.AF_INET, 999, false}, {unix.AF_INET, 1000, true}, {unix.AF_INET6, 1500, true},
		{unix.AF_INET, 2000, true}, {unix.AF_INET6, 2001, false}, {unix.AF_INET, 0, false},
		// 0x0304 read in the wrong byte order would be 0x0403 = 1027, inside the range.
		{unix.AF_INET, 0x0304, false},
		// 0x07d0 = 2000 is allowed, and so its swap 0xd007 must not decide.
		{unix.AF_INET, 0xd007, false},
		{unix.AF_UNIX, 1500, false},
	} {
		c := mk(uapi.OpConnect)
		c.Connect().Family = x.fam
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&c.Connect().Port))[:], x.port)
		if got := verdict(t, conn.Program, c); got != x.want {
			t.Errorf("ConnectPorts family %d port %d: allowed %v, want %v", x.fam, x.port, got, x.want)
		}
	}

	deny := bpf.DenyOp(uapi.OpNop)
	checkSubset(t, deny.Program)
	if deny.PDUSize != 0 || verdict(t, deny.Program, mk(uapi.OpNop)) {
		t.Errorf("DenyOp: pdu %d or allowed", deny.PDUSize)
	}
}

func TestConditions(t *testing.T) {
	c := &uapi.BPFCtx{Opcode: 20}
	for _, x := range []struct {
		cond bpf.Cond
		k    uint32
		want bool
	}{
		{bpf.Eq, 20, true}, {bpf.Eq, 21, false}, {bpf.Ne, 20, false}, {bpf.Ne, 19, true},
		{bpf.Gt, 19, true}, {bpf.Gt, 20, false}, {bpf.Ge, 20, true}, {bpf.Ge, 21, false},
		{bpf.Lt, 21, true}, {bpf.Lt, 20, false}, {bpf.Le, 20, true}, {bpf.Le, 19, false},
		{bpf.Set, 4, true}, {bpf.Set, 8, false}, {bpf.Clear, 8, true}, {bpf.Clear, 16, false},
	} {
		prog, err := bpf.NewProgram().Load(bpf.Opcode).Jump(x.cond, x.k, "yes", "").Deny().Label("yes").Allow().Assemble()
		if err != nil {
			t.Fatal(err)
		}
		if got := verdict(t, prog, c); got != x.want {
			t.Errorf("20 cond %d %d: %v, want %v", x.cond, x.k, got, x.want)
		}
	}
	// Goto skips.
	prog, err := bpf.NewProgram().Goto("end").Deny().Label("end").Allow().Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if !verdict(t, prog, c) {
		t.Error("Goto did not skip the deny")
	}
}

func TestAssembleErrors(t *testing.T) {
	for name, p := range map[string]*bpf.Program{
		"undefined label": bpf.NewProgram().Goto("nowhere").Allow(),
		"backward jump":   bpf.NewProgram().Label("top").Load(bpf.Opcode).Jump(bpf.Eq, 1, "top", "").Allow(),
		"no return":       bpf.NewProgram().Load(bpf.Opcode),
		"empty":           bpf.NewProgram(),
		"64-bit load":     bpf.NewProgram().Load(bpf.UserData).Allow(),
		"duplicate label": bpf.NewProgram().Label("a").Label("a").Allow(),
		"bad word":        bpf.NewProgram().Load(bpf.ConnectV6Addr.Word(4)).Allow(),
	} {
		if _, err := p.Assemble(); err == nil {
			t.Errorf("%s: assembled", name)
		}
	}
}
