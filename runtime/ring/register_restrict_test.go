package ring_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/ring"
)

func openCreate(path *byte) func(*uapi.SQE) {
	return func(s *uapi.SQE) {
		s.Opcode = uapi.OpOpenat
		s.FD = unix.AT_FDCWD
		s.Addr = uint64(uintptr(unsafe.Pointer(path)))
		s.Len = 0o600
		s.SetOpenFlags(unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC)
	}
}

func TestRingRestrictions(t *testing.T) {
	r := newRing(t, ring.WithFlags(uapi.SetupRDisabled))
	err := r.RegisterRestrictions(
		ring.AllowOp(uapi.OpNop),
		ring.AllowOp(uapi.OpWrite),
		ring.AllowSQEFlags(uapi.SQEAsync),
		ring.AllowRegisterOp(uapi.RegisterProbe),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterRestrictions(ring.AllowOp(uapi.OpOpenat)); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("second RegisterRestrictions: %v, want EBUSY", err)
	}
	if err := r.Enable(); err != nil {
		t.Fatal(err)
	}

	if res, _ := run(t, r, 1, nop); res != 0 {
		t.Fatalf("allowed NOP: %d", res)
	}
	// IOSQE_ASYNC sends the NOP to an io-wq thread, and Linux 6.1 fails
	// io-wq work with -ECANCELED, before it runs, when creating that
	// thread is interrupted by signals (Go's preemption): that is not a
	// refusal (-EACCES), so it is tried again, a few times at most.
	asyncNop := func(s *uapi.SQE) { s.Opcode = uapi.OpNop; s.Flags = uapi.SQEAsync }
	res, _ := run(t, r, 2, asyncNop)
	for try := 0; res == -int32(unix.ECANCELED) && try < 5; try++ {
		res, _ = run(t, r, 2, asyncNop)
	}
	if res != 0 {
		t.Fatalf("NOP with the allowed IOSQE_ASYNC: %d", res)
	}
	if res, _ := run(t, r, 3, func(s *uapi.SQE) { s.Opcode = uapi.OpNop; s.Flags = uapi.SQEIODrain }); errno(res) != unix.EACCES {
		t.Fatalf("NOP with IOSQE_IO_DRAIN, not allowed: %d, want -EACCES", res)
	}
	// A denied operation has no effect: the file is not created.
	path := filepath.Join(t.TempDir(), "denied")
	p, _ := unix.BytePtrFromString(path)
	if res, _ := run(t, r, 4, openCreate(p)); errno(res) != unix.EACCES {
		t.Fatalf("OPENAT on a ring allowing NOP and WRITE: %d, want -EACCES", res)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("denied OPENAT O_CREAT left %s: %v", path, err)
	}
	// Register ops: only PROBE is allowed.
	if _, err := r.Probe(); err != nil {
		t.Fatalf("allowed PROBE: %v", err)
	}
	if _, err := r.RegisterPersonality(); !errors.Is(err, unix.EACCES) {
		t.Fatalf("PERSONALITY, not allowed: %v, want EACCES", err)
	}
	// The same open works on an unrestricted ring.
	u := newRing(t)
	if res, _ := run(t, u, 5, openCreate(p)); res < 0 {
		t.Fatalf("OPENAT on an unrestricted ring: %d", res)
	} else {
		unix.Close(int(res))
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := u.RegisterRestrictions(ring.AllowOp(uapi.OpNop)); !errors.Is(err, unix.EBADFD) {
		t.Fatalf("restrictions on a running ring: %v, want EBADFD", err)
	}
}

func TestRingRestrictionsRequiredFlags(t *testing.T) {
	r := newRing(t, ring.WithFlags(uapi.SetupRDisabled))
	rd, wr := socketpair(t)
	// Only registered files: every SQE must carry IOSQE_FIXED_FILE. Files
	// are registered before Enable, since FILES is not allowed afterwards.
	if err := r.RegisterFiles([]int32{int32(wr)}); err != nil {
		t.Fatal(err)
	}
	// Listing a register op restricts register ops too (newer kernels leave
	// them open when only SQE restrictions are given).
	if err := r.RegisterRestrictions(ring.AllowOp(uapi.OpWrite), ring.RequireSQEFlags(uapi.SQEFixedFile), ring.AllowRegisterOp(uapi.RegisterProbe)); err != nil {
		t.Fatal(err)
	}
	if err := r.Enable(); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, r, 1, writeFixedFile(0, []byte("ok"))); res != 2 {
		t.Fatalf("fixed-file write: %d", res)
	}
	if got := readAll(t, rd, 2); got != "ok" {
		t.Fatalf("got %q", got)
	}
	data := []byte("leak")
	plain := func(s *uapi.SQE) {
		s.Opcode = uapi.OpWrite
		s.FD = int32(wr)
		s.Addr = uint64(uintptr(unsafe.Pointer(&data[0])))
		s.Len = 4
		s.Off = ^uint64(0)
	}
	if res, _ := run(t, r, 2, plain); errno(res) != unix.EACCES {
		t.Fatalf("write to a plain fd: %d, want -EACCES", res)
	}
	// Nothing reached the socket.
	unix.SetNonblock(rd, true)
	if n, err := unix.Read(rd, make([]byte, 8)); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("denied write reached the socket: %d %v", n, err)
	}
	if err := r.RegisterFiles([]int32{int32(wr)}); !errors.Is(err, unix.EACCES) {
		t.Fatalf("FILES after Enable with register ops restricted: %v, want EACCES", err)
	}
}

func TestRestrictionEncoding(t *testing.T) {
	// The union byte sits at the header's offset of register_op/sqe_op/sqe_flags.
	for _, tc := range []struct {
		r    uapi.Restriction
		kind uapi.RegisterRestrictionOp
		val  uint8
	}{
		{ring.AllowRegisterOp(uapi.RegisterProbe), uapi.RestrictionRegisterOp, uint8(uapi.RegisterProbe)},
		{ring.AllowOp(uapi.OpSocket), uapi.RestrictionSQEOp, uint8(uapi.OpSocket)},
		{ring.AllowSQEFlags(uapi.SQEAsync | uapi.SQEIOLink), uapi.RestrictionSQEFlagsAllowed, uint8(uapi.SQEAsync | uapi.SQEIOLink)},
		{ring.RequireSQEFlags(uapi.SQEFixedFile), uapi.RestrictionSQEFlagsRequired, uint8(uapi.SQEFixedFile)},
	} {
		if uapi.RegisterRestrictionOp(tc.r.Opcode) != tc.kind || tc.r.SQEOp() != tc.val || tc.r.RegisterOp != tc.val {
			t.Errorf("%v: %+v", tc.kind, tc.r)
		}
	}
}
