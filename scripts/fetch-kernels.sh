#!/usr/bin/env bash
# fetch-kernels.sh: download the Debian kernels of the test matrix and keep
# only their vmlinuz, in .cache/kernels/<name>/vmlinuz, and the kernel
# modules the matrix loads (internal/matrix/modules.txt, with their
# dependencies) in .cache/kernels/<name>/modules/, load order in
# modules/order.
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
# The modules come from the kernel's linux-modules-<version> package (the
# 7.x kernels, whose image is in linux-binary-<version>) or from the image
# package itself (linux-image-<version>, 6.12 and older). Only the needed
# .ko.xz files are extracted, as shipped; the dependencies come from each
# module's modinfo (depends=), read with xz and tr, so no kmod is needed.
#
# Usage: scripts/fetch-kernels.sh [TABLE] [DEST]
#   TABLE  kernel table (default: internal/matrix/kernels.txt)
#   DEST   cache dir (default: $MATRIX_CACHE or .cache/kernels)
set -euo pipefail

table="${1:-internal/matrix/kernels.txt}"
dest="${2:-${MATRIX_CACHE:-.cache/kernels}}"
modlist="$(dirname "$table")/modules.txt"
. "$(dirname "$0")/debian-apt.sh"

# The module names of modules.txt (first column).
wanted_modules() {
	[ -f "$modlist" ] || return 0
	awk '!/^[[:space:]]*(#|$)/ {print $1}' "$modlist"
}

# extract_modules DEB DIR: extract the wanted modules and their
# dependencies from DEB into DIR/modules, and write DIR/modules/order (one
# file name a line, dependencies first). A wanted module the kernel lacks
# is left out (the matrix then detects the missing device).
extract_modules() {
	local deb="$1" dir="$2" x="$apt/mods" names=() order=() name f dep
	rm -rf "$x" "$dir/modules.new"
	mkdir -p "$x" "$dir/modules.new"
	# One pass over the package (decompressing it is most of the cost):
	# every module comes out, the wanted ones and their dependencies are
	# kept below.
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" --wildcards '*.ko*'
	(cd "$x" && find . -name '*.ko' -o -name '*.ko.xz') | sed 's#^\./#./#' >"$x/list"
	mapfile -t names < <(wanted_modules)
	# path_of NAME: the archive path of module NAME (- and _ are the same).
	path_of() { grep -m1 "/$(echo "$1" | sed 's/[-_]/[-_]/g')\.ko\(\.xz\)\?$" "$x/list" || true; }
	# visit NAME: extract NAME's dependencies, then NAME, once each.
	visit() {
		local n="$1" p deps d
		case " ${order[*]:-} " in *" $n "*) return ;; esac
		p="$(path_of "$n")"
		if [ -z "$p" ]; then
			echo "  $n: not in $(basename "$deb")"
			return
		fi
		deps="$(modinfo_depends "$x/$p")"
		for d in ${deps//,/ }; do visit "$d"; done
		cp "$x/$p" "$dir/modules.new/"
		order+=("$n")
		echo "$(basename "$p")" >>"$dir/modules.new/order"
	}
	for name in "${names[@]}"; do visit "$name"; done
	touch "$dir/modules.new/order"
	rm -rf "$dir/modules"
	mv "$dir/modules.new" "$dir/modules"
	echo "  modules: $(tr '\n' ' ' <"$dir/modules/order")"
}

# modinfo_depends KO: the depends= of a module's .modinfo section.
modinfo_depends() {
	local cat=cat
	case "$1" in *.xz) cat="xz -dc" ;; esac
	$cat "$1" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1
}

# modules_package PKG=VER: the package=version carrying the modules.
modules_package() {
	local pkg="${1%%=*}" ver="${1#*=}"
	case "$pkg" in
	linux-binary-*) echo "linux-modules-${pkg#linux-binary-}=$ver" ;;
	*) echo "$1" ;;
	esac
}
# The module names (not their parameters, which only /init reads) decide
# whether a cached kernel's modules are current.
modsum="$(wanted_modules | sha256sum | cut -c1-16)"

# The rows still to fetch: name, package=version and vmlinuz path.
todo=()
while read -r name pkgver path _; do
	case "$name" in '' | '#'*) continue ;; esac
	if [ -s "$dest/$name/vmlinuz" ] && [ "$(cat "$dest/$name/PACKAGE" 2>/dev/null)" = "$pkgver" ] &&
		[ "$(cat "$dest/$name/modules/SOURCE" 2>/dev/null)" = "$(modules_package "$pkgver") $modsum" ]; then
		echo "cached $name ($pkgver)"
		continue
	fi
	todo+=("$name $pkgver $path")
done <"$table"
[ ${#todo[@]} -eq 0 ] && exit 0

# The suite that carries a version: backports for ~bpo, sid for the newest,
# trixie for the rest, bookworm-security for Debian 12's 6.1 (the kernel
# its users run: security updates are not on the main mirror). All are
# listed, so apt finds whichever has it.
apt="$(mktemp -d)"
trap 'rm -rf "$apt"' EXIT
debian_apt_init "$apt" trixie-backports trixie sid bookworm-security

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
	echo "fetched $name ($pkgver, $(du -h "$dest/$name/vmlinuz" | cut -f1))"
	modpkg="$(modules_package "$pkgver")"
	moddeb="$deb"
	if [ "$modpkg" != "$pkgver" ] && [ -z "$(debian_apt_suite "${modpkg%%=*}" "${modpkg#*=}")" ]; then
		# The archive keeps only the newest backports' module packages
		# (7.0 and 7.1 have none any more): the kernel boots without
		# modules, and the self-test finds no devices.
		echo "  modules: none ($modpkg is not in the archive)"
		rm -rf "$dest/$name/modules"
		mkdir -p "$dest/$name/modules"
		touch "$dest/$name/modules/order"
		moddeb=""
	elif [ "$modpkg" != "$pkgver" ]; then
		debian_apt_download "$apt/debs" "$modpkg"
		moddeb="$(ls "$apt/debs/${modpkg%%=*}"_*.deb)"
	fi
	[ -z "$moddeb" ] || extract_modules "$moddeb" "$dest/$name"
	echo "$modpkg $modsum" >"$dest/$name/modules/SOURCE"
	rm -rf "$x" "$deb" ${moddeb:+"$moddeb"}
done
