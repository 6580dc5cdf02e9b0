#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: demo.sh [debug|release]
# The main job: boots the test kernel (QEMU TCG) and runs
# scripts/demo-guest.sh: part of the Linux 7.3 source tree is copied onto
# ext4 on a vdo_qat volume, checked with sha256sum -c after the target is
# re-created, and its footprint compared with dm-vdo and dm-thin holding the
# same files, with a fio 4 KiB random-write run on each.
# The transcript is printed and kept in build/demo/demo.log, the comparison
# in build/demo/summary.txt. DEMO_DIRS picks the subdirectories to copy.
source "$(dirname "$0")/lib.sh"
variant=${1:-debug}
kdir=$("$VQ_ROOT/scripts/build-modules.sh" "$variant" modules)
src=$("$VQ_ROOT/scripts/fetch-kernel.sh")
out=$VQ_ROOT/build/demo
rm -rf "$out"; mkdir -p "$out"
VQ_VM_MEM=${VQ_VM_MEM:-8G} "$VQ_ROOT/scripts/vm-run.sh" "$kdir" "$out" 3600 \
	"DEMO_DIRS='${DEMO_DIRS:-}' bash $VQ_ROOT/scripts/demo-guest.sh $out $src" || true
[ -s "$out/demo.log" ] || { echo "demo: the VM produced no transcript; console: $out/console.log" >&2; exit 1; }
grep -q '^demo: OK$' "$out/demo.log" || { echo "demo: FAILED (see $out/demo.log, $out/console.log)" >&2; exit 1; }
cat "$out/summary.txt"
