#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vdo_qat as a passthrough target over a loop device: table round trip,
# exact bio counters, data checked by sha256 on the volume and on the
# backing device (remap offset), fio crc32c verification, flush, discard,
# ext4 file round trip, ignore_discard, messages, removal.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 25
trap 'umount "$VQ_TMP/mnt" 2>/dev/null; dmsetup remove vq0 2>/dev/null; dmsetup remove vq1 2>/dev/null; dmsetup remove vq2 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 64)
OFF=2048
LEN=$(( $(sectors_of "$LOOP") - OFF ))
MAJMIN=$(printf '%d:%d' "0x$(stat -c %t "$LOOP")" "0x$(stat -c %T "$LOOP")")
check "create volume over $LOOP at offset $OFF" dmsetup create vq0 --table "0 $LEN vdo_qat $LOOP $OFF"
dmsetup mknodes vq0
DEV=/dev/mapper/vq0
eq "table reads back" "0 $LEN vdo_qat $MAJMIN $OFF" "$(dmsetup table vq0)"
eq "volume size in sectors" "$LEN" "$(sectors_of $DEV)"

# Exact counters: 16 direct 4 KiB writes, 8 direct 4 KiB reads.
head -c 65536 /dev/urandom >"$VQ_TMP/pat"
w0=$(dm_stat vq0 writes); r0=$(dm_stat vq0 reads)
dd if="$VQ_TMP/pat" of=$DEV bs=4k count=16 seek=256 oflag=direct status=none
eq "16 direct writes counted" 16 $(( $(dm_stat vq0 writes) - w0 ))
dd if=$DEV of=/dev/null bs=4k count=8 skip=256 iflag=direct status=none
eq "8 direct reads counted" 8 $(( $(dm_stat vq0 reads) - r0 ))

# 4 MiB of random data at 8 MiB: same sha256 through the volume and on the
# backing device at offset + 8 MiB.
head -c 4194304 /dev/urandom >"$VQ_TMP/src"
want=$(sha <"$VQ_TMP/src")
dd if="$VQ_TMP/src" of=$DEV bs=1M seek=8 oflag=direct status=none
eq "sha256 read back through the volume" "$want" "$(dd if=$DEV bs=1M skip=8 count=4 iflag=direct status=none | sha)"
eq "sha256 on the backing device at the remapped offset" "$want" \
	"$(dd if="$LOOP" bs=512 skip=$((OFF + 16384)) count=8192 iflag=direct status=none | sha)"

# fio: random 4 KiB writes with crc32c verification.
fio --name=verify --filename=$DEV --rw=randwrite --bs=4k --size=16M --offset=16M \
	--direct=1 --ioengine=libaio --iodepth=8 --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --randrepeat=1 --output-format=json --output="$VQ_TMP/fio.json" >/dev/null 2>&1
fio_rc=$?
eq "fio exit status" 0 "$fio_rc"
eq "fio wrote and verified 16 MiB without error" "0 16777216 16777216" "$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["error"], j["write"]["io_bytes"], j["read"]["io_bytes"])' "$VQ_TMP/fio.json" 2>&1)"

# A flush (fsync of the block device) reaches the target as an empty
# PREFLUSH bio.
f0=$(dm_stat vq0 flushes)
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)' $DEV
eq "fsync reaches the target as exactly one flush" 1 $(( $(dm_stat vq0 flushes) - f0 ))

# Discard 1 MiB of written data: passed down, reads back as zeros.
d0=$(dm_stat vq0 discards)
check "blkdiscard of 1 MiB" blkdiscard -o $((8 << 20)) -l $((1 << 20)) $DEV
eq "the discard reaches the target as one bio" 1 $(( $(dm_stat vq0 discards) - d0 ))
eq "discarded range reads back as zeros" "$(head -c 1048576 /dev/zero | sha)" \
	"$(dd if=$DEV bs=1M skip=8 count=1 iflag=direct status=none | sha)"

# ext4: a file survives unmount and mount.
mkdir -p "$VQ_TMP/mnt"
mkfs.ext4 -q -F $DEV && mount $DEV "$VQ_TMP/mnt" && cp "$VQ_TMP/src" "$VQ_TMP/mnt/file" &&
	umount "$VQ_TMP/mnt" && mount $DEV "$VQ_TMP/mnt"
eq "ext4 file sha256 after remount" "$want" "$(sha <"$VQ_TMP/mnt/file")"
umount "$VQ_TMP/mnt"

# Messages: stats answers; anything else fails.
check "stats message answers" sh -c "dmsetup message vq0 0 stats | grep -q '^reads=[0-9]* writes=[0-9]* flushes='"
check "unknown message is rejected" sh -c '! dmsetup message vq0 0 frobnicate 2>/dev/null'
check "remove volume" dmsetup remove vq0
check "volume is gone" sh -c '! dmsetup info vq0 >/dev/null 2>&1'

# ignore_discard: discards are refused, data stays.
dmsetup create vq1 --table "0 $LEN vdo_qat $LOOP $OFF 1 ignore_discard" && dmsetup mknodes vq1
eq "ignore_discard table reads back" "0 $LEN vdo_qat $MAJMIN $OFF 1 ignore_discard" "$(dmsetup table vq1)"
dd if="$VQ_TMP/src" of=/dev/mapper/vq1 bs=1M seek=8 oflag=direct status=none
check "discard refused with ignore_discard" sh -c '! blkdiscard -o $((9 << 20)) -l $((1 << 20)) /dev/mapper/vq1 2>/dev/null'
eq "data intact after the refused discard" "$want" \
	"$(dd if=/dev/mapper/vq1 bs=1M skip=8 count=4 iflag=direct status=none | sha)"
dmsetup remove vq1

# Two targets: linear for the first MiB, vdo_qat after it (begin > 0).
# Data lands at the right place, and empty flushes (sector 0) are handled.
printf '0 2048 linear %s %d\n2048 %d vdo_qat %s %d\n' "$LOOP" "$OFF" $((LEN - 2048)) "$LOOP" $((OFF + 2048)) |
	dmsetup create vq2 && dmsetup mknodes vq2
eq "two-target table reads back" "0 2048 linear $MAJMIN $OFF|2048 $((LEN - 2048)) vdo_qat $MAJMIN $((OFF + 2048))" \
	"$(dmsetup table vq2 | paste -sd'|')"
dd if="$VQ_TMP/src" of=/dev/mapper/vq2 bs=1M seek=2 count=1 oflag=direct status=none
eq "data written after a target start lands at the remapped offset" "$(head -c 1048576 "$VQ_TMP/src" | sha)" \
	"$(dd if="$LOOP" bs=512 skip=$((OFF + 4096)) count=2048 iflag=direct status=none | sha)"
f0=$(dm_stat vq2 flushes 2048)
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)' /dev/mapper/vq2
eq "empty flush reaches a target that starts at sector 2048" 1 $(( $(dm_stat vq2 flushes 2048) - f0 ))
dmsetup remove vq2

check "no kernel bug reports" no_new_bugs
ktap_finished
