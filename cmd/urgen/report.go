package main

import (
	"encoding/json"
	"io"
	"os"

	"github.com/urgen/urgen/gen/emit"
	genreport "github.com/urgen/urgen/gen/report"
)

// report prints what urgen generates from the headers: totals per header
// file, the unsupported constructs and the builders as text, or with -json
// every struct, member, constant and opcode with its Go name and layout.
func report(args []string) error {
	return reportTo(os.Stdout, args)
}

func reportTo(w io.Writer, args []string) error {
	o, err := parse("report", args, "")
	if err != nil {
		return err
	}
	fam, err := o.selectFamily()
	if err != nil {
		return err
	}
	dir, cleanup, err := o.headerDir()
	if err != nil {
		return err
	}
	defer cleanup()
	// The import path only qualifies names in the rendered (unwritten) files.
	pkg := "github.com/urgen/urgen/generated/" + fam.Package
	m, r, err := o.buildFamily(dir, archList(o.arch), fam, emit.Options{PkgPath: pkg, PkgName: fam.Package}, true)
	if err != nil {
		return err
	}
	rep := genreport.New(m, r)
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(w)
}
