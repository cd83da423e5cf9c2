package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/report"
	"github.com/urgen/urgen/generated/uapi/uapitest"
)

// buildWithBuilders is build with templates/builders.txt loaded too.
func buildWithBuilders(t *testing.T, dir string) (*model.Model, *emit.Result) {
	t.Helper()
	m, err := model.Load(dir, []string{"amd64"}, model.DefaultScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := emit.LoadConfig(filepath.Join("..", "..", "templates", "constants.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Builders, err = emit.LoadBuilderSpecs(filepath.Join("..", "..", "templates", "builders.txt")); err != nil {
		t.Fatal(err)
	}
	r, err := emit.Generate(m, cfg, emit.Options{PkgPath: "example.com/uapi", PkgName: "uapi"})
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

// TestReportBuilders: with the pinned headers every opcode names its
// builders, and they are the generated package's (uapitest.Builders).
func TestReportBuilders(t *testing.T) {
	m, r := buildWithBuilders(t, headers)
	rep := report.New(m, r)
	gen := map[string]string{}
	for _, b := range uapitest.Builders {
		gen[b.Go] = b.Op.String()
	}
	named := 0
	for _, op := range rep.Opcodes {
		if len(op.Builders) == 0 {
			t.Errorf("%s has no builder in the report", op.C)
		}
		for _, b := range op.Builders {
			named++
			if gen[b] != op.C {
				t.Errorf("report says %s prepares %s; the generated table says %q", b, op.C, gen[b])
			}
		}
	}
	if named != len(gen) || len(rep.Builders) != len(gen) {
		t.Errorf("report names %d builders in opcodes and lists %d; generated: %d", named, len(rep.Builders), len(gen))
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	want := "opcodes with a builder: 65 of 65"
	if !strings.Contains(text.String(), want) {
		t.Errorf("text report lacks %q", want)
	}
}

// TestReportBuildersOlderHeaders: with the host's 6.1 headers the builders
// of newer opcodes and variants are listed as skipped, with the reason.
func TestReportBuildersOlderHeaders(t *testing.T) {
	if _, err := os.Stat("/usr/include/linux/io_uring.h"); err != nil {
		t.Skipf("needs the host's kernel headers (apt-get install linux-libc-dev): %v", err)
	}
	m, r := buildWithBuilders(t, "/usr/include")
	rep := report.New(m, r)
	skipped := map[string]string{}
	for _, b := range rep.Builders {
		if b.Skipped != "" {
			skipped[b.Go] = b.Skipped
		}
	}
	if len(skipped) == 0 {
		t.Skip("needs headers older than the pinned ones: /usr/include has every opcode")
	}
	for g, why := range skipped {
		if !strings.Contains(why, "in these headers") {
			t.Errorf("%s skipped for an unexpected reason: %s", g, why)
		}
	}
	for _, g := range []string{"PrepRead", "PrepSendZC", "PrepSocketDirect", "PrepMsgRingFD"} {
		if why, ok := skipped[g]; ok {
			t.Errorf("%s, older than these headers, skipped: %s", g, why)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for g, why := range skipped {
		if !strings.Contains(text.String(), g+"  "+why) {
			t.Errorf("text report does not list skipped %s: %s", g, why)
		}
	}
	t.Logf("%d builders skipped for %s", len(skipped), "/usr/include")
}
