package main

import (
	"bytes"
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
	if caps.Stats() && !strings.Contains(out.String(), "copy fallback: 8388608 bytes") {
		t.Fatalf("NODEV copies everything, the stats must say so:\n%s", out.String())
	}
}
