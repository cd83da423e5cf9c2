package nvme_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/internal/blockbench"
	"github.com/urgen/urgen/internal/matrix/feature"
	"github.com/urgen/urgen/runtime/nvme"
)

// The matrix VMs' NVMe controller (internal/matrix): serial urgen-matrix,
// namespace 1 plain, namespace 2 with 8 bytes of protection information
// per block; each 64 MiB.
const (
	plainNS = 1
	piNS    = 2
)

// blockDevice is the block device of namespace nsid.
func blockDevice(nsid int) string {
	_, block := feature.NVMeNamespace(0, nsid)
	return block
}

// open opens namespace nsid's generic device, or skips naming the feature.
func open(t testing.TB, nsid int) *nvme.Device {
	t.Helper()
	path, _ := feature.NVMeNamespace(0, nsid)
	if path == "" {
		t.Skipf("needs nvme_passthrough: no NVMe namespace %d (the matrix VMs have qemu's NVMe controller; generic devices here: %v)", nsid, feature.NVMeGenericDevices())
	}
	d, err := nvme.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func queue(t testing.TB, d *nvme.Device, opts ...nvme.QueueOption) *nvme.Queue {
	t.Helper()
	q, err := d.NewQueue(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// aligned returns n bytes aligned to 4096 (O_DIRECT needs it).
func aligned(n int) []byte { return blockbench.Aligned(n) }

// pattern returns n aligned pseudo-random bytes.
func pattern(n int, seed uint64) []byte { return blockbench.Pattern(n, seed) }

// TestIdentify: the identify data of qemu's controller and namespaces.
func TestIdentify(t *testing.T) {
	d := open(t, plainNS)
	c, ns := d.Controller(), d.Namespace()
	t.Logf("controller %+v", c)
	t.Logf("namespace %d %+v", d.NSID(), ns)
	if c.Serial != "urgen-matrix" || !strings.Contains(c.Model, "QEMU") || c.VendorID == 0 || c.Namespaces < 2 || c.Version < 0x10400 {
		t.Errorf("controller %+v: want serial urgen-matrix, a QEMU model, a vendor ID, 2+ namespaces, NVMe 1.4+", c)
	}
	if d.NSID() != 1 || ns.BlockSize != 512 || ns.Size != 64<<20/512 || ns.Capacity != ns.Size || ns.MetadataSize != 0 || ns.PIType != 0 {
		t.Errorf("namespace 1 %+v: want 512-byte blocks, 64 MiB, no metadata", ns)
	}
	pi := open(t, piNS)
	if p := pi.Namespace(); pi.NSID() != 2 || p.MetadataSize != 8 || p.PIType != 1 || p.BlockSize != 512 || p.ExtendedLBA {
		t.Errorf("namespace 2 %+v: want 8 bytes of separate metadata, PI type 1", p)
	}
}

// TestReadWrite writes patterns through passthrough at several offsets
// and reads them back through passthrough and with O_DIRECT reads of the
// namespace's block device, byte by byte.
func TestReadWrite(t *testing.T) {
	d := open(t, plainNS)
	for _, name := range []string{"sqe128", "mixed"} {
		t.Run(name, func(t *testing.T) {
			var opts []nvme.QueueOption
			if name == "mixed" {
				if !hasMixed() {
					t.Skip("needs sqe_mixed: IORING_SETUP_SQE_MIXED unknown to this kernel")
				}
				opts = append(opts, nvme.WithMixed())
			}
			q := queue(t, d, opts...)
			plainBD := blockDevice(plainNS)
			bd, err := os.OpenFile(plainBD, os.O_RDONLY|unix.O_DIRECT, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer bd.Close()
			for i, tc := range []struct {
				off int64
				n   int
			}{{0, 512}, {4096, 4096}, {1 << 20, 128 << 10}, {d.Size() - 8192, 8192}} {
				want := pattern(tc.n, uint64(i)+7)
				if n, err := q.WriteAt(want, tc.off); n != tc.n || err != nil {
					t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", tc.n, tc.off, n, err)
				}
				got := aligned(tc.n)
				if n, err := q.ReadAt(got, tc.off); n != tc.n || err != nil {
					t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", tc.n, tc.off, n, err)
				}
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("passthrough read at %d differs from what was written at byte %d", tc.off, i)
				}
				direct := aligned(tc.n)
				if n, err := bd.ReadAt(direct, tc.off); n != tc.n || err != nil {
					t.Fatalf("O_DIRECT pread %s at %d: %d, %v", plainBD, tc.off, n, err)
				}
				if i := firstDiff(direct, want); i >= 0 {
					t.Fatalf("O_DIRECT read of %s at %d differs from the passthrough write at byte %d", plainBD, tc.off, i)
				}
			}
			if err := q.Flush(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func hasMixed() bool {
	k, err := feature.Detect()
	return err == nil && k.Has("sqe_mixed") && k.Has("cqe_mixed")
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestVectoredAndFixed: NVME_URING_CMD_IO_VEC with three buffers, and
// IORING_URING_CMD_FIXED on registered buffers, read back both ways.
func TestVectoredAndFixed(t *testing.T) {
	d := open(t, plainNS)
	reg := [][]byte{aligned(64 << 10), aligned(64 << 10)}
	q := queue(t, d, nvme.WithFixedBuffers(reg))
	parts := [][]byte{pattern(4096, 1), pattern(512, 2), pattern(3584, 3)}
	if n, err := q.WritevAt(parts, 2<<20); n != 8192 || err != nil {
		t.Fatalf("WritevAt = %d, %v", n, err)
	}
	whole := aligned(8192)
	if _, err := q.ReadAt(whole, 2<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole, slices.Concat(parts...)) {
		t.Fatal("ReadAt after WritevAt: data differs")
	}
	back := [][]byte{aligned(1024), aligned(7168)}
	if n, err := q.ReadvAt(back, 2<<20); n != 8192 || err != nil || !bytes.Equal(slices.Concat(back...), whole) {
		t.Fatalf("ReadvAt = %d, %v (equal %v)", n, err, bytes.Equal(slices.Concat(back...), whole))
	}
	want := pattern(16384, 9)
	copy(reg[1][4096:], want)
	if n, err := q.WriteFixedAt(1, reg[1][4096:4096+16384], 3<<20); n != 16384 || err != nil {
		t.Fatalf("WriteFixedAt = %d, %v", n, err)
	}
	if n, err := q.ReadFixedAt(0, reg[0][:16384], 3<<20); n != 16384 || err != nil || !bytes.Equal(reg[0][:16384], want) {
		t.Fatalf("ReadFixedAt = %d, %v (equal %v)", n, err, bytes.Equal(reg[0][:16384], want))
	}
	if _, err := q.ReadFixedAt(0, make([]byte, 512), 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ReadFixedAt outside the registered buffer: %v, want EINVAL", err)
	}
}

// TestQueueDepth starts 32 reads and writes at once and completes them.
func TestQueueDepth(t *testing.T) {
	d := open(t, plainNS)
	q := queue(t, d)
	const depth, size = 32, 4096
	bufs := make([][]byte, depth)
	for i := range bufs {
		bufs[i] = pattern(size, uint64(100+i))
		if err := q.StartWrite(bufs[i], int64(8<<20+i*size), uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		seen := map[uint64]bool{}
		for q.InFlight() > 0 {
			if _, err := q.Complete(1, func(tag uint64, n int, err error) {
				if n != size || err != nil {
					t.Errorf("%s tag %d: %d, %v", what, tag, n, err)
				}
				seen[tag] = true
			}); err != nil {
				t.Fatal(err)
			}
		}
		if len(seen) != depth {
			t.Fatalf("%s: %d of %d completed", what, len(seen), depth)
		}
	}
	check("write")
	got := make([][]byte, depth)
	for i := range got {
		got[i] = aligned(size)
		if err := q.StartRead(got[i], int64(8<<20+i*size), uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	check("read")
	for i := range got {
		if !bytes.Equal(got[i], bufs[i]) {
			t.Fatalf("block %d read back differs", i)
		}
	}
}

// TestStatusErrors: a command the controller rejects comes back as a
// *StatusError naming the command and the NVMe status.
func TestStatusErrors(t *testing.T) {
	d := open(t, plainNS)
	q := queue(t, d)
	if _, err := q.ReadAt(make([]byte, 100), 0); err == nil || !strings.Contains(err.Error(), "block size") {
		t.Errorf("ReadAt(100 bytes): %v, want a block size error", err)
	}
	if _, err := q.ReadAt(aligned(1024), d.Size()-512); err == nil || !strings.Contains(err.Error(), "past the namespace's end") {
		t.Errorf("ReadAt past the end: %v", err)
	}
	// Past the end as the controller sees it: a raw command.
	err := nvme.ReadLBAForTest(q, aligned(512), uint64(d.Namespace().Size)+8)
	var se *nvme.StatusError
	if !errors.As(err, &se) || se.Command != "Read" || se.Code() != 0x80 || se.Type() != nvme.SCTGeneric {
		t.Errorf("Read past the end: %v, want nvme Read: LBA Out of Range", err)
	}
	t.Logf("%v", err)
	err = nvme.IOCmdForTest(q, 0x7f)
	if !errors.As(err, &se) || se.Code() != 0x01 || !strings.Contains(err.Error(), "nvme opcode 0x7f: Invalid Command Opcode") {
		t.Errorf("opcode 0x7f: %v, want Invalid Command Opcode", err)
	}
}

// TestProtectionInformation: on namespace 2 (PI type 1) the data commands
// set PRACT: the controller generates the protection information on
// writes and checks it on reads.
func TestProtectionInformation(t *testing.T) {
	d := open(t, piNS)
	q := queue(t, d)
	want := pattern(8192, 77)
	if _, err := q.WriteAt(want, 4096); err != nil {
		t.Fatal(err)
	}
	got := aligned(8192)
	if _, err := q.ReadAt(got, 4096); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadAt = %v (equal %v)", err, bytes.Equal(got, want))
	}
}

// TestPoll: on an IOPOLL ring the commands go to the controller's poll
// queue, which has no interrupt: /proc/interrupts shows no new nvme queue
// interrupts for polled commands, and about one per command without
// polling (which proves the count is seen).
func TestPoll(t *testing.T) {
	d := open(t, plainNS)
	if !nvme.PollSafe() {
		// The refusal is what this kernel gets: check it, then skip.
		q, err := d.NewQueue(nvme.WithPoll())
		if !errors.Is(err, nvme.ErrPollUnsafe) || !errors.Is(err, unix.EOPNOTSUPP) {
			if q != nil {
				q.Close()
			}
			t.Fatalf("NewQueue(WithPoll) before Linux 6.8 = %v, want ErrPollUnsafe", err)
		}
		t.Skipf("needs nvme_poll: %v", err)
	}
	const n = 200
	run := func(q *nvme.Queue) uint64 {
		buf := aligned(4096)
		before := nvmeInterrupts(t)
		for i := range n {
			if _, err := q.ReadAt(buf, int64(i)*4096); err != nil {
				t.Fatal(err)
			}
		}
		return nvmeInterrupts(t) - before
	}
	polled := run(queue(t, d, nvme.WithPoll()))
	plain := run(queue(t, d))
	t.Logf("%d reads: %d nvme queue interrupts polled, %d without polling", n, polled, plain)
	if plain < n/2 {
		t.Fatalf("only %d interrupts for %d interrupt-driven reads: cannot tell polling", plain, n)
	}
	if polled > n/10 {
		t.Errorf("%d interrupts for %d polled reads: not polled", polled, n)
	}
}

// nvmeInterrupts sums the interrupts of the nvme I/O queues (nvme0q1 ...,
// not the admin queue nvme0q0) on every CPU.
func nvmeInterrupts(t testing.TB) uint64 {
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[len(f)-1], "nvme0q") || f[len(f)-1] == "nvme0q0" {
			continue
		}
		for _, x := range f[1:] {
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				break
			}
			sum += v
		}
	}
	return sum
}
