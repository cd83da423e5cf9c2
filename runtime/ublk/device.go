package ublk

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/urgen/urgen/generated/uapi"
	ublkabi "github.com/urgen/urgen/generated/ublk"
)

// Options describe a device.
type Options struct {
	// Size is the device's size in bytes, a multiple of BlockSize.
	Size int64
	// BlockSize is the logical block size: 512 (default) to 4096, a
	// power of two.
	BlockSize int
	// Queues is the number of hardware queues, each served by its own
	// goroutine on its own ring (default 1); the kernel gives at most one
	// per CPU (Info().NrHWQueues says how many).
	Queues int
	// Depth is the number of requests a queue holds at once (default 64,
	// at most 4096).
	Depth int
	// MaxIO is the largest request in bytes (default 512 KiB, a multiple
	// of the page size).
	MaxIO int
	// Mode is the data mode (default ModeAuto).
	Mode Mode
}

// Device is a ublk block device served by this process: /dev/ublkbN,
// whose requests reach a Backend.
type Device struct {
	ctrl   *control
	info   ublkabi.CtrlDevInfo
	char   *os.File
	zeros  *os.File // /dev/zero, read into request buffers past a FixedBackend's end
	mode   Mode
	opts   Options
	queues []*queue
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error // the first queue error
	closed bool
}

// New adds a device (UBLK_U_CMD_ADD_DEV) with the driver's ioctl-encoded
// commands, sets its parameters (UBLK_U_CMD_SET_PARAMS: size, block size,
// cache, discard), maps each queue's I/O descriptors from /dev/ublkcN,
// starts one goroutine and ring per queue that fetches requests, and starts
// the device (UBLK_U_CMD_START_DEV). It returns once /dev/ublkbN exists.
// Close stops and deletes the device. It needs CAP_SYS_ADMIN.
func New(b Backend, o Options) (*Device, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	c, err := openControl()
	if err != nil {
		return nil, fmt.Errorf("ublk: %w", err)
	}
	feats, ferr := c.features()
	if ferr != nil {
		feats = 0 // before Linux 6.5: no GET_FEATURES, and only ModeCopy
	}
	mode, err := o.Mode.choose(b, feats)
	if err != nil {
		c.close()
		return nil, err
	}
	d := &Device{ctrl: c, mode: mode, opts: o}
	d.info = ublkabi.CtrlDevInfo{
		NrHWQueues:    uint16(o.Queues),
		QueueDepth:    uint16(o.Depth),
		MaxIOBufBytes: uint32(o.MaxIO),
		DevID:         ^uint32(0),
		Flags:         ublkabi.FCmdIoctlEncode | mode.flags(),
	}
	info := &d.info
	if _, err := c.do("ADD_DEV", func(s *uapi.SQE) { ublkabi.PrepAddDev(s, c.fd(), ^uint32(0), info) }); err != nil {
		c.close()
		return nil, err
	}
	if got := d.info.Flags & mode.flags(); got != mode.flags() {
		d.teardown()
		return nil, fmt.Errorf("ublk: ADD_DEV in %v: the driver cleared %v from the device's flags %v", mode, mode.flags()&^got, d.info.Flags)
	}
	// The kernel caps the queues at the number of CPUs.
	d.opts.Queues, d.opts.Depth = int(d.info.NrHWQueues), int(d.info.QueueDepth)
	if err := d.start(b); err != nil {
		d.teardown()
		return nil, err
	}
	return d, nil
}

func (o *Options) defaults() error {
	if o.BlockSize == 0 {
		o.BlockSize = 512
	}
	if o.Queues == 0 {
		o.Queues = 1
	}
	if o.Depth == 0 {
		o.Depth = 64
	}
	if o.MaxIO == 0 {
		o.MaxIO = 512 << 10
	}
	bs := o.BlockSize
	switch {
	case bs < 512 || bs > 4096 || bs&(bs-1) != 0:
		return fmt.Errorf("ublk: block size %d: want a power of two from 512 to 4096", bs)
	case o.Size <= 0 || o.Size%int64(bs) != 0:
		return fmt.Errorf("ublk: size %d: want a positive multiple of the block size %d", o.Size, bs)
	case o.Queues < 1 || o.Queues > ublkabi.MaxNrQueues:
		return fmt.Errorf("ublk: %d queues: want 1 to %d", o.Queues, ublkabi.MaxNrQueues)
	case o.Depth < 1 || o.Depth > ublkabi.MaxQueueDepth:
		return fmt.Errorf("ublk: depth %d: want 1 to %d", o.Depth, ublkabi.MaxQueueDepth)
	case o.MaxIO < os.Getpagesize() || o.MaxIO%os.Getpagesize() != 0 || o.MaxIO > 1<<ublkabi.IOBufBits:
		return fmt.Errorf("ublk: max I/O %d: want a multiple of the page size up to %d", o.MaxIO, 1<<ublkabi.IOBufBits)
	}
	return nil
}

// start sets the parameters, opens the character device, starts the
// queues and the device.
func (d *Device) start(b Backend) error {
	id := d.info.DevID
	c := d.ctrl
	params := d.params(b)
	if _, err := c.do("SET_PARAMS", func(s *uapi.SQE) { ublkabi.PrepSetParams(s, c.fd(), id, params) }); err != nil {
		return err
	}
	runtime.KeepAlive(params)
	char, err := openWhenThere(d.CharDevice(), os.O_RDWR)
	if err != nil {
		return fmt.Errorf("ublk: %w", err)
	}
	d.char = char
	if d.mode.zeroCopy() {
		if d.zeros, err = os.Open("/dev/zero"); err != nil {
			return fmt.Errorf("ublk: %w", err)
		}
	}
	ready := make(chan error, d.opts.Queues)
	for qid := range d.opts.Queues {
		q, err := newQueue(d, uint16(qid), b)
		if err != nil {
			return err
		}
		d.queues = append(d.queues, q)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := q.serve(ready); err != nil {
				d.fail(err)
			}
		}()
	}
	for range d.opts.Queues {
		if err := <-ready; err != nil {
			return err
		}
	}
	pid := int32(os.Getpid())
	if _, err := c.do("START_DEV", func(s *uapi.SQE) { ublkabi.PrepStartDev(s, c.fd(), id, pid) }); err != nil {
		return err
	}
	for _, q := range d.queues {
		q.started.Store(true)
	}
	bd, err := openWhenThere(d.BlockDevice(), os.O_RDONLY)
	if err != nil {
		return fmt.Errorf("ublk: %w", err)
	}
	return bd.Close()
}

// params are the device's parameters for SET_PARAMS.
func (d *Device) params(b Backend) *ublkabi.Params {
	o := d.opts
	shift := func(n int) uint8 {
		s := uint8(0)
		for 1<<s < n {
			s++
		}
		return s
	}
	p := &ublkabi.Params{Len: ublkabi.SizeofParams, Types: ublkabi.ParamTypeBasic}
	p.Basic = ublkabi.ParamBasic{
		LogicalBsShift:  shift(o.BlockSize),
		PhysicalBsShift: shift(max(o.BlockSize, 4096)),
		MinShift:        shift(o.BlockSize),
		OptShift:        shift(max(o.BlockSize, 4096)),
		MaxSectors:      uint32(o.MaxIO / 512),
		DevSectors:      uint64(o.Size / 512),
	}
	if _, ok := b.(Flusher); ok {
		p.Basic.Attrs |= ublkabi.AttrVolatileCache | ublkabi.AttrFUA
	}
	_, disc := b.(Discarder)
	_, zero := b.(ZeroWriter)
	if disc || zero {
		p.Types |= ublkabi.ParamTypeDiscard
		p.Discard = ublkabi.ParamDiscard{DiscardGranularity: uint32(o.BlockSize), MaxDiscardSegments: 1}
		if disc {
			p.Discard.MaxDiscardSectors = uint32(o.Size / 512)
		}
		if zero {
			p.Discard.MaxWriteZeroesSectors = uint32(o.Size / 512)
		}
	}
	return p
}

// openWhenThere opens a device node, waiting up to 5 s for devtmpfs to
// create it.
func openWhenThere(path string, flag int) (*os.File, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := os.OpenFile(path, flag, 0)
		if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *Device) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.mu.Unlock()
}

// ID returns the device number N.
func (d *Device) ID() uint32 { return d.info.DevID }

// BlockDevice returns /dev/ublkbN.
func (d *Device) BlockDevice() string { return "/dev/ublkb" + strconv.Itoa(int(d.info.DevID)) }

// CharDevice returns /dev/ublkcN, the server's side.
func (d *Device) CharDevice() string { return "/dev/ublkc" + strconv.Itoa(int(d.info.DevID)) }

// Info returns the device info the kernel filled in at ADD_DEV.
func (d *Device) Info() ublkabi.CtrlDevInfo { return d.info }

// Mode returns the data mode in use.
func (d *Device) Mode() Mode { return d.mode }

// Wait blocks until every queue has stopped serving (after Close, or when
// the device was stopped from outside) and returns the first queue error.
func (d *Device) Wait() error {
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Close stops the device (UBLK_U_CMD_STOP_DEV: /dev/ublkbN goes away and the
// queues' pending fetches complete), waits for the queues, closes the
// character device and deletes the device (UBLK_U_CMD_DEL_DEV).
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	return d.teardown()
}

func (d *Device) teardown() error {
	c, id := d.ctrl, d.info.DevID
	_, err := c.do("STOP_DEV", func(s *uapi.SQE) { ublkabi.PrepStopDev(s, c.fd(), id) })
	for _, q := range d.queues {
		q.stop.Store(true)
	}
	d.wg.Wait()
	for _, q := range d.queues {
		q.close()
	}
	if d.char != nil {
		d.char.Close()
	}
	if d.zeros != nil {
		d.zeros.Close()
	}
	if _, derr := c.do("DEL_DEV", func(s *uapi.SQE) { ublkabi.PrepDelDev(s, c.fd(), id) }); err == nil {
		err = derr
	}
	if cerr := c.close(); err == nil {
		err = cerr
	}
	if werr := d.Wait(); err == nil {
		err = werr
	}
	return err
}
