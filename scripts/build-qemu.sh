#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prints the path of a minimal qemu-system-x86_64 (x86_64-softmmu, TCG and
# KVM, vhost) built from Debian's QEMU source with the patches in
# qemu/patches/ applied, building it first when needed. The build is cached
# in $VQ_CACHE/qemu/<version>-<patches hash>/, so it happens once per patch
# series. Steps and pitfalls: shared reference platform.md ("Building QEMU
# 10.0.2 from Debian's source").
#
# The source is Debian's qemu_$QEMU_VERSION+ds.orig.tar.xz from
# bookworm-backports, downloaded through a private apt configuration with a
# deb-src line under $VQ_CACHE/apt-qemu (the system's sources are never
# edited); meson and pycotap come from PyPI into a virtualenv, as the +ds
# tarball carries no python/wheels.
source "$(dirname "$0")/lib.sh"

QEMU_VERSION=${QEMU_VERSION:-10.0.2}
QEMU_SUITE=bookworm-backports
PATCHES=$VQ_ROOT/qemu/patches
# What configure gets; no debug information (a fifth of the compile time).
CONFIGURE=(--target-list=x86_64-softmmu --without-default-features --disable-debug-info
	--enable-kvm --enable-vhost-kernel --enable-vhost-user --enable-tcg --disable-docs
	--enable-fdt=system --disable-install-blobs)
hash=$( { cat "$PATCHES"/*.patch 2>/dev/null || true; echo "${CONFIGURE[*]}"; } | sha256sum | cut -c1-12)
out=$VQ_CACHE/qemu/$QEMU_VERSION-$hash
if [ -x "$out/qemu-system-x86_64" ]; then
	echo "$out/qemu-system-x86_64"; exit 0
fi

# Build dependencies.
vq_apt_install ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev python3-venv flex bison \
	pkg-config bzip2

# The source tarball.
SRC=$VQ_CACHE/src
tarball=$SRC/qemu_$QEMU_VERSION+ds.orig.tar.xz
if ! [ -s "$tarball" ]; then
	mkdir -p "$SRC"
	vq_private_apt "$VQ_CACHE/apt-qemu" deb-src "$QEMU_SUITE main"
	APT=("${VQ_APT[@]}")
	tmp=$(mktemp -d "$SRC/qemu-dl.XXXXXX")
	vq_log "apt (private): download qemu $QEMU_VERSION source"
	# The .dsc has answered 404 while the orig tarball downloaded fine:
	# only the tarball is needed.
	(cd "$tmp" && apt-get "${APT[@]}" source --download-only "qemu=1:$QEMU_VERSION+ds-*" >/dev/null 2>&1 ||
		apt-get "${APT[@]}" source --download-only qemu >/dev/null 2>&1 || true)
	f=$(ls "$tmp"/qemu_"$QEMU_VERSION"+ds.orig.tar.xz 2>/dev/null | head -n1)
	[ -n "$f" ] || vq_die "could not download qemu_$QEMU_VERSION+ds.orig.tar.xz from $QEMU_SUITE"
	mv "$f" "$tarball"
	rm -rf "$tmp"
fi

# meson >= 1.5 and pycotap.
VENV=$VQ_CACHE/qemu-venv
if ! [ -x "$VENV/bin/meson" ]; then
	vq_log "pip: meson, pycotap"
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q "meson>=1.5,<1.9" pycotap
fi

# Unpack, patch, configure, build.
work=$VQ_CACHE/qemu/build-$QEMU_VERSION-$hash
rm -rf "$work"; mkdir -p "$work"
vq_log "qemu: unpacking $QEMU_VERSION"
tar -xf "$tarball" -C "$work" --strip-components=1
for p in "$PATCHES"/*.patch; do
	[ -e "$p" ] || continue
	vq_log "qemu: applying $(basename "$p")"
	patch -d "$work" -p1 -s <"$p"
done
# The +ds tarball lacks the edk2 firmware blobs pc-bios/meson.build asks
# for; placeholders do (SeaBIOS boots the test guests).
for f in $(sed -n "s/.*'\(edk2-[^']*\.fd\)'.*/\1/p" "$work/pc-bios/meson.build"); do
	[ -e "$work/pc-bios/$f.bz2" ] || echo placeholder | bzip2 >"$work/pc-bios/$f.bz2"
done
cd "$work"
vq_log "qemu: configure"
PATH=$VENV/bin:$PATH ./configure "${CONFIGURE[@]}" \
	--python="$VENV/bin/python3" >"$work/configure.log" 2>&1 ||
	vq_die "qemu configure failed: $work/configure.log"
vq_log "qemu: build qemu-system-x86_64 (about 4 min on 2 cores)"
PATH=$VENV/bin:$PATH ninja -C build -j"$(vq_jobs)" qemu-system-x86_64 >"$work/build.log" 2>&1 ||
	vq_die "qemu build failed: $work/build.log"
mkdir -p "$out"
cp build/qemu-system-x86_64 "$out/"
echo "$out/qemu-system-x86_64"
