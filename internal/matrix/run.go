package matrix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
	"golang.org/x/sys/unix"
)

// Config says what a matrix run builds, boots and reports.
type Config struct {
	Root        string        // module root; packages and the cache are relative to it
	Packages    []string      // package patterns; empty means DefaultPackages
	Kernels     []string      // kernel names to boot; empty means every row of kernels.txt
	Host        bool          // also run the binaries natively, as column host-<uname -r>
	HostFeature []string      // features the host kernel has; nil: detect them
	Cache       string        // kernel cache, as written by scripts/fetch-kernels.sh (relative: to Root)
	LogDir      string        // where each column's raw log is kept (relative: to Root)
	Timeout     time.Duration // per kernel, boot to MATRIX-DONE
	TestTimeout time.Duration // -test.timeout of each binary
	Run         string        // -test.run of each binary, if set
	Bench       string        // -test.bench of each binary, if set (then -test.run defaults to ^$)
	BenchTime   string        // -test.benchtime of each binary, if set
	Short       bool          // run the binaries with -test.short
	Jobs        int           // kernels booted at once
	Qemu        string        // qemu-system-x86_64 binary
	Verbose     bool          // print every test's result line
	Out         io.Writer     // report destination
}

// DefaultPackages are the packages tested when Config.Packages is empty:
// every package with tests under runtime/ and examples/ (the echo server's
// robustness suite, the zcrx demo), the generated SQE builders run on the
// kernel (internal/builderkernel), the harness self-test, and the feature
// detection (whose fallback trials are checked against the query).
var DefaultPackages = []string{"./runtime/...", "./examples/...", "./internal/builderkernel", "./internal/matrix/selftest", "./internal/matrix/feature"}

// ConfigFromEnv returns the configuration set by the MATRIX_* environment
// variables (see the package documentation), with packages from args.
func ConfigFromEnv(root string, args []string) Config {
	c := Config{
		Root:        root,
		Packages:    args,
		Kernels:     strings.FieldsFunc(os.Getenv("MATRIX_KERNELS"), isListSep),
		Host:        os.Getenv("MATRIX_HOST") != "0",
		HostFeature: hostFeatures(os.LookupEnv("MATRIX_HOST_FEATURES")),
		Cache:       envOr("MATRIX_CACHE", ".cache/kernels"),
		LogDir:      envOr("MATRIX_LOGS", ".cache/matrix"),
		Timeout:     envDuration("MATRIX_TIMEOUT", 10*time.Minute),
		TestTimeout: envDuration("MATRIX_TEST_TIMEOUT", 5*time.Minute),
		Run:         os.Getenv("MATRIX_RUN"),
		Bench:       os.Getenv("MATRIX_BENCH"),
		BenchTime:   os.Getenv("MATRIX_BENCHTIME"),
		Short:       os.Getenv("MATRIX_SHORT") != "0",
		Jobs:        2,
		Qemu:        envOr("MATRIX_QEMU", "qemu-system-x86_64"),
		Verbose:     os.Getenv("MATRIX_VERBOSE") == "1",
		Out:         os.Stdout,
	}
	if n, err := strconv.Atoi(os.Getenv("MATRIX_JOBS")); err == nil && n > 0 {
		c.Jobs = n
	}
	return c
}

// rooted returns path p of the configuration: as it is if absolute, else
// relative to the module root (the Makefile's and the scripts' relative
// defaults, .cache/..., mean the module's).
func (c Config) rooted(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Root, p)
}

func isListSep(r rune) bool { return r == ',' || r == ' ' }

// hostFeatures returns the list MATRIX_HOST_FEATURES sets (possibly empty)
// or nil if it is unset.
func hostFeatures(v string, set bool) []string {
	if !set {
		return nil
	}
	return append([]string{}, strings.FieldsFunc(v, isListSep)...)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

// column is one kernel (or the host) and what running the tests on it gave.
type column struct {
	name     string
	host     bool // the host column, not a VM
	features []string
	// supportsOp reports whether the kernel's probe supports an opcode;
	// nil if unknown (host detection failed), then "needs opcode" skips
	// go unchecked.
	supportsOp func(uapi.Op) bool
	log        string        // raw output
	err        error         // boot failure, timeout, bad exit status
	took       time.Duration // wall time
}

// Run builds the test binaries, runs them on every kernel and the host,
// writes the report to c.Out and reports whether everything passed. An
// error means the matrix could not run at all.
func Run(ctx context.Context, c Config) (bool, error) {
	kernels, err := selectKernels(c)
	if err != nil {
		return false, err
	}
	// The VMs get these on the kernel command line, split at blanks.
	for k, v := range map[string]string{"MATRIX_RUN": c.Run, "MATRIX_BENCH": c.Bench, "MATRIX_BENCHTIME": c.BenchTime} {
		if strings.ContainsAny(v, " \t\n\"") {
			return false, fmt.Errorf("%s=%q: no blanks or quotes (it goes on the kernel command line)", k, v)
		}
	}
	work, err := os.MkdirTemp("", "matrix-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(work)

	start := time.Now()
	pkgs, err := build(ctx, c, work)
	if err != nil {
		return false, err
	}
	initrd := filepath.Join(work, "initramfs.cpio")
	if err := writeInitramfs(initrd, work, pkgs); err != nil {
		return false, err
	}
	built := 0
	for _, p := range pkgs {
		if p.buildErr == "" {
			built++
		}
	}
	fmt.Fprintf(c.Out, "matrix: built %d of %d test binaries in %.1fs\n", built, len(pkgs), time.Since(start).Seconds())
	if c.Host && runtime.GOARCH != "amd64" {
		fmt.Fprintf(c.Out, "matrix: no host column: the test binaries are amd64, the host is %s\n", runtime.GOARCH)
		c.Host = false
	}

	cols := make([]*column, len(kernels), len(kernels)+1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(c.Jobs, 1))
	for i, k := range kernels {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cols[i] = boot(ctx, c, k, initrd)
		})
	}
	wg.Wait()
	// The host column runs after the VMs, not beside them: qemu's TCG
	// threads would otherwise take the CPUs from the host's timing-sensitive
	// tests (SQPOLL threads, waits with timeouts) on a small CI machine.
	if c.Host {
		cols = append(cols, runHost(ctx, c, pkgs))
	}
	if c.LogDir != "" {
		os.MkdirAll(c.rooted(c.LogDir), 0o755)
		for _, col := range cols {
			os.WriteFile(filepath.Join(c.rooted(c.LogDir), col.name+".log"), []byte(col.log), 0o644)
		}
	}
	ok := report(c.Out, cols, pkgs, c.Verbose)
	fmt.Fprintf(c.Out, "matrix: wall time %.1fs\n", time.Since(start).Seconds())
	return ok, nil
}

// TestArgs returns the test binary flags for MATRIX_RUN, MATRIX_BENCH,
// MATRIX_BENCHTIME and -test.short, shared by the host run and the VMs'
// /init: with a benchmark pattern and no run pattern no test runs
// (-test.run=^$), only the benchmarks.
func TestArgs(run, bench, benchtime string, short bool) []string {
	var args []string
	if run == "" && bench != "" {
		run = "^$"
	}
	if run != "" {
		args = append(args, "-test.run="+run)
	}
	if bench != "" {
		args = append(args, "-test.bench="+bench)
		if benchtime != "" {
			args = append(args, "-test.benchtime="+benchtime)
		}
	}
	if short {
		args = append(args, "-test.short")
	}
	return args
}

// selectKernels returns the rows of kernels.txt that c names (all if
// none). A missing image is reported by boot, as that kernel's failure.
func selectKernels(c Config) ([]Kernel, error) {
	all, err := Kernels()
	if err != nil {
		return nil, err
	}
	if len(c.Kernels) == 0 {
		return all, nil
	}
	var ks []Kernel
	for _, name := range c.Kernels {
		i := slices.IndexFunc(all, func(k Kernel) bool { return k.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("kernel %q is not in kernels.txt", name)
		}
		ks = append(ks, all[i])
	}
	return ks, nil
}

// testPkg is one package's test binary.
type testPkg struct {
	importPath string
	dir        string // source dir, working dir of the host run
	name       string // binary name: import path below the module, / as _
	bin        string // built binary
	buildErr   string // why go test -c failed; then there is no binary
}

// build lists the packages that have tests and builds their static test
// binaries and the init into work. A package that does not build is
// returned with its buildErr (the matrix reports it as a failure and runs
// the others); only a failure to list packages or build the init is an
// error.
func build(ctx context.Context, c Config, work string) ([]testPkg, error) {
	patterns := c.Packages
	if len(patterns) == 0 {
		for _, p := range DefaultPackages {
			// ./runtime/... may not exist yet; go list fails on that.
			if _, err := os.Stat(filepath.Join(c.Root, strings.TrimSuffix(p, "/..."))); err == nil {
				patterns = append(patterns, p)
			}
		}
	}
	// -e: a package with syntax errors is listed, and fails in go test -c.
	out, err := goCmd(ctx, c.Root, append([]string{"list", "-e", "-f",
		"{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}"}, patterns...)...)
	if err != nil {
		return nil, err
	}
	mod, err := goCmd(ctx, c.Root, "list", "-m")
	if err != nil {
		return nil, err
	}
	var pkgs []testPkg
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		path, dir, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(path, strings.TrimSpace(mod)), "/")
		name := strings.ReplaceAll(rel, "/", "_")
		bin := filepath.Join(work, "tests", name, name+".test")
		p := testPkg{importPath: path, dir: dir, name: name, bin: bin}
		if _, err := goCmd(ctx, c.Root, "test", "-c", "-o", bin, path); err != nil {
			p.buildErr = err.Error()
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no packages with tests in %v", patterns)
	}
	_, err = goCmd(ctx, c.Root, "build", "-o", filepath.Join(work, "init"), "./internal/matrix/init")
	return pkgs, err
}

// goCmd runs the go tool for a static linux/amd64 build and returns stdout.
func goCmd(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out), nil
}

// writeInitramfs packs /init, /dev/console and /tests/<name>/ (binary and
// testdata) into a newc cpio archive.
func writeInitramfs(path, work string, pkgs []testPkg) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := newCPIO(f)
	initBin, err := os.ReadFile(filepath.Join(work, "init"))
	if err != nil {
		return err
	}
	w.File("init", 0o755, initBin)
	for _, d := range []string{"dev", "proc", "sys", "tmp", "tests"} {
		w.Dir(d)
	}
	// The kernel opens /dev/console for init's stdio before devtmpfs is
	// mounted, so the node must be in the archive.
	w.CharDev("dev/console", 5, 1)
	for _, p := range pkgs {
		if p.buildErr != "" {
			continue
		}
		w.Dir("tests/" + p.name)
		b, err := os.ReadFile(p.bin)
		if err != nil {
			return err
		}
		w.File("tests/"+p.name+"/"+p.name+".test", 0o755, b)
		if _, err := os.Stat(filepath.Join(p.dir, "testdata")); err == nil {
			if err := w.CopyTree("tests/"+p.name+"/testdata", filepath.Join(p.dir, "testdata")); err != nil {
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

// boot runs the initramfs on one kernel under qemu (TCG) and collects the
// serial output.
func boot(ctx context.Context, c Config, k Kernel, initrd string) *column {
	// The self-test proves in the VM that the probe supports every
	// opcode up to the row's last_op.
	col := &column{name: k.Name, features: k.Features, supportsOp: func(op uapi.Op) bool { return int(op) <= k.LastOp }}
	start := time.Now()
	defer func() { col.took = time.Since(start) }()
	vmlinuz := filepath.Join(c.rooted(c.Cache), k.Name, "vmlinuz")
	release, err := bzImageRelease(vmlinuz)
	if err != nil {
		col.err = fmt.Errorf("%v (run scripts/fetch-kernels.sh)", err)
		return col
	}
	// /init hands urgen.kernel, .release, .last_op and .features to the
	// tests as URGEN_KERNEL, ... (see ./init). mitigations=off: page
	// table isolation and the other speculation mitigations cost TCG a
	// TLB flush per system call and change no io_uring behaviour.
	appendLine := []string{"console=ttyS0", "panic=-1", "quiet", "mitigations=off",
		"urgen.kernel=" + k.Name, "urgen.release=" + release,
		"urgen.last_op=" + strconv.Itoa(k.LastOp),
		"urgen.features=" + strings.Join(k.Features, ","),
		"urgen.timeout=" + c.TestTimeout.String()}
	if c.Run != "" {
		appendLine = append(appendLine, "urgen.run="+c.Run)
	}
	if c.Bench != "" {
		appendLine = append(appendLine, "urgen.bench="+c.Bench)
	}
	if c.BenchTime != "" {
		appendLine = append(appendLine, "urgen.benchtime="+c.BenchTime)
	}
	if c.Short {
		appendLine = append(appendLine, "urgen.short=1")
	}
	// The kernel's own initramfs (its modules appended) and NVMe images.
	vmDir, err := os.MkdirTemp(filepath.Dir(initrd), "vm-"+k.Name+"-")
	if err != nil {
		col.err = err
		return col
	}
	defer os.RemoveAll(vmDir)
	kinitrd := filepath.Join(vmDir, "initramfs.cpio")
	if err := writeKernelInitrd(kinitrd, initrd, filepath.Join(c.rooted(c.Cache), k.Name)); err != nil {
		col.err = fmt.Errorf("initramfs with modules: %v", err)
		return col
	}
	devices, err := deviceArgs(vmDir)
	if err != nil {
		col.err = fmt.Errorf("device images: %v", err)
		return col
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	// thread=single: with multi-threaded TCG a vCPU can run stale code
	// while the other live-patches the kernel (int3 from text_poke_bp
	// during boot: "Oops: int3" in sched_clock_cpu, seen on 7.3.4). One
	// host thread per VM also suits jobs=2 on a 2-core machine.
	args := []string{
		"-machine", "pc", "-accel", "tcg,thread=single", "-m", "1024", "-smp", "2",
		"-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot",
		"-kernel", vmlinuz, "-initrd", kinitrd, "-append", strings.Join(appendLine, " "),
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"}
	cmd := exec.CommandContext(ctx, c.Qemu, append(args, devices...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	col.log = out.String()
	// /init writes 0 (all passed) or 1 to isa-debug-exit; qemu exits with
	// (code<<1)|1. Status 0 is a reboot or power-off: /init never got there.
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		col.err = fmt.Errorf("timed out after %v", c.Timeout)
	case err == nil:
		col.err = errors.New("VM stopped without an isa-debug-exit code (kernel panic or init died)")
	case !errors.As(err, &ee):
		col.err = err
	case ee.ExitCode() != 1 && ee.ExitCode() != 3:
		col.err = fmt.Errorf("qemu: %v", err)
	}
	return col
}

// runHost runs the binaries natively, framing their output as /init does.
// The host's features are c.HostFeature if set, else detected by probe and
// query; only a set list reaches the tests (URGEN_FEATURES), since checking
// the detection against itself would prove nothing.
func runHost(ctx context.Context, c Config, pkgs []testPkg) *column {
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	col := &column{name: "host-" + release, host: true, features: c.HostFeature}
	env := append(os.Environ(), "URGEN_KERNEL="+col.name, "URGEN_RELEASE="+release)
	var out bytes.Buffer
	// The probe's opcodes are detected even when the features are given.
	k, err := feature.Detect()
	if err == nil {
		col.supportsOp = k.SupportsOp
	}
	switch {
	case c.HostFeature != nil:
		env = append(env, "URGEN_FEATURES="+strings.Join(c.HostFeature, ","))
		fmt.Fprintf(&out, "features (MATRIX_HOST_FEATURES): %s\n", strings.Join(col.features, " "))
	case err != nil:
		fmt.Fprintf(&out, "features: none, detection failed: %v\n", err)
	default:
		col.features = k.Features
		fmt.Fprintf(&out, "features (detected): %s; last_op %d\n", strings.Join(col.features, " "), k.LastOp)
	}
	start := time.Now()
	code := 0
	for _, p := range pkgs {
		if p.buildErr != "" {
			continue
		}
		fmt.Fprintf(&out, "MATRIX-BEGIN %s\n", p.name)
		args := append([]string{"-test.v", "-test.timeout=" + c.TestTimeout.String()},
			TestArgs(c.Run, c.Bench, c.BenchTime, c.Short)...)
		tctx, cancel := context.WithTimeout(ctx, c.TestTimeout+time.Minute)
		cmd := exec.CommandContext(tctx, p.bin, args...)
		cmd.Dir = p.dir
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 10 * time.Second // a leftover child holding the pipe
		rc := 0
		if err := cmd.Run(); err != nil {
			rc = 1
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				rc = ee.ExitCode()
			}
			code = 1
		}
		cancel()
		fmt.Fprintf(&out, "\nMATRIX-END %s exit=%d\n", p.name, rc)
	}
	fmt.Fprintf(&out, "MATRIX-DONE exit=%d\n", code)
	col.log, col.took = out.String(), time.Since(start)
	return col
}
