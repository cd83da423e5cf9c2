package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// chdir changes the working directory for the rest of the test.
func chdir(t *testing.T, dir string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
}

// TestGenerateRecordsFlags generates with every flag but -pkg from the
// module root: the import path comes from go.mod, the directive recreates
// the package from its own directory with paths relative to it, a
// templates directory with only constants.txt keeps the embedded
// builders, and urgen check notices a changed template.
func TestGenerateRecordsFlags(t *testing.T) {
	mod := tempModule(t)
	hdr := filepath.Join(mod, "third_party", "uapi headers")
	if err := os.CopyFS(hdr, os.DirFS(pinned)); err != nil {
		t.Fatal(err)
	}
	tpl := filepath.Join(mod, "tpl")
	if err := os.MkdirAll(tpl, 0o755); err != nil {
		t.Fatal(err)
	}
	constants := read(t, filepath.Join(templates, "constants.txt"))
	if err := os.WriteFile(filepath.Join(tpl, "constants.txt"), []byte(constants), 0o644); err != nil {
		t.Fatal(err)
	}
	chdir(t, mod)
	if err := generate([]string{"-out", "internal/ring/uapi", "-headers", "third_party/uapi headers", "-templates", "tpl", "-arch", "amd64,arm64"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(mod, "internal", "ring", "uapi")
	doc := read(t, filepath.Join(out, "doc.go"))
	for _, want := range []string{
		"\n//go:generate go run github.com/urgen/urgen/cmd/urgen generate -out . -arch amd64,arm64 -headers \"../../../third_party/uapi headers\" -templates ../../../tpl\n",
		"\npackage uapi\n",
		`Generator = "urgen devel"`,
		`HeaderVersion = "7.3.4-1~bpo13+1"`,
		`HeaderDir = "../../../third_party/uapi headers"`,
		`GOARCHes = "amd64,arm64"`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("doc.go lacks %q:\n%s", want, doc)
		}
	}
	if reg := read(t, filepath.Join(out, "uapitest", "registry.go")); !strings.Contains(reg, `"example.com/hostile/internal/ring/uapi"`) {
		t.Errorf("the registry does not import the package by its module path")
	}
	if _, err := os.Stat(filepath.Join(out, "builders_little.go")); err != nil {
		t.Errorf("no builders from the embedded builders.txt: %v", err)
	}

	// The directive, parsed back, gives the same flags.
	args, err := directive(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-out", ".", "-arch", "amd64,arm64", "-headers", "../../../third_party/uapi headers", "-templates", "../../../tpl"}; !reflect.DeepEqual(args, want) {
		t.Errorf("directive flags %q, want %q", args, want)
	}
	diffs, err := checkDir(out)
	if err != nil || len(diffs) > 0 {
		t.Fatalf("fresh package: check: %v %v", diffs, err)
	}
	// A template change makes the package stale.
	constants = strings.Replace(constants, "set SQEFlags      uint8  flags", "set SQEFlags      uint8  enum", 1)
	if err := os.WriteFile(filepath.Join(tpl, "constants.txt"), []byte(constants), 0o644); err != nil {
		t.Fatal(err)
	}
	diffs, err = checkDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) == 0 || !strings.HasPrefix(diffs[0], "constants.go differs (line ") {
		t.Errorf("check after a template change: %q", diffs)
	}
}

// TestGenerateNeedsOut: no default output directory, and a directory
// outside any module needs -pkg.
func TestGenerateNeedsOut(t *testing.T) {
	if err := generate(nil); err == nil || !strings.Contains(err.Error(), "-out DIR is required") {
		t.Errorf("generate without -out: %v", err)
	}
	dir := t.TempDir()
	err := generate([]string{"-out", filepath.Join(dir, "uapi"), "-arch", "amd64"})
	if err == nil || !strings.Contains(err.Error(), "not inside a Go module; pass -pkg") {
		t.Errorf("generate outside a module: %v", err)
	}
	if err := generate([]string{"-out", filepath.Join(dir, "uapi"), "-arch", "amd64", "-pkg", "example.com/x/uapi"}); err != nil {
		t.Fatal(err)
	}
}

func TestSplitDirective(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"go tool urgen generate -out .", []string{"go", "tool", "urgen", "generate", "-out", "."}},
		{"go run x  \t-headers \"a b\" -pkg \"q\\\"\"", []string{"go", "run", "x", "-headers", "a b", "-pkg", "q\""}},
		{"", nil},
	} {
		got, err := splitDirective(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitDirective(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := splitDirective(`a "b`); err == nil {
		t.Error("unterminated quote accepted")
	}
	for _, s := range []string{"plain", "with space", `quote"`, `back\slash`, ""} {
		got, err := splitDirective(quoteArg(s))
		if err != nil || len(got) != 1 || got[0] != s {
			t.Errorf("quoteArg(%q) splits back to %q, %v", s, got, err)
		}
	}
	if !bytes.Contains([]byte(read(t, "../../generated/uapi/doc.go")), []byte("\n//go:generate go tool urgen generate ")) {
		t.Error("generated/uapi has no go tool urgen directive")
	}
}
