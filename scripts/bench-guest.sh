#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs INSIDE the test VM (see scripts/bench.sh). Usage: bench-guest.sh <outdir>
#
# CPU time per GiB written through a vdo_qat volume, compression in
# software (policy `software`, deflate-generic) vs offloaded (policy
# `accel`) to qat_sim, the test provider that stands in for a QAT device.
# Both runs write the same fio job (sequential 4 KiB O_DIRECT writes, QD
# 32, 70% compressible buffers) to a fresh volume on a RAM disk.
#
# CPU time = user + nice + system + irq + softirq + steal from /proc/stat
# over the run, all CPUs. qat_sim does its deflate on the CPU too (there
# is no QAT here); the nanoseconds it spends in zlib (its busy_ns counter)
# stand for device time and are subtracted, and reported apart. Its queue
# handling and copies stay in the host figure.
set -eu
OUT=$1
MIB=${BENCH_MIB:-64}
R=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/usr/sbin:/sbin:$PATH
P=/sys/module/qat_sim/parameters
log() { echo "$*" | tee -a "$OUT/bench.log"; }

insmod "$R/selftests/vdo_qat/qat_sim/qat_sim.ko"
insmod "$R/drivers/vdo_qat/vdo_qat.ko"
DEV=/dev/ram0
LEN=$((1024 * 2048))
hz=$(getconf CLK_TCK)
cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
vstat() { dmsetup message vqb 0 stats | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

declare -A HOST DEVT MBS OFF SW
for mode in software accel; do
	dd if=/dev/zero of=$DEV bs=1M count=4 status=none
	dmsetup create vqb --table "0 $LEN vdo_qat $DEV $LEN 2 compression $mode"
	dmsetup mknodes vqb
	log "$mode: $(dmsetup status vqb)"
	sync; echo 3 >/proc/sys/vm/drop_caches
	c0=$(cpu) b0=$(cat $P/busy_ns) t0=$(date +%s%N)
	fio --name=w --filename=/dev/mapper/vqb --rw=write --bs=4k --iodepth=32 \
		--ioengine=libaio --direct=1 --size=${MIB}M --buffer_compress_percentage=70 \
		--buffer_compress_chunk=4k --refill_buffers --randrepeat=1 \
		--output-format=terse >/dev/null
	python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)' /dev/mapper/vqb
	c1=$(cpu) b1=$(cat $P/busy_ns) t1=$(date +%s%N)
	OFF[$mode]=$(vstat offloaded) SW[$mode]=$(vstat sw_compressed)
	log "$mode: $(dmsetup message vqb 0 stats)"
	read -r HOST[$mode] DEVT[$mode] MBS[$mode] < <(python3 -c '
import sys
c, b, t, hz, mib = (float(x) for x in sys.argv[1:])
gib = mib / 1024
dev = b / 1e9
print("%.2f %.2f %.2f" % ((c / hz - dev) / gib, dev / gib, mib / (t / 1e9)))' \
		$((c1 - c0)) $((b1 - b0)) $((t1 - t0)) "$hz" "$MIB")
	dmsetup remove vqb
done
{
	echo "vdo_qat compression CPU cost: $MIB MiB written per run, fio 4 KiB sequential, QD 32, 70% compressible"
	echo "kernel $(uname -r), $(nproc) vCPUs under QEMU TCG"
	printf '%-10s %14s %16s %10s %10s %10s\n' mode "host CPU s/GiB" "device s/GiB" "MiB/s" offloaded software
	for m in software accel; do
		printf '%-10s %14s %16s %10s %10s %10s\n' "$m" "${HOST[$m]}" "${DEVT[$m]}" "${MBS[$m]}" "${OFF[$m]}" "${SW[$m]}"
	done
	python3 -c 'import sys; s, a = map(float, sys.argv[1:]); print("host CPU per GiB, offload / software: %.2f (%.0f%% less)" % (a / s, 100 * (1 - a / s)))' \
		"${HOST[software]}" "${HOST[accel]}"
} | tee "$OUT/bench.txt"
rmmod vdo_qat
rmmod qat_sim

# nvme_vhost: IOPS and IOPS per CPU second of the controller through the
# test VMM (4 KiB random reads, one queue), on a null_blk device without
# memory (the controller's cost alone), at QD 1, 8 and 32, shadow doorbells
# on and off side by side in this one run. CPU time is the VMM process's,
# which includes the controller's worker (a thread of the VMM).
insmod "$R/drivers/nvme_vhost/nvme_vhost.ko"
modprobe null_blk nr_devices=1 memory_backed=0 gb=16 irqmode=1
{
	echo
	echo "nvme_vhost through the test VMM: 4 KiB random reads, one queue, null_blk backend, ${NVME_BENCH_SECS:-3} s per point"
	"$R/tools/vmm/target/release/nvme-vmm" bench --backend /dev/nullb0 --qd 1,8,32 --secs "${NVME_BENCH_SECS:-3}"
} | tee -a "$OUT/bench.txt"
rmmod null_blk
rmmod nvme_vhost

# The block targets side by side: dm-linear, dm-thin, dm-vdo, vdo_qat.
bash "$R/scripts/bench-targets.sh" "$OUT" || log "bench-targets failed"

# QEMU guests nested in this VM: vhost-nvme, QEMU's nvme, virtio-blk.
if [ -n "${VQ_QEMU:-}" ] && [ -n "${VQ_GUEST_KERNEL:-}" ] && [ -n "${VQ_FIO:-}" ]; then
	bash "$R/scripts/bench-nested.sh" "$OUT"
fi

