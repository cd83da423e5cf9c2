package ublk

import "github.com/urgen/urgen/generated/uapi"

// SetRingFlagsForTest sets the setup flags of the queue rings of devices
// created from now on (benchmarks compare them) and returns the old ones.
func SetRingFlagsForTest(f uapi.SetupFlags) uapi.SetupFlags {
	old := ringFlags
	ringFlags = f
	return old
}
