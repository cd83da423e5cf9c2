// Package kernelversion reads the running kernel's version from uname(2),
// for the few kernel faults that no probe can find without triggering
// them.
package kernelversion

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Version is a kernel's major and minor version.
type Version struct{ Major, Minor int }

// String returns the version as "major.minor".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// Current returns the running kernel's version.
func Current() (Version, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Version{}, fmt.Errorf("kernelversion: uname: %w", err)
	}
	return Parse(unix.ByteSliceToString(u.Release[:]))
}

// Parse reads the major and minor version at the start of a kernel
// release string such as "6.1.0-57-amd64" or "7.3.4+deb13-amd64".
func Parse(release string) (Version, error) {
	major, rest, ok := strings.Cut(release, ".")
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(rest[:end])
	if !ok || err1 != nil || err2 != nil {
		return Version{}, fmt.Errorf("kernelversion: release %q does not start with major.minor", release)
	}
	return Version{ma, mi}, nil
}
