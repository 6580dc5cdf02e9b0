#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs INSIDE the test VM (see scripts/bench.sh, make bench).
# Usage: bench-targets.sh <outdir>
#
# The same fio jobs, in this one boot, on dm-linear, dm-thin, dm-vdo
# (compression on) and vdo_qat in each of its modes, each on a fresh
# memory-backed null_blk device (8 GiB, pages allocated on write), for
# each disk profile of BENCH_DISKS (default "ram ssd"):
#
#   ram   completions inline (irqmode=0): the target's own cost only
#   ssd   completions after 50 us (irqmode=2, completion_nsec=50000): a
#         disk with an SSD's latency, where a target that keeps many I/Os
#         in flight hides its work behind the device's
#
#   seq128k     128 KiB sequential writes, QD 16, BENCH_FILL_MIB (default
#               128) from LBN 0: also the data whose space is measured
#   rw4k_qd1    4 KiB random writes over that range, QD 1
#   rw4k_qd16   the same at QD 16
#   rw4k_qd64   the same at QD 64
#   rw4k_j2     the same at QD 16 with 2 jobs
#   rr4k_qd16   4 KiB random reads of the written range, QD 16
#
# Data: 50% compressible 4 KiB buffers, 50% of them duplicates (fio
# buffer_compress_percentage=50, dedupe_percentage=50), the same for every
# target. The random jobs run BENCH_SECS (default 5) seconds each.
#
# Figures, appended to <outdir>/bench.txt, one per line, "ratio <name>
# <value>":
# (every name below is prefixed with the disk profile, "ram." or "ssd.")
#   ratio <target>.<job> <MB/s of the target / MB/s of dm-linear>
#   ratio <target>.<job>.mbps <MB/s>
#   ratio <target>.<job>.vs_dm_vdo <MB/s / MB/s of dm-vdo> (vdo_qat modes)
#   ratio <target>.space <data blocks used after seq128k / blocks written>
#   ratio <target>.kmem_mib <kernel memory the target holds after the jobs,
#          MiB: Slab + VmallocUsed + Percpu from /proc/meminfo, delta>
#   ratio <target>.scale_qd64 <rw4k_qd64 / rw4k_qd1>
#   ratio <target>.scale_j2 <rw4k_j2 / rw4k_qd1>
# plus a table of the same figures.
set -eu
OUT=$1
R=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/usr/sbin:/sbin:$PATH
# No udev in the test VM: libdevmapper creates /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1
SECS=${BENCH_SECS:-5}
FILL=${BENCH_FILL_MIB:-128}
LOGICAL=$((4 * 1024 * 1024 * 2))	# 4 GiB, sectors
RES=$OUT/targets.tsv
: >"$RES"
log() { echo "[bench] $*" | tee -a "$OUT/bench.log" >&2; }

kmem() { awk '/^(Slab|VmallocUsed|Percpu):/ { s += $2 } END { print s }' /proc/meminfo; }

DATA="--buffer_compress_percentage=50 --buffer_compress_chunk=4k --dedupe_percentage=50 --refill_buffers --randrepeat=1 --randseed=42"

# fio_mbps <name> <fio args...>: prints MB/s (reads + writes).
fio_mbps() {
	local name=$1
	shift
	fio --name="$name" --filename=/dev/mapper/bt --ioengine=libaio --direct=1 \
		$DATA --output-format=json "$@" >"$OUT/fio-$name.json" 2>>"$OUT/bench.log" || {
		echo 0
		return
	}
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
b = sum(x["write"]["io_bytes"] + x["read"]["io_bytes"] for x in j["jobs"])
t = max(max(x["write"]["runtime"], x["read"]["runtime"]) for x in j["jobs"])
print("%.2f" % (b / 1e6 / (t / 1e3) if t else 0))' "$OUT/fio-$name.json"
}

nullb_fresh() {
	rmmod null_blk 2>/dev/null || true
	case $1 in
	ram) modprobe null_blk nr_devices=2 memory_backed=1 gb=8 bs=4096 queue_mode=2 irqmode=0 ;;
	ssd) modprobe null_blk nr_devices=2 memory_backed=1 gb=8 bs=4096 queue_mode=2 irqmode=2 \
		completion_nsec=50000 hw_queue_depth=128 ;;
	esac
	udevadm settle 2>/dev/null || sleep 1
}

# used_blocks <target>: data blocks (4 KiB) the target uses now.
used_blocks() {
	case $1 in
	linear) echo $((FILL * 256)) ;;
	thin)
		# thin-pool status: <tid> <used meta>/<total meta> <used data>/<total data> ...
		dmsetup status pool | awk '{ split($6, a, "/"); print a[1] * 16 }' ;; # 64 KiB blocks
	dm_vdo)
		# vdo status: <dev> <mode> <recovery> <index> <compression> <used> <total>
		dmsetup status bt | awk '{ print $9 }' ;;
	vdo_qat*)
		dmsetup message bt 0 stats | tr ' ' '\n' | awk -F= '$1 == "phys_used" { print $2 }' ;;
	esac
}

# create <target>: the target "bt" (over "pool" for dm-thin); fails if
# any step fails.
create() {
	case $1 in
	linear) dmsetup create bt --table "0 $LOGICAL linear /dev/nullb0 0" ;;
	thin)
		dmsetup create pool --table "0 $((8 * 1024 * 1024 * 2)) thin-pool /dev/nullb1 /dev/nullb0 128 0 1 skip_block_zeroing" &&
			dmsetup mknodes pool &&
			dmsetup message pool 0 "create_thin 0" &&
			dmsetup create bt --table "0 $LOGICAL thin /dev/mapper/pool 0" ;;
	dm_vdo)
		modprobe dm-vdo &&
			dmsetup create bt --table "0 $LOGICAL vdo V4 /dev/nullb0 $((8 * 1024 * 256)) 4096 32768 16380 compression on deduplication on" ;;
	vdo_qat) dmsetup create bt --table "0 $LOGICAL vdo_qat /dev/nullb0 $LOGICAL" ;;
	vdo_qat_nocomp) dmsetup create bt --table "0 $LOGICAL vdo_qat /dev/nullb0 $LOGICAL 2 compression off" ;;
	vdo_qat_nodedup) dmsetup create bt --table "0 $LOGICAL vdo_qat /dev/nullb0 $LOGICAL 2 dedup off" ;;
	*) false ;;
	esac && dmsetup mknodes bt
}

remove() {
	dmsetup remove bt
	dmsetup remove pool 2>/dev/null || true
}

insmod "$R/drivers/vdo_qat/vdo_qat.ko" 2>/dev/null || true
TARGETS=${BENCH_TARGETS:-linear thin dm_vdo vdo_qat vdo_qat_nocomp vdo_qat_nodedup}
JOBS="seq128k rw4k_qd1 rw4k_qd16 rw4k_qd64 rw4k_j2 rr4k_qd16"
for disk in ${BENCH_DISKS:-ram ssd}; do
for t in $TARGETS; do
	nullb_fresh "$disk"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	k0=$(kmem)
	if ! create "$t" 2>>"$OUT/bench.log"; then
		log "$t: cannot create the target (see bench.log)"
		remove 2>/dev/null || true
		continue
	fi
	u0=$(used_blocks "$t")
	[ "$t" = linear ] && u0=0
	log "$t: $(dmsetup status bt)"
	RANGE="--size=${FILL}M"
	RND="--time_based --runtime=$SECS $RANGE"
	m_seq=$(fio_mbps "$disk-$t-seq128k" --rw=write --bs=128k --iodepth=16 $RANGE --runtime=120)
	# Make it durable and let the target settle (dm-vdo packs lazily).
	python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)' /dev/mapper/bt
	u1=$(used_blocks "$t")
	m_qd1=$(fio_mbps "$disk-$t-rw4k_qd1" --rw=randwrite --bs=4k --iodepth=1 $RND)
	m_qd16=$(fio_mbps "$disk-$t-rw4k_qd16" --rw=randwrite --bs=4k --iodepth=16 $RND)
	m_qd64=$(fio_mbps "$disk-$t-rw4k_qd64" --rw=randwrite --bs=4k --iodepth=64 $RND)
	m_j2=$(fio_mbps "$disk-$t-rw4k_j2" --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --group_reporting $RND)
	m_rr=$(fio_mbps "$disk-$t-rr4k_qd16" --rw=randread --bs=4k --iodepth=16 $RND)
	k1=$(kmem)
	space=$(python3 -c 'import sys; u0, u1, fill = map(float, sys.argv[1:]); print("%.3f" % ((u1 - u0) / (fill * 256)))' "${u0:-0}" "${u1:-0}" "$FILL")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$disk.$t" "$m_seq" "$m_qd1" "$m_qd16" "$m_qd64" "$m_j2" "$m_rr" "$space" \
		"$(( (k1 - k0) / 1024 ))" >>"$RES"
	log "$disk $t: seq128k $m_seq rw4k qd1 $m_qd1 qd16 $m_qd16 qd64 $m_qd64 j2 $m_j2 rr4k $m_rr MB/s, space $space, kmem $(( (k1 - k0) / 1024 )) MiB"
	remove
done
done
rmmod null_blk 2>/dev/null || true
rmmod vdo_qat 2>/dev/null || true

python3 - "$RES" "$SECS" "$FILL" <<'EOF' | tee -a "$OUT/bench.txt"
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
jobs = ["seq128k", "rw4k_qd1", "rw4k_qd16", "rw4k_qd64", "rw4k_j2", "rr4k_qd16"]
t = {r[0]: dict(zip(jobs + ["space", "kmem_mib"], map(float, r[1:]))) for r in rows}
print()
print("targets, one boot: fio 4 KiB random writes (QD 1/16/64, 2 jobs at QD 16), 128 KiB "
      "sequential writes, 4 KiB random reads; 50%% compressible, 50%% duplicate data; "
      "%s s per random job, %s MiB sequential; MB/s" % (sys.argv[2], sys.argv[3]))
print("%-20s" % "disk.target" + "".join("%11s" % j for j in jobs) + "%8s%10s" % ("space", "kmem MiB"))
for name, v in t.items():
    print("%-20s" % name + "".join("%11.1f" % v[j] for j in jobs) + "%8.3f%10.0f" % (v["space"], v["kmem_mib"]))
for name, v in t.items():
    disk = name.split(".")[0]
    lin, vdo = t.get(disk + ".linear"), t.get(disk + ".dm_vdo")
    for j in jobs:
        print("ratio %s.%s.mbps %.2f" % (name, j, v[j]))
        if lin and lin[j] > 0:
            print("ratio %s.%s %.3f" % (name, j, v[j] / lin[j]))
        if vdo and ".vdo_qat" in name and vdo[j] > 0:
            print("ratio %s.%s.vs_dm_vdo %.3f" % (name, j, v[j] / vdo[j]))
    print("ratio %s.space %.3f" % (name, v["space"]))
    print("ratio %s.kmem_mib %.0f" % (name, v["kmem_mib"]))
    if v["rw4k_qd1"] > 0:
        print("ratio %s.scale_qd64 %.2f" % (name, v["rw4k_qd64"] / v["rw4k_qd1"]))
        print("ratio %s.scale_j2 %.2f" % (name, v["rw4k_j2"] / v["rw4k_qd1"]))
EOF
