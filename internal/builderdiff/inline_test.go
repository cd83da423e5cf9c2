package builderdiff_test

import (
	"math/rand/v2"
	"os/exec"
	"regexp"
	"testing"

	"github.com/urgen/urgen/generated/uapi"
	"github.com/urgen/urgen/generated/uapi/uapitest"
)

// TestBuildersInlinable asks the compiler (go build -gcflags=-m) whether
// every builder can be inlined: a builder that grows past the inlining
// budget would cost a call per SQE.
func TestBuildersInlinable(t *testing.T) {
	goTool := goCommand(t)
	out, err := exec.Command(goTool, "build", "-gcflags=-m", "../../generated/uapi").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	inl := map[string]bool{}
	for _, m := range regexp.MustCompile(`can inline \(\*SQE\)\.(Prep\w+)`).FindAllSubmatch(out, -1) {
		inl[string(m[1])] = true
	}
	for _, b := range uapitest.Builders {
		if !inl[b.Go] {
			t.Errorf("%s cannot be inlined", b.Go)
		}
	}
	t.Logf("%d of %d builders inlinable", len(inl), len(uapitest.Builders))
}

// TestBuildersNoAlloc: no builder allocates (testing.AllocsPerRun over the
// generated table's calls, with typical arguments).
func TestBuildersNoAlloc(t *testing.T) {
	var sqes [2]uapi.SQE
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range uapitest.Builders {
		b := &uapitest.Builders[i]
		v := vectors(b, rng)[0]
		if n := testing.AllocsPerRun(100, func() { b.Call(&sqes[0], v.a, v.p) }); n != 0 {
			t.Errorf("%s: %v allocations per call", b.Go, n)
		}
	}
}

// goCommand finds the go command: the one running the tests (go test puts
// its GOROOT/bin first in PATH), else the first on PATH.
func goCommand(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command: %v", err)
	}
	return p
}
