#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: nvme-prep.sh <outdir>   (scripts/check.sh runs it in the background)
# What only the nvme_vhost kselftests need, built (when not cached) at the
# lowest priority while the kernel builds and the test VM boots and runs
# the vdo_qat kselftests, which come first:
# the test VMM (tools/vmm, with its host tests: <outdir>/cargo-vmm.log),
# QEMU with the vhost-nvme device and the nested guest's kernel
# (<outdir>/nested.env). Writes <outdir>/vmm-ready once the VMM is built and
# <outdir>/nvme-ready last, whatever failed; scripts/run-guest-tests.sh
# waits for each before the nvme_vhost programs that need it.
# On this 2-core machine a cold `make check` saves the 15 minutes these
# builds take, as the vdo_qat tests leave one core mostly idle; at the
# lowest priority (lib.sh vq_background), they do not slow the VM down.
source "$(dirname "$0")/lib.sh"
out=$1
trap 'echo done >"$out/vmm-ready"; echo done >"$out/nvme-ready"' EXIT
(cd "$VQ_ROOT/tools/vmm" && cargo test --release 2>&1 && cargo build --release 2>&1) >"$out/cargo-vmm.log" || true
echo done >"$out/vmm-ready"
qemu=$("$VQ_ROOT/scripts/build-qemu.sh") || exit 1
gkdir=$("$VQ_ROOT/scripts/build-kernel.sh" guest) || exit 1
printf 'VQ_QEMU=%q\nVQ_GUEST_KERNEL=%q\n' "$qemu" "$gkdir/arch/x86/boot/bzImage" >"$out/nested.env.tmp"
mv "$out/nested.env.tmp" "$out/nested.env"
