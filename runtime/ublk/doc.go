/*
Package ublk serves a Linux block device from Go: a ublk server. The
kernel's ublk_drv hands every request of /dev/ublkbN to this process over
io_uring, and a Backend (an io.ReaderAt and io.WriterAt, optionally a
Flusher, Discarder and ZeroWriter) serves it. The command payloads, I/O
descriptors and parameters come from the kernel's own linux/ublk_cmd.h,
generated into github.com/urgen/urgen/generated/ublk.

	dev, err := ublk.New(ublk.NewMemory(64<<20), ublk.Options{Size: 64 << 20, Queues: 2})
	// /dev/ublkbN exists now: dev.BlockDevice()
	...
	err = dev.Close() // stop and delete the device

How it works: the control device /dev/ublk-control takes ADD_DEV,
SET_PARAMS, START_DEV, STOP_DEV, DEL_DEV and GET_DEV_INFO as 128-byte
uring_cmds (struct ublksrv_ctrl_cmd, the ioctl-encoded UBLK_U_CMD_*). Each
hardware queue has a goroutine locked to its thread with its own ring,
which keeps one FETCH_REQ per tag in flight on /dev/ublkcN; a completion
means the request's descriptor (struct ublksrv_io_desc, mmapped read-only
from the character device) is filled in; the goroutine serves it and
answers with COMMIT_AND_FETCH_REQ, which also fetches the next one.

Data moves by Mode: ModeCopy (the kernel copies between the request and a
buffer per tag in this process) or ModeUserCopy (UBLK_F_USER_COPY, Linux
6.5: the server preads and pwrites the request's data on the character
device). Zero copy (UBLK_F_SUPPORT_ZERO_COPY, UBLK_F_AUTO_BUF_REG) lets a
server hand the request's pages to other io_uring requests without ever
seeing the data; generated/ublk has the builders for it
(PrepFetchReqAutoBuf, PrepRegisterIOBuf), this package does not use it.

Close stops the device (its pending fetches complete with
UBLK_IO_RES_ABORT), waits for the queues, closes the character device and
deletes the device, leaving no /dev/ublkbN or /dev/ublkcN. A server that
dies without Close leaves a stopped device whose number Delete frees.
ublk needs CAP_SYS_ADMIN and the ublk_drv module; the tests run in the
kernel matrix VMs and skip elsewhere with "needs ublk".
*/
package ublk
