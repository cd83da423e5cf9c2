// Package urgen generates Go io_uring bindings from the Linux kernel's UAPI
// headers and proves them against the C compiler.
//
// The generated packages live under generated/ (one per header family:
// templates/, templates/nvme, templates/ublk; see gen/family), the
// generator under gen/, the command under cmd/urgen. Each generated package
// carries the //go:generate directive that recreates it, so after a header
// update
//
//	go generate ./generated/...
//
// regenerates them all, and go tool urgen check ./generated/... fails while
// one is stale.
package urgen
