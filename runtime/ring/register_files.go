package ring

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/internal/heap"
)

// FileSkip in an update leaves that slot of the registered file table as it
// is (IORING_REGISTER_FILES_SKIP).
const FileSkip int32 = uapi.RegisterFilesSkip

// The kernel reads file tables as __s32 arrays; []int32 is that array, with
// no conversion (giouring's []int hands it 64-bit values).

// ptrOf returns the address of s's first element as a __u64, moving s to
// the heap first (see heap).
func ptrOf[T any](s []T) uint64 {
	if len(s) == 0 {
		return 0
	}
	p := unsafe.Pointer(unsafe.SliceData(s))
	heap.Escape(p)
	return uint64(uintptr(p))
}

// noArgs is the error of a call given nothing to register, which the kernel
// would refuse (EINVAL, or EFAULT for a nil array) without saying why;
// it is returned before the system call.
func noArgs(call, what string) error {
	return fmt.Errorf("ring: %s: %s: %w", call, what, unix.EINVAL)
}

func tagsFor(op uapi.RegisterOp, n int, tags []uint64) error {
	if tags != nil && len(tags) != n {
		return fmt.Errorf("io_uring_register %s: %d tags for %d entries: %w", op, len(tags), n, unix.EINVAL)
	}
	return nil
}

// RegisterFiles registers fds as the ring's fixed file table
// (IORING_REGISTER_FILES): SQEs with IOSQE_FIXED_FILE then name a file by
// its index. A -1 entry leaves a slot empty. The kernel takes its own
// references; the caller may close its descriptors afterwards.
func (r *Ring) RegisterFiles(fds []int32) error {
	if len(fds) == 0 {
		return noArgs("RegisterFiles", "no descriptors (RegisterFilesSparse makes an empty table)")
	}
	_, err := r.Register(uapi.RegisterFiles, unsafe.Pointer(unsafe.SliceData(fds)), uint32(len(fds)))
	runtime.KeepAlive(fds)
	return err
}

// RegisterFilesTagged registers fds with a tag each
// (IORING_REGISTER_FILES2). When a tagged slot is later replaced or the
// table unregistered, the kernel posts a CQE with user_data = tag once the
// file is no longer in use. A zero tag posts nothing; tags may be nil.
func (r *Ring) RegisterFilesTagged(fds []int32, tags []uint64) error {
	if len(fds) == 0 {
		return noArgs("RegisterFilesTagged", "no descriptors (RegisterFilesSparse makes an empty table)")
	}
	if err := tagsFor(uapi.RegisterFiles2, len(fds), tags); err != nil {
		return err
	}
	arg := uapi.RsrcRegister{Nr: uint32(len(fds)), Data: ptrOf(fds), Tags: ptrOf(tags)}
	_, err := r.Register(uapi.RegisterFiles2, unsafe.Pointer(&arg), uapi.SizeofRsrcRegister)
	runtime.KeepAlive(fds)
	runtime.KeepAlive(tags)
	return err
}

// RegisterFilesSparse registers an empty fixed file table of n slots
// (IORING_REGISTER_FILES2 with IORING_RSRC_REGISTER_SPARSE), to be filled by
// UpdateFiles or by direct-descriptor opens and accepts.
func (r *Ring) RegisterFilesSparse(n uint32) error {
	if n == 0 {
		return noArgs("RegisterFilesSparse", "a table of 0 slots")
	}
	arg := uapi.RsrcRegister{Nr: n, Flags: uapi.RsrcRegisterSparse}
	_, err := r.Register(uapi.RegisterFiles2, unsafe.Pointer(&arg), uapi.SizeofRsrcRegister)
	return err
}

// UnregisterFiles drops the fixed file table (IORING_UNREGISTER_FILES).
func (r *Ring) UnregisterFiles() error {
	_, err := r.Register(uapi.UnregisterFiles, nil, 0)
	return err
}

// UpdateFiles replaces slots off, off+1, ... of the fixed file table with fds
// (IORING_REGISTER_FILES_UPDATE). -1 empties a slot, FileSkip leaves it. It
// returns the number of slots updated.
func (r *Ring) UpdateFiles(off uint32, fds []int32) (int, error) {
	if len(fds) == 0 {
		return 0, noArgs("UpdateFiles", "no descriptors")
	}
	arg := uapi.RsrcUpdate{Offset: off, Data: ptrOf(fds)}
	n, err := r.Register(uapi.RegisterFilesUpdate, unsafe.Pointer(&arg), uint32(len(fds)))
	runtime.KeepAlive(fds)
	return n, err
}

// UpdateFilesTagged is UpdateFiles with a tag for each new file
// (IORING_REGISTER_FILES_UPDATE2); see RegisterFilesTagged.
func (r *Ring) UpdateFilesTagged(off uint32, fds []int32, tags []uint64) (int, error) {
	if len(fds) == 0 {
		return 0, noArgs("UpdateFilesTagged", "no descriptors")
	}
	if err := tagsFor(uapi.RegisterFilesUpdate2, len(fds), tags); err != nil {
		return 0, err
	}
	arg := uapi.RsrcUpdate2{Offset: off, Data: ptrOf(fds), Tags: ptrOf(tags), Nr: uint32(len(fds))}
	n, err := r.Register(uapi.RegisterFilesUpdate2, unsafe.Pointer(&arg), uapi.SizeofRsrcUpdate2)
	runtime.KeepAlive(fds)
	runtime.KeepAlive(tags)
	return n, err
}

// SetFileAllocRange limits the slots the kernel picks for direct descriptors
// opened with IORING_FILE_INDEX_ALLOC to [off, off+n)
// (IORING_REGISTER_FILE_ALLOC_RANGE).
func (r *Ring) SetFileAllocRange(off, n uint32) error {
	arg := uapi.FileIndexRange{Off: off, Len: n}
	_, err := r.Register(uapi.RegisterFileAllocRange, unsafe.Pointer(&arg), 0)
	return err
}
