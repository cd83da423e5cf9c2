package ring

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
)

// TestIOPollBlockDevice drives IOPOLL rings (and HYBRID_IOPOLL ones, where
// the kernel has them) on block devices whose queues poll: in the matrix
// VMs null_blk's nullb0 and the NVMe namespaces, both with a poll queue.
// 16 O_DIRECT writes and then 16 reads are in flight at once, reaped by
// polling, and the data comes back byte for byte.
func TestIOPollBlockDevice(t *testing.T) {
	devs := feature.PollingBlockDevices()
	if len(devs) == 0 {
		t.Skip("needs iopoll_device: no block device with queue/io_poll 1 (the matrix VMs have nullb0 and NVMe with poll queues)")
	}
	const n, size = 16, 4096
	// Outside the Go heap, page aligned for O_DIRECT.
	mem, err := unix.Mmap(-1, 0, 2*n*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	out, in := mem[:n*size], mem[n*size:]
	flagSets := []uapi.SetupFlags{uapi.SetupIOPoll}
	if k, err := feature.Detect(); err == nil && k.Has("hybrid_iopoll") {
		flagSets = append(flagSets, uapi.SetupIOPoll|uapi.SetupHybridIOPoll)
	}
	for _, dev := range devs {
		for _, flags := range flagSets {
			t.Run(dev+"/"+flags.String(), func(t *testing.T) {
				f, err := os.OpenFile("/dev/"+dev, os.O_RDWR|unix.O_DIRECT, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				r := newRing(t, 2*n, WithFlags(flags))
				for i := range out {
					out[i] = byte(i*7 + len(dev) + int(flags))
				}
				clear(in)
				for _, op := range []struct {
					name string
					buf  []byte
				}{{"write", out}, {"read", in}} {
					for i := range n {
						s := sqe(t, r)
						b := op.buf[i*size : (i+1)*size]
						if op.name == "write" {
							s.PrepWrite(int32(f.Fd()), b, uint64(i*size))
						} else {
							s.PrepRead(int32(f.Fd()), b, uint64(i*size))
						}
						s.UserData = uint64(i)
					}
					for i, c := range submitReap(t, r, n) {
						if c.res != size {
							t.Fatalf("%s %d on an IOPOLL ring: %d (%v)", op.name, i, c.res, unix.Errno(-c.res))
						}
					}
				}
				if !bytes.Equal(in, out) {
					t.Fatal("polled reads differ from the polled writes")
				}
			})
		}
	}
}
