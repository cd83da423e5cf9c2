package main

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/typecheck"
)

// typeCheck type-checks the rendered packages (and a base family's, which
// they import) for every GOARCH before anything is written. The export
// data of the packages they import (golang.org/x/sys/unix, the standard
// library) comes from go list -export run in dir's module; without the go
// command those imports are checked as empty packages.
func typeCheck(dir string, archs []string, r *emit.Result, base *emit.Base) error {
	var pkgs []typecheck.Package
	if base != nil {
		pkgs = append(pkgs, split(base.PkgPath, base.Result.Files)...)
	}
	pkgs = append(pkgs, split(r.PkgPath, r.Files)...)
	origins := map[string]string{}
	for _, b := range r.Builders {
		origins[b.Go] = b.Pos
		for a, p := range b.ArgPos {
			origins[b.Go+"."+a] = p
		}
	}
	exp, missing := exports(dir, pkgs)
	for _, q := range missing {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: go list -export gives no export data for it (neither in the output's module nor in a scratch module from the module cache): the generated code's uses of its names are not type-checked", q))
	}
	cfg := typecheck.Config{
		Archs:   archs,
		Exports: exp,
		Origin:  func(decl string) string { return origins[decl] },
	}
	for _, s := range r.Summary().Structs {
		if len(s.Members) > maxCheckedMembers {
			// The Go compiler takes the same n^2 to build the package.
			cfg.IgnoreFuncBodies = true
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %s has %d members: its accessors, layout assertions and registry entries take the Go compiler time quadratic in that, and urgen type-checks declarations only",
				s.Src.Pos, s.C, len(s.Members)))
		}
	}
	return typecheck.Check(pkgs, cfg)
}

// maxCheckedMembers is the largest struct whose package urgen type-checks
// in full (the io_uring headers' largest has 55 members).
const maxCheckedMembers = 2048

// split groups a generated package's files by directory: the package and
// its registry subpackage.
func split(pkg string, files map[string][]byte) []typecheck.Package {
	by := map[string]map[string][]byte{}
	for name, src := range files {
		d, f := path.Split(name)
		p := path.Join(pkg, d)
		if by[p] == nil {
			by[p] = map[string][]byte{}
		}
		by[p][f] = src
	}
	paths := make([]string, 0, len(by))
	for p := range by {
		paths = append(paths, p)
	}
	sort.Strings(paths) // the package before its subpackage
	var r []typecheck.Package
	for _, p := range paths {
		r = append(r, typecheck.Package{Path: p, Files: by[p]})
	}
	return r
}

func goList(dir string, paths []string, scratch bool) ([]byte, error) {
	cmd := exec.Command("go", append([]string{"list", "-e", "-export", "-f", "{{.ImportPath}}\t{{.Export}}"}, paths...)...)
	cmd.Dir = dir
	if scratch {
		// The scratch module resolves from the module cache only: never
		// the network, and its go.sum is thrown away.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off")
	}
	return cmd.Output()
}

// scratchModule makes a module that imports paths, requiring the versions
// this urgen was built with.
func scratchModule(paths []string) (string, error) {
	tmp, err := os.MkdirTemp("", "urgen-typecheck-")
	if err != nil {
		return "", err
	}
	gomod := "module urgentypecheck\n\ngo 1.26\n"
	if v := sysVersion(); v != "" {
		gomod += "\nrequire golang.org/x/sys " + v + "\n"
	}
	var imports strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&imports, "import _ %q\n", p)
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o644); err == nil {
		err = os.WriteFile(filepath.Join(tmp, "x.go"), []byte("package x\n\n"+imports.String()), 0o644)
		if err == nil {
			return tmp, nil
		}
	}
	os.RemoveAll(tmp)
	return "", err
}

// sysVersion is a golang.org/x/sys version for the scratch module: the one
// urgen was built with, else the newest in the module cache.
func sysVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "golang.org/x/sys" {
				return d.Version
			}
		}
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	dirs, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "golang.org", "x", "sys@v*"))
	best := ""
	for _, d := range dirs {
		v := strings.TrimPrefix(filepath.Base(d), "sys@")
		if best == "" || semverLess(best, v) {
			best = v
		}
	}
	return best
}

// semverLess compares vMAJOR.MINOR.PATCH versions (pre-releases sort
// before their release by the string compare of what follows).
func semverLess(a, b string) bool {
	pa, pb := strings.SplitN(strings.TrimPrefix(a, "v"), ".", 3), strings.SplitN(strings.TrimPrefix(b, "v"), ".", 3)
	num := func(s string) int {
		s, _, _ = strings.Cut(s, "-")
		s, _, _ = strings.Cut(s, "+")
		n, _ := strconv.Atoi(s)
		return n
	}
	for i := 0; i < 3 && i < len(pa) && i < len(pb); i++ {
		if x, y := num(pa[i]), num(pb[i]); x != y {
			return x < y
		}
	}
	return a < b
}

// exports asks go list for the export data of what pkgs import, and
// returns the import paths it found none for.
func exports(dir string, pkgs []typecheck.Package) (map[string]string, []string) {
	own := map[string]bool{}
	for _, p := range pkgs {
		own[p.Path] = true
	}
	need := map[string]bool{}
	for _, p := range pkgs {
		for name, src := range p.Files {
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
			if err != nil {
				continue
			}
			for _, im := range f.Imports {
				if q, err := strconv.Unquote(im.Path.Value); err == nil && q != "unsafe" && !own[q] {
					need[q] = true
				}
			}
		}
	}
	if len(need) == 0 {
		return nil, nil
	}
	var paths []string
	for q := range need {
		paths = append(paths, q)
	}
	sort.Strings(paths)
	// First in the output's module; what that does not provide (a first
	// generation, or an output outside any module) in a scratch module of
	// urgen's own versions. go list -e succeeds either way: a package it
	// cannot load has an empty Export.
	var wd string
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			wd = d
			break
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	m := map[string]string{}
	addExports(m, wd, paths, false)
	if rest := without(paths, m); len(rest) > 0 {
		if tmp, err := scratchModule(rest); err == nil {
			addExports(m, tmp, rest, true)
			os.RemoveAll(tmp)
		}
	}
	return m, without(paths, m)
}

// addExports records in m the export data files go list -export in dir
// names for paths.
func addExports(m map[string]string, dir string, paths []string, scratch bool) {
	out, err := goList(dir, paths, scratch)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		if p, e, ok := strings.Cut(line, "\t"); ok && e != "" {
			m[p] = e
		}
	}
}

// without is paths less the keys of m.
func without(paths []string, m map[string]string) []string {
	var r []string
	for _, p := range paths {
		if m[p] == "" {
			r = append(r, p)
		}
	}
	return r
}
