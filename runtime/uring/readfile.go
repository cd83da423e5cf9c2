package uring

import (
	"context"
	"io/fs"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// The small-file fast path of ReadFile: one trip to the kernel. The chain
// opens the file into the ring's file table, reads it at the file position
// twice (the second read sees the end, or what the first could not take)
// and closes it, hard-linked so that each step runs whatever the one before
// did. The reads go into a pooled scratch buffer, copied out at the size
// read, so the result is exactly as long as the file.
const (
	chainRead1 = 60 << 10
	chainRead2 = 4 << 10
)

// scratch is a read chain's memory: its open and the buffer it reads into.
type scratch struct {
	open openFileHow
	buf  [chainRead1 + chainRead2]byte
}

// Pooled, as the open of a write chain is, so that a chain allocates
// nothing but its result.
var (
	scratchPool = sync.Pool{New: func() any { return new(scratch) }}
	openPool    = sync.Pool{New: func() any { return new(openFileHow) }}
)

// openFileHow is the struct open_how of a chain, with the path it opens.
type openFileHow struct {
	how  unix.OpenHow
	path []byte
}

// set makes h open path (NUL-terminated here) as how says.
func (h *openFileHow) set(path string, how unix.OpenHow) {
	h.how = how
	h.path = append(append(h.path[:0], path...), 0)
}

// readFileChain reads path in one chain. ok is false when the chain could
// not decide (no file table, or a file longer than the scratch buffer):
// then the caller reads it the long way. Errors are *fs.PathError naming
// name.
func (e *Engine) readFileChain(ctx context.Context, dirfd int, path, name string) (data []byte, ok bool, err error) {
	s := e.shard()
	if !s.fixed {
		return nil, false, nil
	}
	if err := ctxErr(ctx); err != nil {
		return nil, true, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	h, buf := &sc.open, sc.buf[:]
	h.set(path, unix.OpenHow{Flags: unix.O_RDONLY})
	var sqes [4]uapi.SQE
	sqes[0].PrepOpenat2Direct(int32(dirfd), &h.path[0], &h.how, 0)
	sqes[1].PrepRead(0, buf[:chainRead1], ^uint64(0))
	sqes[1].Flags = uapi.SQEFixedFile
	sqes[2].PrepRead(0, buf[chainRead1:], ^uint64(0))
	sqes[2].Flags = uapi.SQEFixedFile
	sqes[3].PrepCloseDirect(0)
	var res [4]int32
	// Not cancelled by ctx (checked before): a cancelled close would leave
	// the file in the table slot, which goes back with the request slot.
	// The chain is short, mostly completing inside the io_uring_enter.
	err = s.doLinked(context.Background(), sqes[:], keepRefs{unsafe.Pointer(sc)}, res[:], uapi.SQEIOHardlink, directChain)
	if err != nil {
		return nil, true, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e.chainCancelled(res[:]) {
		return nil, false, nil
	}
	if res[0] < 0 {
		return nil, true, &fs.PathError{Op: "open", Path: name, Err: unix.Errno(-res[0])}
	}
	for _, r := range res[1:3] {
		if r < 0 {
			return nil, true, &fs.PathError{Op: "read", Path: name, Err: unix.Errno(-r)}
		}
	}
	n1, n2 := int(res[1]), int(res[2])
	if n1 == chainRead1 && n2 == chainRead2 {
		return nil, false, nil // longer: the caller starts over
	}
	// Appended rather than made and copied into: append's new memory is
	// not zeroed first.
	data = append(append([]byte(nil), buf[:n1]...), buf[chainRead1:chainRead1+n2]...)
	if data == nil {
		data = []byte{} // empty, as os.ReadFile's, not nil
	}
	if n2 > 0 && n1 < chainRead1 {
		// The first read was short and the second still found data (a
		// file that grows, or one whose reads come in pieces): it may
		// have more.
		return nil, false, nil
	}
	return data, true, nil
}

// chainCancelled reports whether the kernel cancelled a step of a
// hard-linked chain before it ran (see kernelCancelled): the chain's
// caller then does the work the long way, one request at a time, each of
// which retries. (Its other steps ran: a read chain's close freed the
// table slot; a write chain's open created and truncated the file, which
// the long way's open does again.)
func (e *Engine) chainCancelled(res []int32) bool {
	return slices.ContainsFunc(res, e.kernelCancelled)
}

// writeFileChain is WriteFile in one trip: open (create, truncate) into
// the ring's file table, write, close, hard-linked. ok is false without a
// file table; a short write is finished by the caller from n.
func (e *Engine) writeFileChain(ctx context.Context, name string, data []byte, perm fs.FileMode) (n int, ok bool, err error) {
	s := e.shard()
	if !s.fixed || len(data) > maxRW {
		return 0, false, nil
	}
	if err := ctxErr(ctx); err != nil {
		return 0, true, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	h := openPool.Get().(*openFileHow)
	defer openPool.Put(h)
	h.set(name, unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, Mode: uint64(syscallMode(perm))})
	var sqes [3]uapi.SQE
	sqes[0].PrepOpenat2Direct(unix.AT_FDCWD, &h.path[0], &h.how, 0)
	sqes[1].PrepWrite(0, data, 0)
	sqes[1].Flags = uapi.SQEFixedFile
	sqes[2].PrepCloseDirect(0)
	var res [3]int32
	// Not cancelled by ctx, as in readFileChain.
	// The open creates and truncates, which io-wq runs.
	err = s.doLinked(context.Background(), sqes[:], keepRefs{unsafe.Pointer(h), unsafe.Pointer(unsafe.SliceData(data))}, res[:], uapi.SQEIOHardlink, directChain|laterCompletion)
	switch {
	case err != nil:
		return 0, true, &fs.PathError{Op: "open", Path: name, Err: err}
	case e.chainCancelled(res[:]):
		return 0, false, nil
	case res[0] < 0:
		return 0, true, &fs.PathError{Op: "open", Path: name, Err: unix.Errno(-res[0])}
	case res[1] < 0:
		return 0, true, &fs.PathError{Op: "write", Path: name, Err: unix.Errno(-res[1])}
	case res[2] < 0:
		return int(res[1]), true, &fs.PathError{Op: "close", Path: name, Err: unix.Errno(-res[2])}
	}
	return int(res[1]), true, nil
}
