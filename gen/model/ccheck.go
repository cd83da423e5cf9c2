package model

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CheckC has a C compiler read the headers of scope under dir, as the
// GOARCH arch's asm/ headers, and returns the first error it reports
// as an *Error with the header's position. cc/v4 accepts some C that a
// C compiler rejects (a member without a type, say); where a compiler is
// at hand this closes that gap, so that urgen never generates from a
// header the kernel's own users could not compile. compiler is a command
// such as "gcc"; it only checks (-fsyntax-only), for the build machine's
// own target, which is enough for syntax and declarations: layouts of
// every GOARCH are the model's and the round trip's business.
func CheckC(compiler, dir, arch string, scope Scope) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	a, err := LookupArch(arch)
	if err != nil {
		return err
	}
	files, err := scope.files(dir)
	if err != nil {
		return err
	}
	// After each header an empty declaration: a header that leaves a
	// declaration open makes the compiler fail on it, which says which.
	var src strings.Builder
	for _, f := range files {
		fmt.Fprintf(&src, "#include <%s>\n;\n", f)
	}
	args := []string{"-fsyntax-only", "-std=gnu11", "-w", "-nostdinc", "-I", dir, "-I", filepath.Join(dir, a.Triplet), "-x", "c", "-"}
	// Byte columns (GCC 11+ counts a tab as up to 8 by default), else
	// what the compiler gives.
	out, err := runC(compiler, append([]string{"-fdiagnostics-column-unit=byte", "-fmax-errors=1"}, args...), src.String())
	if err != nil && strings.Contains(out, "-fdiagnostics-column-unit") {
		out, err = runC(compiler, args, src.String())
	}
	if err == nil {
		return nil
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return &Error{Msg: fmt.Sprintf("checking the headers with %s: %v", compiler, err)}
	}
	return compilerError(compiler, dir, files, out)
}

// runC runs the compiler on src with a deadline and returns its output.
func runC(compiler string, args []string, src string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, compiler, args...)
	cmd.Stdin = strings.NewReader(src)
	cmd.Env = append(os.Environ(), "LC_ALL=C") // plain quotes in messages
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within a minute")
	}
	return out.String(), err
}

// ccDiag matches a compiler's "file:line[:col]: error: message".
var ccDiag = regexp.MustCompile(`(?m)^(.+?):(\d+):(?:(\d+):)? (?:fatal )?error: (.*)$`)

// compilerError turns the compiler's first error into an *Error placed in
// the header, relative to dir. An error in the list of includes (line 2i+1
// is files[i]'s include, 2i+2 the declaration after it) is one the header
// before it left unfinished: it is placed at that header's last line.
func compilerError(compiler, dir string, files []string, out string) error {
	m := ccDiag.FindStringSubmatch(out)
	if m == nil {
		return &Error{Msg: fmt.Sprintf("%s rejects the headers: %s", compiler, strings.TrimSpace(out))}
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	msg := fmt.Sprintf("%s rejects this: %s", filepath.Base(compiler), m[4])
	if m[1] == "<stdin>" && line >= 1 && len(files) > 0 {
		// The compiler says only where the input ends; the prescan of
		// the headers up to there finds the body or bracket left open.
		// A line past the list is its end (the last header's empty
		// declaration did not close what that header left open).
		read := files[:min((line-1)/2, len(files)-1)+1]
		scan := func(f string) *scanned {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
			if err != nil {
				return nil
			}
			return prescan(f, b)
		}
		e := leftOpen(read, scan)
		if e == nil {
			f := read[len(read)-1]
			e = &Error{Pos: endOf(dir, f), Msg: "the header ends inside a declaration"}
			if sc := scan(f); sc != nil && sc.last != nil {
				e = &Error{Pos: Pos{File: f, Line: sc.last.line, Col: sc.last.col}, Msg: fmt.Sprintf("the header ends inside a declaration: %q is its last token", sc.last.text)}
			}
		}
		e.Msg = fmt.Sprintf("%s rejects this: %s (%s)%s", filepath.Base(compiler), e.Msg, m[4], excerpt(dir, e.Pos))
		return e
	}
	if col == 0 {
		col = 1
	}
	rel, err := filepath.Rel(dir, m[1])
	if err != nil || strings.HasPrefix(rel, "..") || !filepath.IsAbs(m[1]) {
		return &Error{Msg: fmt.Sprintf("%s:%s:%s: %s", m[1], m[2], m[3], msg)}
	}
	p := Pos{File: filepath.ToSlash(rel), Line: line, Col: col}
	return &Error{Pos: p, Msg: msg + excerpt(dir, p)}
}

// FindC returns the C compiler CheckC should use: $CC when set, else gcc
// or cc on PATH, else "" (then only cc/v4 checks the headers).
func FindC() string {
	if c := os.Getenv("CC"); c != "" {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	for _, c := range []string{"gcc", "cc"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// endOf is the position of the last non-blank line of the header f.
func endOf(dir, f string) Pos {
	b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			return Pos{File: f, Line: i + 1, Col: 1}
		}
	}
	return Pos{File: f, Line: 1, Col: 1}
}
