// Command init is /init in the initramfs that the matrix runner boots under
// qemu: it sets up a minimal system, runs every test binary in /tests,
// streaming their output to the serial console, and ends the VM through
// qemu's isa-debug-exit device with 0 if every binary passed and 1 if not.
//
// Layout it expects: /tests/<name>/<name>.test, run with its own directory as
// working directory (testdata/ may sit beside it). It reads from
// /proc/cmdline:
//
//	urgen.timeout=<duration>  -test.timeout for each binary (default 5m)
//	urgen.run=<regexp>        -test.run for each binary (default: all)
//	urgen.bench=<regexp>      -test.bench for each binary (then -test.run
//	                          defaults to ^$: benchmarks only)
//	urgen.benchtime=<d>       -test.benchtime for each binary
//	urgen.short=1             -test.short for each binary
//
// and hands every urgen.<key>=<value> to the tests as URGEN_<KEY>=<value>
// (the runner sets kernel, release, last_op and features from kernels.txt),
// with URGEN_VM=1.
//
// Lines it prints for the runner (each alone on a line):
//
//	MATRIX-BEGIN <name>
//	MATRIX-END <name> exit=<code>
//	MATRIX-DONE exit=<code>
//
// It is a static Go binary (CGO_ENABLED=0) and must not be run outside a VM.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/internal/matrix"
)

// debugExitPort is qemu's isa-debug-exit iobase; qemu exits with
// (value<<1)|1 when a byte is written there.
const debugExitPort = 0xf4

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "init: not PID 1; this program is /init in a matrix VM")
		os.Exit(2)
	}
	code := 1
	if err := setup(); err != nil {
		fmt.Printf("\ninit: setup: %v\n", err)
	} else {
		loadModules()
		code = runTests(cmdline())
	}
	fmt.Printf("\nMATRIX-DONE exit=%d\n", code)
	exit(code)
}

// setup mounts the pseudo file systems and brings the loopback interface up.
func setup() error {
	mounts := []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	return loopbackUp()
}

// deviceOf names the device node each module's probe creates, waited for
// after loading (devtmpfs creates the nodes asynchronously).
var deviceOf = map[string][]string{
	"nvme":     {"/dev/ng0n1", "/dev/nvme0n1", "/dev/nvme0n2"},
	"null_blk": {"/dev/nullb0"},
	"ublk_drv": {"/dev/ublk-control"},
}

// loadModules loads the modules the runner packed (matrix.ModulesLoad, in
// dependency order) with finit_module, straight from the .ko.xz files
// (MODULE_INIT_COMPRESSED_FILE: the kernel decompresses), and waits up to
// 10 s for their devices. A module that fails to load is reported and
// skipped: the tests then skip for the missing device with its feature
// name, and the self-test compares that with kernels.txt.
func loadModules() {
	b, err := os.ReadFile("/" + matrix.ModulesLoad)
	if err != nil {
		return // no modules for this kernel
	}
	var wait []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		file, params, _ := strings.Cut(line, " ")
		if file == "" {
			continue
		}
		if err := loadModule(filepath.Join("/", matrix.ModulesDir, file), strings.TrimSpace(params)); err != nil {
			fmt.Printf("init: module %s: %v\n", file, err)
			continue
		}
		fmt.Printf("init: module %s %s\n", file, params)
		name := strings.ReplaceAll(strings.TrimSuffix(strings.TrimSuffix(file, ".xz"), ".ko"), "-", "_")
		wait = append(wait, deviceOf[name]...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, dev := range wait {
		for {
			if _, err := os.Stat(dev); err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Printf("init: %s did not appear\n", dev)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func loadModule(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if strings.HasSuffix(path, ".xz") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), params, flags)
	if errors.Is(err, unix.EEXIST) {
		return nil // built in, or loaded as another's dependency
	}
	if err != nil {
		return fmt.Errorf("finit_module: %w", err)
	}
	return nil
}

// loopbackUp sets IFF_UP on lo with SIOCGIFFLAGS/SIOCSIFFLAGS.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}

// cmdline returns the urgen.* parameters of the kernel command line,
// without their prefix.
func cmdline() map[string]string {
	params := map[string]string{}
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "urgen.") {
			params[strings.TrimPrefix(k, "urgen.")] = v
		}
	}
	return params
}

// runTests runs each /tests/*/*.test in turn and returns 0 if all passed.
func runTests(params map[string]string) int {
	timeout, err := time.ParseDuration(params["timeout"])
	if err != nil {
		timeout = 5 * time.Minute
	}
	bins, _ := filepath.Glob("/tests/*/*.test")
	if len(bins) == 0 {
		fmt.Println("init: no test binaries in /tests")
		return 1
	}
	code := 0
	for _, bin := range bins {
		name := strings.TrimSuffix(filepath.Base(bin), ".test")
		fmt.Printf("\nMATRIX-BEGIN %s\n", name)
		rc := runOne(bin, timeout, params)
		fmt.Printf("\nMATRIX-END %s exit=%d\n", name, rc)
		if rc != 0 {
			code = 1
		}
	}
	return code
}

// runOne runs one test binary with its output going straight to the
// console, so a crash loses nothing. The binary gets -test.timeout; a
// minute past it, init kills it.
func runOne(bin string, timeout time.Duration, params map[string]string) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	args := append([]string{"-test.v", "-test.count=1", "-test.timeout=" + timeout.String()},
		matrix.TestArgs(params["run"], params["bench"], params["benchtime"], params["short"] == "1")...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	cmd.Env = []string{"PATH=/tests", "HOME=/tmp", "TMPDIR=/tmp", "GOTRACEBACK=all", "URGEN_VM=1"}
	for k, v := range params {
		cmd.Env = append(cmd.Env, "URGEN_"+strings.ToUpper(k)+"="+v)
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	default:
		fmt.Printf("\ninit: %s: %v\n", bin, err)
		return 1
	}
}

// exit drains the serial line and writes code to the isa-debug-exit port
// through /dev/port. If that fails it powers the machine off, which qemu
// reports as exit status 0 and the runner as a missing exit code.
func exit(code int) {
	os.Stdout.Sync()
	// TCSBRK with a non-zero argument is tcdrain: wait until the UART
	// has sent everything, or the last lines are lost.
	unix.IoctlSetInt(int(os.Stdout.Fd()), unix.TCSBRK, 1)
	if f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0); err == nil {
		f.WriteAt([]byte{byte(code)}, debugExitPort)
		f.Close()
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
