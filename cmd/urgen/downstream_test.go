package main

import (
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
