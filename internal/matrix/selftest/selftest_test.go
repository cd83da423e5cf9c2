package selftest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
	"golang.org/x/sys/unix"
)

// inVM reports whether this runs in a VM booted by the matrix runner, whose
// /init sets URGEN_VM and hands the kernel command line's urgen.* on.
func inVM() bool { return os.Getenv("URGEN_VM") == "1" }

func release(t *testing.T) string {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatalf("uname: %v", err)
	}
	return unix.ByteSliceToString(uts.Release[:])
}

// TestKernelRelease checks that uname's release is the one the runner
// announced in URGEN_RELEASE: in a VM, the release read from the header of
// the vmlinuz it booted; on the host, its own uname.
func TestKernelRelease(t *testing.T) {
	want := os.Getenv("URGEN_RELEASE")
	if want == "" {
		t.Skip("not run by the matrix runner (no URGEN_RELEASE)")
	}
	if got := release(t); got != want {
		t.Fatalf("uname release = %q, runner booted %q", got, want)
	}
	t.Logf("kernel %s (column %s)", release(t), os.Getenv("URGEN_KERNEL"))
}

// TestSetupProbe sets a ring up with the raw io_uring_setup system call,
// probes it, and compares the probe's last_op with URGEN_LAST_OP, the
// kernels.txt value (7.2/7.3: 64, IORING_OP_URING_CMD128; 6.12: 57).
func TestSetupProbe(t *testing.T) {
	var p uapi.Params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 8, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		if inVM() {
			t.Fatalf("io_uring_setup: %v", errno)
		}
		t.Skipf("needs io_uring: io_uring_setup: %v", errno)
	}
	defer unix.Close(int(fd))
	// The kernel rounds the SQ up to a power of two and doubles it for the CQ.
	if p.SQEntries != 8 || p.CQEntries != 16 || p.Features == 0 {
		t.Errorf("io_uring_setup gave sq_entries %d, cq_entries %d, features %#x; want 8, 16, non-zero",
			p.SQEntries, p.CQEntries, p.Features)
	}
	k, err := feature.Detect()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("last_op %d (%v), features: %s", k.LastOp, k.LastOp, strings.Join(k.Features, " "))
	want, set := os.LookupEnv("URGEN_LAST_OP")
	if !set {
		t.Skip("no expected last_op: not in a matrix VM (kernels.txt has none for the host)")
	}
	if n, err := strconv.Atoi(want); err != nil || int(k.LastOp) != n {
		t.Fatalf("probe last_op = %d, kernels.txt says %q", k.LastOp, want)
	}
	// The matrix fails a skip "needs opcode X" on a kernel whose last_op
	// is X or above; that holds only if the probe supports every opcode
	// up to last_op.
	if len(k.Unsupported) > 0 {
		t.Fatalf("the probe does not support %v, all at most last_op %d: kernels.txt's last_op promises them", k.Unsupported, k.LastOp)
	}
}

// TestFeatures checks that the features found by probe and query are
// exactly those that URGEN_FEATURES (the kernels.txt row, or on the host
// MATRIX_HOST_FEATURES) lists: a missing one would let a wrong skip pass.
func TestFeatures(t *testing.T) {
	want, set := os.LookupEnv("URGEN_FEATURES")
	if !set {
		t.Skip("no expected feature list: not in a matrix VM, and MATRIX_HOST_FEATURES unset")
	}
	k, err := feature.Detect()
	if err != nil {
		t.Fatal(err)
	}
	listed := strings.FieldsFunc(want, func(r rune) bool { return r == ',' })
	for _, f := range feature.Names {
		if k.Has(f) != slices.Contains(listed, f) {
			t.Errorf("feature %s: detected %v, but %v in the list for %s (kernels.txt row, or MATRIX_HOST_FEATURES)",
				f, k.Has(f), !k.Has(f), os.Getenv("URGEN_KERNEL"))
		}
	}
}

// TestSetupFlags cross-checks the features that are setup flags against
// the setup call itself: a ring with the flag (and the flags it requires)
// sets up if and only if the feature was detected (by the query, where
// there is one), and fails with EINVAL if not.
func TestSetupFlags(t *testing.T) {
	k, err := feature.Detect()
	if err != nil {
		t.Skipf("needs io_uring: %v", err)
	}
	for _, tc := range []struct {
		feature string
		flags   uapi.SetupFlags
	}{
		{"hybrid_iopoll", uapi.SetupHybridIOPoll | uapi.SetupIOPoll},
		{"cqe_mixed", uapi.SetupCQEMixed},
		{"sqe_mixed", uapi.SetupSQEMixed},
		{"sq_rewind", uapi.SetupSQRewind | uapi.SetupNoSqarray},
	} {
		p := uapi.Params{Flags: tc.flags}
		fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 8, uintptr(unsafe.Pointer(&p)), 0)
		if errno == 0 {
			unix.Close(int(fd))
		}
		switch {
		case k.Has(tc.feature) && errno != 0:
			t.Errorf("%s detected, but io_uring_setup with %v: %v", tc.feature, tc.flags, errno)
		case !k.Has(tc.feature) && !errors.Is(errno, unix.EINVAL):
			t.Errorf("%s not detected, but io_uring_setup with %v gave %v, want EINVAL", tc.feature, tc.flags, errno)
		}
	}
}

// TestTmp checks that /tmp is writable, and a tmpfs inside the VM.
func TestTmp(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "selftest-")
	if err != nil {
		t.Fatalf("/tmp not writable: %v", err)
	}
	defer os.RemoveAll(dir)
	want := []byte("matrix selftest\n")
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %q, %v; want %q", got, err, want)
	}
	if !inVM() {
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/tmp", &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("/tmp has f_type %#x, want tmpfs %#x", st.Type, unix.TMPFS_MAGIC)
	}
}

// TestLoopbackTCP echoes bytes over a TCP connection on 127.0.0.1, which
// works only if /init brought lo up.
func TestLoopbackTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	want := []byte("ping over loopback")
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo = %q, want %q", got, want)
	}
}

// TestDevices checks, in a VM whose kernels.txt row lists them, the
// devices the runner attaches and /init's modules create: qemu's NVMe
// controller with a plain namespace (/dev/nvme0n1, generic char device
// /dev/ng0n1) and one with protection information (/dev/nvme0n2,
// T10-DIF-TYPE1-CRC), polled queues on it and on null_blk's nullb0, and
// /dev/ublk-control.
func TestDevices(t *testing.T) {
	listed := strings.Split(os.Getenv("URGEN_FEATURES"), ",")
	if !inVM() {
		t.Skip("not in a matrix VM: the devices are qemu's and the modules /init's")
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
		}
		return strings.TrimSpace(string(b))
	}
	if slices.Contains(listed, "nvme_passthrough") {
		for nsid, format := range map[int]string{1: "none", 2: "T10-DIF-TYPE1-CRC"} {
			generic, block := feature.NVMeNamespace(0, nsid)
			if generic == "" {
				t.Errorf("no device of NVMe namespace %d", nsid)
				continue
			}
			for _, p := range []string{generic, block} {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%v", err)
				}
			}
			// qemu's nvme-ns ms=8 pi=1 for namespace 2.
			if got := read("/sys/block/" + filepath.Base(block) + "/integrity/format"); got != format {
				t.Errorf("namespace %d (%s) integrity format %q, want %s", nsid, block, got, format)
			}
		}
	}
	if slices.Contains(listed, "iopoll_device") {
		_, plain := feature.NVMeNamespace(0, 1)
		for _, dev := range []string{filepath.Base(plain), "nullb0"} {
			if got := read("/sys/block/" + dev + "/queue/io_poll"); got != "1" {
				t.Errorf("%s io_poll %q, want 1 (poll_queues=1)", dev, got)
			}
		}
	}
	if slices.Contains(listed, "ublk") {
		if _, err := os.Stat("/dev/ublk-control"); err != nil {
			t.Errorf("%v", err)
		}
	}
	t.Logf("polling block devices: %v; NVMe generic devices: %v", feature.PollingBlockDevices(), feature.NVMeGenericDevices())
}
