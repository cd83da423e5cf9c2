package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
)

const (
	modulePath = "github.com/urgen/urgen"
	toolPath   = modulePath + "/cmd/urgen"
)

// module is the Go module that holds an output directory, as the go
// command sees it.
type module struct {
	Path     string // module path
	Dir      string // directory of its go.mod
	Tools    []string
	Requires []string
}

// moduleAt asks the go command which module dir (or, when dir does not
// exist yet, its nearest existing parent) belongs to.
func moduleAt(dir string) (*module, error) {
	d := dir
	for {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	out, err := goCmd(d, "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return nil, fmt.Errorf("%s is not inside a Go module", dir)
	}
	out, err = goCmd(d, "mod", "edit", "-json", gomod)
	if err != nil {
		return nil, err
	}
	var mf struct {
		Module  struct{ Path string }
		Require []struct{ Path string }
		Tool    []struct{ Path string }
	}
	if err := json.Unmarshal(out, &mf); err != nil {
		return nil, fmt.Errorf("go mod edit -json %s: %v", gomod, err)
	}
	m := &module{Path: mf.Module.Path, Dir: filepath.Dir(gomod)}
	for _, t := range mf.Tool {
		m.Tools = append(m.Tools, t.Path)
	}
	for _, r := range mf.Require {
		m.Requires = append(m.Requires, r.Path)
	}
	return m, nil
}

// importPath is the import path of the package in dir.
func (m *module) importPath(dir string) (string, error) {
	rel, err := filepath.Rel(m.Dir, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside module %s (%s)", dir, m.Path, m.Dir)
	}
	if rel == "." {
		return m.Path, nil
	}
	return m.Path + "/" + filepath.ToSlash(rel), nil
}

// urgenCommand is how go generate runs urgen in this module: as its tool,
// through its requirement on urgen, or at this urgen's version.
func (m *module) urgenCommand() string {
	switch {
	case m != nil && slices.Contains(m.Tools, toolPath):
		return "go tool urgen"
	case m != nil && (m.Path == modulePath || slices.Contains(m.Requires, modulePath)):
		return "go run " + toolPath
	case version() != "devel":
		return "go run " + toolPath + "@" + version()
	}
	return "go run " + toolPath
}

// goCmd runs the go command in dir.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command(goBin(), args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, stderr.Bytes())
	}
	return out, nil
}

// goBin is the go command: the one on PATH, else the toolchain's own
// (go run, go tool and go generate put GOROOT in the environment).
func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// version is urgen's module version as the build recorded it, or "devel"
// for a build of a working tree (a checkout, a replace directive, or
// uncommitted changes), whose generated files must not change with every
// commit.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != modulePath {
		return "devel"
	}
	v := bi.Main.Version
	if r := bi.Main.Replace; r != nil {
		v = r.Version
	}
	if v == "" || v == "(devel)" || strings.HasSuffix(v, "+dirty") {
		return "devel"
	}
	return v
}
