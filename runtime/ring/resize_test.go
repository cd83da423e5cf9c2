package ring

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// TestResizeMappingFails: under a low RLIMIT_AS the kernel resizes the
// rings but mapping the new ones fails. The ring must then say so on every
// call (it used to accept SQEs that never completed) and leave no
// io_uring mapping behind. A child process takes the low limit, so that
// nothing else in this test binary runs under it.
func TestResizeMappingFails(t *testing.T) {
	if os.Getenv("URGEN_RESIZE_CHILD") == "1" {
		resizeUnderLowLimit(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestResizeMappingFails$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "URGEN_RESIZE_CHILD=1")
	out, err := cmd.CombinedOutput()
	switch {
	case bytes.Contains(out, []byte("--- SKIP")):
		t.Skipf("child: %s", out)
	case err != nil || !bytes.Contains(out, []byte("--- PASS")):
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func resizeUnderLowLimit(t *testing.T) {
	r, err := New(8, WithFlags(uapi.SetupSingleIssuer|uapi.SetupDeferTaskrun))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Resize(16, 0); err != nil {
		t.Skipf("needs resize_rings: IORING_REGISTER_RESIZE_RINGS (6.13): %v", err)
	}
	nops(t, r, 1, 2) // queued across the resize
	need := resizeGrowth(t)
	vm := vmSize(t)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &old); err != nil {
		t.Fatal(err)
	}
	// Room for all but 16 KiB of the new rings. The Go runtime must find
	// room too: it maps memory in chunks of up to 256 KiB, and with less
	// room than that a chunk it needs while Resize builds its error is a
	// fatal error (seen with 64 KiB of room on 7.2.13). Before the mapping
	// and after it failed it has the whole room, about 400 KiB.
	low := unix.Rlimit{Cur: vm + need - 16<<10, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_AS, &low); err != nil {
		t.Fatal(err)
	}
	err = r.Resize(4096, 8192)
	if rerr := unix.Setrlimit(unix.RLIMIT_AS, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil {
		t.Fatal("Resize mapped 4096/8192-entry rings within 64 KiB of address space")
	}
	if !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("Resize: %v, want ENOMEM and a ring marked unusable", err)
	}
	t.Logf("Resize: %v", err)
	if n := ioUringMappings(t); n != 0 {
		t.Errorf("%d io_uring mappings left after the failed Resize, want 0", n)
	}
	// Every call says so; nothing reaches the kernel.
	if s := r.SQE(); s != nil || !errors.Is(r.Err(), unix.ENOMEM) {
		t.Errorf("SQE after the failed Resize: %v, Err %v", s, r.Err())
	}
	if _, err := r.Submit(); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("Submit after the failed Resize: %v", err)
	}
	if _, err := r.WaitCQE(); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("WaitCQE after the failed Resize: %v", err)
	}
	if _, err := r.Probe(); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("Probe after the failed Resize: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !errors.Is(r.Err(), os.ErrClosed) {
		t.Errorf("Err after Close: %v", r.Err())
	}
	if n := ioUringMappings(t); n != 0 {
		t.Errorf("%d io_uring mappings left after Close, want 0", n)
	}
}

// resizeGrowth measures how much address space a Resize to 4096/8192
// entries adds, on scratch rings like the test's (the smallest of three
// tries: the Go runtime may map memory in between).
func resizeGrowth(t *testing.T) uint64 {
	growth := uint64(1 << 62)
	for range 3 {
		r, err := New(8, WithFlags(uapi.SetupSingleIssuer|uapi.SetupDeferTaskrun))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Resize(16, 0); err != nil {
			t.Fatal(err)
		}
		before := vmSize(t)
		if err := r.Resize(4096, 8192); err != nil {
			t.Fatal(err)
		}
		growth = min(growth, vmSize(t)-before)
		r.Close()
	}
	if growth < 64<<10 {
		t.Fatalf("a Resize to 4096/8192 entries added %d bytes of address space, want the new rings' (about 400 KiB)", growth)
	}
	return growth
}

// vmSize returns the process's virtual memory size in bytes.
func vmSize(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmSize in /proc/self/status")
	return 0
}

// ioUringMappings counts the process's mappings of io_uring rings.
func ioUringMappings(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "anon_inode:[io_uring]")
}
