#!/usr/bin/env bash
# Runs the gcc round trip of every generated package for the foreign
# GOARCHes under qemu-user (urgen roundtrip): the registry's test binary is
# cross-compiled, the C side is compiled by that arch's Debian cross gcc,
# and both run under qemu-<arch>-static. This proves the generated
# accessors on big-endian (s390x, ppc64, mips, mips64) and 32-bit (386,
# arm, mips, mipsle) arches against the real C layout.
#
# usage: scripts/roundtrip-cross.sh [GOARCH...]   (default: every GOARCH with
# a Debian cross compiler; loong64 has none in bookworm)
# Needs: gcc-<triplet>, libc6-dev-<debarch>-cross, qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
	exec go tool urgen roundtrip -arch "$(IFS=,; echo "$*")" ./generated/...
fi
exec go tool urgen roundtrip -cross ./generated/...
