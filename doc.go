// Package urgen generates Go io_uring bindings from the Linux kernel's UAPI
// headers and proves them against the C compiler.
//
// The generated packages live under generated/, the generator under gen/,
// the command under cmd/urgen. Regenerate after a header update with
//
//	go generate github.com/urgen/urgen
//
// which runs the lines below from the repository root: one a header family
// (templates/, templates/nvme, templates/ublk; see gen/family).
package urgen

//go:generate go run ./cmd/urgen generate -headers headers -templates templates -out generated/uapi
//go:generate go run ./cmd/urgen generate -headers headers -templates templates/nvme -out generated/nvme
//go:generate go run ./cmd/urgen generate -headers headers -templates templates/ublk -out generated/ublk
