#!/usr/bin/env bash
# deps.sh: make sure the Debian packages that the tests need are installed.
#
# usage: scripts/deps.sh PKG...
#
# The list lives in the Makefile (DEBIAN_PACKAGES; `make deps` passes it).
# Missing packages are installed with apt-get when this runs as root on a
# system that has apt-get; otherwise the script prints the exact command to
# run and fails, so nothing later fails halfway for want of a tool.
set -euo pipefail

missing=()
if command -v dpkg-query >/dev/null; then
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
	done
else
	missing=("$@")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	"${install[@]}" -qq
	exit 0
fi
echo "deps: these Debian packages are missing: ${missing[*]}" >&2
echo "deps: install them (as root) with:" >&2
echo "    apt-get update && ${install[*]}" >&2
exit 1
