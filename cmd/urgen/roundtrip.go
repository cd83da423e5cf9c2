package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/urgen/urgen/gen/emit"
	"github.com/urgen/urgen/gen/roundtrip"
)

// roundtripCmd proves generated packages against gcc: it compiles the
// round-trip test (gen/roundtrip, as urgen generate -roundtrip emits it)
// into each package's registry, for each GOARCH asked for, and runs it:
// natively for the host's GOARCH, under qemu-user with the arch's cross
// gcc for the others.
func roundtripCmd(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("urgen roundtrip", flag.ContinueOnError)
	arch := fs.String("arch", "", "comma-separated GOARCH list (default: the host's, "+runtime.GOARCH+")")
	cross := fs.Bool("cross", false, "every GOARCH the package was generated for that Debian has a cross compiler for (all but loong64); needs gcc-<triplet>, libc6-dev-<arch>-cross and qemu-user-static")
	verbose := fs.Bool("v", false, "print the tests' output")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: urgen roundtrip [-arch LIST | -cross] [-v] DIR...\n\nChecks generated packages against gcc on the headers they were generated from:\nsizes, alignments, offsets, union members through their accessors, constants,\nand a byte round trip both ways. DIR may end in /... (every generated package below).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cross && *arch != "" {
		return fmt.Errorf("roundtrip: -arch and -cross exclude each other")
	}
	dirs, err := packageDirs(fs.Args())
	if err != nil {
		return fmt.Errorf("roundtrip: %v", err)
	}
	var failed []string
	for _, dir := range dirs {
		o, err := fromDirective(dir)
		if err != nil {
			return fmt.Errorf("roundtrip: %v", err)
		}
		j, err := o.resolve()
		if err != nil {
			return fmt.Errorf("roundtrip %s: %v", dir, err)
		}
		archs := []string{runtime.GOARCH}
		switch {
		case *cross:
			archs = nil
			for _, a := range j.arch {
				if _, ok := roundtrip.Cross[a]; ok || a == runtime.GOARCH {
					archs = append(archs, a)
				} else {
					fmt.Fprintf(w, "roundtrip %s %s: not run: Debian has no cross compiler for it\n", dir, a)
				}
			}
		case *arch != "":
			archs = archList(*arch)
		}
		for _, a := range archs {
			if !slices.Contains(j.arch, a) {
				return fmt.Errorf("roundtrip %s: generated for %s, not for %s", dir, strings.Join(j.arch, ","), a)
			}
		}
		bad, err := roundtripDir(w, dir, j, archs, *verbose)
		if err != nil {
			return fmt.Errorf("roundtrip %s: %v", dir, err)
		}
		failed = append(failed, bad...)
	}
	if len(failed) > 0 {
		return fmt.Errorf("roundtrip: failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

var checksRE = regexp.MustCompile(`(\d+) round-trip checks against (\S+) on (\S+)`)

// roundtripDir runs the round trip of one package for archs; it returns
// the "DIR ARCH" of each failed run.
func roundtripDir(w io.Writer, dir string, j *job, archs []string, verbose bool) ([]string, error) {
	tmp, err := os.MkdirTemp("", "urgen-roundtrip-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// The test is compiled into the registry package through an overlay,
	// whether or not the package was generated with -roundtrip, and nothing
	// in the package directory changes.
	reg := filepath.Join(j.dir, emit.RegistryDir(j.opt.PkgName))
	j.opt.RoundTrip = true
	_, r, err := j.render(os.Stderr)
	if err != nil {
		return nil, err
	}
	name := emit.RoundTripFile(j.opt.PkgName)
	src, err := format.Source(r.Files[name])
	if err != nil {
		return nil, fmt.Errorf("generated %s does not parse: %v", name, err)
	}
	test := filepath.Join(tmp, "roundtrip_test.go")
	if err := os.WriteFile(test, src, 0o644); err != nil {
		return nil, err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(j.dir, emit.RoundTripFile(j.opt.PkgName)): test}})
	if err != nil {
		return nil, err
	}
	ov := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		return nil, err
	}
	var failed []string
	for _, a := range archs {
		out, err := roundtripArch(reg, tmp, ov, a)
		m := checksRE.FindSubmatch(out)
		switch {
		case err == nil && m != nil:
			via := ""
			if a != runtime.GOARCH {
				via = " (qemu-user)"
			}
			fmt.Fprintf(w, "roundtrip %s %s: %s checks against %s%s\n", dir, a, m[1], m[2], via)
			if verbose {
				w.Write(out)
			}
		default:
			if err == nil {
				err = fmt.Errorf("the test ran no round trip")
			}
			fmt.Fprintf(w, "roundtrip %s %s: FAILED: %v\n%s", dir, a, err, out)
			failed = append(failed, dir+" "+a)
		}
	}
	return failed, nil
}

// roundtripArch builds the registry's test binary for GOARCH a and runs
// TestRoundTrip: natively on the host's GOARCH, else under qemu-user with
// the arch's cross gcc.
func roundtripArch(reg, tmp, overlay, a string) ([]byte, error) {
	bin := filepath.Join(tmp, "roundtrip."+a+".test")
	build := exec.Command(goBin(), "test", "-c", "-o", bin, "-overlay", overlay, ".")
	build.Dir = reg
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+a, "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return out, fmt.Errorf("go test -c for GOARCH=%s: %v", a, err)
	}
	run := []string{bin}
	env := os.Environ()
	if a != runtime.GOARCH {
		tc, ok := roundtrip.Cross[a]
		if !ok {
			return nil, fmt.Errorf("no cross toolchain is known for %s", a)
		}
		for _, tool := range []string{tc.CC, tc.Qemu} {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, fmt.Errorf("needs %s (apt-get install %s)", tool, tc.Packages())
			}
		}
		if !(tc.NativeGo && runtime.GOARCH == "amd64") {
			run = []string{tc.Qemu, bin}
		}
		env = append(env, roundtrip.EnvCC+"="+tc.CC, roundtrip.EnvExec+"="+tc.Qemu+" -L "+tc.Sysroot)
	}
	cmd := exec.Command(run[0], append(run[1:], "-test.run", "^TestRoundTrip$", "-test.v", "-test.count=1")...)
	cmd.Dir = reg
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil && strings.Contains(string(out), "--- SKIP") {
		err = fmt.Errorf("skipped")
	}
	return out, err
}
