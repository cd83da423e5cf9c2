// Package builderdiff holds the tests that prove the generated SQE
// builders (generated/uapi/builders_*.go) against liburing 2.15: byte for
// byte on the host, and under qemu-user on foreign GOARCHes (big-endian and
// 32-bit), with liburing.h compiled by each arch's gcc. It has no non-test
// code; its tests need gcc and make liburing.
package builderdiff
