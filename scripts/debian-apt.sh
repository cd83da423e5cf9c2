# debian-apt.sh: a private apt configuration for downloading Debian packages
# without touching the system: its own sources list, lists and cache under a
# work dir, no dpkg status, no locking, nothing installed. Sourced by
# sync-headers.sh, fetch-liburing.sh and fetch-kernels.sh.
#
#   debian_apt_init WORK SUITE...    write WORK/sources.list for the suites
#                                    (on the system's mirror, or $DEBIAN_MIRROR)
#                                    and run apt-get update; sets
#                                    debian_mirror and debian_apt_opts
#   debian_apt_download DIR PKG=VER...   download the .debs into DIR

debian_apt_init() {
	local work="$1" suite
	shift
	debian_mirror="${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}"
	debian_mirror="${debian_mirror:-http://deb.debian.org/debian}"
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
	for suite in "$@"; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $debian_mirror $suite main"
	done >"$work/sources.list"
	debian_apt_opts=(
		-o "Dir::Etc::sourcelist=$work/sources.list"
		-o "Dir::Etc::sourceparts=/dev/null"
		-o "Dir::State::Lists=$work/lists"
		-o "Dir::Cache=$work/cache"
		-o "Dir::State::status=/dev/null"
		-o "Debug::NoLocking=1"
		-o "APT::Architecture=amd64"
		-o "Acquire::Languages=none"
		-o "APT::Sandbox::User=root"
	)
	apt-get "${debian_apt_opts[@]}" -qq update
}

debian_apt_download() {
	local dir="$1"
	shift
	mkdir -p "$dir"
	(cd "$dir" && apt-get "${debian_apt_opts[@]}" -qq download "$@")
}
