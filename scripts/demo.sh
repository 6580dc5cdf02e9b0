#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: demo.sh [debug|release]
# The main job, stage 1: boots the test kernel, loads vdo_qat and
# nvme_vhost, creates a vdo_qat volume over a loop device, writes and reads
# back data, prints the table, status and counters, and tears it down.
# The transcript is printed and kept in build/demo/demo.log.
source "$(dirname "$0")/lib.sh"
variant=${1:-debug}
kdir=$("$VQ_ROOT/scripts/build-modules.sh" "$variant" modules)
out=$VQ_ROOT/build/demo
rm -rf "$out"; mkdir -p "$out"
"$VQ_ROOT/scripts/vm-run.sh" "$kdir" "$out" 600 "bash $VQ_ROOT/scripts/demo-guest.sh $out" || true
cat "$out/demo.log" 2>/dev/null || { echo "demo: the VM produced no transcript; console: $out/console.log" >&2; exit 1; }
grep -q '^demo: OK$' "$out/demo.log"
