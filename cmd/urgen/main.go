// Command urgen generates Go io_uring bindings from the kernel's UAPI
// headers and reports on them.
//
//	urgen generate [-headers DIR] [-out DIR] [-arch LIST] [-templates DIR]
//	urgen report   [-headers DIR] [-arch LIST] [-templates DIR] [-json]
//	urgen diff     [-arch LIST] OLD_HEADERS_DIR NEW_HEADERS_DIR
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usageText = `usage:
  urgen generate [-headers DIR] [-out DIR] [-arch LIST] [-templates DIR] [-pkg PATH]
  urgen report   [-headers DIR] [-arch LIST] [-templates DIR] [-json]
  urgen diff     [-arch LIST] OLD_HEADERS_DIR NEW_HEADERS_DIR
  urgen COMMAND -h   (the command's flags)
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is urgen with its arguments and returns the exit code: 0 on success
// and for -h, 1 when the command fails, 2 for an unknown command.
func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "generate":
		err = generate(args[1:])
	case "report":
		err = report(args[1:])
	case "diff":
		err = diff(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usageText)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "urgen: unknown command %q\n%s", args[0], usageText)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp): // the flag package printed the command's usage
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "urgen:", err)
		return 1
	}
	return 0
}

// common flags
type opts struct {
	headers, out, arch, templates, pkg string
	json                               bool
}

func parse(name string, args []string, withOut bool) (*opts, []string, error) {
	o := &opts{}
	fs := flag.NewFlagSet("urgen "+name, flag.ContinueOnError)
	fs.StringVar(&o.headers, "headers", "headers", "kernel UAPI headers directory")
	fs.StringVar(&o.arch, "arch", "", "comma-separated GOARCH list (default: all Linux GOARCHes)")
	fs.StringVar(&o.templates, "templates", "templates", "templates directory of the header family (templates/nvme, templates/ublk: see gen/family)")
	fs.StringVar(&o.pkg, "pkg", "", "import path of the output package (default github.com/urgen/urgen/generated/<the family's package>)")
	if withOut {
		fs.StringVar(&o.out, "out", "", "output package directory (default generated/<the package's name>)")
	} else {
		fs.BoolVar(&o.json, "json", false, "print JSON")
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return o, fs.Args(), nil
}
