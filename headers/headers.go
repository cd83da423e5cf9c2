// Package headers holds the pinned kernel UAPI headers (see VERSION) that
// urgen generates from when no -headers directory is given, embedded so
// that the command works from any module.
//
// The directory has the layout of /usr/include: linux/, asm-generic/ and
// each Debian architecture's <triplet>/asm. scripts/sync-headers.sh keeps it.
package headers

import (
	"embed"
	"io/fs"
)

//go:embed VERSION linux asm-generic *-linux-*
var files embed.FS

// FS returns the pinned headers, rooted like the headers directory.
func FS() fs.FS { return files }
