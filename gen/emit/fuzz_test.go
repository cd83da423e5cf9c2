package emit_test

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/model"
	"github.com/urgen/urgen/gen/typecheck"
)

var fuzzModel = sync.OnceValues(func() (*model.Model, error) {
	return model.Load(headers, []string{"amd64"}, model.DefaultScope)
})

// templateError matches a template error that says where.
var templateError = regexp.MustCompile(`(^|\n)(builders|constants)\.txt:\d+: `)

// FuzzTemplates parses fuzzed builders.txt and constants.txt texts and,
// when both parse, generates the package from the pinned headers with
// them. Properties: nothing panics; a parse error names its file and line;
// a generated package parses and type-checks (for amd64; the package
// imports are checked as empty packages) or generation fails saying why.
func FuzzTemplates(f *testing.F) {
	b, err := os.ReadFile(builderSpecs)
	if err != nil {
		f.Fatal(err)
	}
	c, err := os.ReadFile(constants)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, c)
	f.Add([]byte("prep nop NOP 5.1\n\tfd = -1\n\tc nop()\n"), []byte("enum io_uring_op Op uint8\n"))
	f.Add([]byte("prep read READ 5.6\n\targ fd int32\n\targ buf []byte keep\n\tfd = fd\n\taddr = ptr(buf)\n\tlen = len(buf)\n"), []byte("set SQEFlags uint8 flags IOSQE_\nmember io_uring_sqe.flags SQEFlags\n"))
	f.Add([]byte("prep x NOP 1.0\n\targ func int32\n"), []byte("omit X y\n"))
	f.Add([]byte("raw NOP \"r\"\nprep y READV 5.1\n\targ v []unix.Iovec keep\n\taddr = ptr(v)\n\tlen = len(v)\n\tc readv(v, len(v))\n"), []byte("set A uint16 enum IORING_OP_ as A\n"))
	f.Fuzz(func(t *testing.T, builders, consts []byte) {
		specs, err := emit.ReadBuilderSpecs("builders.txt", bytes.NewReader(builders))
		if err != nil {
			if !templateError.MatchString(err.Error()) {
				t.Fatalf("builders.txt error without a position: %v", err)
			}
			return
		}
		cfg, err := emit.ReadConfig("constants.txt", bytes.NewReader(consts))
		if err != nil {
			if !templateError.MatchString(err.Error()) {
				t.Fatalf("constants.txt error without a position: %v", err)
			}
			return
		}
		cfg.Builders = specs
		m, err := fuzzModel()
		if err != nil {
			t.Fatal(err)
		}
		r, err := emit.Generate(m, cfg, emit.Options{PkgPath: "example.com/uapi", PkgName: "uapi"})
		if err != nil {
			if strings.Contains(err.Error(), "PANIC") {
				t.Fatalf("the error quotes a panic: %v", err)
			}
			return
		}
		pkgs := map[string]map[string][]byte{}
		for name, src := range r.Files {
			if strings.Contains(string(src), "%!") {
				t.Fatalf("%s holds a formatting error", name)
			}
			if _, err := parser.ParseFile(token.NewFileSet(), name, src, 0); err != nil {
				t.Fatalf("generated %s does not parse: %v", name, err)
			}
			dir, file := filepath.Split(name)
			p := strings.TrimSuffix("example.com/uapi/"+dir, "/")
			if pkgs[p] == nil {
				pkgs[p] = map[string][]byte{}
			}
			pkgs[p][file] = src
		}
		list := []typecheck.Package{{Path: "example.com/uapi", Files: pkgs["example.com/uapi"]}}
		for p, files := range pkgs {
			if p != "example.com/uapi" {
				list = append(list, typecheck.Package{Path: p, Files: files})
			}
		}
		if err := typecheck.Check(list, typecheck.Config{Archs: []string{"amd64"}}); err != nil {
			t.Fatalf("generation succeeded, but %v", err)
		}
	})
}
