#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prints the path of a static fio for the nested QEMU guests of make bench,
# building it first when needed: Debian's fio package links some 60 shared
# libraries (84 MB, ceph and gluster among them), too much for an initramfs
# a nested TCG guest unpacks, while a static build without the optional
# engines is about 3 MB. The source is Debian's fio (bookworm), downloaded
# through a private apt configuration with a deb-src line under
# $VQ_CACHE/apt-fio; the result is cached in $VQ_CACHE/fio/<version>/.
source "$(dirname "$0")/lib.sh"

FIO_SUITE=bookworm
out=$VQ_CACHE/fio
if [ -x "$out/fio" ]; then
	echo "$out/fio"; exit 0
fi
vq_apt_install make gcc
SRC=$VQ_CACHE/src
mkdir -p "$SRC"
tarball=$(ls "$SRC"/fio_*.orig.tar.* 2>/dev/null | head -n1 || true)
if [ -z "$tarball" ]; then
	vq_private_apt "$VQ_CACHE/apt-fio" deb-src "$FIO_SUITE main"
	tmp=$(mktemp -d "$SRC/fio-dl.XXXXXX")
	vq_log "apt (private): download the fio source ($FIO_SUITE)"
	(cd "$tmp" && apt-get "${VQ_APT[@]}" source --download-only fio >/dev/null 2>&1 || true)
	f=$(ls "$tmp"/fio_*.orig.tar.* 2>/dev/null | head -n1)
	[ -n "$f" ] || vq_die "could not download the fio source from $FIO_SUITE"
	mv "$f" "$SRC/"
	tarball=$SRC/$(basename "$f")
	rm -rf "$tmp"
fi
work=$VQ_CACHE/fio-build
rm -rf "$work"; mkdir -p "$work"
tar -xf "$tarball" -C "$work" --strip-components=1
cd "$work"
vq_log "fio: static build of $(basename "$tarball")"
# The engines used are psync and io_uring (raw system calls); nothing
# optional is linked in.
./configure --build-static --disable-native --disable-optimizations \
	--disable-numa --disable-rdma --disable-rados --disable-rbd --disable-http \
	--disable-gfapi --disable-pmem --disable-xnvme \
	--disable-tcmalloc --disable-dfs --disable-lex >"$work/configure.log" 2>&1 ||
	vq_die "fio configure failed: $work/configure.log"
make -j"$(vq_jobs)" fio >"$work/build.log" 2>&1 || vq_die "fio build failed: $work/build.log"
mkdir -p "$out"
cp fio "$out/fio"
echo "$out/fio"
