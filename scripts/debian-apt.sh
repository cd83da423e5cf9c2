# debian-apt.sh: a private apt configuration for downloading Debian packages
# without touching the system: its own sources list, lists and cache under a
# work dir, no dpkg status, no locking, nothing installed. Sourced by
# sync-headers.sh, fetch-liburing.sh and fetch-kernels.sh.
#
#   debian_apt_init WORK SUITE...    write WORK/sources.list for the suites
#                                    and run apt-get update; sets
#                                    debian_mirror and debian_apt_opts
#   debian_apt_download DIR PKG=VER...   download the .debs into DIR
#   debian_apt_suite PKG VER         print the suite that carries PKG=VER
#
# The mirror is $DEBIAN_MIRROR, else the one the system's apt sources use
# for its own Debian release (the source whose suites name this system's
# codename). No mirror is built in: without either, init fails and says so.
# A SUITE-security suite lives in an archive of its own: it comes from
# $DEBIAN_SECURITY_MIRROR, else from the system's source that names it.

debian_apt_init() {
	local work="$1" suite
	shift
	debian_mirror="${DEBIAN_MIRROR:-$(debian_system_mirror)}"
	if [ -z "$debian_mirror" ]; then
		echo "debian-apt.sh: no Debian mirror: DEBIAN_MIRROR is unset and the system's apt sources" >&2
		local files
		files="$(debian_source_files | tr '\n' ' ')"
		echo "  (${files:-none found}) name none for this system's Debian release;" >&2
		echo "  set DEBIAN_MIRROR to the URI of a Debian archive mirror (the one your apt uses)" >&2
		return 1
	fi
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
	local uri
	for suite in "$@"; do
		uri="$debian_mirror"
		case "$suite" in *-security) uri="${DEBIAN_SECURITY_MIRROR:-$(debian_suite_mirror "$suite")}" ;; esac
		if [ -z "$uri" ]; then
			echo "debian-apt.sh: no archive for $suite: the system's apt sources name none;" >&2
			echo "  set DEBIAN_SECURITY_MIRROR to the URI of a Debian security archive" >&2
			return 1
		fi
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main"
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

# debian_source_files: the system's apt source files, one a line.
debian_source_files() {
	local list parts
	eval "$(apt-config shell list Dir::Etc::sourcelist/f parts Dir::Etc::sourceparts/d)"
	[ -f "$list" ] && echo "$list"
	ls "$parts"*.list "$parts"*.sources 2>/dev/null || true
}

# debian_system_mirror: the URI of the system's apt source for its own
# Debian release (suite = VERSION_CODENAME of /etc/os-release). Prints
# nothing on a system that is not Debian or has no such source.
debian_system_mirror() {
	local codename
	codename="$(. /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}")" || true
	[ -n "$codename" ] || return 0
	debian_suite_mirror "$codename"
}

# debian_suite_mirror SUITE: the URI of the system's apt source whose
# suites name SUITE, in either format: one-line "deb [opts] URI suite ..."
# or deb822 stanzas. Prints nothing if there is none.
debian_suite_mirror() {
	local codename="$1" files=()
	mapfile -t files < <(debian_source_files)
	[ ${#files[@]} -gt 0 ] || return 0
	awk -v c="$codename" '
		function flush() {
			if (types ~ /(^| )deb( |$)/ && enabled != "no" && (suites " ") ~ (" " c " ") && uris != "") {
				split(uris, u, " ")
				print u[1]
				found = 1
				exit
			}
			types = uris = suites = enabled = ""
		}
		FNR == 1 && NR > 1 { flush() }
		/^[[:space:]]*#/ { next }
		FILENAME ~ /\.list$/ {
			if ($1 != "deb") next
			i = 2
			if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == c) { print $i; found = 1; exit }
			next
		}
		/^[[:space:]]*$/ { flush(); next }
		{ k = tolower($1); $1 = "" }
		k == "types:" { types = $0 }
		k == "uris:" { uris = $0 }
		k == "suites:" { suites = $0 }
		k == "enabled:" { enabled = tolower($2) }
		END { if (!found) flush() }
	' "${files[@]}"
}

debian_apt_download() {
	local dir="$1"
	shift
	mkdir -p "$dir"
	(cd "$dir" && apt-get "${debian_apt_opts[@]}" -qq download "$@")
}

debian_apt_suite() {
	apt-cache "${debian_apt_opts[@]}" madison "$1" |
		awk -F'|' -v v="$2" '{gsub(/ /, "", $2)} $2 == v {n = split($3, f, " "); split(f[2], s, "/"); print s[1]; exit}'
}
