// Package selftest proves the matrix harness real. Its tests, run by the
// matrix runner on every kernel, check that they run on the kernel the
// runner meant to boot (uname against the release in the vmlinuz header),
// that a ring sets up through the raw io_uring_setup system call, that the
// probe's last_op and the features found by probe and query are those the
// kernel's kernels.txt row claims (so the "needs <feature>" skip rule
// judges by the truth), that /tmp is a writable tmpfs and that loopback TCP
// works. Run outside the runner (plain go test), the checks that need the
// runner's expectations skip, naming what is missing.
package selftest
