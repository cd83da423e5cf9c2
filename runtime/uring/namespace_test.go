package uring

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/urgen/urgen/generated/uapi"
)

// A namespace case: a fixture, then one operation, run through os in one
// copy of the fixture and through an Engine in another. The results must
// be the same: the error (type, Op, paths, errno) and the tree afterwards.
type nsCase struct {
	name    string
	setup   []string // fixture entries, see makeTree
	nonRoot bool     // needs permission checks: not run as root
	os      func(d string) error
	uring   func(e *Engine, d string) error
}

// makeTree creates the entries under d: "dir/" a directory, "name=text" a
// file, "name->target" a symlink, "name@mode" a chmod (octal, after the
// rest, undone at cleanup).
func makeTree(t *testing.T, d string, entries []string) {
	t.Helper()
	var chmods []string
	for _, ent := range entries {
		var err error
		switch {
		case strings.HasSuffix(ent, "/"):
			err = os.MkdirAll(filepath.Join(d, ent), 0o755)
		case strings.Contains(ent, "->"):
			name, target, _ := strings.Cut(ent, "->")
			err = os.Symlink(strings.ReplaceAll(target, "$D", d), filepath.Join(d, name))
		case strings.Contains(ent, "="):
			name, text, _ := strings.Cut(ent, "=")
			err = os.WriteFile(filepath.Join(d, name), []byte(text), 0o644)
		case strings.Contains(ent, "@"):
			chmods = append(chmods, ent)
		default:
			t.Fatalf("bad fixture entry %q", ent)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ent := range chmods {
		name, mode, _ := strings.Cut(ent, "@")
		var m uint32
		fmt.Sscanf(mode, "%o", &m)
		p := filepath.Join(d, name)
		if err := os.Chmod(p, fs.FileMode(m)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(p, 0o755) })
	}
}

// snapshot describes the tree under d: each entry's path, mode, and its
// contents or symlink target.
func snapshot(t *testing.T, d string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", p[len(d):], errors.Unwrap(err)))
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", p[len(d):], fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + strings.ReplaceAll(target, d, "$D")
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q nlink=%d", b, fi.Sys().(*syscall.Stat_t).Nlink)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// describe is err as the comparison sees it: its type, its text with the
// fixture's directory replaced, and its errno.
func describe(err error, d string) string {
	if err == nil {
		return "<nil>"
	}
	var errno syscall.Errno
	errors.As(err, &errno)
	return fmt.Sprintf("%T %q errno=%d", err, strings.ReplaceAll(err.Error(), d, "$D"), errno)
}

func nsCases() []nsCase {
	j := filepath.Join
	mkdir := func(name string, perm fs.FileMode) (func(string) error, func(*Engine, string) error) {
		return func(d string) error { return os.Mkdir(j(d, name), perm) },
			func(e *Engine, d string) error { return e.Mkdir(j(d, name), perm) }
	}
	mkdirAll := func(name string) (func(string) error, func(*Engine, string) error) {
		return func(d string) error { return os.MkdirAll(j(d, name), 0o750) },
			func(e *Engine, d string) error { return e.MkdirAll(j(d, name), 0o750) }
	}
	remove := func(name string) (func(string) error, func(*Engine, string) error) {
		return func(d string) error { return os.Remove(j(d, name)) },
			func(e *Engine, d string) error { return e.Remove(j(d, name)) }
	}
	removeAll := func(name string) (func(string) error, func(*Engine, string) error) {
		return func(d string) error { return os.RemoveAll(d + "/" + name) },
			func(e *Engine, d string) error { return e.RemoveAll(d + "/" + name) }
	}
	two := func(osf func(string, string) error, ef func(*Engine, string, string) error, a, b string) (func(string) error, func(*Engine, string) error) {
		return func(d string) error { return osf(j(d, a), j(d, b)) },
			func(e *Engine, d string) error { return ef(e, j(d, a), j(d, b)) }
	}
	rename := func(a, b string) (func(string) error, func(*Engine, string) error) {
		return two(os.Rename, (*Engine).Rename, a, b)
	}
	symlink := func(target, name string) (func(string) error, func(*Engine, string) error) {
		return func(d string) error { return os.Symlink(target, j(d, name)) },
			func(e *Engine, d string) error { return e.Symlink(target, j(d, name)) }
	}
	link := func(a, b string) (func(string) error, func(*Engine, string) error) {
		return two(os.Link, (*Engine).Link, a, b)
	}
	var cases []nsCase
	add := func(name string, setup []string, f func(string) error, g func(*Engine, string) error) {
		cases = append(cases, nsCase{name: name, setup: setup, os: f, uring: g})
	}
	addNonRoot := func(name string, setup []string, f func(string) error, g func(*Engine, string) error) {
		add(name, setup, f, g)
		cases[len(cases)-1].nonRoot = true
	}
	loop := []string{"loop->loop"}
	// A deep tree, with symlinks out of it to files and directories
	// that must survive RemoveAll.
	deep := []string{"out/", "out/keep=outside", "out/sub/", "out/sub/k=k"}
	p := "w"
	for i := range 12 {
		p += fmt.Sprintf("/d%d", i)
		deep = append(deep, p+"/", p+"/f=x", p+"/tofile->$D/out/keep", p+"/todir->$D/out", p+"/rel->../../../out", p+"/dangling->nowhere")
	}
	var big []string
	big = append(big, "big/")
	for i := range 1500 {
		big = append(big, fmt.Sprintf("big/f%04d=", i))
	}

	f, g := mkdir("new", 0o750)
	add("mkdir/new", nil, f, g)
	f, g = mkdir("sticky", 0o755|fs.ModeSticky)
	add("mkdir/sticky", nil, f, g)
	f, g = mkdir("dir", 0o755)
	add("mkdir/existing_dir", []string{"dir/"}, f, g)
	f, g = mkdir("file", 0o755)
	add("mkdir/existing_file", []string{"file=x"}, f, g)
	f, g = mkdir("no/new", 0o755)
	add("mkdir/missing_parent", nil, f, g)
	f, g = mkdir("file/new", 0o755)
	add("mkdir/parent_is_file", []string{"file=x"}, f, g)
	f, g = mkdir("loop/new", 0o755)
	add("mkdir/symlink_loop", loop, f, g)
	f, g = mkdir("dangling", 0o755)
	add("mkdir/dangling_symlink", []string{"dangling->nowhere"}, f, g)
	f, g = mkdir("nul\x00name", 0o755)
	add("mkdir/nul", nil, f, g)
	f, g = mkdir("ro/new", 0o755)
	addNonRoot("mkdir/permission_denied", []string{"ro/", "ro@555"}, f, g)

	f, g = mkdirAll("a/b/c/d")
	add("mkdirall/deep", nil, f, g)
	f, g = mkdirAll("dir")
	add("mkdirall/existing_dir", []string{"dir/"}, f, g)
	f, g = mkdirAll("dir/")
	add("mkdirall/trailing_slash", []string{"dir/"}, f, g)
	f, g = mkdirAll("a/b/.")
	add("mkdirall/trailing_dot", nil, f, g)
	f, g = mkdirAll("file")
	add("mkdirall/target_is_file", []string{"file=x"}, f, g)
	f, g = mkdirAll("file/a/b")
	add("mkdirall/file_in_the_way", []string{"file=x"}, f, g)
	f, g = mkdirAll("todir/a/b")
	add("mkdirall/through_symlink", []string{"dir/", "todir->dir"}, f, g)
	f, g = mkdirAll("dangling")
	add("mkdirall/dangling_symlink", []string{"dangling->nowhere"}, f, g)
	f, g = mkdirAll("loop/a")
	add("mkdirall/symlink_loop", loop, f, g)
	f, g = mkdirAll("ro/a/b")
	addNonRoot("mkdirall/permission_denied", []string{"ro/", "ro@555"}, f, g)

	f, g = remove("file")
	add("remove/file", []string{"file=x"}, f, g)
	f, g = remove("dir")
	add("remove/empty_dir", []string{"dir/"}, f, g)
	f, g = remove("dir")
	add("remove/not_empty", []string{"dir/", "dir/f=x"}, f, g)
	f, g = remove("missing")
	add("remove/missing", nil, f, g)
	f, g = remove("no/missing")
	add("remove/missing_parent", nil, f, g)
	f, g = remove("file/x")
	add("remove/parent_is_file", []string{"file=x"}, f, g)
	f, g = remove("todir")
	add("remove/symlink_to_dir", []string{"dir/", "dir/f=x", "todir->dir"}, f, g)
	f, g = remove("loop")
	add("remove/symlink_loop", loop, f, g)
	f, g = remove("loop/x")
	add("remove/through_symlink_loop", loop, f, g)
	f, g = remove("dir/.")
	add("remove/dot", []string{"dir/"}, f, g)
	f, g = remove("ro/file")
	addNonRoot("remove/permission_denied", []string{"ro/", "ro/file=x", "ro@555"}, f, g)

	f, g = removeAll("w")
	add("removeall/deep_with_symlinks_outside", deep, f, g)
	f, g = removeAll("w/d0/d1/todir")
	add("removeall/symlink_to_dir", deep, f, g)
	f, g = removeAll("big")
	add("removeall/1500_entries", big, f, g)
	f, g = removeAll("missing")
	add("removeall/missing", nil, f, g)
	f, g = removeAll("no/missing")
	add("removeall/missing_parent", nil, f, g)
	f, g = removeAll("file")
	add("removeall/file", []string{"file=x"}, f, g)
	f, g = removeAll("file/x")
	add("removeall/parent_is_file", []string{"file=x"}, f, g)
	f, g = removeAll("dir/.")
	add("removeall/dot", []string{"dir/", "dir/f=x"}, f, g)
	f, g = removeAll("loop")
	add("removeall/symlink_loop", loop, f, g)
	f, g = removeAll("dir")
	addNonRoot("removeall/permission_denied", []string{"dir/", "dir/sub/", "dir/sub/f=x", "dir/g=y", "dir/sub@555"}, f, g)
	f, g = removeAll("dir")
	addNonRoot("removeall/permission_denied_symlink", []string{"out/", "out/k=k", "dir/", "dir/sub/", "dir/sub/link->$D/out", "dir/sub@555"}, f, g)

	f, g = rename("a", "b")
	add("rename/file", []string{"a=A"}, f, g)
	f, g = rename("a", "b")
	add("rename/file_over_file", []string{"a=A", "b=B"}, f, g)
	f, g = rename("a", "dir/b")
	add("rename/file_into_dir", []string{"a=A", "dir/"}, f, g)
	f, g = rename("a", "dir")
	add("rename/file_over_dir", []string{"a=A", "dir/"}, f, g)
	f, g = rename("src", "dst")
	add("rename/dir", []string{"src/", "src/f=x"}, f, g)
	f, g = rename("src", "dst")
	add("rename/dir_over_empty_dir", []string{"src/", "src/f=x", "dst/"}, f, g)
	f, g = rename("src", "dst")
	add("rename/dir_over_dir", []string{"src/", "dst/", "dst/f=x"}, f, g)
	f, g = rename("src", "file")
	add("rename/dir_over_file", []string{"src/", "file=x"}, f, g)
	f, g = rename("src", "src/sub")
	add("rename/dir_into_itself", []string{"src/"}, f, g)
	f, g = rename("missing", "b")
	add("rename/missing_old", nil, f, g)
	f, g = rename("missing", "dir")
	add("rename/missing_old_over_dir", []string{"dir/"}, f, g)
	f, g = rename("a", "no/b")
	add("rename/missing_new_parent", []string{"a=A"}, f, g)
	f, g = rename("a", "a")
	add("rename/same_file", []string{"a=A"}, f, g)
	f, g = rename("dir", "dir")
	add("rename/same_dir", []string{"dir/"}, f, g)
	f, g = rename("link", "moved")
	add("rename/symlink", []string{"dir/", "link->dir"}, f, g)
	f, g = rename("a", "todir")
	add("rename/over_symlink_to_dir", []string{"a=A", "dir/", "todir->dir"}, f, g)
	f, g = rename("a", "loop/b")
	add("rename/symlink_loop", append([]string{"a=A"}, loop...), f, g)
	f, g = rename("ro/a", "b")
	addNonRoot("rename/permission_denied", []string{"ro/", "ro/a=A", "ro@555"}, f, g)

	f, g = symlink("target", "link")
	add("symlink/new", nil, f, g)
	f, g = symlink("target", "file")
	add("symlink/existing", []string{"file=x"}, f, g)
	f, g = symlink("target", "no/link")
	add("symlink/missing_parent", nil, f, g)
	f, g = symlink("me", "me")
	add("symlink/loop", nil, f, g)
	f, g = symlink("", "empty")
	add("symlink/empty_target", nil, f, g)
	f, g = symlink("target", "ro/link")
	addNonRoot("symlink/permission_denied", []string{"ro/", "ro@555"}, f, g)

	f, g = link("a", "b")
	add("link/file", []string{"a=A"}, f, g)
	f, g = link("a", "b")
	add("link/existing", []string{"a=A", "b=B"}, f, g)
	f, g = link("dir", "b")
	add("link/dir", []string{"dir/"}, f, g)
	f, g = link("missing", "b")
	add("link/missing", nil, f, g)
	f, g = link("sym", "b")
	add("link/symlink_not_followed", []string{"a=A", "sym->a"}, f, g)
	f, g = link("a", "no/b")
	add("link/missing_new_parent", []string{"a=A"}, f, g)
	f, g = link("a", "ro/b")
	addNonRoot("link/permission_denied", []string{"a=A", "ro/", "ro@555"}, f, g)
	return cases
}

// namespaceOps are the opcodes the namespace operations use.
var namespaceOps = []struct {
	op   uapi.Op
	name string
}{
	{uapi.OpMkdirat, "IORING_OP_MKDIRAT"},
	{uapi.OpUnlinkat, "IORING_OP_UNLINKAT"},
	{uapi.OpRenameat, "IORING_OP_RENAMEAT"},
	{uapi.OpSymlinkat, "IORING_OP_SYMLINKAT"},
	{uapi.OpLinkat, "IORING_OP_LINKAT"},
}

// Each namespace operation against os's, on the default Engine and on one
// that sends every request through the ring.
func TestNamespaceMatchesOS(t *testing.T) {
	runNamespaceCases(t, func(c nsCase) bool { return !c.nonRoot })
}

// unprivileged names the environment variable that marks the copy of the
// test binary that TestNamespacePermissionDenied starts as nobody.
const unprivileged = "URGEN_TEST_UNPRIVILEGED"

// The cases that permission checks must stop, against os's. Root passes
// those checks, so as root the test runs them in a copy of the test
// binary started as nobody (uid and gid 65534).
func TestNamespacePermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		runNamespaceCases(t, func(c nsCase) bool { return c.nonRoot })
		return
	}
	if os.Getenv(unprivileged) != "" {
		t.Fatal("the unprivileged copy of the test runs as root")
	}
	// A directory nobody can use, with a copy of the binary it can run
	// (go test's own directory is root's alone).
	tmp, err := os.MkdirTemp("", "urgen-unprivileged")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(tmp, "uring.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestNamespacePermissionDenied$", "-test.v", "-test.count=1")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), unprivileged+"=1", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Skipf("cannot start a process as nobody here: %v", err)
	}
	if err != nil {
		t.Fatalf("the unprivileged copy failed: %v", err)
	}
	if i := strings.Index(string(out), "--- SKIP"); i >= 0 {
		t.Skipf("the unprivileged copy skipped: %s", strings.SplitN(string(out[i:]), "\n", 3)[1])
	}
	var want int
	for _, c := range nsCases() {
		if c.nonRoot {
			want += 2 // default Engine and RingOnly
		}
	}
	if got := strings.Count(string(out), "both: "); got != want {
		t.Fatalf("the unprivileged copy compared %d cases with os, want %d", got, want)
	}
}

// runNamespaceCases runs the cases that pick selects.
func runNamespaceCases(t *testing.T, pick func(nsCase) bool) {
	for _, o := range []Options{{}, {RingOnly: true}} {
		e := newEngine(t, o)
		if o.RingOnly {
			for _, op := range namespaceOps {
				if !e.has(op.op) {
					t.Skipf("kernel lacks %s: the ring path cannot be tested here", op.name)
				}
			}
		}
		for _, c := range nsCases() {
			if !pick(c) {
				continue
			}
			t.Run(fmt.Sprintf("ringonly=%v/%s", o.RingOnly, c.name), func(t *testing.T) {
				base := t.TempDir()
				do, du := filepath.Join(base, "os"), filepath.Join(base, "uring")
				for _, d := range []string{do, du} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
					makeTree(t, d, c.setup)
				}
				oerr := describe(c.os(do), do)
				uerr := describe(c.uring(e, du), du)
				if oerr != uerr {
					t.Errorf("error differs from os:\n  os:    %s\n  uring: %s", oerr, uerr)
				}
				if so, su := snapshot(t, do), snapshot(t, du); !slices.Equal(so, su) {
					t.Errorf("tree differs from os's:\n  os:    %q\n  uring: %q", so, su)
				}
				if slices.Contains(c.setup, "out/keep=outside") {
					// Symlinks pointed here from the removed tree.
					if b, err := os.ReadFile(filepath.Join(du, "out/sub/k")); err != nil || string(b) != "k" {
						t.Errorf("outside the tree: out/sub/k reads %q, %v", b, err)
					}
					if b, err := os.ReadFile(filepath.Join(du, "out/keep")); err != nil || string(b) != "outside" {
						t.Errorf("outside the tree: out/keep reads %q, %v", b, err)
					}
				}
				t.Logf("both: %s", oerr)
			})
		}
	}
}

// Relative paths resolve against the working directory, as os's do; the
// package-level functions use the default Engine.
func TestNamespaceRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	steps := []struct {
		name string
		do   func() error
	}{
		{"MkdirAll", func() error { return MkdirAll("a/b/c", 0o755) }},
		{"Mkdir", func() error { return Mkdir("a/x", 0o755) }},
		{"WriteFile", func() error { return os.WriteFile("a/f", []byte("F"), 0o644) }},
		{"Link", func() error { return Link("a/f", "a/g") }},
		{"Symlink", func() error { return Symlink("../f", "a/b/s") }},
		{"Rename", func() error { return Rename("a/x", "a/y") }},
		{"Remove", func() error { return Remove("a/g") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if got, err := os.ReadFile("a/b/s"); err != nil || string(got) != "F" {
		t.Fatalf("a/b/s reads %q, %v; want the symlink to a/f", got, err)
	}
	for name, want := range map[string]bool{"a/x": false, "a/y": true, "a/g": false, "a/b/c": true} {
		if _, err := os.Lstat(name); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", name, err == nil, want)
		}
	}
	err := Rename("a/y", "a/b")
	var le *os.LinkError
	if !errors.As(err, &le) || le.Op != "rename" || le.Old != "a/y" || le.New != "a/b" || !errors.Is(err, fs.ErrExist) {
		t.Errorf("Rename over a directory: %v, want os's *os.LinkError with EEXIST", err)
	}
	if err := RemoveAll("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat("a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveAll: %v", err)
	}
}

// A context that has ended fails each operation with its error, wrapped
// as os wraps errors, and changes nothing; a closed Engine fails them with
// ErrClosed.
func TestNamespaceContextAndClosed(t *testing.T) {
	d := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := newEngine(t, Options{RingOnly: true})
	makeTree(t, d, []string{"f=x", "dir/", "dir/g=y"})
	before := snapshot(t, d)
	j := func(n string) string { return filepath.Join(d, n) }
	calls := map[string]func(*Engine, context.Context) error{
		"Mkdir":     func(e *Engine, ctx context.Context) error { return e.MkdirContext(ctx, j("new"), 0o755) },
		"MkdirAll":  func(e *Engine, ctx context.Context) error { return e.MkdirAllContext(ctx, j("a/b"), 0o755) },
		"Remove":    func(e *Engine, ctx context.Context) error { return e.RemoveContext(ctx, j("f")) },
		"RemoveAll": func(e *Engine, ctx context.Context) error { return e.RemoveAllContext(ctx, j("dir")) },
		"Rename":    func(e *Engine, ctx context.Context) error { return e.RenameContext(ctx, j("f"), j("h")) },
		"Symlink":   func(e *Engine, ctx context.Context) error { return e.SymlinkContext(ctx, "f", j("s")) },
		"Link":      func(e *Engine, ctx context.Context) error { return e.LinkContext(ctx, j("f"), j("l")) },
	}
	for name, call := range calls {
		err := call(e, ctx)
		var pe *fs.PathError
		var le *os.LinkError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &pe) && !errors.As(err, &le) {
			t.Errorf("%s with an ended context: %v (%T), want context.Canceled in a *fs.PathError or *os.LinkError", name, err, err)
		}
	}
	closed, err := NewEngine(Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	for name, call := range calls {
		if err := call(closed, context.Background()); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s on a closed Engine: %v, want os.ErrClosed", name, err)
		}
	}
	if after := snapshot(t, d); !slices.Equal(before, after) {
		t.Errorf("the tree changed:\n  before: %q\n  after:  %q", before, after)
	}
}

// 64 goroutines create, rename, link and remove in one directory at once,
// also renaming over each other's files; the directory ends as planned.
func TestNamespaceConcurrent(t *testing.T) {
	for _, o := range []Options{{}, {RingOnly: true}} {
		t.Run(fmt.Sprintf("ringonly=%v", o.RingOnly), func(t *testing.T) {
			e := newEngine(t, o)
			d := t.TempDir()
			const goroutines, rounds = 64, 20
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Go(func() {
					for r := range rounds {
						n := func(s string) string { return filepath.Join(d, fmt.Sprintf("%s-%d-%d", s, g, r)) }
						steps := []func() error{
							func() error { return e.MkdirAll(n("dir")+"/sub", 0o755) },
							func() error { return e.Symlink("sub", n("dir")+"/link") },
							func() error { return os.WriteFile(n("file"), []byte("x"), 0o644) },
							func() error { return e.Link(n("file"), n("dir")+"/hard") },
							func() error { return e.Rename(n("file"), filepath.Join(d, "shared")) },
							func() error { return e.Mkdir(n("empty"), 0o755) },
							func() error { return e.Rename(n("empty"), n("moved")) },
							func() error { return e.Remove(n("moved")) },
							func() error {
								if err := e.Remove(n("dir")); !errors.Is(err, syscall.ENOTEMPTY) {
									return fmt.Errorf("Remove of a full directory: %v, want ENOTEMPTY", err)
								}
								return nil
							},
							func() error { return e.RemoveAll(n("dir")) },
						}
						for i, step := range steps {
							if err := step(); err != nil {
								errs <- fmt.Errorf("goroutine %d round %d step %d: %w", g, r, i, err)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			names, err := os.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != 1 || names[0].Name() != "shared" {
				t.Errorf("left in the directory: %v, want only shared", names)
			}
		})
	}
}
