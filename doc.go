// Package urgen generates Go io_uring bindings from the Linux kernel's UAPI
// headers and proves them against the C compiler.
//
// The generated packages live under generated/, the generator under gen/,
// the command under cmd/urgen. Regenerate after a header update with
//
//	go generate github.com/urgen/urgen
//
// which runs the line below from the repository root.
package urgen

//go:generate go run ./cmd/urgen generate -headers headers -templates templates -out generated/uapi
