package ublk_test

import (
	"fmt"
	"os"

	"github.com/urgen/urgen/runtime/ublk"
)

// Example serves a 64 MiB block device from memory (root and the ublk_drv
// module needed): ModeAuto serves it without copies through the server
// where the driver can (auto buffer registration or zero copy), by
// copying elsewhere. Any program may then use /dev/ublkbN as a disk.
func Example() {
	mem, err := ublk.NewMemory(64 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mem.Close()
	dev, err := ublk.New(mem, ublk.Options{Size: 64 << 20, Queues: 2})
	if err != nil {
		fmt.Println("no ublk device here:", err)
		return
	}
	defer dev.Close() // stops and deletes the device, before mem.Close
	fmt.Println(dev.BlockDevice(), "in", dev.Mode())

	f, err := os.OpenFile(dev.BlockDevice(), os.O_RDWR, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("hello, block device"), 0); err != nil {
		fmt.Println(err)
	}
}

// ExampleFile serves a device from a file; Flush, Discard and WriteZeroes
// reach it as fdatasync and fallocate.
func ExampleFile() {
	f, err := os.OpenFile("/var/tmp/disk.img", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	if err := f.Truncate(1 << 30); err != nil {
		fmt.Println(err)
		return
	}
	dev, err := ublk.New(ublk.File{F: f}, ublk.Options{Size: 1 << 30, BlockSize: 4096})
	if err != nil {
		fmt.Println("no ublk device here:", err)
		return
	}
	defer dev.Close()
	fmt.Println(dev.BlockDevice(), "in", dev.Mode())
}
