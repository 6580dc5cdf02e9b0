#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: bench.sh [release|debug]   (make bench: release)
# Boots the test kernel (QEMU TCG) and runs scripts/bench-guest.sh: the
# same fio write job on a vdo_qat volume with compression in software and
# offloaded to the QAT-like test provider qat_sim, in one VM run; prints
# the CPU time per GiB written of each and their ratio. Not a test: the
# figures go to build/bench/bench.txt. BENCH_MIB sets the size written.
# Then nvme_vhost: IOPS per CPU second through the test VMM at QD 1, 8
# and 32, shadow doorbells on and off; and the same fio job in QEMU guests
# nested in the VM on vhost-nvme, QEMU's nvme and virtio-blk.
source "$(dirname "$0")/lib.sh"
variant=${1:-release}
# dm-vdo keeps a 256 MiB index and null_blk holds the data in memory.
export VQ_VM_MEM=${VQ_VM_MEM:-4G}
kdir=$("$VQ_ROOT/scripts/build-modules.sh" "$variant" modules)
(cd "$VQ_ROOT/tools/vmm" && cargo build --release --quiet)
out=$VQ_ROOT/build/bench
rm -rf "$out"; mkdir -p "$out"
# The nested QEMU guests: QEMU with vhost-nvme, the guest kernel, static fio.
qemu=$("$VQ_ROOT/scripts/build-qemu.sh")
gkdir=$("$VQ_ROOT/scripts/build-kernel.sh" guest)
fio=$("$VQ_ROOT/scripts/build-fio.sh")
"$VQ_ROOT/scripts/vm-run.sh" "$kdir" "$out" 3600 \
	"BENCH_MIB='${BENCH_MIB:-64}' VQ_QEMU='$qemu' VQ_GUEST_KERNEL='$gkdir/arch/x86/boot/bzImage' VQ_FIO='$fio' bash $VQ_ROOT/scripts/bench-guest.sh $out" || true
[ -s "$out/bench.txt" ] || { echo "bench: no result; console: $out/console.log" >&2; exit 1; }
cat "$out/bench.txt"
