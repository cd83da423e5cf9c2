//go:build liburing && cgo

package liburingbench

/*
#cgo CFLAGS: -I${SRCDIR}/../../.cache/liburing/usr/include -O2 -D_GNU_SOURCE -w
#include <string.h>
#include <liburing.h>

// Each loop does what io_uring_get_sqe and a prep helper write into an SQE
// (io_uring_initialize_sqe, then the helper), or with zero set what our
// builders do (the whole SQE zeroed, then the helper); the empty asm with a
// memory clobber keeps the compiler from merging or dropping iterations, as
// the Go side's package-level SQE does.
static struct io_uring_sqe sqes[2] __attribute__((aligned(64)));
static char buf[4096];
static struct iovec iov[4];
static struct msghdr msg;
static struct open_how how;
static struct __kernel_timespec ts;

#define LOOP(body) \
	if (zero) { \
		for (long i = 0; i < n; i++) { \
			struct io_uring_sqe *sqe = sqes; \
			memset(sqe, 0, sizeof *sqe); \
			body; \
			__asm__ volatile("" ::: "memory"); \
		} \
	} else { \
		for (long i = 0; i < n; i++) { \
			struct io_uring_sqe *sqe = sqes; \
			io_uring_initialize_sqe(sqe); \
			body; \
			__asm__ volatile("" ::: "memory"); \
		} \
	}

static void c_read(long n, int zero) { LOOP(io_uring_prep_read(sqe, 3, buf, sizeof buf, (__u64)i)) }
static void c_readv(long n, int zero) { LOOP(io_uring_prep_readv(sqe, 3, iov, 4, (__u64)i)) }
static void c_write_fixed(long n, int zero) { LOOP(io_uring_prep_write_fixed(sqe, 3, buf, sizeof buf, (__u64)i, 1)) }
static void c_send_zc(long n, int zero) { LOOP(io_uring_prep_send_zc(sqe, 3, buf, sizeof buf, 0, IORING_RECVSEND_POLL_FIRST)) }
static void c_recv_multishot(long n, int zero) { LOOP(io_uring_prep_recv_multishot(sqe, 3, NULL, 0, 0)) }
static void c_openat2(long n, int zero) { LOOP(io_uring_prep_openat2(sqe, AT_FDCWD, buf, &how)) }
static void c_timeout(long n, int zero) { LOOP(io_uring_prep_timeout(sqe, &ts, 1, 0)) }
static void c_link_timeout(long n, int zero) { LOOP(io_uring_prep_link_timeout(sqe, &ts, 0)) }
static void c_msg_ring(long n, int zero) { LOOP(io_uring_prep_msg_ring(sqe, 4, 8, (__u64)i, 0)) }
static struct io_uring_sqe *c_sqes(void) { return sqes; }
static void c_uring_cmd128(long n, int zero) { LOOP(if (zero) memset(sqe + 1, 0, sizeof *sqe); io_uring_prep_uring_cmd128(sqe, 7, 3)) }
*/
import "C"

import (
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
)

// cPrep runs liburing's helper n times, by name, after
// io_uring_initialize_sqe or (zero) after zeroing the SQE (both halves for
// uring_cmd128, like the builder).
var cPrep = map[string]func(n int, zero bool){
	"read":           func(n int, zero bool) { C.c_read(C.long(n), cbool(zero)) },
	"readv":          func(n int, zero bool) { C.c_readv(C.long(n), cbool(zero)) },
	"write_fixed":    func(n int, zero bool) { C.c_write_fixed(C.long(n), cbool(zero)) },
	"send_zc":        func(n int, zero bool) { C.c_send_zc(C.long(n), cbool(zero)) },
	"recv_multishot": func(n int, zero bool) { C.c_recv_multishot(C.long(n), cbool(zero)) },
	"openat2":        func(n int, zero bool) { C.c_openat2(C.long(n), cbool(zero)) },
	"timeout":        func(n int, zero bool) { C.c_timeout(C.long(n), cbool(zero)) },
	"link_timeout":   func(n int, zero bool) { C.c_link_timeout(C.long(n), cbool(zero)) },
	"msg_ring":       func(n int, zero bool) { C.c_msg_ring(C.long(n), cbool(zero)) },
	"uring_cmd128":   func(n int, zero bool) { C.c_uring_cmd128(C.long(n), cbool(zero)) },
}

// cSQEs copies the C side's SQEs.
func cSQEs() [2]uapi.SQE {
	return *(*[2]uapi.SQE)(unsafe.Pointer(C.c_sqes()))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
