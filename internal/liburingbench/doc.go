// Package liburingbench measures the generated SQE builders against
// liburing 2.15's C prep helpers in the same run: ns/op and allocs/op for
// each, the C side looping inside C so that no cgo call is timed per SQE.
//
// It needs cgo, gcc and liburing (make liburing) and builds only with the
// liburing tag:
//
//	make bench-builders
//	go test -tags liburing -run '^$' -bench . -benchmem ./internal/liburingbench
package liburingbench
