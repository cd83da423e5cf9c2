package sock_test

import (
	"testing"
	"unsafe"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/runtime/sock"
)

// FuzzRecvmsgOut parses the buffer of a multishot recvmsg completion (a
// struct io_uring_recvmsg_out the kernel wrote, then the reserved name and
// control space and the payload) with any header values, reservations and
// buffer lengths. Properties: it never panics; a buffer too short for the
// header and the reservations is an error; otherwise the name, control and
// payload slices lie in their parts of the buffer, no longer than the
// space reserved (or left) nor than the lengths the header reports, and
// the full lengths are the header's.
func FuzzRecvmsgOut(f *testing.F) {
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00"+"0123456789abcdef"+"hello"), uint32(16), uint32(0), uint16(0))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x08\x00\x00\x00"), uint32(0), uint32(0), uint16(3))
	f.Add([]byte{}, uint32(1<<31), uint32(1<<31), uint16(1))
	f.Add(make([]byte, 16), uint32(1<<31), uint32(0), uint16(0)) // int(nameLen) < 0 on 32-bit GOARCHes
	f.Fuzz(func(t *testing.T, data []byte, nameLen, controlLen uint32, pad uint16) {
		// The kernel's buffers are 8-byte aligned; pad moves the header.
		mem := make([]uint64, (len(data)+int(pad%8)+7)/8+1)
		buf := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)[pad%8:][:len(data)]
		copy(buf, data)
		o, err := sock.ParseRecvmsg(buf, nameLen, controlLen)
		hdr := uapi.SizeofRecvmsgOut
		if uint64(len(buf)) < uint64(hdr)+uint64(nameLen)+uint64(controlLen) {
			if err == nil {
				t.Fatalf("%d-byte buffer with %d+%d reserved: no error", len(buf), nameLen, controlLen)
			}
			return
		}
		if err != nil {
			t.Fatalf("%d-byte buffer with %d+%d reserved: %v", len(buf), nameLen, controlLen, err)
		}
		h := (*uapi.RecvmsgOut)(unsafe.Pointer(&buf[0]))
		in := func(what string, s []byte, from int, room, full uint64) {
			if uint64(len(s)) != min(room, full) {
				t.Fatalf("%s: %d bytes, room %d, length %d", what, len(s), room, full)
			}
			if len(s) > 0 && &s[0] != &buf[from] {
				t.Fatalf("%s does not start at byte %d", what, from)
			}
		}
		in("name", o.Name, hdr, uint64(nameLen), uint64(h.Namelen))
		in("control", o.Control, hdr+int(nameLen), uint64(controlLen), uint64(h.Controllen))
		p := hdr + int(nameLen) + int(controlLen)
		in("payload", o.Payload, p, uint64(len(buf)-p), uint64(h.Payloadlen))
		if o.NameLen != int(h.Namelen) || o.ControlLen != int(h.Controllen) || o.PayloadLen != int(h.Payloadlen) || o.Flags != int(h.Flags) {
			t.Fatalf("lengths %d %d %d flags %#x, header %+v", o.NameLen, o.ControlLen, o.PayloadLen, o.Flags, *h)
		}
	})
}
