// Package builderkernel runs the generated SQE builders on the running
// kernel through runtime/ring: files, direct descriptors, timeouts, poll
// and epoll, msg_ring, sockets, pipes, futexes. It has no non-test code.
package builderkernel
