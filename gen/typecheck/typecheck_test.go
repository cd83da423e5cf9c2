package typecheck_test

import (
	"strings"
	"testing"

	"github.com/urgen/urgen/gen/typecheck"
)

// TestCheck: an error in a file that builds for one GOARCH only is found
// on that GOARCH, with its position and the C origin from the
// declaration's doc comment; the registry subpackage sees the package's
// types; imports without export data are empty packages whose names
// are not reported.
func TestCheck(t *testing.T) {
	pkgs := []typecheck.Package{
		{Path: "example.com/uapi", Files: map[string][]byte{
			"types.go":     []byte("package uapi\n\nimport \"golang.org/x/sys/unix\"\n\n// T is struct t (linux/t.h:3).\ntype T struct{ A uint32 }\n\nvar _ unix.Iovec\n"),
			"types_386.go": []byte("//go:build 386\n\npackage uapi\n\n// U is struct u (linux/u.h:7).\ntype U struct{ B [1 << 40]byte }\n"),
		}},
		{Path: "example.com/uapi/uapitest", Files: map[string][]byte{
			"registry.go": []byte("package uapitest\n\nimport \"example.com/uapi\"\n\nvar _ = uapi.T{A: 1}\n"),
		}},
	}
	if err := typecheck.Check(pkgs, typecheck.Config{Archs: []string{"amd64", "arm64"}}); err != nil {
		t.Fatalf("amd64, arm64: %v", err)
	}
	err := typecheck.Check(pkgs, typecheck.Config{Archs: []string{"amd64", "386"}})
	if err == nil {
		t.Fatal("a 2^40-byte array on 386: no error")
	}
	for _, want := range []string{"uapi/types_386.go:6:", "(GOARCH=386)", "in U from linux/u.h:7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
