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
kdir=$("$VQ_ROOT/scripts/build-modules.sh" "$variant" modules)
out=$VQ_ROOT/build/check
rm -rf "$out"; mkdir -p "$out"
# What only the nvme_vhost kselftests need (the test VMM, QEMU with
# vhost-nvme, the nested guest's kernel) is built in the background while
# the VM runs the vdo_qat kselftests (scripts/nvme-prep.sh).
setsid "$VQ_ROOT/scripts/nvme-prep.sh" "$out" >"$out/nvme-prep.log" 2>&1 </dev/null &
prep=$!
trap 'kill -- -$prep 2>/dev/null' EXIT
# The kselftest programs the guest runs: summarize.py names those without a
# result.
"$VQ_ROOT/scripts/ksft-list.sh" >"$out/kselftest.list"

vq_log "host cargo tests"
(cd "$VQ_ROOT/tools/pure" && cargo test 2>&1) >"$out/cargo.log" || true

# Rust's view of C structs and the unsafe-code rules, checked on the host
# against the modules just built (scripts/layout-test.sh, KTAP; counted
# with the host script tests below).
vq_log "layout and unsafe-code checks"
"$VQ_ROOT/scripts/layout-test.sh" "$kdir" "$out" >"$out/host-layout.ktap" 2>"$out/layout-test.log" || true

# Host tests of the test machinery (VM runner, summary), KTAP each:
# scripts/tests/*.sh, their helpers are not *.sh.
vq_log "host script tests"
for t in "$VQ_ROOT"/scripts/tests/*.sh; do
	bash "$t" >"$out/host-$(basename "$t" .sh).ktap" 2>&1 || true
done

vq_log "VM tests (QEMU TCG, kernel $kdir, timeout ${VM_TIMEOUT}s)"
"$VQ_ROOT/scripts/vm-run.sh" "$kdir" "$out" "$VM_TIMEOUT" \
	"bash $VQ_ROOT/scripts/run-guest-tests.sh $out $kdir" || vq_log "VM exited with $?"
wait "$prep"
trap - EXIT
# The test VMM's host tests (driver against the controller core in
# process), from nvme-prep.sh.
cat "$out/cargo-vmm.log" >>"$out/cargo.log" 2>/dev/null

python3 "$VQ_ROOT/scripts/summarize.py" "$out"
