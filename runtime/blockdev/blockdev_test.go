package blockdev_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/blockbench"
	"github.com/urgen/urgen/internal/matrix/feature"
	"github.com/urgen/urgen/runtime/blockdev"
	"github.com/urgen/urgen/runtime/ring"
)

// TestCRC16T10DIF: the published check value of CRC-16/T10-DIF, the CRC
// of "123456789", is 0xd0db.
func TestCRC16T10DIF(t *testing.T) {
	if got := blockdev.CRC16T10DIF(0, []byte("123456789")); got != 0xd0db {
		t.Fatalf("CRC16T10DIF(123456789) = %#04x, want 0xd0db", got)
	}
	// Continuing a CRC over a split buffer gives the same.
	if a := blockdev.CRC16T10DIF(blockdev.CRC16T10DIF(0, []byte("1234")), []byte("56789")); a != 0xd0db {
		t.Fatalf("split CRC = %#04x", a)
	}
}

func TestGenerateVerify(t *testing.T) {
	data := blockbench.Pattern(4096, 1)
	meta := make([]byte, 64)
	if err := blockdev.GenerateT10DIF(meta, data, 512, 100, 7); err != nil {
		t.Fatal(err)
	}
	if err := blockdev.VerifyT10DIF(meta, data, 512, 100); err != nil {
		t.Fatal(err)
	}
	if err := blockdev.VerifyT10DIF(meta, data, 512, 101); err == nil {
		t.Error("a wrong seed verifies")
	}
	data[700] ^= 1
	if err := blockdev.VerifyT10DIF(meta, data, 512, 100); err == nil {
		t.Error("changed data verifies")
	}
	if err := blockdev.GenerateT10DIF(meta[:8], data, 512, 0, 0); err == nil {
		t.Error("short metadata accepted")
	}
}

// piDevice returns the PI namespace's block device and a ring that has
// read/write attributes, or skips naming the missing feature.
func piDevice(t *testing.T) (*os.File, blockdev.Integrity, *ring.Ring) {
	t.Helper()
	_, dev := feature.NVMeNamespace(0, 2)
	if dev == "" {
		t.Skip("needs nvme_passthrough: no NVMe namespace 2 with protection information (the matrix VMs have one)")
	}
	r, err := ring.New(8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if r.Features()&uapi.FeatRwAttr == 0 {
		t.Skipf("needs rw_attr: IORING_FEAT_RW_ATTR not in %v", r.Features())
	}
	in, err := blockdev.IntegrityOf(dev)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != "T10-DIF-TYPE1-CRC" || in.TupleSize != 8 {
		t.Fatalf("%s integrity %+v, want T10-DIF-TYPE1-CRC with 8-byte tuples", dev, in)
	}
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, in, r
}

func do(t *testing.T, r *ring.Ring, prep func(*uapi.SQE)) error {
	t.Helper()
	prep(r.SQE())
	if _, err := r.SubmitAndWait(1); err != nil {
		t.Fatal(err)
	}
	c, err := r.WaitCQE()
	if err != nil {
		t.Fatal(err)
	}
	defer r.CQESeen(c)
	_, err = ring.Result("pi", c)
	return err
}

// TestProtectionInformation writes data with its protection information
// to the PI namespace (O_DIRECT, IORING_RW_ATTR_FLAG_PI), reads it back
// with the stored tuples and verifies them, and sees the device reject
// writes whose guard or reference tag is wrong.
func TestProtectionInformation(t *testing.T) {
	f, in, r := piDevice(t)
	const off, n, appTag = 64 << 10, 8192, 0x1234
	seed := uint64(off / 512)
	data := blockbench.Pattern(n, 3)
	meta := blockbench.Aligned(in.MetadataLen(n))
	if err := blockdev.GenerateT10DIF(meta, data, in.Interval, uint32(seed), appTag); err != nil {
		t.Fatal(err)
	}
	checks := uapi.IntegrityChkGuard | uapi.IntegrityChkReftag | uapi.IntegrityChkApptag
	pi := blockdev.PIAttr(meta, seed, appTag, checks)
	if err := do(t, r, func(s *uapi.SQE) { s.PrepWritePI(int32(f.Fd()), data, off, &pi) }); err != nil {
		t.Fatalf("write with protection information: %v", err)
	}
	got, gotMeta := blockbench.Aligned(n), blockbench.Aligned(len(meta))
	rpi := blockdev.PIAttr(gotMeta, seed, appTag, uapi.IntegrityChkGuard|uapi.IntegrityChkReftag)
	if err := do(t, r, func(s *uapi.SQE) { s.PrepReadPI(int32(f.Fd()), got, off, &rpi) }); err != nil {
		t.Fatalf("read with protection information: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data read back differs")
	}
	if err := blockdev.VerifyT10DIF(gotMeta, got, in.Interval, uint32(seed)); err != nil {
		t.Fatalf("tuples read back: %v", err)
	}
	if !bytes.Equal(gotMeta, meta) {
		t.Fatalf("tuples read back %x, written %x", gotMeta, meta)
	}
	// A corrupted guard, then a reference tag that is not the LBA.
	for _, tc := range []struct {
		name    string
		corrupt func(m []byte)
	}{
		{"guard", func(m []byte) { m[8] ^= 0xff }},
		{"reference tag", func(m []byte) { m[15]++ }},
	} {
		bad := blockbench.Aligned(len(meta))
		copy(bad, meta)
		tc.corrupt(bad)
		bpi := blockdev.PIAttr(bad, seed, appTag, checks)
		err := do(t, r, func(s *uapi.SQE) { s.PrepWritePI(int32(f.Fd()), data, off, &bpi) })
		t.Logf("write with a wrong %s: %v", tc.name, err)
		if !errors.Is(err, unix.EILSEQ) {
			t.Errorf("write with a wrong %s: %v, want EILSEQ (rejected by the device's check)", tc.name, err)
		}
	}
}

// TestWriteStreams: qemu's NVMe namespaces have no write streams
// (max_write_streams 0; qemu 7.2 emulates no FDP), so a write to stream 1
// is refused with EINVAL and one to stream 0 works; a regular file ignores
// the stream.
func TestWriteStreams(t *testing.T) {
	_, dev := feature.NVMeNamespace(0, 1)
	if dev == "" {
		t.Skip("needs nvme_passthrough: no NVMe namespace 1 (the matrix VMs have one)")
	}
	n, err := blockdev.MaxWriteStreams(dev)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("needs write_stream: %v", err)
	}
	if err != nil || n != 0 {
		t.Fatalf("%s max_write_streams %d, %v; want 0", dev, n, err)
	}
	r, err := ring.New(8)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := blockbench.Pattern(4096, 9)
	if err := do(t, r, func(s *uapi.SQE) { s.PrepWriteStream(int32(f.Fd()), buf, 1<<20, 1) }); !errors.Is(err, unix.EINVAL) {
		t.Errorf("write to stream 1 of a device without streams: %v, want EINVAL", err)
	}
	if err := do(t, r, func(s *uapi.SQE) { s.PrepWriteStream(int32(f.Fd()), buf, 1<<20, 0) }); err != nil {
		t.Errorf("write to stream 0: %v", err)
	}
	reg, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := do(t, r, func(s *uapi.SQE) { s.PrepWriteStream(int32(reg.Fd()), buf, 0, 3) }); err != nil {
		t.Errorf("write to stream 3 of a regular file: %v, want it ignored", err)
	}
	if got, _ := os.ReadFile(reg.Name()); !bytes.Equal(got, buf) {
		t.Error("the regular file does not hold what was written")
	}
}
