package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/urgen/urgen/runtime/query"
	"github.com/urgen/urgen/runtime/zcrx"
)

// TestNoDevDemo runs the command's self-contained mode: 8 MiB through a
// 1 MiB area, every byte checked.
func TestNoDevDemo(t *testing.T) {
	caps, err := zcrx.QueryCaps(query.NoRing)
	if err != nil {
		t.Skipf("needs zcrx_nodev: %v", err)
	}
	if !caps.NoDev() {
		t.Skipf("needs zcrx_nodev: query register_flags %#x", uint64(caps.RegisterFlags))
	}
	var out bytes.Buffer
	if err := run(options{mib: 8, areaMiB: 1, entries: 256, huge: true}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), "verified all 8388608 bytes; 0 buffers outstanding") {
		t.Fatalf("output lacks the verification line:\n%s", out.String())
	}
	if !caps.Stats() {
		return
	}
	// NODEV copies everything; the kernel counts the copies from page
	// fragments, which carry all but a few small segments' bytes (see
	// zcrx.IFQ.Stats), and each copy fills one buffer or more.
	var copied, copies, buffers uint64
	m := regexp.MustCompile(`(\d+) buffers,`).FindStringSubmatch(out.String())
	c := regexp.MustCompile(`kernel copy fallback: (\d+) bytes in (\d+) copies`).FindStringSubmatch(out.String())
	if m == nil || c == nil {
		t.Fatalf("output lacks the buffer count or the copy statistics:\n%s", out.String())
	}
	fmt.Sscan(m[1], &buffers)
	fmt.Sscan(c[1], &copied)
	fmt.Sscan(c[2], &copies)
	if copied == 0 || copied > 8<<20 || copies == 0 || copies > buffers {
		t.Fatalf("copy statistics out of range for 8388608 bytes in %d buffers:\n%s", buffers, out.String())
	}
}
