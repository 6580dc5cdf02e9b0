#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prints the path of an unpacked Linux $VQ_KSERIES source tree, fetching it
# first when needed.
#
#   KSRC=<dir>          use this source tree as is;
#   KSRC=<tarball>      unpack this linux-*.tar.{xz,gz,zst} instead of downloading.
#
# Otherwise Debian's linux-source-$VQ_KSERIES package (trixie-backports) is
# downloaded through a private apt configuration under $VQ_CACHE/apt: the
# system's apt sources are never edited. The mirror is the one the system's
# own Debian sources already use.
source "$(dirname "$0")/lib.sh"

SRCROOT=$VQ_CACHE/src
mkdir -p "$SRCROOT"

unpack() { # <tarball> <dest>
	local tmp="$2.tmp"
	rm -rf "$tmp"; mkdir -p "$tmp"
	vq_log "unpacking $(basename "$1")"
	tar -xf "$1" -C "$tmp"
	local top; top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n1)
	[ -f "$top/Makefile" ] || vq_die "$1 holds no kernel tree"
	rm -rf "$2"; mv "$top" "$2"; rm -rf "$tmp"
}

if [ -n "${KSRC:-}" ]; then
	if [ -d "$KSRC" ]; then
		[ -f "$KSRC/Makefile" ] || vq_die "KSRC=$KSRC is not a kernel tree"
		cd "$KSRC" && pwd; exit 0
	fi
	[ -f "$KSRC" ] || vq_die "KSRC=$KSRC: no such file or directory"
	dest=$SRCROOT/local-$(sha256sum "$KSRC" | cut -c1-16)
	[ -f "$dest/Makefile" ] || unpack "$KSRC" "$dest"
	echo "$dest"; exit 0
fi

dest=$SRCROOT/linux-source-$VQ_KSERIES
if [ -f "$dest/.vq-version" ] && [ -f "$dest/Makefile" ]; then
	echo "$dest"; exit 0
fi

A=$VQ_CACHE/apt
mkdir -p "$A/deb"
vq_private_apt "$A" deb "trixie-backports main"
APT=("${VQ_APT[@]}")
cd "$A/deb"
rm -f linux-source-"$VQ_KSERIES"_*.deb
vq_log "apt (private): download linux-source-$VQ_KSERIES"
apt-get "${APT[@]}" download "linux-source-$VQ_KSERIES" >/dev/null
deb=$(ls linux-source-"$VQ_KSERIES"_*.deb | head -n1)
ver=$(dpkg-deb -f "$deb" Version)
rm -rf x; mkdir x; dpkg-deb -x "$deb" x
tarball=$(ls x/usr/src/linux-source-"$VQ_KSERIES".tar.* | head -n1)
unpack "$tarball" "$dest"
rm -rf x
echo "$ver" >"$dest/.vq-version"
echo "$dest"
