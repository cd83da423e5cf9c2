// Command urgen generates Go bindings from the Linux kernel's UAPI headers,
// checks that a generated package is up to date, proves it against gcc,
// and reports on the headers.
//
//	urgen generate  -out DIR [-pkg PATH] [-headers DIR] [-family NAME] [-templates DIR] [-arch LIST] [-roundtrip]
//	urgen check     DIR...
//	urgen roundtrip [-arch LIST | -cross] DIR...
//	urgen report    [-headers DIR] [-family NAME] [-templates DIR] [-arch LIST] [-json]
//	urgen diff      [-arch LIST] [-templates ROOT] OLD_HEADERS_DIR NEW_HEADERS_DIR
//	urgen version
//
// It works from any module: the pinned headers and the templates of its
// header families (uapi for io_uring, nvme, ublk; see gen/family) are
// embedded, and the import path of the output package is asked of the go
// command. Use it as a tool of your module:
//
//	go get -tool github.com/urgen/urgen/cmd/urgen
//	go tool urgen generate -out internal/uapi -roundtrip
//
// or once, without adding it to go.mod:
//
//	go run github.com/urgen/urgen/cmd/urgen@VERSION generate -out internal/uapi
//
// The generated package carries the //go:generate directive that recreates
// it (go generate), its provenance (urgen version, headers, GOARCHes), and
// with -roundtrip the round-trip test against gcc. DIR arguments of check
// and roundtrip may end in /... for every generated package below.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usageText = `usage:
  urgen generate  -out DIR [-pkg PATH] [-headers DIR] [-family NAME] [-templates DIR] [-arch LIST] [-roundtrip]
  urgen check     DIR...                        fail when a generated package is stale
  urgen roundtrip [-arch LIST | -cross] DIR...  prove generated packages against gcc
  urgen report    [-headers DIR] [-family NAME] [-templates DIR] [-arch LIST] [-json]
  urgen diff      [-arch LIST] [-templates ROOT] OLD_HEADERS_DIR NEW_HEADERS_DIR
  urgen version
  urgen COMMAND -h   (the command's flags)

Without -headers, urgen uses its pinned headers (embedded); -family picks one of
its embedded header families (uapi, nvme, ublk); -templates DIR is a family of
your own (with a family.txt) or replaces the embedded family's files it has.
-pkg defaults to the import path of -out in its module. DIR... may end in /...

In your module:
  go get -tool github.com/urgen/urgen/cmd/urgen
  go tool urgen generate -out internal/uapi -roundtrip
  go generate ./internal/uapi          # recreates it (the package's directive)
  go tool urgen check ./internal/uapi  # fails when it is stale
  go test ./internal/uapi/...          # the round trip against gcc
  go tool urgen roundtrip -cross ./internal/uapi   # ... for every GOARCH (cross gcc, qemu-user)
Once, without changing go.mod:
  go run github.com/urgen/urgen/cmd/urgen@VERSION generate -out DIR -pkg PATH
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is urgen with its arguments and returns the exit code: 0 on success
// and for -h, 1 when the command fails (check: a stale package; roundtrip:
// a mismatch), 2 for an unknown command.
func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "generate":
		err = generate(args[1:])
	case "check":
		err = check(os.Stdout, args[1:])
	case "roundtrip":
		err = roundtripCmd(os.Stdout, args[1:])
	case "report":
		err = report(args[1:])
	case "diff":
		err = diff(args[1:])
	case "version":
		fmt.Println("urgen", version())
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
