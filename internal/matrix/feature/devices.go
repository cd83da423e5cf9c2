package feature

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/nvme"
	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/generated/ublk"
)

// Block devices, found by the nodes and sysfs attributes their drivers
// create. The matrix VMs get them from qemu's emulated NVMe controller and
// the modules /init loads (internal/matrix/modules.txt); the host has
// none.

// NVMeGenericDevices lists the NVMe generic character devices /dev/ngXnY.
func NVMeGenericDevices() []string {
	m, _ := filepath.Glob("/dev/ng[0-9]*n[0-9]*")
	return m
}

// hasNVMePassthrough reports whether an NVMe generic character device
// answers an Identify Controller admin passthrough (NVME_IOCTL_ADMIN_CMD)
// with a controller that names a serial number.
func hasNVMePassthrough() bool {
	for _, dev := range NVMeGenericDevices() {
		if identifyController(dev) {
			return true
		}
	}
	return false
}

func identifyController(dev string) bool {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	// Outside the Go heap: the kernel writes the 4096-byte Identify data
	// (serial number at bytes 4-23) during the ioctl; the command follows.
	mem, err := unix.Mmap(-1, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(mem)
	cmd := (*nvme.PassthruCmd)(unsafe.Pointer(&mem[4096]))
	*cmd = nvme.PassthruCmd{Opcode: 0x06, Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))), DataLen: 4096, Cdw10: 1} // Identify, CNS 1: controller
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(nvme.IoctlAdminCmd), uintptr(unsafe.Pointer(cmd))); errno != 0 {
		return false
	}
	return strings.TrimSpace(string(mem[4:24])) != ""
}

// ublkFeatures reports whether the ublk control device opens and the
// UBLK_F_* features its driver reports (UBLK_U_CMD_GET_FEATURES, Linux
// 6.5; none before).
func ublkFeatures() (bool, ublk.Flags) {
	fd, err := unix.Open("/dev/ublk-control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, 0
	}
	defer unix.Close(fd)
	// Outside the Go heap: the kernel writes the features after the
	// submission starts (on 6.12 from a worker thread, later).
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return true, 0
	}
	defer unix.Munmap(mem)
	feats := (*uint64)(unsafe.Pointer(&mem[0]))
	res, done := tryOneWait(uapi.SetupSqe128, true, func(s *uapi.SQE, _ []byte) { ublk.PrepGetFeatures(s, int32(fd), feats) })
	if !done || res < 0 {
		return true, 0
	}
	return true, ublk.Flags(*feats)
}

// PollingBlockDevices lists the block devices whose queue polls
// (/sys/block/NAME/queue/io_poll reads 1): where an IORING_SETUP_IOPOLL
// ring's O_DIRECT reads complete by polling.
func PollingBlockDevices() []string {
	var devs []string
	m, _ := filepath.Glob("/sys/block/*/queue/io_poll")
	for _, p := range m {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
			devs = append(devs, filepath.Base(filepath.Dir(filepath.Dir(p))))
		}
	}
	return devs
}

// NVMeNamespace returns the generic character device and the block device
// of namespace nsid of NVMe controller ctrl (/dev/ng0nX, /dev/nvme0nX), or
// empty strings. The kernel numbers namespaces' devices in the order it
// finds them, which its parallel scan makes vary between boots: X is not
// the NSID, which sysfs gives.
func NVMeNamespace(ctrl, nsid int) (generic, block string) {
	m, _ := filepath.Glob(fmt.Sprintf("/sys/block/nvme%dn*/nsid", ctrl))
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(nsid) {
			continue
		}
		name := filepath.Base(filepath.Dir(p))
		return "/dev/ng" + strings.TrimPrefix(name, "nvme"), "/dev/" + name
	}
	return "", ""
}

// hasWriteStreams reports whether block queues name their write streams
// (queue/max_write_streams, which came with the SQE's write_stream).
func hasWriteStreams() bool {
	m, _ := filepath.Glob("/sys/block/*/queue/max_write_streams")
	return len(m) > 0
}
