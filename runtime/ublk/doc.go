/*
Package ublk serves a Linux block device from Go: a ublk server. The
kernel's ublk_drv hands every request of /dev/ublkbN to this process over
io_uring, and a Backend (an io.ReaderAt and io.WriterAt, optionally a
Flusher, Discarder and ZeroWriter) serves it. The command payloads, I/O
descriptors and parameters come from the kernel's own linux/ublk_cmd.h,
generated into github.com/urgen/urgen/generated/ublk.

	mem, err := ublk.NewMemory(64 << 20)
	...
	dev, err := ublk.New(mem, ublk.Options{Size: 64 << 20, Queues: 2})
	// /dev/ublkbN exists now: dev.BlockDevice()
	...
	err = dev.Close() // stop and delete the device
	mem.Close()

How it works: the control device /dev/ublk-control takes ADD_DEV,
SET_PARAMS, START_DEV, STOP_DEV, DEL_DEV and GET_DEV_INFO as 128-byte
uring_cmds (struct ublksrv_ctrl_cmd, the ioctl-encoded UBLK_U_CMD_*). Each
hardware queue has a goroutine locked to its thread with its own ring,
which keeps one FETCH_REQ per tag in flight on /dev/ublkcN; a completion
means the request's descriptor (struct ublksrv_io_desc, mmapped read-only
from the character device) is filled in; the goroutine serves it and
answers with COMMIT_AND_FETCH_REQ, which also fetches the next one.

Data moves by Mode, chosen by what the driver reports
(UBLK_U_CMD_GET_FEATURES) and what the backend can do:

  - ModeCopy: the kernel copies between the request and a buffer per tag
    in this process (every ublk driver);
  - ModeUserCopy (UBLK_F_USER_COPY, Linux 6.5): the server preads and
    pwrites the request's data on the character device;
  - ModeZeroCopy (UBLK_F_SUPPORT_ZERO_COPY, Linux 6.15): the request's
    pages stay in the kernel; the queue registers them as a fixed buffer
    of its ring (UBLK_U_IO_REGISTER_IO_BUF, linked to the first transfer),
    a FixedBackend moves the data with fixed-buffer reads and writes on
    that ring, and the queue unregisters the buffer before it commits;
  - ModeAutoBufReg (UBLK_F_AUTO_BUF_REG, Linux 6.16): the same without the
    two commands: the driver registers each request's buffer at the index
    its fetch named (the tag) and unregisters it at the commit.

ModeAuto takes ModeAutoBufReg, else ModeZeroCopy, for a FixedBackend
(Memory and File are), and ModeCopy for any other Backend. Mode.Supported
says whether the driver has a mode.

Measured (BenchmarkBlockRead in the matrix VMs, qemu TCG, three runs of
six interleaved rounds, 3000 random 4 KiB O_DIRECT reads at queue depth 32
each, a Memory device with 2 queues against null_blk's nullb0; medians of
the per-round throughput ratios): on 7.3.4 copy 0.21-0.26x, user-copy
0.15-0.25x, zero-copy 0.19-0.27x, auto-buf-reg 0.29-0.33x null_blk, at
3.0-3.5x null_blk's process CPU per read for auto-buf-reg and 3.9-6.4x for
copy; on 7.2.13 all modes 0.19-0.27x; on 6.12 copy and user-copy
0.16-0.39x. A request crosses to the server and back through io_uring task
work, which a 4 KiB copy costs little beside; queue rings without
SINGLE_ISSUER|DEFER_TASKRUN made no consistent difference. Under TCG only
the ratios within one run mean anything.

A backend error that wraps a unix.Errno fails the request with that
errno, any other with EIO; the block layer hands the reader or writer of
/dev/ublkbN EIO for most, and a few (ENOSPC, ENODATA) as themselves.

Close stops the device (its pending fetches complete with
UBLK_IO_RES_ABORT), waits for the queues, closes the character device and
deletes the device, leaving no /dev/ublkbN or /dev/ublkcN. A server that
dies without Close leaves a stopped device whose number Delete frees.
ublk needs CAP_SYS_ADMIN and the ublk_drv module; the tests run in the
kernel matrix VMs and skip elsewhere with "needs ublk".
*/
package ublk
