package family

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadTemplates(t *testing.T) {
	fams, err := All("../../templates")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.Package)
	}
	if !slices.Equal(names, []string{"uapi", "nvme", "ublk"}) {
		t.Fatalf("families %v, want uapi nvme ublk", names)
	}
	uapi, nvme, ublk := fams[0], fams[1], fams[2]
	if uapi.Base != "" || len(uapi.Scope.Extra) != 4 || uapi.Scope.Extra[1] != "linux/futex.h:struct futex_waitv" {
		t.Errorf("uapi family: base %q, extra %q", uapi.Base, uapi.Scope.Extra)
	}
	if filepath.Clean(nvme.Base) != filepath.Clean("../../templates") || !slices.Equal(nvme.Scope.Include, []string{"linux/ioctl.h"}) {
		t.Errorf("nvme family: base %q, include %q", nvme.Base, nvme.Scope.Include)
	}
	for c, want := range map[string]string{"ublksrv_io_desc": "IODesc", "UBLK_F_USER_COPY": "FUserCopy", "ublk_params": "Params", "UBLK_U_IO_FETCH_REQ": "UIOFetchReq"} {
		if got := ublk.Namer.Go(c); got != want {
			t.Errorf("ublk namer: %s -> %s, want %s", c, got, want)
		}
	}
	if got := nvme.Namer.Go("nvme_uring_cmd"); got != "UringCmd" {
		t.Errorf("nvme namer: nvme_uring_cmd -> %s", got)
	}
	if !strings.Contains(ublk.Doc, "ublk_drv") {
		t.Errorf("ublk doc %q", ublk.Doc)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"package x\nheaders a.h\nbogus 1\n", "family.txt:3: unknown directive bogus"},
		{"headers a.h\n", "no package line"},
		{"package x\n", "no headers line"},
		{"package x\nheaders a.h\nnamespace Ublk\n", "family.txt:3: namespace words are lower case"},
		{"package x\nheaders a.h\nextra nofile\n", `family.txt:3: extra "nofile": want FILE:DECL`},
		{"package x\npackage y\nheaders a.h\n", "family.txt:2: want one line: package NAME"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, File), []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
	// No family.txt: the io_uring family.
	f, err := Load(t.TempDir())
	if err != nil || f.Package != "uapi" || f.Scope.Files[0] != "linux/io_uring.h" {
		t.Errorf("Load without family.txt: %+v, %v", f, err)
	}
}
