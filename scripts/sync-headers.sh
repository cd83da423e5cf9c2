#!/usr/bin/env bash
# sync-headers.sh: re-sync headers/ from a Debian linux-libc-dev package.
#
# It uses a private apt configuration (its own sources list, lists and cache
# under a temp dir), so the system's apt sources and state are never touched,
# and it never installs the package: the .deb is only downloaded and unpacked.
#
# Usage: scripts/sync-headers.sh [VERSION] [DEST]
#   VERSION  linux-libc-dev version (default: $LINUX_LIBC_DEV or 7.3.4-1~bpo13+1)
#   DEST     output dir (default: headers)
set -euo pipefail

version="${1:-${LINUX_LIBC_DEV:-7.3.4-1~bpo13+1}}"
dest="${2:-headers}"
pkg=linux-libc-dev
. "$(dirname "$0")/debian-apt.sh"

# The suite that carries a version: backports for ~bpo, sid for the newest,
# trixie for the rest. All three are listed, so apt finds whichever has it.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
debian_apt_init "$work" trixie-backports trixie sid
debian_apt_download "$work" "$pkg=$version"
deb="$(ls "$work"/${pkg}_*.deb)"
suite="$(debian_apt_suite "$pkg" "$version")"
sha="$(sha256sum "$deb" | cut -d' ' -f1)"
dpkg-deb -x "$deb" "$work/root"
inc="$work/root/usr/include"

# Copy the headers of every family (templates/*/family.txt: io_uring, the
# NVMe passthrough and ublk uring_cmd payloads) and their include closure
# for every Debian triplet, into a fresh tree that replaces dest only once
# it is complete.
stage="$work/stage"
mkdir -p "$stage/linux/io_uring" "$stage/asm-generic"
cp "$inc/linux/io_uring.h" "$stage/linux/"
for f in "$inc"/linux/io_uring/*.h; do cp "$f" "$stage/linux/io_uring/"; done
for f in nvme_ioctl.h ublk_cmd.h; do
	[ -f "$inc/linux/$f" ] && cp "$inc/linux/$f" "$stage/linux/"
done
for f in errno.h fs.h fscrypt.h futex.h ioctl.h limits.h mount.h posix_types.h stddef.h time_types.h types.h; do
	[ -f "$inc/linux/$f" ] && cp "$inc/linux/$f" "$stage/linux/"
done
for f in bitsperlong.h errno.h errno-base.h int-ll64.h int-l64.h ioctl.h posix_types.h types.h; do
	[ -f "$inc/asm-generic/$f" ] && cp "$inc/asm-generic/$f" "$stage/asm-generic/"
done
# One Debian triplet per Linux GOARCH that Go supports.
triplets="x86_64-linux-gnu i386-linux-gnu arm-linux-gnueabihf aarch64-linux-gnu
loongarch64-linux-gnu mips-linux-gnu mipsel-linux-gnu mips64-linux-gnuabi64
mips64el-linux-gnuabi64 powerpc64-linux-gnu powerpc64le-linux-gnu
riscv64-linux-gnu s390x-linux-gnu"
for t in $triplets; do
	d="$inc/$t/asm"
	[ -d "$d" ] || continue
	mkdir -p "$stage/$t/asm"
	for f in bitsperlong.h errno.h ioctl.h posix_types.h posix_types_32.h posix_types_64.h types.h sgidefs.h; do
		[ -f "$d/$f" ] && cp "$d/$f" "$stage/$t/asm/"
	done
done
# Old single-arch packages keep asm/ at the top level.
if [ -d "$inc/asm" ]; then
	mkdir -p "$stage/x86_64-linux-gnu/asm"
	for f in bitsperlong.h ioctl.h posix_types.h posix_types_32.h posix_types_64.h types.h; do
		[ -f "$inc/asm/$f" ] && cp "$inc/asm/$f" "$stage/x86_64-linux-gnu/asm/"
	done
fi
cat >"$stage/VERSION" <<V
package: $pkg
version: $version
suite: $suite
sha256: $sha
V
# headers.go embeds the directory into the urgen command; it stays.
if [ -d "$dest" ]; then
	for f in "$dest"/*.go; do [ -f "$f" ] && cp "$f" "$stage/"; done
fi
rm -rf "$dest.new"
cp -r "$stage" "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "synced $pkg=$version from $suite (sha256 $sha) into $dest"
