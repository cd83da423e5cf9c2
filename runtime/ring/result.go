package ring

import (
	"golang.org/x/sys/unix"

	"github.com/urgen/urgen/generated/uapi"
)

// OpError is a failed completion: the operation the caller named and the
// errno the kernel put in the CQE's result. errors.Is(err, unix.ECONNRESET)
// and errors.As(err, &opErr) both work.
type OpError struct {
	Op  string     // what was asked, e.g. "read", "accept", "recv"
	Err unix.Errno // -cqe.Res
}

// Error is the operation and the errno's text, e.g. "read: connection reset by peer".
func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the errno.
func (e *OpError) Unwrap() error { return e.Err }

// Result turns a completion into what the operation returns: the count,
// descriptor or other non-negative result, or an *OpError naming op that
// wraps the errno of a negative result. It is the one place every package
// above the ring turns a CQE into an error.
func Result(op string, c *uapi.CQE) (int, error) {
	if c.Res < 0 {
		return 0, ResultError(op, c.Res)
	}
	return int(c.Res), nil
}

// ResultError is Result for a bare result value: nil when res >= 0, else
// an *OpError naming op that wraps unix.Errno(-res).
func ResultError(op string, res int32) error {
	if res >= 0 {
		return nil
	}
	return &OpError{Op: op, Err: unix.Errno(-res)}
}
