#!/usr/bin/env bash
# fetch-kernels.sh: download the Debian kernels of the test matrix and keep
# only their vmlinuz, in .cache/kernels/<name>/vmlinuz.
#
# The kernel list is internal/matrix/kernels.txt (one kernel a line: name,
# package=version, path of vmlinuz inside the package, then columns this
# script ignores). It uses a
# private apt configuration (its own sources list, lists and cache under a
# temp dir), so the system's apt sources and state are never
# touched, and it never installs a package: each .deb is only downloaded and
# the vmlinuz extracted from it. Kernels already cached are skipped; apt is
# not even asked when every kernel is there.
#
# Usage: scripts/fetch-kernels.sh [TABLE] [DEST]
#   TABLE  kernel table (default: internal/matrix/kernels.txt)
#   DEST   cache dir (default: $MATRIX_CACHE or .cache/kernels)
set -euo pipefail

table="${1:-internal/matrix/kernels.txt}"
dest="${2:-${MATRIX_CACHE:-.cache/kernels}}"
. "$(dirname "$0")/debian-apt.sh"

# The rows still to fetch: name, package=version and vmlinuz path.
todo=()
while read -r name pkgver path _; do
	case "$name" in '' | '#'*) continue ;; esac
	if [ -s "$dest/$name/vmlinuz" ] && [ "$(cat "$dest/$name/PACKAGE" 2>/dev/null)" = "$pkgver" ]; then
		echo "cached $name ($pkgver)"
		continue
	fi
	todo+=("$name $pkgver $path")
done <"$table"
[ ${#todo[@]} -eq 0 ] && exit 0

# The suite that carries a version: backports for ~bpo, sid for the newest,
# trixie for the rest. All three are listed, so apt finds whichever has it.
apt="$(mktemp -d)"
trap 'rm -rf "$apt"' EXIT
debian_apt_init "$apt" trixie-backports trixie sid

for row in "${todo[@]}"; do
	read -r name pkgver path <<<"$row"
	pkg="${pkgver%%=*}"
	debian_apt_download "$apt/debs" "$pkgver"
	deb="$(ls "$apt/debs/${pkg}"_*.deb)"
	x="$apt/x-$name"
	mkdir -p "$x"
	# Extract only the kernel image: dpkg-deb --fsys-tarfile streams the
	# data tar, and tar picks the one member out of it.
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" "./$path"
	mkdir -p "$dest/$name"
	mv "$x/$path" "$dest/$name/vmlinuz"
	echo "$pkgver" >"$dest/$name/PACKAGE"
	rm -rf "$x" "$deb"
	echo "fetched $name ($pkgver, $(du -h "$dest/$name/vmlinuz" | cut -f1))"
done
