#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# No lock is held across data I/O (issue 13, defect 7). Before the fix the
# packer's mutex was held while a packed block was written, and every read
# took it; the metadata mutex was held while the freed blocks of a commit
# were discarded on the data device. A slow data device then stalled every
# read of the volume behind one write or one discard.
#
# The data region of the device under the volume is behind dm-delay: its
# writes and discards take 5 s, its reads, flushes and the metadata region
# none. While a packed block is being written (fsync of a compressible
# write), and while a discard's freed blocks are passed down, a read of
# another, raw-mapped block must complete in well under the delay. The
# bound is generous (1 s for a 4 KiB read that takes milliseconds): it
# tells a read that waited for the 5 s I/O from one that did not.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 11
trap 'kill $BG 2>/dev/null; dmsetup remove vqk 2>/dev/null; dmsetup remove vqkl 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 64)
LS=$(sectors_of "$LOOP")
MS=$((512 * 8))             # metadata region (metadata_blocks 512), sectors
DELAY=5000
LEN=$((64 * 2048))
DEV=/dev/mapper/vqk
# Data region: reads 0 ms, writes and discards $DELAY ms, flushes 0 ms.
slow() { printf '0 %s linear %s 0\n%s %s delay %s %s 0 %s %s %s %s %s 0\n' \
	$MS "$LOOP" $MS $((LS - MS)) "$LOOP" $MS "$LOOP" $MS $DELAY "$LOOP" $MS; }
fast() { echo "0 $LS linear $LOOP 0"; }
lower() { dmsetup suspend vqkl && dmsetup load vqkl --table "$1" && dmsetup resume vqkl; }
check "lower device (metadata region linear)" dmsetup create vqkl --table "$(fast)"
check "create the volume" bash -c "dmsetup create vqk --table '0 $LEN vdo_qat /dev/mapper/vqkl $LEN 2 metadata_blocks 512' && dmsetup mknodes vqk"
# Setup at full speed: a raw block at LBN 7 (the one read below), 256 raw
# blocks at LBNs 1000.. (discarded below).
head -c 4096 /dev/urandom >"$VQ_TMP/r"
R=$(sha <"$VQ_TMP/r")
dd if="$VQ_TMP/r" of=$DEV bs=4k seek=7 oflag=direct status=none
head -c $((1 << 20)) /dev/urandom >"$VQ_TMP/m"
dd if="$VQ_TMP/m" of=$DEV bs=4k seek=1000 oflag=direct status=none
sync
check "data region slowed down (dm-delay, writes ${DELAY} ms)" lower "$(slow)"

# timed_read: milliseconds one O_DIRECT read of LBN 7 takes; checks it.
timed_read() {
	python3 - "$DEV" "$R" <<'PY'
import hashlib, mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
b = mmap.mmap(-1, 4096)
t = time.monotonic()
os.preadv(fd, [b], 7 * 4096)
ms = int((time.monotonic() - t) * 1000)
print(ms if hashlib.sha256(b).hexdigest() == sys.argv[2] else "bad-data")
PY
}
base=$(timed_read)
check "a read takes under 1 s when nothing else runs ($base ms)" test "$base" -lt 1000

# 1. A packed block being written: a compressible block, fsync'ed.
( sed 's/^/some compressible words /' /etc/services | head -c 4096 | \
	dd of=$DEV bs=4k seek=20 oflag=direct,sync status=none ) &
BG=$!
sleep 0.5
t1=$(timed_read)
wait $BG; rc=$?
eq "the compressible write completed" 0 $rc
check "a read during the packed block's write: $t1 ms (< 1000)" test "$t1" -lt 1000
check "the packed block was written" test "$(dm_stat vqk packed_blocks)" -ge 1

# 2. Passdown discards of freed blocks: discard the 256 blocks.
d0=$(dm_stat vqk discards_passed)
blkdiscard -o $((1000 * 4096)) -l $((256 * 4096)) $DEV &
BG=$!
sleep 1
t2=$(timed_read)
wait $BG; rc=$?
eq "the discard completed" 0 $rc
check "a read during the passdown discard: $t2 ms (< 1000)" test "$t2" -lt 1000
eq "256 freed blocks passed down" 256 $(($(dm_stat vqk discards_passed) - d0))
BG=
lower "$(fast)"
check "no kernel bug reports" no_new_bugs
ktap_finished
