package ring_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/matrix/feature"
	"github.com/urgen/urgen/runtime/query"
	"github.com/urgen/urgen/runtime/ring"
)

func eventfdCount(t *testing.T, efd int) uint64 {
	t.Helper()
	var b [8]byte
	n, err := unix.Read(efd, b[:])
	if errors.Is(err, unix.EAGAIN) {
		return 0
	}
	if err != nil || n != 8 {
		t.Fatalf("eventfd read: %d %v", n, err)
	}
	return *(*uint64)(unsafe.Pointer(&b[0]))
}

// eventfdRing returns a ring with a registered non-blocking eventfd.
func eventfdRing(t *testing.T) (*ring.Ring, int) {
	t.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(efd) })
	r := newRing(t)
	if err := r.RegisterEventfd(efd); err != nil {
		t.Fatal(err)
	}
	return r, efd
}

func TestRegisterEventfd(t *testing.T) {
	r, efd := eventfdRing(t)
	run(t, r, 1, nop)
	if n := eventfdCount(t, efd); n != 1 {
		t.Fatalf("eventfd after one inline completion: %d, want 1", n)
	}
	if err := r.RegisterEventfd(efd); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("second RegisterEventfd: %v, want EBUSY", err)
	}
	if err := r.UnregisterEventfd(); err != nil {
		t.Fatal(err)
	}
	run(t, r, 2, nop)
	if n := eventfdCount(t, efd); n != 0 {
		t.Fatalf("eventfd after UnregisterEventfd: %d, want 0", n)
	}

	// The async variant ignores inline completions and signals io-wq ones.
	if err := r.RegisterEventfdAsync(efd); err != nil {
		t.Fatal(err)
	}
	run(t, r, 3, nop)
	if n := eventfdCount(t, efd); n != 0 {
		t.Fatalf("async eventfd after an inline completion: %d, want 0", n)
	}
	run(t, r, 4, func(s *uapi.SQE) { s.Opcode = uapi.OpNop; s.Flags = uapi.SQEAsync })
	// The kernel may signal an io-wq completion's eventfd a little after
	// posting the CQE (from an RCU callback): wait for it.
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}, 5000)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			t.Fatal(err)
		}
	}
	if n := eventfdCount(t, efd); n != 1 {
		t.Fatalf("async eventfd after an io-wq completion: %d, want 1", n)
	}
}

func TestRegisterPersonality(t *testing.T) {
	r := newRing(t)
	id, err := r.RegisterPersonality()
	if err != nil {
		t.Fatal(err)
	}
	withID := func(id uint16) func(*uapi.SQE) {
		return func(s *uapi.SQE) { s.Opcode = uapi.OpNop; s.Personality = id }
	}
	if res, _ := run(t, r, 1, withID(id)); res != 0 {
		t.Fatalf("NOP with personality %d: %d", id, res)
	}
	if res, _ := run(t, r, 2, withID(id+1)); errno(res) != unix.EINVAL {
		t.Fatalf("NOP with unknown personality: %d, want -EINVAL", res)
	}
	if err := r.UnregisterPersonality(id); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, r, 3, withID(id)); errno(res) != unix.EINVAL {
		t.Fatalf("NOP with unregistered personality: %d, want -EINVAL", res)
	}
	if err := r.UnregisterPersonality(id); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("second UnregisterPersonality: %v, want EINVAL", err)
	}
}

// ioWorkers lists the io-wq worker threads of the calling thread
// ("iou-wrk-<tid>").
func ioWorkers() []int {
	want := "iou-wrk-" + strconv.Itoa(unix.Gettid())
	ents, _ := os.ReadDir("/proc/self/task")
	var out []int
	for _, e := range ents {
		comm, err := os.ReadFile(filepath.Join("/proc/self/task", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == want {
			tid, _ := strconv.Atoi(e.Name())
			out = append(out, tid)
		}
	}
	return out
}

var errStaleThread = errors.New("every thread tried has io-wq workers already")

// onFreshThread runs f locked to an OS thread that has no io-wq workers.
// io-wq belongs to the submitting thread, and workers that exist keep their
// old settings; threads found with workers stay parked until the end, so the
// runtime has to start or hand out other ones.
func onFreshThread(f func() error) error {
	release := make(chan struct{})
	defer close(release)
	for range 16 {
		res := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			if len(ioWorkers()) > 0 {
				res <- errStaleThread
				<-release
				return
			}
			res <- f()
		}()
		if err := <-res; err != errStaleThread {
			return err
		}
	}
	return errStaleThread
}

func TestIOWQAffinity(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for i := 0; i < 1024 && cpu < 0; i++ {
		if all.IsSet(i) && all.Count() > 1 {
			cpu = i
		}
	}
	if cpu < 0 {
		t.Skipf("one CPU only: a restricted io-wq affinity cannot be told apart (have %d)", all.Count())
	}
	err := onFreshThread(func() error {
		r, err := ring.New(4)
		if err != nil {
			return err
		}
		defer r.Close()
		var one unix.CPUSet
		one.Set(cpu)
		if err := r.SetIOWQAffinity(&one); err != nil {
			return err
		}
		s := r.SQE()
		s.Opcode, s.Flags = uapi.OpNop, uapi.SQEAsync
		if _, err := r.SubmitAndWait(1); err != nil {
			return err
		}
		if c, ok := r.PeekCQE(); !ok || c.Res != 0 {
			return fmt.Errorf("async NOP: %v %+v", ok, c)
		}
		workers := ioWorkers()
		if len(workers) == 0 {
			return errors.New("no io-wq worker thread found after an async NOP")
		}
		for _, w := range workers {
			var got unix.CPUSet
			if err := unix.SchedGetaffinity(w, &got); err != nil {
				return err
			}
			if got != one {
				return fmt.Errorf("worker %d affinity has %d CPUs, want only CPU %d", w, got.Count(), cpu)
			}
		}
		return r.ClearIOWQAffinity()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIOWQMaxWorkers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newRing(t)
	run(t, r, 1, func(s *uapi.SQE) { s.Opcode = uapi.OpNop; s.Flags = uapi.SQEAsync }) // create the io-wq
	b0, u0, err := r.SetIOWQMaxWorkers(3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if b0 == 0 || u0 == 0 {
		t.Fatalf("previous limits %d %d: want the kernel defaults, non-zero", b0, u0)
	}
	b, u, err := r.SetIOWQMaxWorkers(0, 0)
	if err != nil || b != 3 || u != 5 {
		t.Fatalf("reading limits: %d %d %v, want 3 5", b, u, err)
	}
	if _, _, err := r.SetIOWQMaxWorkers(1<<31, 0); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("limit above INT_MAX: %v, want EINVAL", err)
	}
	if _, _, err := r.SetIOWQMaxWorkers(b0, u0); err != nil {
		t.Fatal(err)
	}
}

func TestSyncCancel(t *testing.T) {
	r := newRing(t)
	rd, _ := socketpair(t)
	buf := make([]byte, 8)
	s := r.SQE()
	s.Opcode = uapi.OpRead
	s.FD = int32(rd)
	s.Addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	s.Len = uint32(len(buf))
	s.UserData = 77
	r.Keep(77, buf)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncCancel(ring.Cancel{UserData: 77, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c, ok := r.PeekCQE()
	if !ok {
		t.Fatal("no CQE for the canceled read after SyncCancel returned")
	}
	if c.UserData != 77 || errno(c.Res) != unix.ECANCELED {
		t.Fatalf("canceled read: user data %d res %d, want 77 -ECANCELED", c.UserData, c.Res)
	}
	r.CQESeen(c)
	if err := r.SyncCancel(ring.Cancel{UserData: 77}); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("cancel of nothing: %v, want ENOENT", err)
	}
	// By file descriptor, all of them.
	for i := range 2 {
		s := r.SQE()
		s.Opcode = uapi.OpRead
		s.FD = int32(rd)
		s.Addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
		s.Len = 1
		s.UserData = uint64(100 + i)
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncCancel(ring.Cancel{Flags: uapi.AsyncCancelFD | uapi.AsyncCancelAll, FD: int32(rd)}); err != nil {
		t.Fatal(err)
	}
	got := reapAll(r)
	if len(got) != 2 || errno(got[0].res) != unix.ECANCELED || errno(got[1].res) != unix.ECANCELED {
		t.Fatalf("cancel all by fd: %+v", got)
	}
	runtime.KeepAlive(buf)
}

func TestNAPI(t *testing.T) {
	feature.Need(t, "napi", "IORING_REGISTER_NAPI (Linux 6.9)")
	r := newRing(t)
	prev, err := r.RegisterNAPI(ring.NAPI{BusyPollTimeout: 50, PreferBusyPoll: true})
	if errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("kernel built without NAPI busy polling (CONFIG_NET_RX_BUSY_POLL) refuses IORING_REGISTER_NAPI: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Static tracking (Linux 6.13) tells kernels that also report the
	// tracking mode, INACTIVE on a fresh ring, from older ones that report
	// only time and preference.
	s := newRing(t)
	_, staticErr := s.RegisterNAPI(ring.NAPI{BusyPollTimeout: 10, Tracking: uapi.NAPITrackingStatic})
	want := ring.NAPI{}
	if staticErr == nil {
		want.Tracking = uapi.NAPITrackingInactive
	}
	if prev != want {
		t.Errorf("previous setting of a fresh ring: %+v, want %+v", prev, want)
	}
	old, err := r.UnregisterNAPI()
	if err != nil {
		t.Fatal(err)
	}
	if old != (ring.NAPI{BusyPollTimeout: 50, PreferBusyPoll: true, Tracking: uapi.NAPITrackingDynamic}) {
		t.Errorf("UnregisterNAPI reports %+v, want 50 µs, prefer, dynamic", old)
	}
	if staticErr != nil {
		if errors.Is(staticErr, unix.EINVAL) {
			feature.Need(t, "napi_static", fmt.Sprintf("static NAPI tracking (Linux 6.13): %v", staticErr))
		}
		t.Fatal(staticErr)
	}
	// Static tracking: ids are added and removed by hand.
	const id = 1 << 20 // above every CPU-range id, so a valid NAPI id
	if err := s.AddNAPIID(id); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNAPIID(id); !errors.Is(err, unix.EEXIST) {
		t.Errorf("adding id %d twice: %v, want EEXIST", id, err)
	}
	if err := s.DelNAPIID(id); err != nil {
		t.Fatal(err)
	}
	if err := s.DelNAPIID(id); !errors.Is(err, unix.ENOENT) {
		t.Errorf("deleting id %d twice: %v, want ENOENT", id, err)
	}
	if err := s.AddNAPIID(0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("adding invalid id 0: %v, want EINVAL", err)
	}
}

func TestSetClock(t *testing.T) {
	feature.Need(t, "register_clock", "IORING_REGISTER_CLOCK (Linux 6.12)")
	r := newRing(t)
	if err := r.SetClock(unix.CLOCK_BOOTTIME); err != nil {
		t.Fatal(err)
	}
	if err := r.SetClock(unix.CLOCK_MONOTONIC); err != nil {
		t.Fatal(err)
	}
	if err := r.SetClock(unix.CLOCK_REALTIME); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("CLOCK_REALTIME: %v, want EINVAL", err)
	}
	// A wait still times out after the clock change.
	if err := r.SetClock(unix.CLOCK_BOOTTIME); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := r.WaitCQETimeout(20 * time.Millisecond); !errors.Is(err, unix.ETIME) {
		t.Fatalf("wait on an idle boottime ring: %v, want ETIME", err)
	}
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Fatalf("boottime wait returned after %v", d)
	}
}

func TestSendMsgRing(t *testing.T) {
	feature.Need(t, "send_msg_ring", "IORING_REGISTER_SEND_MSG_RING (Linux 6.13)")
	r := newRing(t)
	if err := ring.SendMsgRing(r.FD(), 42, 0xfeed, 0, 0); err != nil {
		t.Fatal(err)
	}
	c, ok := r.PeekCQE()
	if !ok || c.UserData != 0xfeed || c.Res != 42 || c.Flags != 0 {
		t.Fatalf("posted CQE: %v %+v, want user data 0xfeed res 42", ok, c)
	}
	r.CQESeen(c)
	const flags = 0x2a << uapi.CQEBufferShift
	if err := ring.SendMsgRing(r.FD(), -7, 9, uapi.MsgRingFlagsPass, flags); err != nil {
		t.Fatal(err)
	}
	c, ok = r.PeekCQE()
	if !ok || c.UserData != 9 || c.Res != -7 || uint32(c.Flags) != flags {
		t.Fatalf("posted CQE with flags: %v %+v", ok, c)
	}
	r.CQESeen(c)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ring.SendMsgRing(int(f.Fd()), 1, 1, 0, 0); !errors.Is(err, unix.EBADFD) {
		t.Fatalf("target not a ring: %v, want EBADFD", err)
	}
}

func TestMemRegion(t *testing.T) {
	page := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)

	// A zero argument faults on kernels that know the op (reg_wait: the
	// same trial, or the query).
	feature.Need(t, "reg_wait", "IORING_REGISTER_MEM_REGION (Linux 6.13)")
	r := newRing(t)
	var zero uapi.MemRegionReg
	if _, err := r.Register(uapi.RegisterMemRegion, unsafe.Pointer(&zero), 1); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("region with a null descriptor: %v, want EFAULT", err)
	}
	// Wait arguments need a ring that is not running yet.
	if err := r.RegisterMemRegion(mem, ring.MemRegionWaitArg); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("wait-arg region on an enabled ring: %v, want EINVAL", err)
	}
	d := newRing(t, ring.WithFlags(uapi.SetupRDisabled))
	if err := d.RegisterMemRegion(mem, ring.MemRegionWaitArg); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterMemRegion(mem, 0); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("second region: %v, want EBUSY", err)
	}
	if err := d.Enable(); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterMemRegion(mem[1:], 0); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("unaligned region: %v, want EINVAL", err)
	}

	// Kernel memory, mapped through the ring fd: both mappings are one.
	k := newRing(t)
	m1, off, err := k.RegisterMemRegionKernel(page, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m1)
	m2, err := unix.Mmap(k.FD(), off, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("second mapping of the region: %v", err)
	}
	defer unix.Munmap(m2)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&m1[8])), 0xc0ffee)
	if got := atomic.LoadUint32((*uint32)(unsafe.Pointer(&m2[8]))); got != 0xc0ffee {
		t.Fatalf("region mappings differ: %#x", got)
	}
}

func TestPBufRing(t *testing.T) {
	r := newRing(t)
	const bgid, entries = 7, 8
	if err := r.RegisterPBufRing(bgid, entries, nil, uapi.IouPBufRingMMap|uapi.IouPBufRingInc); err != nil {
		if errors.Is(err, unix.EINVAL) {
			t.Skipf("needs pbuf_ring_inc: IOU_PBUF_RING_MMAP|IOU_PBUF_RING_INC (Linux 6.12): %v", err)
		}
		t.Fatal(err)
	}
	mem, err := r.MapPBufRing(bgid, entries)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	br := (*uapi.BufRing)(unsafe.Pointer(&mem[0]))
	data := make([]byte, 16)
	br.Bufs(entries)[0] = uapi.Buf{Addr: uint64(uintptr(unsafe.Pointer(&data[0]))), Len: uint32(len(data)), Bid: 3}
	// The ring header overlays bufs[0]: tail is bufs[0].resv.
	br.Tail = 1
	if head, err := r.PBufStatus(bgid); err != nil || head != 0 {
		t.Fatalf("status before use: %d %v", head, err)
	}

	rd, wr := socketpair(t)
	if _, err := unix.Write(wr, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	read := func(s *uapi.SQE) {
		s.Opcode = uapi.OpRead
		s.FD = int32(rd)
		s.Flags = uapi.SQEBufferSelect
		s.SetBufGroup(bgid)
		s.Off = ^uint64(0)
	}
	s := r.SQE()
	read(s)
	s.UserData = 1
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	c, err := r.WaitCQE()
	if err != nil {
		t.Fatal(err)
	}
	res, flags := c.Res, c.Flags
	r.CQESeen(c)
	if res != 5 || flags&uapi.CQEFBuffer == 0 || uint32(flags)>>uapi.CQEBufferShift != 3 {
		t.Fatalf("buffer-select read: res %d flags %#x, want 5 bytes in buffer 3", res, flags)
	}
	// Incremental consumption: 11 of 16 bytes are left, so the buffer stays.
	if flags&uapi.CQEFBufMore == 0 {
		t.Fatalf("IOU_PBUF_RING_INC read of 5 of 16 bytes: flags %#x lack IORING_CQE_F_BUF_MORE", flags)
	}
	if string(data[:5]) != "hello" {
		t.Fatalf("buffer holds %q", data[:5])
	}
	runtime.KeepAlive(data)
	if err := r.UnregisterPBufRing(bgid); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PBufStatus(bgid); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("status of an unregistered group: %v, want ENOENT", err)
	}
	if err := r.UnregisterPBufRing(bgid); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("second unregister: %v, want ENOENT", err)
	}

	// Caller memory: page aligned, kept by the ring while registered.
	page := os.Getpagesize()
	um, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(um)
	if err := r.RegisterPBufRing(9, entries, um, 0); err != nil {
		t.Fatal(err)
	}
	if head, err := r.PBufStatus(9); err != nil || head != 0 {
		t.Fatalf("status of caller-memory ring: %d %v", head, err)
	}
	if err := r.RegisterPBufRing(9, entries, um, 0); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("group registered twice: %v, want EEXIST", err)
	}
	if err := r.RegisterPBufRing(10, entries, um, uapi.IouPBufRingMMap); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("memory with IOU_PBUF_RING_MMAP: %v, want EINVAL", err)
	}
}

func TestPBufStatusHead(t *testing.T) {
	r := newRing(t)
	const bgid, entries = 1, 4
	feature.Need(t, "pbuf_status", "IORING_REGISTER_PBUF_STATUS (Linux 6.8)")
	if err := r.RegisterPBufRing(bgid, entries, nil, uapi.IouPBufRingMMap); err != nil {
		t.Fatal(err)
	}
	mem, err := r.MapPBufRing(bgid, entries)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	br := (*uapi.BufRing)(unsafe.Pointer(&mem[0]))
	data := make([]byte, 2*entries)
	for i := range entries {
		br.Bufs(entries)[i] = uapi.Buf{Addr: uint64(uintptr(unsafe.Pointer(&data[2*i]))), Len: 2, Bid: uint16(i)}
	}
	br.Tail = entries
	rd, wr := socketpair(t)
	for i := range 3 {
		if _, err := unix.Write(wr, []byte("ab")); err != nil {
			t.Fatal(err)
		}
		res, _ := run(t, r, uint64(i+1), func(s *uapi.SQE) {
			s.Opcode = uapi.OpRead
			s.FD = int32(rd)
			s.Flags = uapi.SQEBufferSelect
			s.SetBufGroup(bgid)
			s.Off = ^uint64(0)
		})
		if res != 2 {
			t.Fatalf("read %d: %d", i, res)
		}
	}
	if head, err := r.PBufStatus(bgid); err != nil || head != 3 {
		t.Fatalf("head after three reads: %d %v, want 3", head, err)
	}
	runtime.KeepAlive(data)
}

func TestQueryThroughRing(t *testing.T) {
	if err := query.Available(); err != nil {
		t.Skipf("needs query: %v", err)
	}
	r := newRing(t)
	viaRing, err := r.Query()
	if err != nil {
		t.Fatal(err)
	}
	blind, err := query.All(query.NoRing)
	if err != nil {
		t.Fatal(err)
	}
	if viaRing.Opcodes != blind.Opcodes {
		t.Fatalf("query through the ring %+v, without %+v", viaRing.Opcodes, blind.Opcodes)
	}
}

// A ring that has no fd at all (REGISTERED_FD_ONLY) is reachable only with
// IORING_REGISTER_USE_REGISTERED_RING: every wrapper must go that way.
func TestRegisteredFDOnlyRing(t *testing.T) {
	feature.Need(t, "registered_fd_only", "IORING_SETUP_REGISTERED_FD_ONLY (Linux 6.5)")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newRing(t, ring.WithFlags(uapi.SetupRegisteredFDOnly|uapi.SetupNoMMap))
	if r.FD() != -1 {
		t.Fatalf("REGISTERED_FD_ONLY ring has fd %d", r.FD())
	}
	rd, wr := socketpair(t)
	if err := r.RegisterFiles([]int32{int32(wr)}); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, r, 1, writeFixedFile(0, []byte("reg"))); res != 3 {
		t.Fatalf("fixed write on a registered-only ring: %d", res)
	}
	if got := readAll(t, rd, 3); got != "reg" {
		t.Fatalf("got %q", got)
	}
	id, err := r.RegisterPersonality()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UnregisterPersonality(id); err != nil {
		t.Fatal(err)
	}
	if query.Available() == nil {
		if _, err := r.Query(); err != nil {
			t.Fatal(err)
		}
	}
}
