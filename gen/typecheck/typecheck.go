// Package typecheck type-checks generated Go packages in memory, for every
// GOARCH their files build for, before anything is written: generated code
// that would not compile is an error of the generator, naming the C
// declaration or template line it came from, never a broken package on
// disk.
package typecheck

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Package is one generated package.
type Package struct {
	// Path is the import path.
	Path string
	// Files are the sources by file name (no directory).
	Files map[string][]byte
}

// Config says how to check.
type Config struct {
	// GOARCHes to check for (on GOOS linux).
	Archs []string
	// Exports maps the import paths the packages use (other than unsafe
	// and each other) to export data files, as go list -export prints
	// them. An import without one is checked as a package that declares
	// nothing, and errors about its names are not reported.
	Exports map[string]string
	// Origin, when set, names where a top-level declaration came from
	// (a template line), for declarations whose doc comment does not.
	// For an error in a function's parameter list it is asked first for
	// "Func.param".
	Origin func(decl string) string
	// IgnoreFuncBodies checks declarations only (types.Config's option):
	// go/types looks a selector's field up by a linear scan, so bodies
	// that select every member of a struct of n members take n^2.
	IgnoreFuncBodies bool
}

// Check type-checks pkgs, each of which may import those before it.
func Check(pkgs []Package, cfg Config) error {
	fset := token.NewFileSet()
	type parsed struct {
		name string
		file *ast.File
		cons constraint.Expr
	}
	files := make([][]parsed, len(pkgs))
	for i, p := range pkgs {
		names := make([]string, 0, len(p.Files))
		for name := range p.Files {
			if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			f, err := parser.ParseFile(fset, path.Base(p.Path)+"/"+name, p.Files[name], parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				return fmt.Errorf("generated %s/%s does not parse: %v", path.Base(p.Path), name, err)
			}
			pf := parsed{name: name, file: f}
			for _, c := range f.Comments {
				for _, l := range c.List {
					if constraint.IsGoBuild(l.Text) {
						if pf.cons, err = constraint.Parse(l.Text); err != nil {
							return fmt.Errorf("generated %s/%s: %v", path.Base(p.Path), name, err)
						}
					}
				}
			}
			files[i] = append(files[i], pf)
		}
	}
	// Arches with the same files and word size are checked once.
	done := map[string]bool{}
	var errs []string
	for _, arch := range cfg.Archs {
		sizes := types.SizesFor("gc", arch)
		if sizes == nil {
			return fmt.Errorf("typecheck: unknown GOARCH %s", arch)
		}
		sel := make([][]*ast.File, len(pkgs))
		var key strings.Builder
		fmt.Fprintf(&key, "%d:", sizes.Sizeof(types.Typ[types.Uintptr]))
		for i, fs := range files {
			for _, f := range fs {
				if buildsFor(f.name, f.cons, arch) {
					sel[i] = append(sel[i], f.file)
					key.WriteString(pkgs[i].Path + "/" + f.name + ";")
				}
			}
		}
		if done[key.String()] {
			continue
		}
		done[key.String()] = true
		errs = append(errs, checkArch(fset, pkgs, sel, arch, &cachedSizes{Sizes: sizes, offsets: map[*types.Var][]int64{}}, cfg)...)
	}
	if len(errs) > 0 {
		const most = 20
		if len(errs) > most {
			errs = append(errs[:most], fmt.Sprintf("... and %d more", len(errs)-most))
		}
		return errors.New("the generated code does not compile:\n" + strings.Join(errs, "\n"))
	}
	return nil
}

func checkArch(fset *token.FileSet, pkgs []Package, sel [][]*ast.File, arch string, sizes types.Sizes, cfg Config) []string {
	checked := map[string]*types.Package{}
	missing := map[string]bool{}
	gc := importer.ForCompiler(fset, "gc", func(p string) (io.ReadCloser, error) { return os.Open(cfg.Exports[p]) })
	imp := importerFunc(func(p string) (*types.Package, error) {
		if p == "unsafe" {
			return types.Unsafe, nil
		}
		if pkg := checked[p]; pkg != nil {
			return pkg, nil
		}
		if cfg.Exports[p] != "" {
			return gc.Import(p)
		}
		missing[p] = true
		pkg := types.NewPackage(p, path.Base(p))
		pkg.MarkComplete()
		return pkg, nil
	})
	var errs []string
	for i, p := range pkgs {
		if len(sel[i]) == 0 {
			continue
		}
		conf := types.Config{Importer: imp, Sizes: sizes, IgnoreFuncBodies: cfg.IgnoreFuncBodies, Error: func(err error) {
			te, ok := err.(types.Error)
			if !ok {
				errs = append(errs, err.Error())
				return
			}
			for m := range missing {
				if strings.Contains(te.Msg, path.Base(m)+".") || strings.Contains(te.Msg, `"`+m+`"`) {
					return // a package without export data: unchecked
				}
			}
			errs = append(errs, fmt.Sprintf("%s: %s (GOARCH=%s)%s", fset.Position(te.Pos), te.Msg, arch, origin(sel[i], te.Pos, cfg.Origin)))
		}}
		pkg, _ := conf.Check(p.Path, fset, sel[i], nil)
		checked[p.Path] = pkg
	}
	return errs
}

// cachedSizes remembers struct offsets: go/types computes all of a
// struct's offsets for every unsafe.Offsetof, and the layout assertions
// take one for every member (quadratic: a 25,000-member struct took a
// minute).
type cachedSizes struct {
	types.Sizes
	offsets map[*types.Var][]int64 // by first field
}

func (s *cachedSizes) Offsetsof(fields []*types.Var) []int64 {
	if len(fields) == 0 {
		return nil
	}
	if o, ok := s.offsets[fields[0]]; ok && len(o) == len(fields) {
		return o
	}
	o := s.Sizes.Offsetsof(fields)
	s.offsets[fields[0]] = o
	return o
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// buildsFor reports whether a file of a generated package builds for
// linux/arch: its name's _GOARCH suffix and its //go:build line.
func buildsFor(name string, cons constraint.Expr, arch string) bool {
	base := strings.TrimSuffix(name, ".go")
	if i := strings.LastIndex(base, "_"); i >= 0 && knownArch[base[i+1:]] && base[i+1:] != arch {
		return false
	}
	if cons == nil {
		return true
	}
	return cons.Eval(func(tag string) bool {
		return tag == arch || tag == "linux" || tag == "unix" || tag == "gc" || strings.HasPrefix(tag, "go1.")
	})
}

var knownArch = map[string]bool{
	"386": true, "amd64": true, "arm": true, "arm64": true, "loong64": true, "mips": true, "mipsle": true,
	"mips64": true, "mips64le": true, "ppc64": true, "ppc64le": true, "riscv64": true, "s390x": true,
	"wasm": true, "ppc": true, "riscv": true, "sparc64": true,
}

// origin names the C declaration (or template line) behind the top-level
// declaration at pos: the first "(file.h:N)" of its doc comment, else
// what Origin says for its name.
func origin(files []*ast.File, pos token.Pos, from func(string) string) string {
	for _, f := range files {
		if pos < f.Pos() || pos > f.End() {
			continue
		}
		for _, d := range f.Decls {
			if pos < d.Pos() || pos > d.End() {
				continue
			}
			var doc *ast.CommentGroup
			var name string
			switch x := d.(type) {
			case *ast.FuncDecl:
				doc, name = x.Doc, x.Name.Name
				if p := param(x, pos); p != "" && from != nil {
					if o := from(name + "." + p); o != "" {
						return fmt.Sprintf(", in %s (argument %s) from %s", name, p, o)
					}
				}
			case *ast.GenDecl:
				doc = x.Doc
				for _, s := range x.Specs {
					if pos < s.Pos() || pos > s.End() {
						continue
					}
					switch y := s.(type) {
					case *ast.TypeSpec:
						name = y.Name.Name
						if y.Doc != nil {
							doc = y.Doc
						}
					case *ast.ValueSpec:
						if len(y.Names) > 0 {
							name = y.Names[0].Name
						}
						if y.Doc != nil {
							doc = y.Doc
						}
					}
				}
			}
			if doc != nil {
				if m := cOrigin.FindStringSubmatch(doc.Text()); m != nil {
					return fmt.Sprintf(", in %s from %s", name, m[1])
				}
			}
			if from != nil {
				if o := from(name); o != "" {
					return fmt.Sprintf(", in %s from %s", name, o)
				}
			}
			if name != "" {
				return ", in " + name
			}
		}
	}
	return ""
}

// param names the parameter of fn whose declaration holds pos, or "".
func param(fn *ast.FuncDecl, pos token.Pos) string {
	if fn.Type.Params == nil {
		return ""
	}
	for _, f := range fn.Type.Params.List {
		if pos >= f.Pos() && pos <= f.End() && len(f.Names) > 0 {
			return f.Names[0].Name
		}
	}
	return ""
}

var cOrigin = regexp.MustCompile(`\(([^()\s]+\.h:[0-9]+)\)`)
