//go:build !(amd64 || 386)

package ring

import "sync/atomic"

// storeRelease publishes a ring index to the kernel with release semantics.
// On weakly ordered CPUs sync/atomic's store is the release instruction
// (stlr on arm64, lwsync+stw on ppc64).
func storeRelease(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
