package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/family"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/write"
)

func archList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// build loads the model of the -templates family and renders its package
// without writing it.
func build(o *opts) (*model.Model, *emit.Result, error) {
	fam, err := family.Load(o.templates)
	if err != nil {
		return nil, nil, err
	}
	pkg := o.pkg
	if pkg == "" {
		pkg = "github.com/urgen/urgen/generated/" + fam.Package
	}
	return buildFamily(o.headers, archList(o.arch), fam, pkg)
}

// buildFamily generates one family as package pkg; a family with a base
// generates the base first, as pkg's sibling package.
func buildFamily(headers string, archs []string, fam *family.Family, pkg string) (*model.Model, *emit.Result, error) {
	var base *emit.Base
	if fam.Base != "" {
		bf, err := family.Load(fam.Base)
		if err != nil {
			return nil, nil, err
		}
		if bf.Base != "" {
			return nil, nil, fmt.Errorf("%s: base family %s has a base itself (%s): one level only", fam.Dir, fam.Base, bf.Base)
		}
		bpkg := path.Join(path.Dir(pkg), bf.Package)
		_, br, err := buildFamily(headers, archs, bf, bpkg)
		if err != nil {
			return nil, nil, fmt.Errorf("base family %s: %w", fam.Base, err)
		}
		base = &emit.Base{Result: br, PkgPath: bpkg}
	}
	m, err := model.Load(headers, archs, fam.Scope)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := emit.LoadConfig(filepath.Join(fam.Dir, "constants.txt"))
	if err != nil {
		return nil, nil, err
	}
	// builders.txt is optional so that a templates dir from before the
	// builders still generates.
	if b := filepath.Join(fam.Dir, "builders.txt"); fileExists(b) {
		if cfg.Builders, err = emit.LoadBuilderSpecs(b); err != nil {
			return nil, nil, err
		}
	}
	r, err := emit.Generate(m, cfg, emit.Options{PkgPath: pkg, PkgName: path.Base(pkg), Doc: fam.Doc, Namer: fam.Namer, Base: base})
	if err != nil {
		return nil, nil, err
	}
	return m, r, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func generate(args []string) error {
	o, rest, err := parse("generate", args, true)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("generate: unexpected arguments %v", rest)
	}
	_, r, err := build(o)
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		out = filepath.Join("generated", path.Base(r.PkgPath))
	}
	return write.Dir(out, r.Files)
}
