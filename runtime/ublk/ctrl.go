package ublk

import (
	"fmt"
	"os"
	"runtime"

	"github.com/urgen/urgen/generated/uapi"
	ublkabi "github.com/urgen/urgen/generated/ublk"
	"github.com/urgen/urgen/runtime/ring"
)

// ControlPath is the ublk driver's control device.
const ControlPath = "/dev/ublk-control"

// control sends control commands to /dev/ublk-control: 128-byte uring_cmd
// SQEs carrying struct ublksrv_ctrl_cmd, one at a time.
type control struct {
	f *os.File
	r *ring.Ring
}

func openControl() (*control, error) {
	f, err := os.OpenFile(ControlPath, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	r, err := ring.New(4, ring.WithFlags(uapi.SetupSqe128))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ublk: control ring: %w", err)
	}
	return &control{f: f, r: r}, nil
}

func (c *control) close() error {
	err := c.r.Close()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *control) fd() int32 { return int32(c.f.Fd()) }

// do sends one command and waits for its completion; the kernel answers
// some (START_DEV, DEL_DEV) only when the device is ready or released.
func (c *control) do(command string, prep func(*uapi.SQE)) (int32, error) {
	s := c.r.SQE128()
	if s == nil {
		return 0, fmt.Errorf("ublk %s: control ring full", command)
	}
	prep(s)
	s.UserData = 1
	if _, err := c.r.Submit(); err != nil {
		return 0, fmt.Errorf("ublk %s: %w", command, err)
	}
	cqe, err := c.r.WaitCQE()
	if err != nil {
		return 0, fmt.Errorf("ublk %s: %w", command, err)
	}
	res := cqe.Res
	c.r.CQESeen(cqe)
	return res, ring.ResultError("ublk "+command, res)
}

// Features returns the driver's UBLK_F_* features
// (UBLK_U_CMD_GET_FEATURES, Linux 6.5).
func Features() (ublkabi.Flags, error) {
	c, err := openControl()
	if err != nil {
		return 0, err
	}
	defer c.close()
	return c.features()
}

func (c *control) features() (ublkabi.Flags, error) {
	f := new(uint64)
	_, err := c.do("GET_FEATURES", func(s *uapi.SQE) { ublkabi.PrepGetFeatures(s, c.fd(), f) })
	runtime.KeepAlive(f)
	return ublkabi.Flags(*f), err
}

// DeviceInfo reads device id's info (UBLK_U_CMD_GET_DEV_INFO): its state,
// queues, flags and the pid of its server.
func DeviceInfo(id uint32) (ublkabi.CtrlDevInfo, error) {
	c, err := openControl()
	if err != nil {
		return ublkabi.CtrlDevInfo{}, err
	}
	defer c.close()
	return c.info(id)
}

func (c *control) info(id uint32) (ublkabi.CtrlDevInfo, error) {
	info := new(ublkabi.CtrlDevInfo)
	_, err := c.do("GET_DEV_INFO", func(s *uapi.SQE) { ublkabi.PrepGetDevInfo(s, c.fd(), id, info) })
	runtime.KeepAlive(info)
	return *info, err
}

// Delete stops and deletes device id (UBLK_U_CMD_STOP_DEV, then
// UBLK_U_CMD_DEL_DEV): what is left of a device whose server died. The
// deletion completes once nothing holds the device's character device.
func Delete(id uint32) error {
	c, err := openControl()
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := c.do("STOP_DEV", func(s *uapi.SQE) { ublkabi.PrepStopDev(s, c.fd(), id) }); err != nil {
		return err
	}
	_, err = c.do("DEL_DEV", func(s *uapi.SQE) { ublkabi.PrepDelDev(s, c.fd(), id) })
	return err
}
