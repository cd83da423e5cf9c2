package nvme

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	nvmeabi "github.com/urgen/urgen/generated/nvme"
)

// Device is an NVMe namespace opened through its generic character device
// /dev/ngXnY, which takes NVMe commands as they are (passthrough) and
// needs no block layer.
type Device struct {
	f    *os.File
	ctrl *os.File // the controller's character device, for admin commands
	path string
	nsid uint32
	id   Controller
	ns   Namespace
}

// Open opens the generic character device at path (/dev/ngXnY), asks it
// for its namespace ID (NVME_IOCTL_ID), opens its controller's character
// device (/dev/nvmeX), which takes the admin commands, and identifies the
// controller and the namespace through admin passthrough on a ring
// (NVME_URING_CMD_ADMIN). Admin commands need CAP_SYS_ADMIN.
func Open(path string) (*Device, error) {
	d, err := open(path)
	if err != nil {
		return nil, err
	}
	q, err := d.NewQueue(WithEntries(2))
	if err != nil {
		d.Close()
		return nil, err
	}
	defer q.Close()
	buf := make([]byte, IdentifySize)
	if err := q.Identify(CNSController, 0, buf); err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", d.ctrl.Name(), err)
	}
	d.id = ParseController(buf)
	if err := q.Identify(CNSNamespace, d.nsid, buf); err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", d.ctrl.Name(), err)
	}
	d.ns = ParseNamespace(buf)
	return d, nil
}

func open(path string) (*Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	id, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), uintptr(nvmeabi.IoctlID), 0)
	if errno != 0 {
		f.Close()
		return nil, &os.PathError{Op: "ioctl NVME_IOCTL_ID", Path: path, Err: errno}
	}
	ctrlPath, err := controllerOf(path)
	if err != nil {
		f.Close()
		return nil, err
	}
	ctrl, err := os.OpenFile(ctrlPath, os.O_RDONLY, 0)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Device{f: f, ctrl: ctrl, path: path, nsid: uint32(id)}, nil
}

// controllerOf is the controller character device of a namespace's
// generic one: /dev/ng0n1 -> /dev/nvme0.
func controllerOf(path string) (string, error) {
	name := filepath.Base(path)
	rest, ok := strings.CutPrefix(name, "ng")
	ctrl, _, found := strings.Cut(rest, "n")
	if !ok || !found || ctrl == "" || strings.Trim(ctrl, "0123456789") != "" {
		return "", fmt.Errorf("nvme: %s is not an NVMe generic character device name (ngXnY)", path)
	}
	return filepath.Join(filepath.Dir(path), "nvme"+ctrl), nil
}

// Close closes the character devices. Queues must be closed first.
func (d *Device) Close() error {
	err := d.f.Close()
	if cerr := d.ctrl.Close(); err == nil {
		err = cerr
	}
	return err
}

// FD returns the character device's file descriptor.
func (d *Device) FD() int { return int(d.f.Fd()) }

// Path returns the path the device was opened as.
func (d *Device) Path() string { return d.path }

// NSID returns the namespace ID.
func (d *Device) NSID() uint32 { return d.nsid }

// Controller returns the Identify Controller data read by Open.
func (d *Device) Controller() Controller { return d.id }

// Namespace returns the Identify Namespace data read by Open.
func (d *Device) Namespace() Namespace { return d.ns }

// BlockSize returns the namespace's logical block size in bytes.
func (d *Device) BlockSize() int { return d.ns.BlockSize }

// Size returns the namespace's size in bytes.
func (d *Device) Size() int64 { return int64(d.ns.Size) * int64(d.ns.BlockSize) }

// protectionAction is the PRINFO of dword 12 for data commands without a
// metadata buffer: on a namespace whose metadata is exactly its
// protection information, PRACT (bit 29) makes the controller generate it
// on writes and check and strip it on reads, with every check on (PRCHK,
// bits 26-28: guard, application tag, reference tag); 0 elsewhere.
func (d *Device) protectionAction() uint32 {
	if d.ns.PIType == 0 || d.ns.MetadataSize != 8 {
		return 0
	}
	return 1<<29 | 7<<26
}

// blocks checks a data command's buffer length and byte offset against the
// namespace and returns the starting LBA and the zero-based block count.
func (d *Device) blocks(command string, n int, off int64) (slba uint64, nlb uint16, err error) {
	bs := int64(d.ns.BlockSize)
	switch {
	case n <= 0 || int64(n)%bs != 0:
		return 0, 0, fmt.Errorf("nvme %s: length %d is not a positive multiple of the %d-byte block size", command, n, bs)
	case off < 0 || off%bs != 0:
		return 0, 0, fmt.Errorf("nvme %s: offset %d is not a multiple of the %d-byte block size", command, off, bs)
	case int64(n)/bs > 1<<16:
		return 0, 0, fmt.Errorf("nvme %s: %d blocks, at most 65536 per command", command, int64(n)/bs)
	case off+int64(n) > d.Size():
		return 0, 0, fmt.Errorf("nvme %s: bytes %d-%d are past the namespace's end (%d bytes)", command, off, off+int64(n)-1, d.Size())
	}
	return uint64(off / bs), uint16(int64(n)/bs - 1), nil
}

// iovecs builds the iovec array of a vectored command.
func iovecs(bufs [][]byte) ([]unix.Iovec, int) {
	iov := make([]unix.Iovec, len(bufs))
	n := 0
	for i, b := range bufs {
		if len(b) > 0 {
			iov[i].Base = (*byte)(unsafe.Pointer(&b[0]))
			iov[i].SetLen(len(b))
		}
		n += len(b)
	}
	return iov, n
}
