package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/family"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/write"
	pinnedheaders "github.com/urgen/urgen/headers"
	embeddedtemplates "github.com/urgen/urgen/templates"
)

// opts are the flags of generate and report.
type opts struct {
	headers, templates, family, arch, out, pkg, cc string
	roundtrip, json, strict                        bool

	fs *flag.FlagSet
	// base is the directory relative paths are resolved against: the
	// working directory, or the package directory for a directive.
	base string
}

func parse(name string, args []string, base string) (*opts, error) {
	o := &opts{base: base}
	fs := flag.NewFlagSet("urgen "+name, flag.ContinueOnError)
	o.fs = fs
	fs.StringVar(&o.headers, "headers", "", "kernel UAPI headers directory, laid out like /usr/include (default: urgen's pinned headers, embedded)")
	fs.StringVar(&o.family, "family", "", "header family of urgen's embedded templates: uapi (io_uring), nvme or ublk (default uapi)")
	fs.StringVar(&o.templates, "templates", "", "templates directory: with a family.txt, a header family of its own (see gen/family);\nwithout, its constants.txt and builders.txt replace those of the -family")
	fs.StringVar(&o.arch, "arch", "", "comma-separated GOARCH list (default: all Linux GOARCHes)")
	fs.StringVar(&o.cc, "cc", "", "C compiler that must accept the headers too, as cc/v4 is more lenient\n(default: $CC, else gcc or cc on PATH; none: cc/v4 only)")
	if name == "generate" {
		fs.StringVar(&o.out, "out", "", "output package directory (required)")
		fs.StringVar(&o.pkg, "pkg", "", "import path of the output package (default: -out's import path in its module, from the go command)")
		fs.BoolVar(&o.roundtrip, "roundtrip", false, "also write the round-trip test against gcc into the registry package\n(it imports github.com/urgen/urgen/gen/roundtrip)")
		fs.BoolVar(&o.strict, "strict", false, "fail on warnings (what the headers or templates leave out), writing nothing")
	} else {
		fs.BoolVar(&o.json, "json", false, "print JSON")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected arguments %v", name, fs.Args())
	}
	return o, nil
}

// path resolves a path flag's value against base.
func (o *opts) path(p string) string {
	if p == "" || filepath.IsAbs(p) || o.base == "" {
		return p
	}
	return filepath.Join(o.base, p)
}

func archList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// headerDir returns the headers directory: -headers, or the pinned headers
// copied into a temporary directory that cleanup removes.
func (o *opts) headerDir() (dir string, cleanup func(), err error) {
	if o.headers != "" {
		return o.path(o.headers), func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "urgen-headers-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	if err := os.CopyFS(tmp, pinnedheaders.FS()); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("pinned headers: %v", err)
	}
	return tmp, cleanup, nil
}

// selectFamily resolves -templates and -family: a templates directory with
// its own family.txt, else one of the embedded families.
func (o *opts) selectFamily() (*family.Family, error) {
	if o.templates != "" {
		dir := o.path(o.templates)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("-templates %s: not a directory", o.templates)
		}
		if _, err := os.Stat(filepath.Join(dir, family.File)); err == nil {
			if o.family != "" {
				return nil, fmt.Errorf("-templates %s has its own %s: it takes no -family", o.templates, family.File)
			}
			return family.Load(dir)
		}
	}
	fams, err := family.AllFS(embeddedtemplates.FS(), embeddedtemplates.Root)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range fams {
		if f.Package == o.family || o.family == "" {
			return f, nil
		}
		names = append(names, f.Package)
	}
	return nil, fmt.Errorf("-family %s: urgen has the families %s", o.family, strings.Join(names, ", "))
}

// template reads a file of fam's templates; a -templates directory without
// family.txt replaces the files it has. The name it returns is the one
// messages cite.
func (o *opts) template(fam *family.Family, name string) (string, []byte, error) {
	if o.templates != "" && fam.FS != family.OS {
		p := filepath.Join(o.path(o.templates), name)
		b, err := os.ReadFile(p)
		if err == nil {
			return filepath.Join(o.templates, name), b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	return fam.ReadFile(name)
}

// config reads a family's constants.txt and builders.txt (optional in a
// templates directory of the file system, so that one from before the
// builders still generates).
func (o *opts) config(fam *family.Family, overlay bool) (*emit.Config, error) {
	read := fam.ReadFile
	if overlay {
		read = func(name string) (string, []byte, error) { return o.template(fam, name) }
	}
	name, b, err := read("constants.txt")
	if err != nil {
		return nil, err
	}
	cfg, err := emit.ReadConfig(name, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	name, b, err = read("builders.txt")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Still generates (a templates dir from before the builders), but
		// says so: a misnamed builders.txt disables every builder and the
		// opcode check.
		cfg.Missing = append(cfg.Missing, fmt.Sprintf("%s does not exist: no SQE builders are generated, and no opcode is checked for one", filepath.Join(filepath.Dir(cfg.Path), "builders.txt")))
		return cfg, nil
	case err != nil:
		return nil, err
	}
	if cfg.Builders, err = emit.ReadBuilderSpecs(name, bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// job is a resolved urgen generate: the family, the package's directory,
// and the emitter's options (import path, provenance).
type job struct {
	o    *opts
	fam  *family.Family
	dir  string // absolute package directory
	opt  emit.Options
	arch []string
}

func (o *opts) resolve() (*job, error) {
	if o.out == "" {
		return nil, errors.New("generate: -out DIR is required (the output package directory)")
	}
	fam, err := o.selectFamily()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.path(o.out))
	if err != nil {
		return nil, err
	}
	mod, err := moduleAt(dir)
	if err != nil && o.pkg == "" {
		return nil, fmt.Errorf("generate: %v; pass -pkg IMPORT/PATH", err)
	}
	pkg := o.pkg
	if pkg == "" {
		if pkg, err = mod.importPath(dir); err != nil {
			return nil, fmt.Errorf("generate: %v; pass -pkg IMPORT/PATH", err)
		}
	}
	if err := checkImportPath(pkg); err != nil {
		return nil, err
	}
	j := &job{o: o, fam: fam, dir: dir, arch: archList(o.arch)}
	if len(j.arch) == 0 {
		j.arch = model.ArchNames()
	}
	args, err := o.directiveArgs(dir)
	if err != nil {
		return nil, err
	}
	j.opt = emit.Options{
		PkgPath: pkg,
		PkgName: path.Base(pkg),
		Provenance: emit.Provenance{
			Version:  version(),
			Headers:  o.relTo(dir, o.headers),
			Generate: mod.urgenCommand() + " generate " + args,
		},
		RoundTrip: o.roundtrip,
		Scope:     fam.Scope,
	}
	return j, nil
}

// checkImportPath fails for an import path whose last element is no Go
// package name (the generated package is named after it).
func checkImportPath(pkg string) error {
	for _, e := range strings.Split(pkg, "/") {
		if e == "" || e == "." || e == ".." || strings.ContainsFunc(e, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~+", r))
		}) {
			return fmt.Errorf("generate: %q is not an import path (element %q)", pkg, e)
		}
	}
	if name := path.Base(pkg); !token.IsIdentifier(name) {
		return fmt.Errorf("generate: import path %s would name the package %q, which is not a Go identifier: end the path in one (%s)", pkg, name, path.Join(path.Dir(pkg), strings.NewReplacer("-", "", ".", "", "~", "", "+", "").Replace(name)))
	}
	return nil
}

// directiveArgs are the flags that recreate the package from its own
// directory: -out ., paths relative to it, the other flags as given.
func (o *opts) directiveArgs(dir string) (string, error) {
	args := []string{"-out", "."}
	var err error
	o.fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "out":
			return
		case "headers", "templates":
			v = o.relTo(dir, v)
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if v == "true" {
				args = append(args, "-"+f.Name)
			} else {
				args = append(args, "-"+f.Name+"="+v)
			}
			return
		}
		if strings.Contains(v, "$") {
			err = fmt.Errorf("-%s %s: go generate would expand the $ in it", f.Name, v)
		}
		args = append(args, "-"+f.Name, quoteArg(v))
	})
	return strings.Join(args, " "), err
}

// relTo spells the path flag value p relative to dir when p was given
// relative, so that the directive works wherever the module is checked
// out; absolute paths stay as they are.
func (o *opts) relTo(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.ToSlash(p)
	}
	abs, err := filepath.Abs(o.path(p))
	if err != nil {
		return filepath.ToSlash(p)
	}
	r, err := filepath.Rel(dir, abs)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}

// quoteArg quotes a directive argument as go generate unquotes it.
func quoteArg(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"\\") {
		return strconv.Quote(s)
	}
	return s
}

// render loads the model and renders the package without writing it. It
// prints the warnings (Result.Warnings) to w, or with -strict fails on them.
func (j *job) render(w io.Writer) (*model.Model, *emit.Result, error) {
	dir, cleanup, err := j.o.headerDir()
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	m, r, err := j.o.buildFamily(dir, j.arch, j.fam, j.opt, true)
	if err != nil {
		return nil, nil, err
	}
	if err := typeCheck(j.dir, j.arch, r, r.Base); err != nil {
		return nil, nil, err
	}
	if len(r.Warnings) > 0 && j.o.strict {
		return nil, nil, fmt.Errorf("-strict: %d warnings:\n%s", len(r.Warnings), strings.Join(r.Warnings, "\n"))
	}
	for _, x := range r.Warnings {
		fmt.Fprintln(w, "urgen: warning:", x)
	}
	return m, r, nil
}

// buildFamily generates one family with the emitter options opt; a family
// with a base generates the base first, as the sibling package of
// opt.PkgPath. overlay applies a -templates directory to fam (not to its
// base).
func (o *opts) buildFamily(headers string, archs []string, fam *family.Family, opt emit.Options, overlay bool) (*model.Model, *emit.Result, error) {
	if fam.Base != "" {
		bf, err := family.LoadFS(fam.FS, fam.Base)
		if err != nil {
			return nil, nil, err
		}
		if bf.Base != "" {
			return nil, nil, fmt.Errorf("%s: base family %s has a base itself (%s): one level only", fam.Dir, fam.Base, bf.Base)
		}
		bpkg := path.Join(path.Dir(opt.PkgPath), bf.Package)
		bopt := emit.Options{PkgPath: bpkg, PkgName: bf.Package, Provenance: opt.Provenance}
		_, br, err := o.buildFamily(headers, archs, bf, bopt, false)
		if err != nil {
			return nil, nil, fmt.Errorf("base family %s: %w", fam.Base, err)
		}
		opt.Base = &emit.Base{Result: br, PkgPath: bpkg}
	}
	// The C compiler first: what it rejects never reaches cc/v4, whose
	// parser can loop on malformed input.
	if c := o.compiler(); c != "" {
		if err := model.CheckC(c, headers, checkArch(archs), fam.Scope); err != nil {
			return nil, nil, err
		}
	}
	m, err := model.Load(headers, archs, fam.Scope)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := o.config(fam, overlay)
	if err != nil {
		return nil, nil, err
	}
	opt.Doc, opt.Namer, opt.Scope = fam.Doc, fam.Namer, fam.Scope
	r, err := emit.Generate(m, cfg, opt)
	if err != nil {
		return nil, nil, err
	}
	return m, r, nil
}

func generate(args []string) error { return generateTo(os.Stderr, args) }

// generateTo is generate printing its warnings to w.
func generateTo(w io.Writer, args []string) error {
	o, err := parse("generate", args, "")
	if err != nil {
		return err
	}
	j, err := o.resolve()
	if err != nil {
		return err
	}
	_, r, err := j.render(w)
	if err != nil {
		return err
	}
	return write.Dir(j.dir, r.Files)
}

// compiler is the C compiler of -cc, or "" for none.
func (o *opts) compiler() string {
	switch o.cc {
	case "":
		return model.FindC()
	case "none":
		return ""
	}
	return o.cc
}

// checkArch is the GOARCH whose asm/ headers the C compiler reads: the
// build machine's when it is among archs (the compiler's own target).
func checkArch(archs []string) string {
	for _, a := range archs {
		if a == runtime.GOARCH {
			return a
		}
	}
	if len(archs) == 0 {
		return runtime.GOARCH
	}
	return archs[0]
}
