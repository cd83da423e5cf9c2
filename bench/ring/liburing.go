// Package ring benchmarks the urgen ring runtime against liburing 2.15 (C,
// through cgo, whole loops in C) and giouring, on the same workloads,
// interleaved in one run. See ring_test.go.
package ring

/*
#cgo CFLAGS: -O2 -I${SRCDIR}/../../.cache/liburing/usr/include
#cgo LDFLAGS: ${SRCDIR}/../../.cache/liburing/usr/lib/x86_64-linux-gnu/liburing.a -lpthread
#include "lubench.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// LiburingInit sets up the C side's ring.
func LiburingInit(entries uint32) error {
	if rc := C.lu_init(C.unsigned(entries)); rc < 0 {
		return fmt.Errorf("io_uring_queue_init: errno %d", -rc)
	}
	return nil
}

// LiburingExit tears it down.
func LiburingExit() { C.lu_exit() }

// LiburingNop runs ops NOPs in batches of batch and returns how many ran.
func LiburingNop(batch uint32, ops int) int {
	return int(C.lu_nop(C.unsigned(batch), C.longlong(ops)))
}

// LiburingRead runs ops 4 KiB reads of fd at queue depth qd, at the offsets
// in offs (cycled), and returns how many completed (negative on error).
func LiburingRead(fd int, qd uint32, ops int, offs []uint64) int {
	return int(C.lu_read(C.int(fd), C.unsigned(qd), C.longlong(ops), (*C.ulonglong)(unsafe.Pointer(&offs[0])), C.unsigned(len(offs))))
}

// LiburingReadThreads runs the reads of LiburingRead on threads C threads
// at once, each with its own ring and its own ops reads at queue depth qd,
// each starting at its share of offs, and returns how many completed in
// all (negative on error). It needs neither LiburingInit nor LiburingExit.
func LiburingReadThreads(fd int, threads int, qd uint32, ops int, offs []uint64) int {
	return int(C.lu_read_threads(C.int(fd), C.unsigned(threads), C.unsigned(qd), C.longlong(ops), (*C.ulonglong)(unsafe.Pointer(&offs[0])), C.unsigned(len(offs))))
}
