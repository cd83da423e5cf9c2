#!/usr/bin/env bash
# Runs roundtrip_test.go for foreign GOARCHes under qemu-user: the Go test
# binary is cross-compiled, the C side is compiled by that arch's Debian
# cross gcc, and both run under qemu-<arch>-static. This proves the
# generated accessors on big-endian (s390x, ppc64, mips, mips64) and 32-bit
# (386, arm, mips, mipsle) arches against the real C layout.
#
# usage: scripts/roundtrip-cross.sh [GOARCH...]   (default: all 12 with a
# Debian cross compiler; loong64 has none in bookworm)
# Needs: gcc-<triplet>, libc6-dev-<debarch>-cross, qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A triplet=(
	[386]=i686-linux-gnu [arm]=arm-linux-gnueabihf [arm64]=aarch64-linux-gnu
	[mips]=mips-linux-gnu [mipsle]=mipsel-linux-gnu [mips64]=mips64-linux-gnuabi64
	[mips64le]=mips64el-linux-gnuabi64 [ppc64]=powerpc64-linux-gnu [ppc64le]=powerpc64le-linux-gnu
	[riscv64]=riscv64-linux-gnu [s390x]=s390x-linux-gnu [amd64]=x86_64-linux-gnu
)
declare -A qemu=(
	[386]=i386 [arm]=arm [arm64]=aarch64 [mips]=mips [mipsle]=mipsel [mips64]=mips64
	[mips64le]=mips64el [ppc64]=ppc64 [ppc64le]=ppc64le [riscv64]=riscv64 [s390x]=s390x [amd64]=x86_64
)
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(386 arm arm64 mips mipsle mips64 mips64le ppc64 ppc64le riscv64 s390x)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for a in "${archs[@]}"; do
	t=${triplet[$a]:?unknown GOARCH $a}
	q=qemu-${qemu[$a]}-static
	for tool in "$t-gcc" "$q"; do
		command -v "$tool" >/dev/null || { echo "roundtrip-cross: $a needs $tool"; exit 1; }
	done
	GOARCH=$a CGO_ENABLED=0 go test -c -o "$tmp/rt.$a" .
	# x86 kernels run 386 Go binaries natively (Go's 386 runtime under
	# qemu-i386 dies with "bad g in signal handler"); the C side still
	# goes through qemu for its foreign dynamic loader.
	gorun=("$q")
	case $a in 386 | amd64) gorun=() ;; esac
	if URGEN_CC="$t-gcc" URGEN_EXEC="$q -L /usr/$t" "${gorun[@]}" "$tmp/rt.$a" -test.run '^TestRoundTrip$' -test.v >"$tmp/$a.log" 2>&1; then
		echo "roundtrip $a: $(grep -o '[0-9]* round-trip checks.*' "$tmp/$a.log" | paste -sd ';' | sed 's/;/; /g')"
	else
		echo "roundtrip $a: FAILED"
		cat "$tmp/$a.log"
		fail=1
	fi
done
exit $fail
