package nvme

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	nvmeabi "github.com/urgen/urgen/generated/nvme"
	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/kernelversion"
	"github.com/urgen/urgen/runtime/ring"
)

// Queue is a ring that sends a Device NVMe commands as
// IORING_OP_URING_CMD: 128-byte SQEs carrying struct nvme_uring_cmd, and
// 32-byte CQEs carrying the command's result. Like a ring.Ring it is used
// by one goroutine at a time.
type Queue struct {
	d     *Device
	r     *ring.Ring
	poll  bool
	mixed bool
	bufs  [][]byte // registered fixed buffers
	next  uint64   // user data of the next command
	// inflight holds the started commands by tag: their name and byte
	// count, until Complete reports them.
	inflight map[uint64]started
	cqes     []*uapi.CQE
}

type started struct {
	command string
	n       int
}

// QueueOption configures NewQueue.
type QueueOption func(*queueConfig)

type queueConfig struct {
	entries uint32
	poll    bool
	mixed   bool
	fixed   [][]byte
}

// WithEntries sets the ring size (default 64).
func WithEntries(n uint32) QueueOption { return func(c *queueConfig) { c.entries = n } }

// WithPoll makes the ring poll for completions (IORING_SETUP_IOPOLL): the
// kernel sends the commands to the controller's poll queues (the nvme
// module's poll_queues parameter) and reaps them by polling, without
// interrupts. Waiting for a completion spins in the kernel.
//
// Before Linux 6.8 NewQueue refuses it with ErrPollUnsafe.
func WithPoll() QueueOption { return func(c *queueConfig) { c.poll = true } }

// ErrPollUnsafe is NewQueue's error for WithPoll on a kernel before Linux
// 6.8. Until then the poller takes the command's bio from the uring_cmd's
// cookie, a field that also holds the task-work callback of a command
// completed by interrupt, and that still points at a bio completion has
// freed: polling it can crash the kernel. A 6.1 VM of the test matrix did,
// with a general protection fault in bio_poll under
// nvme_ns_chr_uring_cmd_iopoll and a "bio" holding kernel code bytes. The
// cookie went away in 6.8 ("io_uring: remove uring_cmd cookie"). It wraps
// EOPNOTSUPP.
var ErrPollUnsafe = fmt.Errorf("nvme: polled passthrough (IORING_SETUP_IOPOLL) before Linux 6.8 can crash the kernel: %w", unix.EOPNOTSUPP)

// PollSafe reports whether the running kernel polls passthrough commands
// safely (Linux 6.8 and later), so that WithPoll is allowed.
func PollSafe() bool {
	v, err := kernelversion.Current()
	return err == nil && v.AtLeast(6, 8)
}

// WithMixed makes the ring one of mixed-size entries
// (IORING_SETUP_SQE_MIXED and IORING_SETUP_CQE_MIXED, Linux 6.18): the NVMe
// commands take two 64-byte slots and their completions two 16-byte ones,
// other requests one. The default is a ring of 128-byte SQEs and 32-byte
// CQEs (IORING_SETUP_SQE128, IORING_SETUP_CQE32).
func WithMixed() QueueOption { return func(c *queueConfig) { c.mixed = true } }

// WithFixedBuffers registers bufs with the ring (IORING_REGISTER_BUFFERS)
// for ReadFixedAt and WriteFixedAt (IORING_URING_CMD_FIXED): the kernel
// pins their pages once instead of mapping them for every command.
func WithFixedBuffers(bufs [][]byte) QueueOption { return func(c *queueConfig) { c.fixed = bufs } }

// NewQueue sets up a ring for the device's commands.
func (d *Device) NewQueue(opts ...QueueOption) (*Queue, error) {
	c := queueConfig{entries: 64}
	for _, o := range opts {
		o(&c)
	}
	flags := uapi.SetupSqe128 | uapi.SetupCqe32
	if c.mixed {
		flags = uapi.SetupSQEMixed | uapi.SetupCQEMixed
	}
	if c.poll {
		if !PollSafe() {
			return nil, fmt.Errorf("nvme: %s queue: %w", d.path, ErrPollUnsafe)
		}
		flags |= uapi.SetupIOPoll
	}
	r, err := ring.New(c.entries, ring.WithFlags(flags))
	if err != nil {
		return nil, fmt.Errorf("nvme: %s queue: %w", d.path, err)
	}
	q := &Queue{d: d, r: r, poll: c.poll, mixed: c.mixed, inflight: map[uint64]started{}}
	if c.fixed != nil {
		if err := r.RegisterBuffers(c.fixed); err != nil {
			r.Close()
			return nil, fmt.Errorf("nvme: %s queue: %w", d.path, err)
		}
		q.bufs = c.fixed
	}
	return q, nil
}

// Ring returns the queue's ring.
func (q *Queue) Ring() *ring.Ring { return q.r }

// Close closes the ring (cancelling what is in flight, see ring.Close).
func (q *Queue) Close() error { return q.r.Close() }

// ErrBusy is returned by the synchronous commands while started ones are
// in flight: Complete them first.
var ErrBusy = errors.New("nvme: started commands are in flight")

func (q *Queue) sqe() (*uapi.SQE, error) {
	s := q.r.SQE128()
	if s == nil {
		return nil, fmt.Errorf("nvme: submission queue full: %w", unix.EBUSY)
	}
	return s, nil
}

// payload is the struct nvme_uring_cmd in s's cmd area.
func payload(s *uapi.SQE) *nvmeabi.UringCmd {
	return (*nvmeabi.UringCmd)(unsafe.Pointer(unsafe.SliceData(s.Cmd(nvmeabi.SizeofUringCmd))))
}

// finish completes a command the generated builder prepared: the
// protection information fields for data commands (see
// Device.protectionAction; the initial reference tag is the LBA's low 32
// bits, which types 1 and 2 check), and on a mixed ring the 128-byte
// opcode, which the kernel requires there for a command in two slots.
func (q *Queue) finish(s *uapi.SQE, slba uint64, data bool) {
	if pract := q.d.protectionAction(); data && pract != 0 {
		c := payload(s)
		c.Cdw12 |= pract
		c.Cdw14 = uint32(slba)
	}
	if q.mixed {
		s.Opcode = uapi.OpUringCmd128
	}
}

// do sends one command and waits for it.
func (q *Queue) do(command string, n int, prep func(*uapi.SQE)) (int, error) {
	if len(q.inflight) > 0 {
		return 0, ErrBusy
	}
	s, err := q.sqe()
	if err != nil {
		return 0, err
	}
	prep(s)
	q.next++
	ud := q.next
	s.UserData = ud
	if _, err := q.r.Submit(); err != nil {
		return 0, fmt.Errorf("nvme %s: %w", command, err)
	}
	for {
		c, err := q.r.WaitCQE()
		if err != nil {
			return 0, fmt.Errorf("nvme %s: %w", command, err)
		}
		res, mine := c.Res, c.UserData == ud
		q.r.CQESeen(c)
		if mine {
			return result(command, res, n)
		}
	}
}

// ReadAt reads len(p) bytes at byte offset off (both multiples of the
// block size) with an NVMe Read through NVME_URING_CMD_IO. It implements
// io.ReaderAt. On a namespace whose metadata is its protection
// information the controller checks and strips it (PRACT).
func (q *Queue) ReadAt(p []byte, off int64) (int, error) {
	slba, nlb, err := q.d.blocks("Read", len(p), off)
	if err != nil {
		return 0, err
	}
	n, err := q.do("Read", len(p), func(s *uapi.SQE) {
		nvmeabi.PrepRead(s, int32(q.d.FD()), q.d.nsid, slba, nlb, p)
		q.finish(s, slba, true)
	})
	runtime.KeepAlive(p)
	return n, err
}

// WriteAt writes p at byte offset off with an NVMe Write through
// NVME_URING_CMD_IO. It implements io.WriterAt. On a namespace whose
// metadata is its protection information the controller generates it.
func (q *Queue) WriteAt(p []byte, off int64) (int, error) {
	slba, nlb, err := q.d.blocks("Write", len(p), off)
	if err != nil {
		return 0, err
	}
	n, err := q.do("Write", len(p), func(s *uapi.SQE) {
		nvmeabi.PrepWrite(s, int32(q.d.FD()), q.d.nsid, slba, nlb, p)
		q.finish(s, slba, true)
	})
	runtime.KeepAlive(p)
	return n, err
}

// ReadvAt reads into the buffers of bufs in turn, as one command of their
// total length at off (NVME_URING_CMD_IO_VEC).
func (q *Queue) ReadvAt(bufs [][]byte, off int64) (int, error) {
	return q.vectored("Read", bufs, off, nvmeabi.PrepReadv)
}

// WritevAt writes the buffers of bufs in turn, as one command of their
// total length at off (NVME_URING_CMD_IO_VEC).
func (q *Queue) WritevAt(bufs [][]byte, off int64) (int, error) {
	return q.vectored("Write", bufs, off, nvmeabi.PrepWritev)
}

func (q *Queue) vectored(command string, bufs [][]byte, off int64, prep func(*uapi.SQE, int32, uint32, uint64, uint16, []unix.Iovec)) (int, error) {
	iov, total := iovecs(bufs)
	slba, nlb, err := q.d.blocks(command, total, off)
	if err != nil {
		return 0, err
	}
	n, err := q.do(command, total, func(s *uapi.SQE) {
		prep(s, int32(q.d.FD()), q.d.nsid, slba, nlb, iov)
		q.finish(s, slba, true)
	})
	runtime.KeepAlive(iov)
	runtime.KeepAlive(bufs)
	return n, err
}

// ReadFixedAt reads like ReadAt into p, which must lie within registered
// buffer index (WithFixedBuffers), with IORING_URING_CMD_FIXED.
func (q *Queue) ReadFixedAt(index int, p []byte, off int64) (int, error) {
	return q.fixedIO("Read", index, p, off, nvmeabi.PrepReadFixed)
}

// WriteFixedAt writes like WriteAt from p, which must lie within registered
// buffer index, with IORING_URING_CMD_FIXED.
func (q *Queue) WriteFixedAt(index int, p []byte, off int64) (int, error) {
	return q.fixedIO("Write", index, p, off, nvmeabi.PrepWriteFixed)
}

func (q *Queue) fixedIO(command string, index int, p []byte, off int64, prep func(*uapi.SQE, int32, uint32, uint64, uint16, []byte, uint16)) (int, error) {
	if index < 0 || index >= len(q.bufs) || !within(p, q.bufs[index]) {
		return 0, fmt.Errorf("nvme %s: buffer is not within registered buffer %d: %w", command, index, unix.EINVAL)
	}
	slba, nlb, err := q.d.blocks(command, len(p), off)
	if err != nil {
		return 0, err
	}
	return q.do(command, len(p), func(s *uapi.SQE) {
		prep(s, int32(q.d.FD()), q.d.nsid, slba, nlb, p, uint16(index))
		q.finish(s, slba, true)
	})
}

// within reports whether p lies inside buf.
func within(p, buf []byte) bool {
	if len(p) == 0 || len(buf) == 0 {
		return false
	}
	start, end := uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&buf[0]))+uintptr(len(buf))
	ps := uintptr(unsafe.Pointer(&p[0]))
	return ps >= start && ps+uintptr(len(p)) <= end
}

// Flush commits the namespace's volatile write cache (NVMe Flush).
func (q *Queue) Flush() error {
	_, err := q.do("Flush", 0, func(s *uapi.SQE) {
		nvmeabi.PrepFlush(s, int32(q.d.FD()), q.d.nsid)
		q.finish(s, 0, false)
	})
	return err
}

// Identify reads Identify data structure cns for namespace nsid into buf
// (IdentifySize bytes) with an admin passthrough command
// (NVME_URING_CMD_ADMIN) to the controller's character device.
func (q *Queue) Identify(cns uint8, nsid uint32, buf []byte) error {
	if len(buf) != IdentifySize {
		return fmt.Errorf("nvme Identify: buffer of %d bytes, want %d", len(buf), IdentifySize)
	}
	_, err := q.do("Identify", len(buf), func(s *uapi.SQE) {
		nvmeabi.PrepIdentify(s, int32(q.d.ctrl.Fd()), nsid, cns, buf)
		q.finish(s, 0, false)
	})
	runtime.KeepAlive(buf)
	return err
}

// StartRead queues a Read of len(p) bytes at off under tag, for queue
// depths above one: Submit sends what is queued, Complete reports it. The
// queue keeps p alive until then.
func (q *Queue) StartRead(p []byte, off int64, tag uint64) error {
	return q.start("Read", p, off, tag, nvmeabi.PrepRead)
}

// StartWrite queues a Write of p at off under tag (see StartRead).
func (q *Queue) StartWrite(p []byte, off int64, tag uint64) error {
	return q.start("Write", p, off, tag, nvmeabi.PrepWrite)
}

func (q *Queue) start(command string, p []byte, off int64, tag uint64, prep func(*uapi.SQE, int32, uint32, uint64, uint16, []byte)) error {
	if _, dup := q.inflight[tag]; dup {
		return fmt.Errorf("nvme %s: tag %d is in flight: %w", command, tag, unix.EBUSY)
	}
	slba, nlb, err := q.d.blocks(command, len(p), off)
	if err != nil {
		return err
	}
	s, err := q.sqe()
	if err != nil {
		return err
	}
	prep(s, int32(q.d.FD()), q.d.nsid, slba, nlb, p)
	q.finish(s, slba, true)
	s.UserData = tag
	q.r.Keep(tag, &p[0])
	q.inflight[tag] = started{command, len(p)}
	return nil
}

// Submit sends the queued commands to the kernel.
func (q *Queue) Submit() (int, error) { return q.r.Submit() }

// InFlight returns the number of started commands not yet reported.
func (q *Queue) InFlight() int { return len(q.inflight) }

// Complete waits until at least atLeast started commands have completed
// (submitting what is queued), then reports every completed one to fn:
// its tag, the bytes moved, and a *StatusError or *ring.OpError when it
// failed. It returns how many it reported.
func (q *Queue) Complete(atLeast int, fn func(tag uint64, n int, err error)) (int, error) {
	atLeast = max(0, min(atLeast, len(q.inflight)))
	if _, err := q.r.SubmitAndWait(uint32(atLeast)); err != nil {
		return 0, fmt.Errorf("nvme: %w", err)
	}
	if cap(q.cqes) == 0 {
		q.cqes = make([]*uapi.CQE, 64)
	}
	done := 0
	for {
		n := q.r.PeekBatch(q.cqes)
		if n == 0 {
			if done >= atLeast {
				return done, nil
			}
			if _, err := q.r.SubmitAndWait(1); err != nil {
				return done, fmt.Errorf("nvme: %w", err)
			}
			continue
		}
		for _, c := range q.cqes[:n] {
			st, ok := q.inflight[c.UserData]
			if !ok {
				continue // not a started command (a padding NOP)
			}
			delete(q.inflight, c.UserData)
			bytes, err := result(st.command, c.Res, st.n)
			fn(c.UserData, bytes, err)
			done++
		}
		q.r.CQAdvance(uint32(n))
	}
}
