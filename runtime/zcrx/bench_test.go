package zcrx

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/bufring"
	"github.com/urgen/urgen/runtime/ring"
)

// The benchmarks receive a loopback TCP stream on the same kernel, in the
// same run, two ways: a NODEV zcrx queue (the kernel copies into the area)
// and a plain multishot IORING_OP_RECV into a provided-buffer ring. Each
// op is benchChunk bytes; run them together and compare MB/s:
//
//	go test -run '^$' -bench 'Recv' ./runtime/zcrx

const benchChunk = 64 << 10

// blast writes a 64 KiB buffer to fd until it fails (the benchmark closes
// the socket when done).
func blast(fd int) {
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	go func() {
		for {
			if _, err := unix.Write(fd, buf); err != nil && err != unix.EINTR {
				return
			}
		}
	}()
}

func BenchmarkRecvZCNoDev(b *testing.B) {
	caps := needNoDev(b)
	r := zcrxRing(b, uapi.SetupCqe32)
	q := register(b, r, Config{Entries: 4096, AreaSize: 16 << 20, Caps: caps})
	rx, tx := tcpPair(b)
	blast(tx)
	var sum byte
	b.SetBytes(benchChunk)
	b.ResetTimer()
	n, _, err := q.Receive(Loop{FD: rx, Limit: uint64(b.N) * benchChunk, UserData: 1, Data: func(buf Buf) error {
		sum += buf.Data[0] // touch the data, as a consumer would
		return nil
	}})
	b.StopTimer()
	if err != nil || n != uint64(b.N)*benchChunk {
		b.Fatalf("received %d bytes: %v", n, err)
	}
	_ = sum
}

func BenchmarkRecvMultishotBufRing(b *testing.B) {
	needNoDev(b) // same kernels as the zcrx side, so the two compare
	r, err := ring.New(64, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer|uapi.SetupSubmitAll), ring.WithCQSize(8192))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	br, err := bufring.New(r, 7, 4096, 4096) // 16 MiB, as the zcrx area
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	rx, tx := tcpPair(b)
	blast(tx)
	want := uint64(b.N) * benchChunk
	var got uint64
	var sum byte
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for got < want {
		sqe := r.SQE()
		sqe.PrepRecvMultishot(int32(rx), nil, 0)
		sqe.Flags |= uapi.SQEBufferSelect
		sqe.SetBufGroup(7)
		sqe.UserData = 1
		if _, err := r.Submit(); err != nil {
			b.Fatal(err)
		}
		for got < want {
			c, err := r.WaitCQE()
			if err != nil {
				b.Fatal(err)
			}
			more := c.Flags&uapi.CQEFMore != 0
			if c.Res < 0 {
				if c.Res == -int32(unix.ENOBUFS) && !more {
					r.CQESeen(c)
					break // out of buffers: rearm
				}
				b.Fatalf("recv: %v", unix.Errno(-c.Res))
			}
			data, bid, _, err := br.Data(c)
			if err != nil {
				b.Fatal(err)
			}
			sum += data[0] // touch the data, as a consumer would
			got += uint64(len(data))
			br.Return(bid)
			r.CQESeen(c)
			if !more {
				break
			}
		}
	}
	b.StopTimer()
	_ = sum
}
