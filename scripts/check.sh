#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: check.sh [debug|release]
# Runs every test: host cargo tests and the host tests of scripts/tests/,
# then KUnit and kselftests in a QEMU TCG
# VM booting the test kernel (debug variant: KASAN, lockdep, ...), then a
# scan of the kernel log. Ends with "N passed, N failed"; exits non-zero on
# any failure. Results and the guest console: build/check/.
source "$(dirname "$0")/lib.sh"
variant=${1:-debug}
# Derived from the kselftest timeouts (lib.sh), so that those decide what
# failed; VM_TIMEOUT=<s> overrides it.
VM_TIMEOUT=${VM_TIMEOUT:-$(vq_vm_timeout)}

"$VQ_ROOT/scripts/setup-host.sh"
out=$VQ_ROOT/build/check
rm -rf "$out"; mkdir -p "$out"
# Two background jobs give way to the foreground (vq_background): they
# only fill the cores the kernel build and the VM leave idle, and the VM,
# which mostly keeps one core busy, runs at full speed.
# - What only the nvme_vhost kselftests need (the test VMM, QEMU with
#   vhost-nvme, the nested guest's kernel; scripts/nvme-prep.sh), from now
#   on: its downloads overlap the kernel build, its builds the vdo_qat
#   kselftests, and the VM waits for it before the nvme_vhost ones.
# - The host cargo tests and scripts/layout-test.sh, once the modules are
#   built and nvme-prep.sh is done (bg_host below).
setsid bash -c '. "$1/scripts/lib.sh"; vq_background; exec "$1/scripts/nvme-prep.sh" "$2"' \
	_ "$VQ_ROOT" "$out" >"$out/nvme-prep.log" 2>&1 </dev/null &
prep=$!
host=
trap 'kill -- -$prep 2>/dev/null; [ -z "$host" ] || kill -- -$host 2>/dev/null' EXIT
kdir=$("$VQ_ROOT/scripts/build-modules.sh" "$variant" modules)
# The kselftest programs the guest runs: summarize.py names those without a
# result.
"$VQ_ROOT/scripts/ksft-list.sh" >"$out/kselftest.list"

# bg_host <out> <kdir>: the host cargo tests (tools/pure), then Rust's view
# of C structs and the unsafe-code rules, checked against the modules just
# built (scripts/layout-test.sh, KTAP, counted with the host script tests).
# Only after nvme-prep.sh, which the VM waits for: these the summary does.
bg_host() {
	vq_background
	while [ ! -f "$1/nvme-ready" ]; do sleep 5; done
	(cd "$VQ_ROOT/tools/pure" && cargo test 2>&1) >"$1/cargo.log" || true
	"$VQ_ROOT/scripts/layout-test.sh" "$2" "$1" >"$1/host-layout.ktap" 2>"$1/layout-test.log" || true
}
export -f bg_host vq_background
vq_log "host cargo tests, layout and unsafe-code checks (in the background)"
setsid env VQ_ROOT="$VQ_ROOT" bash -c 'bg_host "$1" "$2"' _ "$out" "$kdir" </dev/null &
host=$!

# Host tests of the test machinery (VM runner, summary), KTAP each:
# scripts/tests/*.sh, their helpers are not *.sh. In the foreground: the
# VM runner's tests time fake VMs.
vq_log "host script tests"
for t in "$VQ_ROOT"/scripts/tests/*.sh; do
	bash "$t" >"$out/host-$(basename "$t" .sh).ktap" 2>&1 || true
done

vq_log "VM tests (QEMU TCG, kernel $kdir, timeout ${VM_TIMEOUT}s)"
"$VQ_ROOT/scripts/vm-run.sh" "$kdir" "$out" "$VM_TIMEOUT" \
	"bash $VQ_ROOT/scripts/run-guest-tests.sh $out $kdir" || vq_log "VM exited with $?"
wait "$prep" || vq_log "nvme-prep.sh failed (see $out/nvme-prep.log)"
wait "$host" || true
trap - EXIT
# The test VMM's host tests (driver against the controller core in
# process), from nvme-prep.sh.
cat "$out/cargo-vmm.log" >>"$out/cargo.log" 2>/dev/null

python3 "$VQ_ROOT/scripts/summarize.py" "$out"
