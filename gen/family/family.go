// Package family reads a header family: one templates directory that says
// which kernel headers one generated package is made from, how its Go names
// drop the headers' namespace prefix, and which family's SQE its builders
// fill. urgen generates every family the same way; a new header is a new
// family directory, not a change to the generator.
//
// A family directory holds family.txt (below), constants.txt (typed
// constant sets, see emit.LoadConfig) and optionally builders.txt (SQE
// builders, see emit.LoadBuilderSpecs). family.txt has one directive a
// line; # starts a comment:
//
//	package NAME        the Go package name (and the output directory's base name)
//	doc TEXT            what the package is, completing "Package NAME is ..."; lines are joined
//	headers GLOB...     headers (relative to the headers dir) whose declarations are all in scope
//	extra FILE:DECL...  single declarations of other headers: "file:struct tag" or "file:PREFIX*"
//	include FILE...     headers included first, out of scope: what the family's headers
//	                    use without including it (linux/ioctl.h for _IOWR)
//	namespace WORD...   a leading C-name prefix, as lower-case words, that Go names drop;
//	                    repeat the line for several, tried in order
//	base DIR            the family (templates dir, relative to this one) whose struct
//	                    io_uring_sqe the builders fill: they become functions taking
//	                    that package's *SQE
//
// A templates directory without family.txt is the io_uring family of
// earlier urgen versions: package uapi, model.DefaultScope, the io_uring
// namespace.
package family

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	pathpkg "path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/urgen/urgen/gen/goname"
	"github.com/urgen/urgen/gen/model"
)

// File is the name of the family file in a templates directory.
const File = "family.txt"

// Family is one templates directory's family.
type Family struct {
	// FS holds the templates directory: the file system (Load), or the
	// templates embedded in urgen (LoadFS).
	FS fs.FS
	// Dir is the templates directory in FS; messages cite its files by it.
	Dir string
	// Package is the Go package name.
	Package string
	// Doc completes the package comment "Package NAME is ...".
	Doc string
	// Scope selects the declarations of the headers.
	Scope model.Scope
	// Namer names them.
	Namer goname.Namer
	// Base is the templates directory of the family whose SQE the
	// builders fill, or "" when the family declares struct io_uring_sqe
	// itself.
	Base string
}

// IOUring is the family of a templates directory without family.txt.
func IOUring(dir string) *Family {
	return &Family{FS: OS, Dir: dir, Package: "uapi", Doc: "the Linux io_uring user-space ABI", Scope: model.DefaultScope, Namer: goname.IOUring}
}

// OS is the file system as an fs.FS that takes operating-system paths,
// relative or absolute, as they are (os.DirFS takes neither "../x" nor
// "/x"), so that Load can share LoadFS.
var OS fs.FS = osFS{}

type osFS struct{}

func (osFS) Open(name string) (fs.File, error)          { return os.Open(name) }
func (osFS) ReadFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
func (osFS) Glob(pattern string) ([]string, error)      { return filepath.Glob(pattern) }

// Load reads dir/family.txt from the file system.
func Load(dir string) (*Family, error) { return LoadFS(OS, dir) }

// ReadFile reads a file of the family's templates directory and returns it
// with the name messages cite.
func (f *Family) ReadFile(name string) (string, []byte, error) {
	p := pathpkg.Join(filepath.ToSlash(f.Dir), name)
	b, err := fs.ReadFile(f.FS, p)
	return p, b, err
}

// LoadFS reads dir/family.txt of fsys.
func LoadFS(fsys fs.FS, dir string) (*Family, error) {
	path := pathpkg.Join(filepath.ToSlash(dir), File)
	b, err := fs.ReadFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		fam := IOUring(dir)
		fam.FS = fsys
		return fam, nil
	}
	if err != nil {
		return nil, err
	}
	fam := &Family{FS: fsys, Dir: dir}
	var doc []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		w := strings.Fields(line)
		if len(w) == 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
		}
		switch w[0] {
		case "package":
			if len(w) != 2 || fam.Package != "" {
				return nil, bad("want one line: package NAME")
			}
			fam.Package = w[1]
		case "doc":
			doc = append(doc, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "doc")))
		case "headers":
			if len(w) < 2 {
				return nil, bad("want: headers GLOB...")
			}
			for _, g := range w[1:] {
				if _, err := filepath.Match(g, ""); err != nil {
					return nil, bad("bad glob %q: %v", g, err)
				}
			}
			fam.Scope.Files = append(fam.Scope.Files, w[1:]...)
		case "extra":
			if len(w) < 2 {
				return nil, bad("want: extra FILE:DECL...")
			}
			// "file:struct tag" has a blank: join the pairs back.
			extra := joinStruct(w[1:])
			for _, e := range extra {
				if !strings.Contains(e, ":") {
					return nil, bad("extra %q: want FILE:DECL", e)
				}
			}
			fam.Scope.Extra = append(fam.Scope.Extra, extra...)
		case "include":
			if len(w) < 2 {
				return nil, bad("want: include FILE...")
			}
			fam.Scope.Include = append(fam.Scope.Include, w[1:]...)
		case "namespace":
			if len(w) < 2 {
				return nil, bad("want: namespace WORD...")
			}
			var ns []string
			for _, x := range w[1:] {
				if strings.ToLower(x) != x || strings.Contains(x, "_") {
					return nil, bad("namespace words are lower case, without underscores: %q", x)
				}
				ns = append(ns, x)
			}
			fam.Namer.Namespace = append(fam.Namer.Namespace, ns)
		case "base":
			if len(w) != 2 || fam.Base != "" {
				return nil, bad("want one line: base DIR")
			}
			fam.Base = pathpkg.Join(filepath.ToSlash(dir), w[1])
		default:
			return nil, bad("unknown directive %s (want package, doc, headers, extra, include, namespace or base)", w[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	switch {
	case fam.Package == "":
		return nil, fmt.Errorf("%s: no package line", path)
	case len(fam.Scope.Files) == 0:
		return nil, fmt.Errorf("%s: no headers line", path)
	}
	fam.Doc = strings.Join(doc, " ")
	if fam.Doc == "" {
		fam.Doc = "generated from " + strings.Join(fam.Scope.Files, ", ")
	}
	if fam.Namer.Namespace == nil {
		fam.Namer = goname.IOUring
	}
	return fam, nil
}

// joinStruct rejoins "file:struct" "tag" into one "file:struct tag".
func joinStruct(w []string) []string {
	var r []string
	for i := 0; i < len(w); i++ {
		if (strings.HasSuffix(w[i], ":struct") || strings.HasSuffix(w[i], ":union")) && i+1 < len(w) {
			r = append(r, w[i]+" "+w[i+1])
			i++
			continue
		}
		r = append(r, w[i])
	}
	return r
}

// All returns the families under a templates root of the file system: the
// root itself, then every subdirectory with a family.txt, by name.
func All(root string) ([]*Family, error) { return AllFS(OS, root) }

// AllFS is All for the templates root in fsys.
func AllFS(fsys fs.FS, root string) ([]*Family, error) {
	top, err := LoadFS(fsys, root)
	if err != nil {
		return nil, err
	}
	fams := []*Family{top}
	matches, err := fs.Glob(fsys, pathpkg.Join(filepath.ToSlash(root), "*", File))
	if err != nil {
		return nil, err
	}
	sort.Strings(matches)
	for _, m := range matches {
		f, err := LoadFS(fsys, pathpkg.Dir(m))
		if err != nil {
			return nil, err
		}
		fams = append(fams, f)
	}
	return fams, nil
}

// Union is the scope of all fams together: what urgen diff compares.
func Union(fams []*Family) model.Scope {
	var u model.Scope
	add := func(list *[]string, xs []string) {
		for _, x := range xs {
			if !slices.Contains(*list, x) {
				*list = append(*list, x)
			}
		}
	}
	for _, f := range fams {
		add(&u.Include, f.Scope.Include)
		add(&u.Files, f.Scope.Files)
		add(&u.Extra, f.Scope.Extra)
	}
	return u
}
