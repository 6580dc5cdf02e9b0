#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs INSIDE the VM for scripts/demo.sh. Usage: demo-guest.sh <outdir> <srcdir>
# The main job: copies part of the Linux source tree onto ext4 on a vdo_qat
# volume, drops caches, removes and re-creates the target, checks every
# file with sha256sum -c, and compares the space it takes with upstream
# dm-vdo (compression on) and dm-thin holding the same files, then runs the
# same fio 4 KiB random-write job on each. Everything is measured in this
# one VM run. Environment: DEMO_DIRS (subdirectories of <srcdir> to copy).
set -eu
OUT=$1 SRC=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/usr/sbin:/sbin:$PATH DM_DISABLE_UDEV=1
exec > >(tee "$OUT/demo.log") 2>&1
DIRS=${DEMO_DIRS:-}
DIRS=${DIRS:-"include kernel lib mm fs/ext4 fs/btrfs fs/xfs drivers/md Documentation"}
run() { echo "# $*"; "$@"; }
now() { date +%s.%N; }
W=/tmp/demo
mkdir -p $W/mnt
SUMMARY=$W/summary

run insmod "$ROOT/drivers/vdo_qat/vdo_qat.ko"
modprobe dm-vdo 2>/dev/null || insmod "$(find /lib/modules/"$(uname -r)" -name 'dm-vdo.ko*' | head -n1)" 2>/dev/null || true
run dmsetup targets

# The data set, staged once in tmpfs so every target gets the same bytes.
echo "# staging: $DIRS from $SRC"
mkdir -p $W/data
(cd "$SRC" && tar cf - $DIRS) | tar xf - -C $W/data
FILES=$(find $W/data -type f | wc -l)
BYTES=$(du -sb --apparent-size $W/data | cut -f1)
(cd $W/data && find . -type f -print0 | xargs -0 sha256sum) >$W/sums
echo "data set: $FILES files, $BYTES bytes (apparent), $((BYTES / 1048576)) MiB"

# fill <dev> <name>: mkfs.ext4, copy the data set, sync; prints seconds.
fill() {
	mkfs.ext4 -q -b 4096 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$1"
	mount "$1" $W/mnt
	local t0; t0=$(now)
	cp -a $W/data/. $W/mnt/
	sync
	echo "$2: copied in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
}

# fio4k <dev>: 4 KiB random writes, 48 MiB, QD 16, O_DIRECT; prints MiB/s.
fio4k() {
	fio --name=rw4k --filename="$1" --rw=randwrite --bs=4k --size=48M --offset=512M \
		--direct=1 --ioengine=libaio --iodepth=16 --buffer_compress_percentage=70 \
		--buffer_compress_chunk=4k --dedupe_percentage=30 --randrepeat=1 \
		--output-format=json --output=$W/fio.json >/dev/null 2>&1
	python3 -c '
import json, sys
w = json.load(open(sys.argv[1]))["jobs"][0]["write"]
print("%.2f MiB/s, %d IOPS" % (w["bw_bytes"] / 1048576, w["iops"]))' $W/fio.json
}

# --- vdo_qat: 2 GiB device, 8 GiB logical ---
echo; echo "=== vdo_qat ==="
truncate -s 2G $W/vq.img
LQ=$(losetup -f --show $W/vq.img)
VQLEN=$((8 << 21))
run dmsetup create vq --table "0 $VQLEN vdo_qat $LQ $VQLEN"
fill /dev/mapper/vq vdo_qat
umount $W/mnt
echo 3 >/proc/sys/vm/drop_caches
run dmsetup status vq
run dmsetup remove vq
echo "# re-create the target and check every file"
run dmsetup create vq --table "0 $VQLEN vdo_qat $LQ $VQLEN"
mount /dev/mapper/vq $W/mnt
if (cd $W/mnt && sha256sum -c --quiet $W/sums); then
	echo "sha256sum -c: all $FILES files OK after re-creating the target"
	VERIFY=OK
else
	echo "sha256sum -c: MISMATCH"; VERIFY=FAILED
fi
umount $W/mnt
run dmsetup status vq
read -r _ _ _ _ QL _ QP _ QD QC QDRV _ < <(dmsetup status vq)
run dmsetup message vq 0 stats
VQ_FIO=$(fio4k /dev/mapper/vq)
dmsetup remove vq; losetup -d $LQ; rm -f $W/vq.img

# --- dm-vdo: 8 GiB device (its index and metadata need ~4 GiB) ---
echo; echo "=== dm-vdo (upstream, compression on) ==="
VD_USED=- VD_LOG=- VD_FIO=-
if dmsetup targets | grep -q '^vdo '; then
	truncate -s 8G $W/vdo.img
	LV=$(losetup -f --show $W/vdo.img)
	run dmsetup create vdo --table "0 $VQLEN vdo V4 $LV $(( (8 << 30) / 4096 )) 4096 32768 16380 compression on"
	b0=$(dmsetup message vdo 0 stats | tr ',' '\n' | awk -F' : ' '$1 ~ /dataBlocksUsed/ {print $2}')
	fill /dev/mapper/vdo dm-vdo
	umount $W/mnt
	run dmsetup status vdo
	st=$(dmsetup message vdo 0 stats | tr ',' '\n')
	VD_USED=$(( $(awk -F' : ' '$1 ~ /dataBlocksUsed/ {print $2}' <<<"$st") - ${b0:-0} ))
	VD_LOG=$(awk -F' : ' '$1 ~ /logicalBlocksUsed/ {print $2}' <<<"$st")
	VD_FIO=$(fio4k /dev/mapper/vdo)
	dmsetup remove vdo; losetup -d $LV; rm -f $W/vdo.img
else
	echo "dm-vdo target not available in this kernel"
fi

# --- dm-thin: 64 KiB blocks, 2 GiB data, 64 MiB metadata ---
echo; echo "=== dm-thin ==="
truncate -s 2G $W/thin.img; truncate -s 64M $W/meta.img
LT=$(losetup -f --show $W/thin.img); LM=$(losetup -f --show $W/meta.img)
dd if=/dev/zero of=$LM bs=4k count=1 status=none
run dmsetup create pool --table "0 $(( (2 << 30) / 512 )) thin-pool $LM $LT 128 0 1 skip_block_zeroing"
dmsetup message pool 0 "create_thin 0"
run dmsetup create thin --table "0 $VQLEN thin /dev/mapper/pool 0"
fill /dev/mapper/thin dm-thin
umount $W/mnt
st=$(dmsetup status pool)
echo "pool status: $st"
TH_USED=$(awk '{split($6, a, "/"); print a[1]}' <<<"$st")
TH_FIO=$(fio4k /dev/mapper/thin)
dmsetup remove thin; dmsetup remove pool; losetup -d $LT $LM; rm -f $W/thin.img $W/meta.img

# --- summary ---
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
{
echo
echo "=== space for $FILES files, $(mib "$BYTES") MiB of Linux source (plus ext4 metadata) ==="
printf '%-9s %14s %14s %s\n' target "data MiB" "vs data set" "details"
printf '%-9s %14s %14s %s\n' vdo_qat "$(mib $((QP * 4096)))" \
	"$(awk -v p=$((QP * 4096)) -v b="$BYTES" 'BEGIN { printf "%.2fx", b / p }')" \
	"$QL LBNs -> $QP blocks; dedup saved $QD blocks ($(mib $((QD * 4096))) MiB), compression saved $QC blocks ($(mib $((QC * 4096))) MiB); $QDRV"
if [ "$VD_USED" != - ]; then
	printf '%-9s %14s %14s %s\n' dm-vdo "$(mib $((VD_USED * 4096)))" \
		"$(awk -v p=$((VD_USED * 4096)) -v b="$BYTES" 'BEGIN { printf "%.2fx", b / p }')" \
		"$VD_LOG LBNs -> $VD_USED data blocks (index and metadata not counted); LZ4"
fi
printf '%-9s %14s %14s %s\n' dm-thin "$(mib $((TH_USED * 65536)))" \
	"$(awk -v p=$((TH_USED * 65536)) -v b="$BYTES" 'BEGIN { printf "%.2fx", b / p }')" \
	"$TH_USED blocks of 64 KiB"
echo
echo "=== fio 4 KiB random writes, QD 16, O_DIRECT, 48 MiB, 70% compressible, 30% duplicates ==="
echo "vdo_qat: $VQ_FIO"
echo "dm-vdo:  $VD_FIO"
echo "dm-thin: $TH_FIO"
} | tee $SUMMARY
cp $SUMMARY "$OUT/summary.txt"
run rmmod vdo_qat
[ "$VERIFY" = OK ] && echo "demo: OK"
