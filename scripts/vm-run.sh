#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: vm-run.sh <kdir> <outdir> <timeout_s> [command...]
# Environment: VQ_VM_MEM (guest memory, default 2G).
# Boots the test kernel <kdir> under QEMU TCG with virtme-ng; the guest sees
# the host's filesystem read-only (the repository included) and <outdir>
# read-write. Runs <command> (a shell when none is given), kills the VM after
# <timeout_s> seconds, saves the console to <outdir>/console.log.
# KVM is never used: on this kind of host it hangs or asserts (see
# Documentation/vdo_qat/testing.rst).
source "$(dirname "$0")/lib.sh"
kdir=$1 out=$2 tmo=$3; shift 3
# vng runs its helpers (virtme-run, ...) from PATH.
export PATH=$VQ_CACHE/venv/bin:$PATH
mkdir -p "$out"
out=$(cd "$out" && pwd)
# /dev/kvm may exist but a stock kernel hangs or asserts under it on this
# kind of host (shared/reference/platform.md): always TCG, never wait on KVM.
[ -e /dev/kvm ] && vq_log "vm: /dev/kvm present, not used (TCG only)"
args=(--run "$kdir" --disable-kvm --force-9p --cpus 2 --memory "${VQ_VM_MEM:-2G}"
	--rwdir="$out" --cwd "$VQ_ROOT" --verbose
	--append "panic_on_warn=0 log_buf_len=4M brd.rd_nr=1 brd.rd_size=262144")
if [ $# -eq 0 ]; then
	exec "$VQ_CACHE/venv/bin/vng" "${args[@]}"
fi
cmd="$*"
set +e
timeout --foreground -k 10 "$tmo" "$VQ_CACHE/venv/bin/vng" "${args[@]}" --exec "$cmd" \
	</dev/null >"$out/console.log" 2>&1
rc=$?
set -e
[ $rc -eq 124 ] && echo "vm-run: timed out after ${tmo}s (console: $out/console.log)" >&2
exit $rc
