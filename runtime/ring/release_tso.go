//go:build amd64 || 386

package ring

// storeRelease publishes a ring index to the kernel with release semantics:
// every earlier memory access of this goroutine happens before the kernel
// sees the new value. x86 is TSO, so an ordinary store already has them at
// the CPU level (it is what liburing's smp_store_release compiles to), and
// the Go compiler does not move a store above the loads of the memory it
// overwrites or across a call. sync/atomic's store would add a locked XCHG,
// a full barrier the protocol does not need, on every CQ advance.
func storeRelease(p *uint32, v uint32) { *p = v }
