// Package templates holds urgen's declarative generator input, embedded so
// that the command works from any module: one header family per directory
// (see gen/family), this one io_uring's (package uapi) and one below it per
// further family (nvme, ublk), each with typed constant sets
// (constants.txt) and SQE builders (builders.txt).
package templates

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed *.txt */*.txt
var files embed.FS

// Root is the directory FS presents the templates under, so that messages
// cite them as they are named in urgen's repository: templates/constants.txt,
// templates/nvme/family.txt.
const Root = "templates"

// FS returns the embedded templates under Root.
func FS() fs.FS { return rooted{} }

type rooted struct{}

func (rooted) Open(name string) (fs.File, error) {
	rest, ok := strings.CutPrefix(name, Root)
	if ok && rest == "" {
		return files.Open(".")
	}
	if rest, ok = strings.CutPrefix(rest, "/"); ok && rest != "" {
		return files.Open(rest)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
