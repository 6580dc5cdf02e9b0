#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: mk-initramfs.sh <out.cpio.gz> <init script> [<program>...] [-- <dir>]
# A gzip'd newc initramfs for the small QEMU guests nested in the test VM
# (selftests/nvme_vhost/guest.sh, make bench): Debian's static busybox with
# its applets linked in /bin, <init script> as /init, each <program> (a path
# or a name on PATH) with the shared libraries ldd lists, /etc/mke2fs.conf,
# and the files of <dir> under /payload.
set -euo pipefail
out=$1 init=$2; shift 2
progs=() payload=
while [ $# -gt 0 ]; do
	case "$1" in
	--) payload=${2:-}; break ;;
	*) progs+=("$1") ;;
	esac
	shift
done
root=$(mktemp -d "${TMPDIR:-/tmp}/vq-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,etc,payload}
bb=$(command -v busybox)
# ldd fails on a static executable.
! ldd "$bb" >/dev/null 2>&1 || { echo "mk-initramfs: $bb is not static (install busybox-static)" >&2; exit 1; }
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
cp "$init" "$root/init"; chmod 755 "$root/init"
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
for p in "${progs[@]}"; do
	path=$(command -v "$p") || { echo "mk-initramfs: $p not found" >&2; exit 1; }
	# Programs replace busybox applets of the same name.
	rm -f "$root/bin/$(basename "$path")"
	cp -L "$path" "$root/bin/"
	# (ldd fails on a static program: no libraries to copy.)
	{ ldd "$path" 2>/dev/null || true; } | awk '/=> \// {print $3} /^[ \t]*\/[^ ]*ld-linux/ {print $1}' |
		while read -r lib; do cp -L --parents "$lib" "$root/"; done
done
[ -n "$payload" ] && cp -a "$payload/." "$root/payload/"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out"
