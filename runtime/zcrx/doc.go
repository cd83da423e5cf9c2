/*
Package zcrx receives network data without copying it: io_uring's zero-copy
receive (linux/io_uring/zcrx.h). The NIC writes payloads straight into a
receive area of user memory; IORING_OP_RECV_ZC completions say where; the
application reads the bytes in place and hands each buffer back through a
refill ring shared with the kernel.

# Flow

	caps, _ := zcrx.QueryCaps(query.NoRing)        // what the kernel supports
	r, _ := ring.New(64, ring.WithFlags(uapi.SetupDeferTaskrun|
		uapi.SetupSingleIssuer|uapi.SetupCqe32))   // or SetupCQEMixed
	q, _ := zcrx.Register(r, zcrx.Config{
		Interface: ifindex, Queue: rxq,            // or NoDev: true
		AreaSize:  64 << 20, HugePages: true,      // or Area, or DMABuf
		Entries:   4096,                           // refill ring
	})
	q.PrepRecv(r.SQE(), sockFD, 0)                 // multishot RECV_ZC
	r.Submit()
	for {
		c, _ := r.WaitCQE()
		b, err := q.Buf(c)                         // zero-copy view
		use(b.Data)
		q.Release(b)                               // back to the kernel
		r.CQESeen(c)
	}
	r.Close(); q.Close()

Register takes the area from caller memory (page-aligned whole pages), maps
it itself (AreaSize, optionally on huge pages) or uses a dma-buf; the
refill ring lives in caller memory (Config.Region) or in memory the kernel
allocates and Register maps from the ring fd. Its size comes from the
header size and alignment the query reports (Caps.Layout). The ring must
use IORING_SETUP_DEFER_TASKRUN and 32-byte completions (CQE32, or CQE_MIXED
where RECV_ZC posts 32-byte entries flagged IORING_CQE_F_32): the second
half of each completion is a struct io_uring_zcrx_cqe whose offset carries
the area id above IORING_ZCRX_AREA_SHIFT.

# Buffers and the refill ring

Each data completion pins one buffer (a page-sized chunk of the area) until
it is released. Release writes a refill entry and publishes the new tail
with a release store, as the header asks; when the ring is full it first
makes the kernel take the queued entries (ZCRX_CTRL_FLUSH_RQ). If the
application holds too many buffers, or the kernel receives more at once
than the area holds, the request ends with ENOMEM (the area is dry):
release, Flush, and submit a new request. A request also ends, with
ENOSPC, when the completion queue is full: reap and submit again. Data not
yet delivered stays in the socket, so the stream continues without a gap;
IFQ.Receive does all of this. Accounting counts
buffers received, released and outstanding.

# Without a NIC: ZCRX_REG_NODEV

On kernels 7.x, Config.NoDev registers a copy-mode instance without any
network device: RECV_ZC works on any TCP socket (loopback included) and the
kernel copies into the area. The refill ring is then consumed only when
the application flushes (Release does so when the ring is full; call Flush
when releasing in batches). Everything above works the same, which is how
this package is tested end to end without a NIC. Every byte is a copy
fallback, which the statistics block counts.

# Real NICs

The kernel does not configure the NIC; zero copy needs, out of band:

  - CAP_NET_ADMIN (the registration takes over a hardware queue, and data
    of other sockets steered there would land in the area).
  - A driver whose queues accept page-pool memory providers (for example
    bnxt_en and mlx5) and at least two receive queues:
    "ethtool -L <if> combined 2".
  - Header/data split, so that headers go to kernel memory and payloads to
    the area: "ethtool -G <if> tcp-data-split on".
  - RSS that keeps other flows off the zero-copy queue, and flow steering
    that sends the wanted flow to it (queues count from 0):
    "ethtool -X <if> equal 1" and
    "ethtool -N <if> flow-type tcp6 ... action 1"; then register with
    Interface = if_nametoindex(<if>) and Queue = 1.
  - The socket whose data arrives on that queue. Data the NIC could not
    split, or that reaches the queue otherwise, is copied into the area
    instead (counted by the statistics block and the ZCRX_EVENT_COPY
    event).

RXBufLen asks for receive buffers larger than a page (ZCRX_FEATURE_RX_PAGE_SIZE,
NIC only; needs physically contiguous area memory such as huge pages). A
dma-buf area (device memory) needs a NIC too and has no copy fallback.

# Sharing and events

Export wraps a queue in a file descriptor; Import registers it into another
ring (ZCRX_REG_IMPORT), which then receives into the same area and refills
through the same ring. AddArea grows the memory of a running queue
(ZCRX_CTRL_ADD_AREA; Linux 7.3, refused with EOPNOTSUPP by 7.2).
EventConfig asks for event completions, each firing once until ArmEvent:
ZCRX_EVENT_COPY on a copy fallback, ZCRX_EVENT_ALLOC_FAIL when the NIC's
page pool finds no free buffer (NIC mode only: a NODEV queue ends the
request with ENOMEM instead). The completion carries EventConfig.UserData
and the event type as its result (see IFQ.Event). EventConfig.Stats adds
the zcrx_stats block (Stats): copy_bytes counts every byte copied,
copy_count the kernel's copy operations (one may fill several buffers).

# Errors

Errors name the operation ("zcrx: register ifq (...)", "zcrx 0:
ZCRX_CTRL_FLUSH_RQ") and wrap the unix.Errno the kernel returned, so
errors.Is(err, unix.EINVAL) works. Checks Register makes before the system
call (ring flags, area and region alignment and size, capabilities) wrap
EINVAL or EOPNOTSUPP.
*/
package zcrx
