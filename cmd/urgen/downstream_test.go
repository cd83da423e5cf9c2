package main

import (
	"archive/zip"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/roundtrip"
)

// TestDownstream is a new user's flow, outside this repository: an empty
// module that requires urgen (replaced by this checkout) and declares it as
// a tool; go tool urgen generate with no -templates, -headers or -pkg;
// go generate; a program that uses the package, built and vetted; the
// round trip against gcc through go test, through urgen roundtrip and, with
// a cross gcc and qemu-user, for s390x; then a stale package that urgen
// check rejects and a wrong constant that the round trip rejects.
func TestDownstream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds urgen and a module from scratch (about a minute)")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("needs gcc for the round trip: %v", err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(t.TempDir(), "consumer")
	if err := os.Mkdir(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	// Only the module proxy and the module cache come from outside.
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	run := func(want bool, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = mod
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		t.Logf("$ %s %s\n%s", name, strings.Join(args, " "), out)
		if (err == nil) != want {
			t.Fatalf("%s %s: %v (want success %v)\n%s", name, strings.Join(args, " "), err, want, out)
		}
		return string(out)
	}
	goCmd := func(args ...string) string { t.Helper(); return run(true, "go", args...) }

	goCmd("mod", "init", "example.com/consumer")
	goCmd("mod", "edit", "-require", "github.com/urgen/urgen@v0.0.0", "-replace", "github.com/urgen/urgen="+repo)
	goCmd("mod", "edit", "-tool", "github.com/urgen/urgen/cmd/urgen")
	goCmd("mod", "tidy")
	goCmd("tool", "urgen", "generate", "-out", "internal/uapi", "-roundtrip")

	pkg := filepath.Join(mod, "internal", "uapi")
	doc := read(t, filepath.Join(pkg, "doc.go"))
	if !strings.Contains(doc, "\n//go:generate go tool urgen generate -out . -roundtrip\n") {
		t.Fatalf("doc.go has no directive for go tool urgen:\n%s", doc)
	}
	first := snapshot(t, pkg)

	// go generate recreates the package byte for byte from the directive.
	if err := os.RemoveAll(pkg); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "doc.go"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	goCmd("generate", "./internal/uapi")
	again := snapshot(t, pkg)
	if len(again) != len(first) {
		t.Errorf("go generate made %d files, generate %d", len(again), len(first))
	}
	for p, b := range first {
		if again[p] != b {
			t.Errorf("go generate made a different %s", p)
		}
	}

	main := `package main

import (
	"fmt"
	"unsafe"

	"example.com/consumer/internal/uapi"
)

func main() {
	var sqe uapi.SQE
	sqe.PrepNop()
	fmt.Println(unsafe.Sizeof(sqe), sqe.Opcode, uapi.SetupSQPoll|uapi.SetupCqsize, uapi.HeaderVersion)
}
`
	if err := os.WriteFile(filepath.Join(mod, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	goCmd("build", "./...")
	goCmd("vet", "./...")
	if out := goCmd("run", "."); strings.TrimSpace(out) != "64 IORING_OP_NOP IORING_SETUP_SQPOLL|IORING_SETUP_CQSIZE 7.3.4-1~bpo13+1" {
		t.Errorf("the program printed %q", out)
	}
	goCmd("tool", "urgen", "check", "./internal/...")

	// The round trip: the emitted test, and urgen roundtrip.
	checks := regexp.MustCompile(`(\d+) round-trip checks against`)
	out := goCmd("test", "-count=1", "-v", "-run", "^TestRoundTrip$", "./internal/uapi/...")
	m := checks.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("go test ran no round trip:\n%s", out)
	}
	want := m[1]
	out = goCmd("tool", "urgen", "roundtrip", "./internal/uapi")
	if !strings.Contains(out, "roundtrip ./internal/uapi amd64: "+want+" checks against ") && !strings.Contains(out, ": "+want+" checks against ") {
		t.Errorf("urgen roundtrip did not make the %s checks of go test:\n%s", want, out)
	}
	tc := roundtrip.Cross["s390x"]
	if _, err := exec.LookPath(tc.CC); err != nil {
		t.Logf("no s390x round trip: needs %s (apt-get install %s)", tc.CC, tc.Packages())
	} else if _, err := exec.LookPath(tc.Qemu); err != nil {
		t.Logf("no s390x round trip: needs %s (apt-get install %s)", tc.Qemu, tc.Packages())
	} else {
		out = goCmd("tool", "urgen", "roundtrip", "-arch", "s390x", "./internal/uapi")
		if !strings.Contains(out, "s390x: "+want+" checks against ") {
			t.Errorf("the s390x round trip did not make %s checks:\n%s", want, out)
		}
	}

	// A stale package: check fails and names the file.
	constants := filepath.Join(pkg, "constants.go")
	src := read(t, constants)
	edited := strings.Replace(src, "\tSetupSQPoll SetupFlags = 0x2\n", "\tSetupSQPoll SetupFlags = 0x200\n", 1)
	if edited == src {
		t.Fatal("constants.go has no SetupSQPoll = 0x2")
	}
	if err := os.WriteFile(constants, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(false, "go", "tool", "urgen", "check", "./internal/uapi")
	if !strings.Contains(out, "internal/uapi: stale: constants.go differs") {
		t.Errorf("urgen check on a stale package:\n%s", out)
	}
	// The same edit is a wrong constant to the round trip.
	out = run(false, "go", "tool", "urgen", "roundtrip", "./internal/uapi")
	if !strings.Contains(out, "constant IORING_SETUP_SQPOLL (Go SetupSQPoll): Go value 512, C value 2") {
		t.Errorf("urgen roundtrip on a wrong constant:\n%s", out)
	}
	// go generate repairs it.
	goCmd("generate", "./...")
	goCmd("tool", "urgen", "check", "./internal/uapi")
}

// TestGoRunAtVersion is urgen used once, without a requirement in go.mod:
// go run github.com/urgen/urgen/cmd/urgen@VERSION, resolved through a
// module proxy (a file:// one serving this checkout as v0.99.0, in front
// of the real one for the dependencies). The package records that version
// and a directive that runs it again at that version, which go generate
// and check then do.
func TestGoRunAtVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds urgen from a module zip (about a minute)")
	}
	const version = "v0.99.0"
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	proxy := moduleProxy(t, repo, version)
	mod := filepath.Join(t.TempDir(), "once")
	if err := os.Mkdir(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	// A module cache of its own, so that this v0.99.0 is never cached for
	// another run; the dependencies come from the real one's downloads
	// when it has them, else from the module proxy.
	cache, err := exec.Command("go", "env", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		t.Fatal(err)
	}
	goenv := strings.Fields(string(cache))
	if len(goenv) != 2 {
		t.Fatalf("go env GOMODCACHE GOPROXY: %q", cache)
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -modcacherw", "GOTOOLCHAIN=local", "CGO_ENABLED=0",
		"GOMODCACHE="+filepath.Join(t.TempDir(), "modcache"),
		"GOPROXY=file://"+proxy+",file://"+filepath.Join(goenv[0], "cache", "download")+","+goenv[1],
		"GONOSUMDB=github.com/urgen/urgen", "GONOPROXY=", "GOPRIVATE=")
	run := func(want bool, args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = mod
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		t.Logf("$ go %s\n%s", strings.Join(args, " "), out)
		if (err == nil) != want {
			t.Fatalf("go %s: %v (want success %v)\n%s", strings.Join(args, " "), err, want, out)
		}
		return string(out)
	}
	tool := "github.com/urgen/urgen/cmd/urgen@" + version
	run(true, "mod", "init", "example.com/once")
	run(true, "run", tool, "generate", "-out", "uapi")
	doc := read(t, filepath.Join(mod, "uapi", "doc.go"))
	for _, want := range []string{
		"\n//go:generate go run " + tool + " generate -out .\n",
		`Generator = "urgen ` + version + `"`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("doc.go lacks %q", want)
		}
	}
	if reqs := read(t, filepath.Join(mod, "go.mod")); strings.Contains(reqs, "urgen") {
		t.Errorf("go run @version changed go.mod:\n%s", reqs)
	}
	run(true, "mod", "tidy") // golang.org/x/sys, for the generated package
	run(true, "build", "./...")
	run(true, "vet", "./...")
	run(true, "generate", "./...")
	run(true, "run", tool, "check", "./uapi")
	if err := os.Remove(filepath.Join(mod, "uapi", "layout.go")); err != nil {
		t.Fatal(err)
	}
	if out := run(false, "run", tool, "check", "./uapi"); !strings.Contains(out, "layout.go is missing") {
		t.Errorf("check after a deleted file:\n%s", out)
	}
}

// moduleProxy lays out a file:// module proxy that serves the module in
// repo (its tracked and unignored files, without nested modules) as
// github.com/urgen/urgen@version.
func moduleProxy(t *testing.T, repo, version string) string {
	t.Helper()
	ls := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard")
	ls.Dir = repo
	out, err := ls.Output()
	if err != nil {
		t.Skipf("needs git to list the module's files: %v", err)
	}
	var nested []string
	files := strings.Fields(string(out))
	for _, f := range files {
		if d, ok := strings.CutSuffix(f, "/go.mod"); ok {
			nested = append(nested, d+"/")
		}
	}
	proxy := t.TempDir()
	dir := filepath.Join(proxy, "github.com", "urgen", "urgen", "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	prefix := "github.com/urgen/urgen@" + version + "/"
files:
	for _, f := range files {
		for _, n := range nested {
			if strings.HasPrefix(f, n) {
				continue files
			}
		}
		b, err := os.ReadFile(filepath.Join(repo, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(prefix + f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"list":            version + "\n",
		version + ".info": `{"Version":"` + version + `","Time":"2026-01-01T00:00:00Z"}`,
		version + ".mod":  read(t, filepath.Join(repo, "go.mod")),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proxy
}
