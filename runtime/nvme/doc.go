/*
Package nvme sends NVMe commands to a namespace through io_uring: the
passthrough path of Linux's nvme driver, IORING_OP_URING_CMD on the
namespace's generic character device /dev/ngXnY, with no block layer in
between. The command payloads and numbers come from the kernel's own
linux/nvme_ioctl.h, generated into github.com/urgen/urgen/generated/nvme.

	d, err := nvme.Open("/dev/ng0n1")     // NVME_IOCTL_ID, Identify Controller and Namespace
	d.Controller().Model, d.Namespace().BlockSize
	q, err := d.NewQueue()                // SQE128 + CQE32 ring; WithMixed, WithPoll, WithFixedBuffers, WithEntries
	n, err := q.WriteAt(p, off)           // NVMe Write (NVME_URING_CMD_IO); io.WriterAt
	n, err := q.ReadAt(p, off)            // NVMe Read; io.ReaderAt
	n, err := q.ReadvAt(bufs, off)        // NVME_URING_CMD_IO_VEC
	n, err := q.ReadFixedAt(i, p, off)    // IORING_URING_CMD_FIXED on registered buffer i
	err = q.Flush()
	err = q.Identify(nvme.CNSController, 0, buf)  // any Identify, admin passthrough
	q.StartRead(p, off, tag); q.Submit(); q.Complete(n, fn)  // queue depth > 1

Lengths and offsets are in bytes, multiples of the namespace's block size.
A command the controller fails returns a *StatusError naming the command
and the NVMe status ("nvme Read: LBA Out of Range (status 0x080)"); a host
error (the kernel refusing the command) an error wrapping the errno. On a
namespace whose metadata is exactly its protection information (8 bytes,
types 1-3) the data commands set PRACT: the controller generates the
protection information on writes and checks and strips it on reads.

Rings with IORING_SETUP_IOPOLL (WithPoll) send the commands to the
controller's poll queues (the nvme module's poll_queues parameter) and
poll for their completion: no interrupt per command. Before Linux 6.8,
whose passthrough polling can crash the kernel (see ErrPollUnsafe),
NewQueue refuses WithPoll. Admin commands
(Identify, so Open) need CAP_SYS_ADMIN; I/O commands need read or write
access to the character device.

Tests run in the kernel matrix, on the NVMe controller qemu emulates (see
internal/matrix); the host has no NVMe device, and they skip there with
"needs nvme_passthrough".

Measured (BenchmarkReadQD32 in the matrix VMs, qemu TCG, three runs of six
interleaved rounds, 3000 random 4 KiB reads at queue depth 32 each):
passthrough reads of namespace 1 against io_uring O_DIRECT reads of its
block device run at parity, 0.92-0.98x on 7.3.4, 0.81-1.08x on 7.2.13 and
0.93-1.13x on 6.12 (medians of the per-round ratios), at 0.77-1.14x the
process CPU per read. Under TCG only the ratios within one run mean
anything.
*/
package nvme
