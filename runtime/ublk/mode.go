package ublk

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	ublkabi "github.com/urgen/urgen/generated/ublk"
)

// Mode is how request data moves between the kernel and the server.
type Mode int

// The data modes. The driver reports which it has (UBLK_U_CMD_GET_FEATURES,
// see Features and Mode.Supported); New refuses a mode the driver lacks.
const (
	// ModeAuto picks, for a FixedBackend, ModeAutoBufReg where the driver
	// has it, else ModeZeroCopy where it has that; for any other
	// backend, or on older drivers, ModeCopy, which every ublk driver has.
	ModeAuto Mode = iota
	// ModeCopy: each request has a buffer in the server; the kernel copies
	// a write's data into it before handing the request over, and a
	// read's data out of it when the server commits.
	ModeCopy
	// ModeUserCopy (UBLK_F_USER_COPY, Linux 6.5): the server moves the
	// data itself with pread and pwrite on the character device, at the
	// request's offset there; it needs no buffer per request.
	ModeUserCopy
	// ModeZeroCopy (UBLK_F_SUPPORT_ZERO_COPY, Linux 6.15): the request's
	// pages stay in the kernel. For each read or write the server
	// registers them as a fixed buffer of the queue's ring
	// (UBLK_U_IO_REGISTER_IO_BUF, linked to the backend's first transfer),
	// the backend moves the data with fixed-buffer operations on that
	// ring (FixedBackend), and the server unregisters the buffer
	// (UBLK_U_IO_UNREGISTER_IO_BUF) before it commits. Needs a
	// FixedBackend.
	ModeZeroCopy
	// ModeAutoBufReg (UBLK_F_AUTO_BUF_REG, Linux 6.16): zero copy without
	// the two commands: the driver registers each request's buffer in
	// the queue ring's table before it hands the request over (at the
	// index that the fetch named, the tag here) and unregisters it at the
	// commit. Needs a FixedBackend.
	ModeAutoBufReg
)

// String is the mode's short name ("auto", "copy", "user-copy", ...).
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeCopy:
		return "copy"
	case ModeUserCopy:
		return "user-copy"
	case ModeZeroCopy:
		return "zero-copy"
	case ModeAutoBufReg:
		return "auto-buf-reg"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// zeroCopy reports whether the request's data reaches the backend only
// through the queue's ring.
func (m Mode) zeroCopy() bool { return m == ModeZeroCopy || m == ModeAutoBufReg }

// flags are the UBLK_F_* flags a device in mode m is added with (besides
// UBLK_F_CMD_IOCTL_ENCODE), and the driver must report.
func (m Mode) flags() ublkabi.Flags {
	switch m {
	case ModeUserCopy:
		return ublkabi.FUserCopy
	case ModeZeroCopy:
		return ublkabi.FSupportZeroCopy
	case ModeAutoBufReg:
		return ublkabi.FAutoBufReg
	}
	return 0
}

// Supported reports whether the ublk driver has mode m: nil, or an error
// naming the feature flag it lacks. It asks the driver
// (UBLK_U_CMD_GET_FEATURES) on /dev/ublk-control.
func (m Mode) Supported() error {
	feats, err := Features()
	if err != nil && m.flags() != 0 {
		return fmt.Errorf("ublk: %v: %w", m, err)
	}
	return m.supportedBy(feats)
}

func (m Mode) supportedBy(feats ublkabi.Flags) error {
	if m < ModeAuto || m > ModeAutoBufReg {
		return fmt.Errorf("ublk: unknown mode %v: %w", m, unix.EINVAL)
	}
	if need := m.flags(); feats&need != need {
		return fmt.Errorf("ublk: %v needs %v, which the driver lacks (features %v): %w", m, need, feats, unix.EOPNOTSUPP)
	}
	return nil
}

// choose resolves ModeAuto for backend b on a driver with feats, and
// checks that the driver and the backend can serve the mode.
func (m Mode) choose(b Backend, feats ublkabi.Flags) (Mode, error) {
	_, fixed := b.(FixedBackend)
	if m == ModeAuto {
		m = ModeCopy
		for _, zc := range []Mode{ModeAutoBufReg, ModeZeroCopy} {
			if fixed && zc.supportedBy(feats) == nil {
				m = zc
				break
			}
		}
	}
	if err := m.supportedBy(feats); err != nil {
		return m, err
	}
	if m.zeroCopy() && !fixed {
		return m, fmt.Errorf("ublk: %v needs a FixedBackend (the data moves through the queue's ring), not a %T: %w", m, b, unix.EINVAL)
	}
	return m, nil
}
