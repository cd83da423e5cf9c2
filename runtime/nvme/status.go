package nvme

import (
	"fmt"

	"github.com/urgen/urgen/runtime/ring"
)

// StatusError is a command the controller completed with an NVMe status
// other than success: the completion's status field, the Status Code Type
// in bits 8-10 and the Status Code in bits 0-7 (Do Not Retry and More are
// bits 14 and 13).
type StatusError struct {
	Command string // the command: "Read", "Write", "Flush", "Identify", ...
	Status  uint16
}

// Status code types.
const (
	SCTGeneric         = 0
	SCTCommandSpecific = 1
	SCTMedia           = 2
	SCTPath            = 3
)

// Type is the Status Code Type.
func (e *StatusError) Type() int { return int(e.Status>>8) & 7 }

// Code is the Status Code within its type.
func (e *StatusError) Code() int { return int(e.Status & 0xff) }

// DoNotRetry reports the DNR bit: the same command would fail again.
func (e *StatusError) DoNotRetry() bool { return e.Status&0x4000 != 0 }

// statusNames names the status codes the NVMe base and NVM command set
// specifications define that a host meets in practice.
var statusNames = map[uint16]string{
	0x000: "Successful Completion",
	0x001: "Invalid Command Opcode",
	0x002: "Invalid Field in Command",
	0x003: "Command ID Conflict",
	0x004: "Data Transfer Error",
	0x005: "Commands Aborted due to Power Loss Notification",
	0x006: "Internal Error",
	0x007: "Command Abort Requested",
	0x008: "Command Aborted due to SQ Deletion",
	0x00b: "Invalid Namespace or Format",
	0x00d: "Invalid SGL Segment Descriptor",
	0x015: "Operation Denied",
	0x080: "LBA Out of Range",
	0x081: "Capacity Exceeded",
	0x082: "Namespace Not Ready",
	0x083: "Reservation Conflict",
	0x084: "Format In Progress",
	0x10b: "Invalid Format",
	0x180: "Conflicting Attributes",
	0x181: "Invalid Protection Information",
	0x182: "Attempted Write to Read Only Range",
	0x280: "Write Fault",
	0x281: "Unrecovered Read Error",
	0x282: "End-to-end Guard Check Error",
	0x283: "End-to-end Application Tag Check Error",
	0x284: "End-to-end Reference Tag Check Error",
	0x285: "Compare Failure",
	0x286: "Access Denied",
	0x287: "Deallocated or Unwritten Logical Block",
}

// Error names the command and the status: the spec's name of the code where
// the table has it, else its type and code, and whether to retry.
func (e *StatusError) Error() string {
	sc := e.Status & 0x7ff
	name := statusNames[sc]
	if name == "" {
		name = fmt.Sprintf("status code type %d, code %#02x", e.Type(), e.Code())
	}
	dnr := ""
	if e.DoNotRetry() {
		dnr = ", do not retry"
	}
	return fmt.Sprintf("nvme %s: %s (status %#03x%s)", e.Command, name, sc, dnr)
}

// result turns a passthrough completion into a count or an error: res < 0
// is a host error (an *ring.OpError wrapping the errno), res > 0 an NVMe
// status (a *StatusError), 0 success; n is what a successful data command
// moved.
func result(command string, res int32, n int) (int, error) {
	switch {
	case res < 0:
		return 0, ring.ResultError("nvme "+command, res)
	case res > 0:
		return 0, &StatusError{Command: command, Status: uint16(res)}
	}
	return n, nil
}
