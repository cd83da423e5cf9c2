package urgen_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippetImports are the packages README snippets may use, by name.
var snippetImports = map[string]string{
	"errors": "errors", "fmt": "fmt", "os": "os", "time": "time",
	"unix":  "golang.org/x/sys/unix",
	"uapi":  "github.com/urgen/urgen/generated/uapi",
	"ring":  "github.com/urgen/urgen/runtime/ring",
	"sock":  "github.com/urgen/urgen/runtime/sock",
	"uring": "github.com/urgen/urgen/runtime/uring",
	"http":  "net/http", "io": "io", "context": "context",
}

// TestREADMESnippets compiles (go build) every ```go block of README.md as
// the body of a function func(f *os.File) error, so that a snippet that no
// longer matches the API fails the build. The files exist only in a go
// build overlay: nothing is written into the tree.
func TestREADMESnippets(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go snippet")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := map[string]map[string]string{"Replace": {}}
	for i, b := range blocks {
		body := string(b[1])
		var imports []string
		for name, path := range snippetImports {
			if regexp.MustCompile(`\b` + name + `\.`).MatchString(body) {
				imports = append(imports, fmt.Sprintf("%q", path))
			}
		}
		src := fmt.Sprintf("package readme\n\nimport (\n%s\n)\n\nfunc snippet%d(f *os.File) error {\n%s\nreturn nil\n}\n",
			strings.Join(imports, "\n"), i, body)
		if !strings.Contains(src, `"os"`) {
			src = strings.Replace(src, "import (\n", "import (\n\"os\"\n", 1)
		}
		file := filepath.Join(tmp, fmt.Sprintf("snippet%d.go", i))
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		overlay["Replace"][filepath.Join(root, "internal", "readmesnippets", filepath.Base(file))] = file
	}
	js, err := json.Marshal(overlay)
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ov, js, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "build", "-overlay="+ov, "./internal/readmesnippets").CombinedOutput()
	if err != nil {
		t.Fatalf("a README snippet does not compile:\n%s", out)
	}
}
