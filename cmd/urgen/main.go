// Command urgen generates Go io_uring bindings from the kernel's UAPI
// headers and reports on them.
//
//	urgen generate [-headers DIR] [-out DIR] [-arch LIST] [-templates DIR]
//	urgen report   [-headers DIR] [-arch LIST] [-templates DIR] [-json]
//	urgen diff     [-arch LIST] OLD_HEADERS_DIR NEW_HEADERS_DIR
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "generate":
		err = generate(os.Args[2:])
	case "report":
		err = report(os.Args[2:])
	case "diff":
		err = diff(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "urgen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  urgen generate [-headers DIR] [-out DIR] [-arch LIST] [-templates DIR] [-pkg PATH]
  urgen report   [-headers DIR] [-arch LIST] [-templates DIR] [-json]
  urgen diff     [-arch LIST] OLD_HEADERS_DIR NEW_HEADERS_DIR`)
	os.Exit(2)
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
	fs.StringVar(&o.templates, "templates", "templates", "templates directory")
	if withOut {
		fs.StringVar(&o.out, "out", "generated/uapi", "output package directory")
		fs.StringVar(&o.pkg, "pkg", "github.com/urgen/urgen/generated/uapi", "import path of the output package")
	} else {
		fs.BoolVar(&o.json, "json", false, "print JSON")
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return o, fs.Args(), nil
}
