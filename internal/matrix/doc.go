// Package matrix runs the project's test binaries on a matrix of Debian
// kernels under qemu (TCG, no KVM needed) and natively on the host, and
// reports per kernel what passed, failed and skipped.
//
// # Usage
//
//	scripts/fetch-kernels.sh        # once; cached in .cache/kernels/
//	go run ./cmd/matrix [packages]  # or: make matrix
//
// Packages are go list patterns relative to the module root; by default
// DefaultPackages: every package with tests under ./runtime/... and
// ./examples/..., the
// builders on the kernel ./internal/builderkernel, the harness self-test
// ./internal/matrix/selftest and ./internal/matrix/feature. Each is built
// with CGO_ENABLED=0 go test -c,
// packed with the init of ./internal/matrix/init into a newc initramfs
// (written in Go), and booted on every kernel with
//
//	qemu-system-x86_64 -machine pc -accel tcg,thread=single -m 1024 -smp 2 -nographic -nodefaults
//	    -serial stdio -no-reboot -kernel vmlinuz -initrd initramfs
//	    -append "console=ttyS0 panic=-1 quiet mitigations=off urgen.kernel=NAME urgen.release=REL
//	             urgen.last_op=N urgen.features=F,... urgen.timeout=D urgen.short=1"
//	    -device isa-debug-exit,iobase=0xf4,iosize=0x04
//	    -device nvme,id=nvme0,serial=urgen-matrix
//	    -drive file=nvme-ns1.img,if=none,id=ns1,format=raw -device nvme-ns,drive=ns1,bus=nvme0,nsid=1
//	    -drive file=nvme-ns2.img,if=none,id=ns2,format=raw -device nvme-ns,drive=ns2,bus=nvme0,nsid=2,ms=8,pi=1
//
// The initramfs is the shared archive (init, tests) followed by one with
// the kernel's modules (modules.txt: nvme with a poll queue, null_blk with
// a poll queue, ublk_drv; their dependencies from modinfo), which
// scripts/fetch-kernels.sh takes from the kernel's Debian package. /init
// loads them with finit_module straight from the .ko.xz files
// (MODULE_INIT_COMPRESSED_FILE) and waits for their devices: NVMe
// namespace 1, plain, and namespace 2, with 8 bytes of protection
// information per block (T10-DIF-TYPE1-CRC), 64 MiB each, as
// /dev/nvme0nX and /dev/ng0nX (X follows the kernel's parallel scan, not
// the NSID: feature.NVMeNamespace finds them), /dev/nullb0 and
// /dev/ublk-control. Features
// nvme_passthrough, ublk and iopoll_device name them in skips; the host
// has none of them.
//
// /init mounts proc, sysfs, devtmpfs and a tmpfs on /tmp, brings lo up,
// runs each binary with -test.v -test.short (working directory /tests/<name>,
// holding the binary and a copy of the package's testdata/, if any), drains the serial line and exits through the
// isa-debug-exit port. /init hands each urgen.<key> to the tests as
// URGEN_<KEY> (with URGEN_VM=1). urgen.release is read from the vmlinuz
// header; last_op and features come from kernels.txt; the self-test checks
// all three against the running kernel. The same binaries also run on the
// host, in their package directories, as the column host-<uname -r>, with
// URGEN_KERNEL and URGEN_RELEASE (and URGEN_FEATURES only if
// MATRIX_HOST_FEATURES is set) in the environment.
//
// The report is one line per column,
//
//	MATRIX <kernel> passed=<n> failed=<n> skipped=<n>
//
// then every benchmark result (with MATRIX_BENCH; benchmarks are not
// counted, their skips and failures are), every skip with its reason (SKIP <kernel> <test>: <reason>), every
// test the host skipped and a kernel passed (VM-ONLY <binary> <test>:
// passed on <kernels>; ...), every failure with its full output (FAIL
// <kernel> <binary> <test>: ...),
// and a closing "matrix: N passed, N failed, N skipped". Counts include
// subtests. The command exits 1 if anything failed, 2 if the matrix could
// not run (build error, bad kernel name). Failures are: a failed test; a
// test binary that exits non-zero without a failed test (panic, timeout,
// TestMain) or never prints its end marker (counted against the test that
// was running); a kernel that does not boot, times out or ends without the
// final marker; and a skip that the feature rule below turns into a
// failure. Each column's raw serial log is kept in .cache/matrix/<kernel>.log.
//
// # Environment
//
//	MATRIX_KERNELS        kernels to boot, comma-separated names (default: all rows)
//	MATRIX_HOST=0         skip the host column
//	MATRIX_HOST_FEATURES  features the host kernel has (default: detected by probe and query)
//	MATRIX_VERBOSE=1      also print every test's result line, prefixed by kernel and binary
//	MATRIX_RUN            -test.run regexp for every binary
//	MATRIX_BENCH          -test.bench regexp for every binary; then -test.run
//	                      is ^$ unless MATRIX_RUN is set (benchmarks only), and
//	                      every benchmark result line is reported as
//	                      BENCH <kernel> <binary> <line>
//	MATRIX_BENCHTIME      -test.benchtime with MATRIX_BENCH (default 1s;
//	                      under TCG, 100x or 200ms keeps a run short)
//	MATRIX_SHORT=0        run without -test.short (by default every binary
//	                      gets -test.short: TCG is 10-50x slower than the host)
//	MATRIX_JOBS           kernels booted at once (default 2: each VM has 2 vCPUs)
//	MATRIX_TIMEOUT        per kernel, boot to last line (default 10m)
//	MATRIX_TEST_TIMEOUT   -test.timeout of each binary (default 5m)
//	MATRIX_CACHE          kernel cache (default .cache/kernels)
//	MATRIX_LOGS           raw serial logs (default .cache/matrix)
//	MATRIX_QEMU           qemu binary (default qemu-system-x86_64)
//
// Needs qemu-system-x86 (Debian package) and the cached kernels; nothing else
// outside Go.
//
// # Adding a kernel
//
// Add one line to kernels.txt: a name, the Debian package=version that
// carries the image (from trixie-backports, trixie, sid or, for Debian 12's
// 6.1, bookworm-security), the path of the vmlinuz inside the package, the
// probe's last_op on it, and its features. Then run
// scripts/fetch-kernels.sh. The kernel must have io_uring, the 8250 serial
// console and devtmpfs built in (Debian's amd64 kernels do, 6.1 included);
// the block device drivers come as modules (above), where the archive
// still has the kernel's module package (not for 7.0 and 7.1: those boot
// without modules, and their rows list no device features).
//
// # Kernels and what they lack
//
// The rows run from Debian 12's 6.1 LTS (last_op 48, no query, no
// NO_SQARRAY or NO_MMAP, no multishot timeouts, no IORING_OP_BIND/LISTEN,
// no recv bundles, no incremental or kernel-allocated buffer rings ...) to
// 7.3. Code that must run on all of them asks the kernel (the probe,
// IORING_FEAT_* bits, a refused flag) rather than assuming; tests name
// what they skip for.
//
// # Skips: the "needs <feature>" convention
//
// A test that skips although the kernel supports the feature is counted as
// a failure. So tests that skip for lack of a kernel feature must say
// which, with a skip message that starts with "needs <feature>:":
//
//	if !nop128 { // from the ring's probe
//		t.Skip("needs nop128: IORING_OP_NOP128 not in the probe")
//	}
//
// The feature names, and how each is detected (probe, query, or a trial
// where neither tells), are listed in feature.Names (package
// internal/matrix/feature). Each kernels.txt row lists the features its
// kernel has, and the harness self-test proves inside every VM that the
// row is exactly what detection finds there. On the host, the runner
// detects them itself (MATRIX_HOST_FEATURES overrides). A skip "needs F:
// ..." fails on a column that has F, and on every column if F is not a
// known name (it could never be checked). Skips with any other message are
// reported, never failed: use them only for reasons that are not kernel
// features (not run by the matrix, -short, no root).
//
// A new feature is one entry in feature.Names with its detection, and one
// more word in the kernels.txt rows that have it.
//
// A test that lacks an opcode skips with "needs opcode IORING_OP_X: ..."
// (the generated name, as uapi.Op's String gives it): such a skip fails on
// a column whose probe supports X, and everywhere if generated/uapi has no
// such opcode. No feature name is needed: in a VM, X is supported if it is
// at most the row's last_op (the self-test proves there that the probe
// supports every opcode up to last_op); on the host the probe is asked.
package matrix
