//go:build liburing && cgo

package liburingbench

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// Package-level, like the C side's: the stores cannot be optimized away.
var (
	sqes [2]uapi.SQE
	buf  [4096]byte
	iov  [4]unix.Iovec
	how  unix.OpenHow
	ts   uapi.KernelTimespec
)

// goPrep runs the generated builder n times, by liburing helper name.
var goPrep = map[string]func(n int){
	"read": func(n int) {
		for i := range n {
			sqes[0].PrepRead(3, buf[:], uint64(i))
		}
	},
	"readv": func(n int) {
		for i := range n {
			sqes[0].PrepReadv(3, iov[:], uint64(i))
		}
	},
	"write_fixed": func(n int) {
		for i := range n {
			sqes[0].PrepWriteFixed(3, buf[:], uint64(i), 1)
		}
	},
	"send_zc": func(n int) {
		for range n {
			sqes[0].PrepSendZC(3, buf[:], 0, uapi.RecvsendPollFirst)
		}
	},
	"recv_multishot": func(n int) {
		for range n {
			sqes[0].PrepRecvMultishot(3, nil, 0)
		}
	},
	"openat2": func(n int) {
		for range n {
			sqes[0].PrepOpenat2(unix.AT_FDCWD, &buf[0], &how)
		}
	},
	"timeout": func(n int) {
		for range n {
			sqes[0].PrepTimeout(&ts, 1, 0)
		}
	},
	"link_timeout": func(n int) {
		for range n {
			sqes[0].PrepLinkTimeout(&ts, 0)
		}
	},
	"msg_ring": func(n int) {
		for i := range n {
			sqes[0].PrepMsgRing(4, 8, uint64(i), 0)
		}
	},
	"uring_cmd128": func(n int) {
		for range n {
			sqes[0].PrepUringCmd128(7, 3)
		}
	},
}

var order = []string{"read", "readv", "write_fixed", "send_zc", "recv_multishot", "openat2", "timeout", "link_timeout", "msg_ring", "uring_cmd128"}

// BenchmarkPrep prepares one SQE per op with the generated builder (go),
// with liburing's helper after io_uring_initialize_sqe (c), and with the
// helper after zeroing the whole SQE as the builders do (c-zeroed).
func BenchmarkPrep(b *testing.B) {
	for _, name := range order {
		b.Run(name+"/go", func(b *testing.B) {
			b.ReportAllocs()
			goPrep[name](b.N)
		})
		b.Run(name+"/c", func(b *testing.B) {
			b.ReportAllocs()
			cPrep[name](b.N, false)
		})
		b.Run(name+"/c-zeroed", func(b *testing.B) {
			b.ReportAllocs()
			cPrep[name](b.N, true)
		})
	}
}

// TestBenchmarkedBuildersMatch guards the benchmark: both sides must
// produce the same SQE, or the numbers compare different work.
func TestBenchmarkedBuildersMatch(t *testing.T) {
	for _, name := range order {
		goPrep[name](1)
		g := sqes
		cPrep[name](1, true)
		c := cSQEs()
		// Addresses differ (Go and C buffers); compare the fixed fields.
		if g[0].Opcode != c[0].Opcode || g[0].FD != c[0].FD || g[0].Len != c[0].Len || g[0].Ioprio != c[0].Ioprio || g[0].RwFlags != c[0].RwFlags {
			t.Errorf("%s: go %+v, c %+v", name, g[0], c[0])
		}
	}
}
