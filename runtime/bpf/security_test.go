package bpf_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bpf"
	"github.com/urgen/urgen/runtime/ring"
)

// Security tests: filters and task restrictions enforced by the real kernel.
// Per-task state cannot be undone, so those tests re-execute this test
// binary: TestMain turns it into a helper process when helperEnv is set.

const helperEnv = "URGEN_BPF_SECURITY_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		runtime.LockOSThread() // task state is per thread: keep to the main one
		if err := helper(mode); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		fmt.Printf("helper %s: ok\n", mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// skipNoConnectContext skips when err is the kernel's refusal of a
// CONNECT filter that reads the address: Linux 7.0 and 7.1 filter
// IORING_OP_CONNECT with no opcode context at all.
func skipNoConnectContext(t *testing.T, err error) {
	t.Helper()
	var pe *bpf.PDUSizeError
	if errors.As(err, &pe) && pe.Op == uapi.OpConnect && pe.Kernel == 0 {
		t.Skipf("needs bpf_filter_connect: %v", err)
	}
}

func needFilters(t *testing.T) {
	t.Helper()
	if err := bpf.Available(); err != nil {
		t.Skipf("needs bpf_filter: %v", err)
	}
}

// do submits one SQE and returns its result.
func do(r *ring.Ring, prep func(*uapi.SQE)) (int32, error) {
	s := r.SQE()
	if s == nil {
		return 0, errors.New("SQ full")
	}
	prep(s)
	s.UserData = 1
	if _, err := r.SubmitAndWait(1); err != nil {
		return 0, err
	}
	c, err := r.WaitCQE()
	if err != nil {
		return 0, err
	}
	res := c.Res
	r.CQESeen(c)
	return res, nil
}

func socketSQE(domain, typ int) func(*uapi.SQE) {
	return func(s *uapi.SQE) {
		s.Opcode = uapi.OpSocket
		s.FD = int32(domain)
		s.Off = uint64(typ)
	}
}

func openatSQE(path *byte) func(*uapi.SQE) {
	return func(s *uapi.SQE) {
		s.Opcode = uapi.OpOpenat
		s.FD = unix.AT_FDCWD
		s.Addr = uint64(uintptr(unsafe.Pointer(path)))
		s.Len = 0o600
		s.SetOpenFlags(unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC)
	}
}

func openat2SQE(dirfd int, name *byte, how *unix.OpenHow) func(*uapi.SQE) {
	return func(s *uapi.SQE) {
		s.Opcode = uapi.OpOpenat2
		s.FD = int32(dirfd)
		s.Addr = uint64(uintptr(unsafe.Pointer(name)))
		s.Len = uint32(unsafe.Sizeof(*how))
		s.Off = uint64(uintptr(unsafe.Pointer(how)))
	}
}

func fdCount() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// expectSocket checks a socket op: denied ones complete with -EACCES and open
// nothing, allowed ones return a descriptor.
func expectSocket(r *ring.Ring, domain int, allowed bool) error {
	before := fdCount()
	res, err := do(r, socketSQE(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC))
	if err != nil {
		return err
	}
	if allowed {
		if res < 0 {
			return fmt.Errorf("socket domain %d: %v, want allowed", domain, unix.Errno(-res))
		}
		unix.Close(int(res))
		return nil
	}
	if unix.Errno(-res) != unix.EACCES {
		return fmt.Errorf("socket domain %d: result %d, want -EACCES", domain, res)
	}
	if after := fdCount(); after != before {
		return fmt.Errorf("denied socket changed the descriptor count %d -> %d", before, after)
	}
	return nil
}

func TestRingFilterSocket(t *testing.T) {
	needFilters(t)
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := expectSocket(r, unix.AF_UNIX, true); err != nil {
		t.Fatalf("before the filter: %v", err)
	}
	if err := r.RegisterBPFFilters(bpf.SocketInetOnly()); err != nil {
		t.Fatal(err)
	}
	for domain, ok := range map[int]bool{unix.AF_UNIX: false, unix.AF_NETLINK: false, unix.AF_INET: true, unix.AF_INET6: true} {
		if domain == unix.AF_INET6 {
			if fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM, 0); err != nil {
				continue // no IPv6 in this kernel/VM
			} else {
				unix.Close(fd)
			}
		}
		if err := expectSocket(r, domain, ok); err != nil {
			t.Error(err)
		}
	}
	// Another ring is not affected.
	o, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := expectSocket(o, unix.AF_UNIX, true); err != nil {
		t.Errorf("unfiltered ring: %v", err)
	}
}

func TestRingFilterOpenBeneath(t *testing.T) {
	needFilters(t)
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.RegisterBPFFilters(bpf.OpenBeneath()...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	p, _ := unix.BytePtrFromString(plain)
	if res, err := do(r, openatSQE(p)); err != nil || unix.Errno(-res) != unix.EACCES {
		t.Fatalf("OPENAT: %d %v, want -EACCES", res, err)
	}
	if _, err := os.Stat(plain); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("denied OPENAT created %s: %v", plain, err)
	}
	dfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	name, _ := unix.BytePtrFromString("loose")
	how := &unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC, Mode: 0o600}
	if res, err := do(r, openat2SQE(dfd, name, how)); err != nil || unix.Errno(-res) != unix.EACCES {
		t.Fatalf("OPENAT2 without RESOLVE_BENEATH: %d %v, want -EACCES", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "loose")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("denied OPENAT2 created the file: %v", err)
	}
	name, _ = unix.BytePtrFromString("beneath")
	how.Resolve = unix.RESOLVE_BENEATH
	res, err := do(r, openat2SQE(dfd, name, how))
	if err != nil || res < 0 {
		t.Fatalf("OPENAT2 with RESOLVE_BENEATH: %d %v", res, err)
	}
	unix.Close(int(res))
	if _, err := os.Stat(filepath.Join(dir, "beneath")); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(how)
}

func listen(t *testing.T) (fd int, port int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 4); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port
}

func connectVia(t *testing.T, r *ring.Ring, port int) int32 {
	t.Helper()
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	sa := &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	pb := (*[2]byte)(unsafe.Pointer(&sa.Port))
	pb[0], pb[1] = byte(port>>8), byte(port)
	res, err := do(r, func(q *uapi.SQE) {
		q.Opcode = uapi.OpConnect
		q.FD = int32(s)
		q.Addr = uint64(uintptr(unsafe.Pointer(sa)))
		q.Off = uint64(unsafe.Sizeof(*sa))
	})
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(sa)
	return res
}

func pending(lfd int) bool {
	nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err == nil {
		unix.Close(nfd)
		return true
	}
	return false
}

func TestRingFilterConnectPorts(t *testing.T) {
	needFilters(t)
	inFD, in := listen(t)
	outFD, out := listen(t)
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.RegisterBPFFilters(bpf.ConnectPorts(uint16(in), uint16(in))); err != nil {
		skipNoConnectContext(t, err)
		t.Fatal(err)
	}
	if res := connectVia(t, r, in); res != 0 {
		t.Fatalf("connect to allowed port %d: %d", in, res)
	}
	if !pending(inFD) {
		t.Fatalf("allowed connect reached no listener")
	}
	if res := connectVia(t, r, out); unix.Errno(-res) != unix.EACCES {
		t.Fatalf("connect to port %d outside [%d,%d]: %d, want -EACCES", out, in, in, res)
	}
	if pending(outFD) {
		t.Fatalf("denied connect reached the listener")
	}
}

func TestRingFilterStackingAndDenyRest(t *testing.T) {
	needFilters(t)
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	nop := func(s *uapi.SQE) { s.Opcode = uapi.OpNop }
	if err := r.RegisterBPFFilters(bpf.DenyOp(uapi.OpNop)); err != nil {
		t.Fatal(err)
	}
	if res, _ := do(r, nop); unix.Errno(-res) != unix.EACCES {
		t.Fatalf("denied NOP: %d", res)
	}
	// A later allow-all filter cannot loosen the set.
	allow, err := bpf.New(uapi.OpNop, bpf.NewProgram().Allow(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterBPFFilters(allow); err != nil {
		t.Fatal(err)
	}
	if res, _ := do(r, nop); unix.Errno(-res) != unix.EACCES {
		t.Fatalf("NOP after stacking an allow filter: %d, want still -EACCES", res)
	}

	// DenyRest: an allow-list of one opcode.
	d, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	only, err := bpf.New(uapi.OpNop, bpf.NewProgram().Allow(), bpf.DenyRest)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterBPFFilters(only); err != nil {
		t.Fatal(err)
	}
	if res, _ := do(d, nop); res != 0 {
		t.Fatalf("allowed NOP under DenyRest: %d", res)
	}
	if err := expectSocket(d, unix.AF_INET, false); err != nil {
		t.Fatalf("SOCKET under DenyRest: %v", err)
	}
}

// The kernel's context size per opcode must match the generated layout.
func TestRingFilterPDUSize(t *testing.T) {
	needFilters(t)
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	allow := bpf.NewProgram().Allow()
	insns, err := allow.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op   uapi.Op
		want uint8
	}{
		{uapi.OpSocket, uapi.SizeofBPFCtxSocket},
		{uapi.OpOpenat, uapi.SizeofBPFCtxOpen},
		{uapi.OpOpenat2, uapi.SizeofBPFCtxOpen},
		{uapi.OpConnect, uapi.SizeofBPFCtxConnect},
		{uapi.OpNop, 0},
	} {
		t.Run(tc.op.String(), func(t *testing.T) {
			// A strict filter claiming one byte more than the kernel
			// learns the kernel's size from the refusal.
			err := r.RegisterBPFFilters(bpf.Filter{Op: tc.op, Program: insns, PDUSize: tc.want + 1, Flags: bpf.SizeStrict})
			var pe *bpf.PDUSizeError
			if !errors.As(err, &pe) || !errors.Is(err, unix.EMSGSIZE) {
				t.Fatalf("strict filter with pdu %d: %v, want PDUSizeError", tc.want+1, err)
			}
			if tc.op == uapi.OpConnect && pe.Kernel == 0 {
				skipNoConnectContext(t, err)
			}
			if pe.Kernel != tc.want {
				t.Errorf("kernel context size %d, generated layout %d", pe.Kernel, tc.want)
			}
		})
	}
	// Smaller than the kernel's: fine unless strict.
	if err := r.RegisterBPFFilters(bpf.Filter{Op: uapi.OpSocket, Program: insns, PDUSize: 4}); err != nil {
		t.Errorf("non-strict smaller pdu: %v", err)
	}
	if err := r.RegisterBPFFilters(bpf.Filter{Op: uapi.OpSocket, Program: insns, PDUSize: 4, Flags: bpf.SizeStrict}); !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("strict smaller pdu: %v, want EMSGSIZE", err)
	}
	// Instructions outside io_uring's subset are refused (here a packet
	// byte load, which socket filters allow).
	bad := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 8}, {Code: unix.BPF_RET | unix.BPF_K, K: 1}}
	if err := r.RegisterBPFFilters(bpf.Filter{Op: uapi.OpNop, Program: bad}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("byte load: %v, want EINVAL", err)
	}
}

// runHelper re-executes the test binary in helper mode and fails with its
// output if it fails.
func runHelper(mode string) error {
	_, err := helperOutput(mode)
	return err
}

// helperOutput is runHelper, also returning the helper's output.
func helperOutput(mode string) (string, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("helper %s: %v\n%s", mode, err, out)
	}
	return string(out), nil
}

func TestTaskFilterInherited(t *testing.T) {
	needFilters(t)
	if err := runHelper("task-bpf"); err != nil {
		t.Fatal(err)
	}
}

func TestTaskRestrictionsInherited(t *testing.T) {
	needFilters(t) // task restrictions came with the filters
	if err := runHelper("task-restrict"); err != nil {
		t.Fatal(err)
	}
}

// Kernels without per-task restrictions and filters refuse them with a
// clear error. Run in a helper all the same: if the kernel did accept them,
// the restrictions must not land on this test process.
func TestTaskWithoutSupport(t *testing.T) {
	if bpf.Available() == nil {
		t.Skip("this kernel has task restrictions and filters; the refusal path is for older ones")
	}
	out, err := helperOutput("task-unsupported")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out))
}

// refusedForTask checks err, from a per-task registration with register
// opcode op on a kernel without per-task support: it must match
// bpf.ErrNoTask, name op, and wrap the errno that the kernel itself gives
// for op on fd -1 (6.18: EINVAL; 6.12: EBADF for RESTRICTIONS, which it
// knows for rings only, EINVAL for BPF_FILTER, which it does not know),
// asked here directly with a NULL argument, refused before it is read.
func refusedForTask(op uapi.RegisterOp, err error) error {
	_, _, kernel := unix.Syscall6(unix.SYS_IO_URING_REGISTER, ^uintptr(0), uintptr(op), 0, 0, 0, 0)
	if kernel != unix.EINVAL && kernel != unix.EBADF {
		return fmt.Errorf("raw io_uring_register %s on fd -1: errno %d (%v), want EINVAL or EBADF", op, kernel, kernel)
	}
	if !errors.Is(err, bpf.ErrNoTask) || !errors.Is(err, kernel) || !strings.Contains(err.Error(), op.String()) {
		return fmt.Errorf("%v, want bpf.ErrNoTask and %v (%s), naming %s", err, kernel, unix.ErrnoName(kernel), op)
	}
	fmt.Printf("%s (%s)\n", err, unix.ErrnoName(kernel))
	return nil
}

func helper(mode string) error {
	// Like seccomp: unprivileged tasks need no_new_privs; root does not,
	// but set it anyway so the helper also works without CAP_SYS_ADMIN.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	newRing := func() (*ring.Ring, error) { return ring.New(4) }
	nop := func(s *uapi.SQE) { s.Opcode = uapi.OpNop }
	switch mode {
	case "task-bpf":
		if err := bpf.Register(bpf.Task, bpf.SocketInetOnly()); err != nil {
			return err
		}
		r, err := newRing()
		if err != nil {
			return err
		}
		defer r.Close()
		if err := expectSocket(r, unix.AF_UNIX, false); err != nil {
			return fmt.Errorf("own ring: %w", err)
		}
		if err := expectSocket(r, unix.AF_INET, true); err != nil {
			return fmt.Errorf("own ring: %w", err)
		}
		return runHelper("task-bpf-child")
	case "task-bpf-child":
		r, err := newRing()
		if err != nil {
			return err
		}
		defer r.Close()
		if err := expectSocket(r, unix.AF_UNIX, false); err != nil {
			return fmt.Errorf("inherited filter: %w", err)
		}
		// The child cannot widen: an allow-all filter stacks, the deny stays.
		allow, err := bpf.New(uapi.OpSocket, bpf.NewProgram().Allow(), 0)
		if err != nil {
			return err
		}
		if err := bpf.Register(bpf.Task, allow); err != nil {
			return err
		}
		w, err := newRing()
		if err != nil {
			return err
		}
		defer w.Close()
		if err := expectSocket(w, unix.AF_UNIX, false); err != nil {
			return fmt.Errorf("after the child's allow-all filter: %w", err)
		}
		// It can narrow.
		if err := bpf.Register(bpf.Task, bpf.DenyOp(uapi.OpNop)); err != nil {
			return err
		}
		n, err := newRing()
		if err != nil {
			return err
		}
		defer n.Close()
		if res, err := do(n, nop); err != nil || unix.Errno(-res) != unix.EACCES {
			return fmt.Errorf("NOP after the child's deny filter: %d %v, want -EACCES", res, err)
		}
		return nil
	case "task-restrict", "task-restrict-child":
		if mode == "task-restrict" {
			if err := ring.RestrictTask(ring.AllowOp(uapi.OpNop), ring.AllowOp(uapi.OpSocket)); err != nil {
				return err
			}
		}
		r, err := newRing()
		if err != nil {
			return err
		}
		defer r.Close()
		if res, err := do(r, nop); err != nil || res != 0 {
			return fmt.Errorf("allowed NOP: %d %v", res, err)
		}
		if err := expectSocket(r, unix.AF_UNIX, true); err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "urgen-restrict")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "denied")
		p, _ := unix.BytePtrFromString(path)
		if res, err := do(r, openatSQE(p)); err != nil || unix.Errno(-res) != unix.EACCES {
			return fmt.Errorf("OPENAT under task restrictions: %d %v, want -EACCES", res, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("denied OPENAT created the file: %v", err)
		}
		// Neither the task nor its child may replace the set.
		if err := ring.RestrictTask(ring.AllowOp(uapi.OpNop), ring.AllowOp(uapi.OpOpenat)); !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("second RestrictTask: %v, want EPERM", err)
		}
		if mode == "task-restrict" {
			return runHelper("task-restrict-child")
		}
		return nil
	case "task-unsupported":
		if err := refusedForTask(uapi.RegisterRestrictions, ring.RestrictTask(ring.AllowOp(uapi.OpNop))); err != nil {
			return fmt.Errorf("RestrictTask: %w", err)
		}
		if err := refusedForTask(uapi.RegisterBPFFilter, bpf.Register(bpf.Task, bpf.DenyOp(uapi.OpNop))); err != nil {
			return fmt.Errorf("task filter: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// On kernels without filters, registration fails with a clear error naming
// the register op, and Available explains why.
func TestRegisterWithoutFilters(t *testing.T) {
	if bpf.Available() == nil {
		t.Skip("this kernel has BPF filters; the refusal path is for older ones")
	}
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.RegisterBPFFilters(bpf.DenyOp(uapi.OpNop))
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "IORING_REGISTER_BPF_FILTER") {
		t.Fatalf("filter on a kernel without filters: %v, want EINVAL naming IORING_REGISTER_BPF_FILTER", err)
	}
	if res, err := do(r, func(s *uapi.SQE) { s.Opcode = uapi.OpNop }); err != nil || res != 0 {
		t.Fatalf("NOP after the refused filter: %d %v", res, err)
	}
}

// Address loads against the kernel's own connect context: IPv4 as a number,
// IPv6 a word at a time.
func TestRingFilterConnectAddress(t *testing.T) {
	needFilters(t)
	lfd, port := listen(t)
	r, err := ring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Allow 127.0.0.1 only (IPv4), and ::1 only (IPv6).
	p := bpf.NewProgram().
		Load(bpf.ConnectFamily).
		Jump(bpf.Eq, unix.AF_INET6, "v6", "").
		Load(bpf.ConnectV4Addr).
		Jump(bpf.Eq, 0x7f000001, "allow", "deny").
		Label("v6").
		Load(bpf.ConnectV6Addr.Word(0)).Jump(bpf.Ne, 0, "deny", "").
		Load(bpf.ConnectV6Addr.Word(1)).Jump(bpf.Ne, 0, "deny", "").
		Load(bpf.ConnectV6Addr.Word(2)).Jump(bpf.Ne, 0, "deny", "").
		Load(bpf.ConnectV6Addr.Word(3)).Jump(bpf.Eq, 1, "allow", "deny").
		Label("allow").Allow().
		Label("deny").Deny()
	f, err := bpf.New(uapi.OpConnect, p, bpf.SizeStrict)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterBPFFilters(f); err != nil {
		skipNoConnectContext(t, err)
		t.Fatal(err)
	}
	if res := connectVia(t, r, port); res != 0 {
		t.Fatalf("connect to 127.0.0.1: %d", res)
	}
	if !pending(lfd) {
		t.Fatal("allowed connect reached no listener")
	}
	// 127.0.0.2 is loopback too, but not the allowed address.
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	sa := &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 2}}
	pb := (*[2]byte)(unsafe.Pointer(&sa.Port))
	pb[0], pb[1] = byte(port>>8), byte(port)
	res, err := do(r, func(q *uapi.SQE) {
		q.Opcode = uapi.OpConnect
		q.FD = int32(s)
		q.Addr = uint64(uintptr(unsafe.Pointer(sa)))
		q.Off = uint64(unsafe.Sizeof(*sa))
	})
	if err != nil || unix.Errno(-res) != unix.EACCES {
		t.Fatalf("connect to 127.0.0.2: %d %v, want -EACCES", res, err)
	}
	runtime.KeepAlive(sa)

	// IPv6, where the loopback has it.
	l6, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Logf("no IPv6 sockets, IPv6 half not run: %v", err)
		return
	}
	defer unix.Close(l6)
	if err := unix.Bind(l6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}); err != nil {
		t.Logf("no ::1 to bind, IPv6 half not run: %v", err)
		return
	}
	if err := unix.Listen(l6, 4); err != nil {
		t.Fatal(err)
	}
	sa6, err := unix.Getsockname(l6)
	if err != nil {
		t.Fatal(err)
	}
	port6 := sa6.(*unix.SockaddrInet6).Port
	connect6 := func(addr [16]byte) int32 {
		c, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(c)
		raw := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: addr}
		pb := (*[2]byte)(unsafe.Pointer(&raw.Port))
		pb[0], pb[1] = byte(port6>>8), byte(port6)
		res, err := do(r, func(q *uapi.SQE) {
			q.Opcode = uapi.OpConnect
			q.FD = int32(c)
			q.Addr = uint64(uintptr(unsafe.Pointer(raw)))
			q.Off = uint64(unsafe.Sizeof(*raw))
		})
		if err != nil {
			t.Fatal(err)
		}
		runtime.KeepAlive(raw)
		return res
	}
	if res := connect6([16]byte{15: 1}); res != 0 {
		t.Fatalf("connect to ::1: %d", res)
	}
	if !pending(l6) {
		t.Fatal("allowed IPv6 connect reached no listener")
	}
	// ::ffff:127.0.0.1 differs from ::1 in words 2 and 3.
	if res := connect6([16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}); unix.Errno(-res) != unix.EACCES {
		t.Fatalf("connect to ::ffff:127.0.0.1: %d, want -EACCES", res)
	}
}
