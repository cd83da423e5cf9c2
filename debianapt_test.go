package urgen_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebianMirror: scripts/debian-apt.sh takes the mirror from
// DEBIAN_MIRROR or from the system's apt source for its own Debian release
// (one-line and deb822 formats), and without either fails with a message
// that says so. The apt sources are fake ones, reached through APT_CONFIG.
func TestDebianMirror(t *testing.T) {
	osRelease, err := os.ReadFile("/etc/os-release")
	if err != nil || !strings.Contains(string(osRelease), "\nID=debian\n") {
		t.Skip("needs a Debian system (/etc/os-release ID=debian)")
	}
	var codename string
	for _, line := range strings.Split(string(osRelease), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
			codename = v
		}
	}
	if codename == "" {
		t.Skip("/etc/os-release has no VERSION_CODENAME")
	}
	const want = "file:/srv/archive/debian"
	for _, c := range []struct {
		name, file, sources, want string
	}{
		{"deb822", "debian.sources", `Types: deb
URIs: file:/srv/disabled/debian
Suites: ` + codename + `
Components: main
Enabled: no

# the security archive first: not this release's suite
Types: deb
URIs: file:/srv/security/debian-security
Suites: ` + codename + `-security
Components: main

Types: deb deb-src
URIs: ` + want + ` file:/srv/second/debian
Suites: ` + codename + ` ` + codename + `-updates
Components: main
`, want},
		{"one-line", "debian.list", `deb file:/srv/vendor/apt cloud-sdk-` + codename + ` main
# deb file:/srv/commented/debian ` + codename + ` main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ` + want + ` ` + codename + ` main
`, want},
		{"none for this release", "other.sources", `Types: deb
URIs: file:/srv/vendor/node
Suites: nodistro
Components: main
`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			etc := t.TempDir()
			parts := filepath.Join(etc, "sources.list.d")
			if err := os.Mkdir(parts, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(parts, c.file), []byte(c.sources), 0o644); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(etc, "apt.conf")
			if err := os.WriteFile(conf, []byte(`Dir::Etc "`+etc+`/"; Dir::Etc::sourcelist "sources.list"; Dir::Etc::sourceparts "sources.list.d";`+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// apt-get is stubbed: the test checks the sources list that
			// init writes, not the network.
			script := `. scripts/debian-apt.sh; apt-get() { :; }; debian_apt_init "$WORK" trixie && cat "$WORK/sources.list"`
			run := func(env ...string) (string, error) {
				cmd := exec.Command("bash", "-c", script)
				cmd.Env = append(os.Environ(), append([]string{"APT_CONFIG=" + conf, "WORK=" + t.TempDir(), "DEBIAN_MIRROR="}, env...)...)
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			out, err := run()
			if c.want == "" {
				if err == nil || !strings.Contains(out, "set DEBIAN_MIRROR") {
					t.Errorf("no mirror: err %v, output %q; want a failure that names DEBIAN_MIRROR", err, out)
				}
			} else if err != nil || !strings.Contains(out, " "+c.want+" trixie main") {
				t.Errorf("err %v, sources list %q; want the mirror %s", err, out, c.want)
			}
			// DEBIAN_MIRROR wins over the system's sources.
			out, err = run("DEBIAN_MIRROR=file:/srv/override/debian")
			if err != nil || !strings.Contains(out, " file:/srv/override/debian trixie main") {
				t.Errorf("DEBIAN_MIRROR: err %v, sources list %q", err, out)
			}
		})
	}
}
