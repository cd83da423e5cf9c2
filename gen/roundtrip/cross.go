package roundtrip

import (
	"fmt"
	"strings"
)

// Toolchain is how this machine compiles and runs C for a foreign GOARCH:
// a Debian cross gcc (gcc-<triplet>, with libc6-dev-<arch>-cross) and
// qemu-user (qemu-user-static).
type Toolchain struct {
	CC      string // the cross compiler, e.g. s390x-linux-gnu-gcc
	Qemu    string // the qemu-user binary, e.g. qemu-s390x-static
	Sysroot string // qemu's -L: where the cross C library lives
	DebArch string // Debian's name of the arch, for libc6-dev-<arch>-cross
	// NativeGo is set where the host runs the arch's Go binaries itself:
	// an x86-64 kernel runs 386 binaries (Go's 386 runtime under qemu-i386
	// dies with "bad g in signal handler"). The C program still runs under
	// qemu, for its foreign dynamic loader.
	NativeGo bool
}

// Cross is the toolchain for each GOARCH that Debian bookworm has a cross
// compiler for (all but loong64).
var Cross = map[string]Toolchain{
	"amd64":    cross("x86_64-linux-gnu", "x86_64", "amd64"),
	"386":      {CC: "i686-linux-gnu-gcc", Qemu: "qemu-i386-static", Sysroot: "/usr/i686-linux-gnu", DebArch: "i386", NativeGo: true},
	"arm":      cross("arm-linux-gnueabihf", "arm", "armhf"),
	"arm64":    cross("aarch64-linux-gnu", "aarch64", "arm64"),
	"mips":     cross("mips-linux-gnu", "mips", "mips"),
	"mipsle":   cross("mipsel-linux-gnu", "mipsel", "mipsel"),
	"mips64":   cross("mips64-linux-gnuabi64", "mips64", "mips64"),
	"mips64le": cross("mips64el-linux-gnuabi64", "mips64el", "mips64el"),
	"ppc64":    cross("powerpc64-linux-gnu", "ppc64", "ppc64"),
	"ppc64le":  cross("powerpc64le-linux-gnu", "ppc64le", "ppc64el"),
	"riscv64":  cross("riscv64-linux-gnu", "riscv64", "riscv64"),
	"s390x":    cross("s390x-linux-gnu", "s390x", "s390x"),
}

func cross(triplet, qemu, debArch string) Toolchain {
	return Toolchain{CC: triplet + "-gcc", Qemu: "qemu-" + qemu + "-static", Sysroot: "/usr/" + triplet, DebArch: debArch}
}

// Packages names the Debian packages that provide the toolchain.
func (t Toolchain) Packages() string {
	return fmt.Sprintf("gcc-%s libc6-dev-%s-cross qemu-user-static", strings.TrimSuffix(t.CC, "-gcc"), t.DebArch)
}
