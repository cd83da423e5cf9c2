package bpf_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bpf"
	"github.com/urgen/urgen/runtime/ring"
)

// A program allowing IORING_OP_SOCKET only for TCP over IPv4.
func ExampleProgram() {
	p := bpf.NewProgram().
		Load(bpf.SocketFamily).
		Jump(bpf.Ne, unix.AF_INET, "deny", "").
		Load(bpf.SocketType).
		And(0xf). // SOCK_NONBLOCK and SOCK_CLOEXEC live in the high bits
		Jump(bpf.Eq, unix.SOCK_STREAM, "", "deny").
		Allow().
		Label("deny").Deny()
	f, err := bpf.New(uapi.OpSocket, p, bpf.SizeStrict)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Op, len(f.Program), "instructions, context", f.PDUSize, "bytes")
	// Output: IORING_OP_SOCKET 7 instructions, context 12 bytes
}

// Filters on one ring: sockets only for the internet families, opens only
// beneath a directory, connects only to ports 8000-8999.
func ExampleRegister() {
	r, err := ring.New(8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	if err := bpf.Available(); err != nil {
		fmt.Println("no io_uring BPF filters:", err)
		return
	}
	filters := append(bpf.OpenBeneath(), bpf.SocketInetOnly(), bpf.ConnectPorts(8000, 8999))
	if err := r.RegisterBPFFilters(filters...); err != nil {
		fmt.Println(err)
	}
	// For the whole process and its children instead (needs no_new_privs
	// or CAP_SYS_ADMIN, and cannot be undone):
	//	bpf.RegisterAll(bpf.Task, filters...)
}
