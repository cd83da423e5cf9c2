package nvme

import (
	"fmt"

	nvmeabi "github.com/urgen/urgen/generated/nvme"
	"github.com/urgen/urgen/generated/uapi"
)

// ReadLBAForTest reads at an LBA without the package's range check, for
// the controller to reject.
func ReadLBAForTest(q *Queue, p []byte, slba uint64) error {
	nlb := uint16(len(p)/q.d.BlockSize() - 1)
	_, err := q.do("Read", len(p), func(s *uapi.SQE) { nvmeabi.PrepRead(s, int32(q.d.FD()), q.d.nsid, slba, nlb, p) })
	return err
}

// IOCmdForTest sends an NVM command of the given opcode with no data.
func IOCmdForTest(q *Queue, opcode uint8) error {
	_, err := q.do(fmt.Sprintf("opcode %#02x", opcode), 0, func(s *uapi.SQE) {
		nvmeabi.PrepCommand(s, int32(q.d.FD()), opcode, q.d.nsid, nil, nil, 0, 0, 0, 0, 0, 0)
	})
	return err
}
