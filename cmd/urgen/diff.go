package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urgen/urgen/gen/family"
	"github.com/urgen/urgen/gen/model"
	genreport "github.com/urgen/urgen/gen/report"
	embeddedtemplates "github.com/urgen/urgen/templates"
)

// diff prints how the headers in NEW differ from those in OLD: added,
// removed and changed structs, members, enums, constants and opcodes, with
// "ABI BREAK:" lines for changed sizes, offsets and values and for
// removals. It fails on any ABI break (so that make headers and CI can gate
// on it) unless -allow-breaks, and on failing to load either directory.
func diff(args []string) error {
	return diffTo(os.Stdout, args)
}

func diffTo(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("urgen diff", flag.ContinueOnError)
	arch := fs.String("arch", "", "comma-separated GOARCH list (default: every GOARCH whose asm headers both dirs have)")
	allow := fs.Bool("allow-breaks", false, "exit 0 even when the diff has ABI breaks")
	templates := fs.String("templates", "", "templates root: the headers of every header family under it are compared (default: urgen's embedded families)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("diff: want OLD_HEADERS_DIR NEW_HEADERS_DIR, got %d arguments", fs.NArg())
	}
	oldDir, newDir := fs.Arg(0), fs.Arg(1)
	archs := archList(*arch)
	if len(archs) == 0 {
		archs = genreport.CommonArchs(oldDir, newDir)
		if len(archs) == 0 {
			return fmt.Errorf("diff: %s and %s have no <triplet>/asm directory of any GOARCH in common", oldDir, newDir)
		}
	}
	fams, err := family.AllFS(embeddedtemplates.FS(), embeddedtemplates.Root)
	if *templates != "" {
		fams, err = family.All(*templates)
	}
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	scope := family.Union(fams)
	load := func(dir string) (*model.Model, error) {
		m, err := model.Load(dir, archs, scope)
		if err != nil {
			return nil, fmt.Errorf("diff: %s (archs %s): %w", dir, strings.Join(archs, ","), err)
		}
		return m, nil
	}
	old, err := load(oldDir)
	if err != nil {
		return err
	}
	cur, err := load(newDir)
	if err != nil {
		return err
	}
	d := genreport.Compare(old, cur)
	d.OldDir, d.NewDir = oldDir, newDir
	if err := d.WriteText(w); err != nil {
		return err
	}
	if n := d.Breaks(); n > 0 && !*allow {
		return fmt.Errorf("diff: %d ABI breaks from %s to %s (-allow-breaks exits 0)", n, oldDir, newDir)
	}
	return nil
}
