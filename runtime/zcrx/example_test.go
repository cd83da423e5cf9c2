package zcrx_test

import (
	"fmt"
	"net"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/query"
	"github.com/urgen/urgen/runtime/ring"
	"github.com/urgen/urgen/runtime/zcrx"
)

// Example receives whatever a peer sends on conn through a NODEV queue
// (Linux 7.x, CAP_NET_ADMIN), reading each buffer in place. With a NIC,
// set Interface and Queue instead of NoDev.
func Example() {
	caps, err := zcrx.QueryCaps(query.NoRing)
	if err != nil || !caps.NoDev() {
		fmt.Println("no NODEV zcrx here:", err)
		return
	}
	r, err := ring.New(64, ring.WithFlags(uapi.SetupDeferTaskrun|uapi.SetupSingleIssuer|uapi.SetupCqe32))
	if err != nil {
		fmt.Println(err)
		return
	}
	q, err := zcrx.Register(r, zcrx.Config{NoDev: true, AreaSize: 4 << 20, Entries: 1024, Caps: caps})
	if err != nil {
		r.Close()
		fmt.Println(err)
		return
	}
	defer func() { r.Close(); q.Close() }()

	var conn *net.TCPConn // an accepted connection
	if conn == nil {
		return
	}
	raw, _ := conn.SyscallConn()
	raw.Control(func(fd uintptr) {
		n, _, err := q.Receive(zcrx.Loop{FD: int(fd), UserData: 1, Data: func(b zcrx.Buf) error {
			_ = b.Data // the received bytes, in the area, until Data returns
			return nil
		}})
		fmt.Println(n, err)
	})
}

// ExampleIFQ_Buf shows the manual loop: decode each completion, use the
// bytes, hand the buffer back.
func ExampleIFQ_Buf() {
	var (
		r      *ring.Ring // set up with DEFER_TASKRUN and CQE32
		q      *zcrx.IFQ  // registered on r
		sockFD int
	)
	if r == nil {
		return
	}
	q.PrepRecv(r.SQE(), sockFD, 0)
	r.Submit()
	for {
		c, err := r.WaitCQE()
		if err != nil {
			return
		}
		b, err := q.Buf(c)
		more := c.Flags&uapi.CQEFMore != 0
		r.CQESeen(c)
		if err != nil || b.Len() == 0 {
			return // ENOMEM: release, q.Flush() and submit again
		}
		fmt.Printf("%d bytes at area %d offset %d\n", b.Len(), b.Area, b.Offset)
		q.Release(b)
		if !more {
			return
		}
	}
}
