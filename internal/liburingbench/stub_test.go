//go:build !(liburing && cgo)

package liburingbench

import "testing"

// TestNeedsLiburingTag says why the benchmarks are absent from this build.
func TestNeedsLiburingTag(t *testing.T) {
	t.Skip("needs liburing 2.15 and cgo: the builder benchmarks build with -tags liburing (make bench-builders)")
}
