package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/write"
)

func archList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// build loads the model and renders the package without writing it.
func build(o *opts) (*model.Model, *emit.Result, error) {
	m, err := model.Load(o.headers, archList(o.arch), model.DefaultScope)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := emit.LoadConfig(filepath.Join(o.templates, "constants.txt"))
	if err != nil {
		return nil, nil, err
	}
	// builders.txt is optional so that a templates dir from before the
	// builders still generates.
	if b := filepath.Join(o.templates, "builders.txt"); fileExists(b) {
		if cfg.Builders, err = emit.LoadBuilderSpecs(b); err != nil {
			return nil, nil, err
		}
	}
	pkg := o.pkg
	if pkg == "" {
		pkg = "github.com/urgen/urgen/generated/uapi"
	}
	r, err := emit.Generate(m, cfg, emit.Options{PkgPath: pkg, PkgName: filepath.Base(pkg)})
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
	return write.Dir(o.out, r.Files)
}
