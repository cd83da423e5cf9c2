package builderdiff_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// crossTargets are the foreign GOARCHes the builders are proven on: arm64,
// 32-bit little-endian (386; arm, with its 8-byte-aligned 64-bit integers),
// big-endian (s390x and ppc64 64-bit, mips 32-bit) and the other ioctl
// encoding (mips, ppc64), where pointer widths, poll32_events' half-word
// order and _IO numbers differ from amd64. 386 runs natively, without qemu
// (an amd64 kernel runs i386 binaries; Go's 386 binaries die under
// qemu-i386 user mode with "bad g in signal handler").
var crossTargets = []struct{ goarch, gcc, asm, qemu string }{
	{"386", "i686-linux-gnu-gcc", "i386-linux-gnu", ""},
	{"arm64", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu", "qemu-aarch64-static"},
	{"ppc64", "powerpc64-linux-gnu-gcc", "powerpc64-linux-gnu", "qemu-ppc64-static"},
	{"arm", "arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf", "qemu-arm-static"},
	{"s390x", "s390x-linux-gnu-gcc", "s390x-linux-gnu", "qemu-s390x-static"},
	{"mips", "mips-linux-gnu-gcc", "mips-linux-gnu", "qemu-mips-static"},
}

// TestBuildersMatchLiburingCrossArch runs TestBuildersMatchLiburing for
// foreign GOARCHes under qemu-user: this package's tests built with that
// GOARCH, against the C program built by that arch's gcc with liburing.h
// (static, also run by qemu). Without a cross compiler or qemu-user-static
// the arch is skipped with the reason; with URGEN_REQUIRE_CROSS set (CI) it
// fails.
func TestBuildersMatchLiburingCrossArch(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("needs an amd64 host for the cross toolchains, not %s", runtime.GOARCH)
	}
	_, inc := liburingIncludes(t)
	goTool := goCommand(t)
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := regexp.MustCompile(`(\d+) differential cases .* (\d+) builders failed`)
	for _, x := range crossTargets {
		t.Run(x.goarch, func(t *testing.T) {
			var tools [2]string
			for i, name := range []string{x.gcc, x.qemu} {
				if name == "" {
					continue
				}
				p, err := exec.LookPath(name)
				if err != nil {
					why := name + " (apt-get install gcc-" + x.gcc[:len(x.gcc)-4] + " qemu-user-static)"
					if os.Getenv("URGEN_REQUIRE_CROSS") != "" {
						t.Fatalf("needs %s: %v", why, err)
					}
					t.Skipf("needs %s: %v", why, err)
				}
				tools[i] = p
			}
			gcc, qemu := tools[0], tools[1]
			dir := t.TempDir()
			src, prep, bin := filepath.Join(dir, "prep.c"), filepath.Join(dir, "prep"), filepath.Join(dir, "builderdiff.test")
			if err := os.WriteFile(src, []byte(prepSource()), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(gcc, "-static", "-O1", "-w", "-D_FILE_OFFSET_BITS=64", "-I", inc, "-I", filepath.Join(inc, x.asm), "-o", prep, src).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", x.gcc, err, out)
			}
			build := exec.Command(goTool, "test", "-c", "-o", bin, ".")
			build.Dir = here
			build.Env = append(os.Environ(), "GOARCH="+x.goarch, "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go test -c for %s: %v\n%s", x.goarch, err, out)
			}
			args := []string{bin, "-test.run", "^TestBuildersMatchLiburing$", "-test.v", "-test.count=1"}
			prepCmd := prep
			if qemu != "" {
				args = append([]string{qemu}, args...)
				prepCmd = qemu + " " + prep
			} else if out, err := exec.Command(prep).CombinedOutput(); err != nil {
				t.Skipf("needs native %s binaries (IA32 emulation): %v %s", x.goarch, err, out)
			}
			run := exec.Command(args[0], args[1:]...)
			run.Dir = here
			run.Env = append(os.Environ(), "URGEN_PREP_CMD="+prepCmd)
			out, err := run.CombinedOutput()
			if err != nil {
				t.Fatalf("%s (qemu %q): %v\n%s", x.goarch, x.qemu, err, out)
			}
			m := cases.FindSubmatch(out)
			if m == nil {
				t.Fatalf("%s: no case count in the output:\n%s", x.goarch, out)
			}
			t.Logf("%s: %s differential cases, %s builders failed", x.goarch, m[1], m[2])
		})
	}
}
