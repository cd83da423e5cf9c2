package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	genreport "github.com/urgen/urgen/gen/report"
)

// report prints what urgen generates from the headers: totals per header
// file, the unsupported constructs and the builders as text, or with -json
// every struct, member, constant and opcode with its Go name and layout.
func report(args []string) error {
	return reportTo(os.Stdout, args)
}

func reportTo(w io.Writer, args []string) error {
	o, rest, err := parse("report", args, false)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("report: unexpected arguments %v", rest)
	}
	m, r, err := build(o)
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
