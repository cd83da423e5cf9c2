package urgen_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/family"
)

// TestFamiliesCovered fails when a header family under templates/ has no
// generated package under generated/ that carries the round trip against
// gcc. The round trip itself is gen/roundtrip, as urgen generate
// -roundtrip emits it into each package's registry: go test
// ./generated/... runs it on the host, make roundtrip-cross (urgen
// roundtrip -cross) on the foreign GOARCHes.
func TestFamiliesCovered(t *testing.T) {
	all, err := family.All("templates")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 3 {
		t.Fatalf("templates/ has %d families, want uapi, nvme and ublk at least", len(all))
	}
	for i, f := range all {
		dir := filepath.Join("generated", f.Package)
		if _, err := os.Stat(filepath.Join(dir, emit.RoundTripFile(f.Package))); err != nil {
			t.Errorf("family %s (%s) has no round trip: %v", f.Package, f.Dir, err)
		}
		doc, err := os.ReadFile(filepath.Join(dir, "doc.go"))
		if err != nil {
			t.Errorf("family %s (%s): %v", f.Package, f.Dir, err)
			continue
		}
		flags := ` -out \. .*-roundtrip`
		if i > 0 {
			flags = ` -out \. -family ` + f.Package + ` .*-roundtrip`
		}
		if re := regexp.MustCompile(`(?m)^//go:generate go tool urgen generate` + flags + `( -\S+)*$`); !re.Match(doc) {
			t.Errorf("%s/doc.go: no directive matching %s", dir, re)
		}
	}
}
