package goname

import "testing"

func TestGo(t *testing.T) {
	for c, want := range map[string]string{
		"io_uring_sqe":               "SQE",
		"user_data":                  "UserData",
		"IORING_SETUP_SQPOLL":        "SetupSQPoll",
		"IOSQE_IO_LINK":              "SQEIOLink",
		"__kernel_timespec":          "KernelTimespec",
		"__pad2":                     "Pad2",
		"io_sqring_offsets":          "SQRingOffsets",
		"IO_URING_QUERY_ZCRX":        "QueryZCRX",
		"IORING_OP_URING_CMD128":     "OpUringCmd128",
		"zcrx_ctrl":                  "ZCRXCtrl",
		"io_uring_zcrx_rqe":          "ZCRXRQE",
		"IO_WQ_BOUND":                "WQBound",
		"FUTEX2_SIZE_U32":            "Futex2SizeU32",
		"IORING_REGISTER_FILES_SKIP": "RegisterFilesSkip",
	} {
		if got := Go(c); got != want {
			t.Errorf("Go(%q) = %q, want %q", c, got, want)
		}
	}
	if got := WithPrefix("IO_URING_QUERY_ZCRX", "IO_URING_QUERY_", "QueryOp"); got != "QueryOpZCRX" {
		t.Errorf("WithPrefix = %q", got)
	}
}
