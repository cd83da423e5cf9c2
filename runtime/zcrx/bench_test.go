package zcrx

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
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

// bufRing is a minimal provided-buffer ring (IORING_REGISTER_PBUF_RING) for
// the comparison: entries buffers of size bytes each.
type bufRing struct {
	mem   []byte // the ring of struct io_uring_buf
	bufs  []byte
	size  int
	mask  uint16
	tail  uint16
	entry []uapi.Buf
}

func newBufRing(b *testing.B, r *ring.Ring, bgid uint16, entries, size int) *bufRing {
	mem, _, err := MapArea(entries*uapi.SizeofBuf, false)
	if err != nil {
		b.Fatal(err)
	}
	bufs, _, err := MapArea(entries*size, false)
	if err != nil {
		b.Fatal(err)
	}
	br := &bufRing{mem: mem, bufs: bufs, size: size, mask: uint16(entries - 1),
		entry: unsafe.Slice((*uapi.Buf)(unsafe.Pointer(&mem[0])), entries)}
	reg := &uapi.BufReg{RingAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), RingEntries: uint32(entries), Bgid: bgid}
	if _, err := r.Register(uapi.RegisterPBufRing, unsafe.Pointer(reg), 1); err != nil {
		b.Fatal(err)
	}
	for i := range entries {
		br.put(uint16(i))
	}
	b.Cleanup(func() { unix.Munmap(mem); unix.Munmap(bufs) })
	return br
}

// put hands buffer bid back; the tail is the last 16 bits of the first entry.
func (br *bufRing) put(bid uint16) {
	e := &br.entry[br.tail&br.mask]
	e.Addr = uint64(uintptr(unsafe.Pointer(&br.bufs[int(bid)*br.size])))
	e.Len = uint32(br.size)
	e.Bid = bid
	br.tail++
	// The u16 tail overlays bufs[0].resv at offset 14; Go has no 16-bit
	// atomics, so publish it with a 32-bit release store of the word at
	// offset 12, keeping bufs[0].bid (which only this side writes).
	word := (*uint32)(unsafe.Pointer(&br.mem[12]))
	bid0 := uint32(br.entry[0].Bid)
	if littleEndian {
		atomic.StoreUint32(word, uint32(br.tail)<<16|bid0)
	} else {
		atomic.StoreUint32(word, bid0<<16|uint32(br.tail))
	}
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

func BenchmarkRecvMultishotBufRing(b *testing.B) {
	needNoDev(b) // same kernels as the zcrx side, so the two compare
	r, err := ring.New(64, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer|uapi.SetupSubmitAll), ring.WithCQSize(8192))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const page = 4096
	br := newBufRing(b, r, 7, 4096, page)
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
			if c.Flags&uapi.CQEFBuffer == 0 {
				b.Fatalf("completion without a buffer (res %d)", c.Res)
			}
			bid := uint16(c.Flags >> uapi.CQEBufferShift)
			sum += br.bufs[int(bid)*page]
			got += uint64(c.Res)
			br.put(bid)
			r.CQESeen(c)
			if !more {
				break
			}
		}
	}
	b.StopTimer()
	_ = sum
}
