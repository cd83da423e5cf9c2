#!/usr/bin/env bash
# fetch-liburing.sh: download liburing 2.15 (the builders' oracle) and the
# kernel headers it needs into a git-ignored cache, without installing them.
#
# liburing.h includes kernel UAPI headers newer than a Debian bookworm host
# has (linux/blkdev.h, ...), so sid's linux-libc-dev is unpacked beside it;
# its include dir goes first on the compiler's search path.
#
# Like sync-headers.sh it uses a private apt configuration (own sources list,
# lists and cache), so the system's apt state is never touched.
#
# Usage: scripts/fetch-liburing.sh [DEST]   (default .cache/liburing)
# Result: DEST/usr/include/{liburing.h,liburing/,linux/...},
#         DEST/usr/lib/x86_64-linux-gnu/liburing.a, DEST/VERSION.
set -euo pipefail

dest="${1:-.cache/liburing}"
liburing="${LIBURING_VERSION:-2.15-1}"
libcdev="${LIBURING_LIBC_DEV:-7.2.13-1}"
if [ -f "$dest/VERSION" ] && grep -qx "liburing-dev=$liburing linux-libc-dev=$libcdev" "$dest/VERSION"; then
	exit 0
fi
. "$(dirname "$0")/debian-apt.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
debian_apt_init "$work" sid
debian_apt_download "$work" "liburing-dev=$liburing" "liburing2=$liburing" "linux-libc-dev=$libcdev"
mkdir -p "$work/root"
for deb in "$work"/*.deb; do
	dpkg-deb -x "$deb" "$work/root"
	sha256sum "$deb" | sed "s|$work/||" >>"$work/root/SHA256SUMS"
done
echo "liburing-dev=$liburing linux-libc-dev=$libcdev" >"$work/root/VERSION"
rm -rf "$dest.new"
mkdir -p "$(dirname "$dest")"
cp -r "$work/root" "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "fetched liburing-dev=$liburing and linux-libc-dev=$libcdev into $dest"
