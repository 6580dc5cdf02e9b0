#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Corrupt metadata on disk: never an oops. A damaged block map root loads,
# then the first read fails with EIO and turns the volume read-only at
# once (status shows it, writes fail), and needs_check is recorded on the
# device: the volume comes back read-only when created again (issue 13,
# defect 3: before, a metadata error on the read path changed nothing and
# read-only mode was never persisted). Damaged space maps make the load
# fail with a message.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 12
trap 'dmsetup remove vqm 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
all_mark=$DMESG_MARK
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 32)
LEN=$((64 * 2048))
DEV=/dev/mapper/vqm
mk() { dmsetup create vqm --table "0 $LEN vdo_qat $LOOP $LEN" && dmsetup mknodes vqm; }
fill() {
	mk && head -c 1048576 /dev/urandom | dd of=$DEV bs=64k oflag=direct status=none &&
		dmsetup remove vqm
}
check "create and fill 256 blocks" fill
blockdev --flushbufs "$LOOP"

# flip <block>: XOR one byte in the middle of 4 KiB block <block> of $LOOP.
flip() {
	python3 -c '
import sys
f = open(sys.argv[1], "r+b"); pos = int(sys.argv[2]) * 4096 + 2000
f.seek(pos); b = f.read(1); f.seek(pos); f.write(bytes([b[0] ^ 0xff]))' "$LOOP" "$1"
	blockdev --flushbufs "$LOOP"
}
# The block map root is the little-endian u64 at byte 56 of the superblock.
MAP_ROOT=$(python3 -c '
import struct, sys
f = open(sys.argv[1], "rb"); f.seek(56); print(struct.unpack("<Q", f.read(8))[0])' "$LOOP")
cp "$(losetup -nO BACK-FILE "$LOOP")" "$VQ_TMP/pristine"
flip "$MAP_ROOT"
check "a volume with a corrupt block map root still loads" mk
check "reading a mapped block fails with EIO" fails dd if=$DEV of=/dev/null bs=4k count=1 iflag=direct status=none
eq "the read error made the volume read-only" read-only "$(dmsetup status vqm | cut -d' ' -f4)"
check "a write fails" fails dd if=/dev/zero of=$DEV bs=4k count=1 seek=300 oflag=direct status=none
check "read-only logged" bash -c "dmesg | grep -q 'volume is now read-only'"
dmsetup remove vqm
check "created again: it loads" mk
eq "created again: still read-only" read-only "$(dmsetup status vqm | cut -d' ' -f4)"
eq "created again: needs_check in status" needs_check "$(dmsetup status vqm | cut -d' ' -f17)"
dmsetup remove vqm

# Damage every metadata block but the superblock: the load fails cleanly.
cp "$VQ_TMP/pristine" "$(losetup -nO BACK-FILE "$LOOP")"
blockdev --flushbufs "$LOOP"
for b in $(python3 -c '
import sys
f = open(sys.argv[1], "rb")
for b in range(1, 256):
    f.seek(b * 4096)
    if any(f.read(4096)): print(b)' "$LOOP"); do flip "$b"; done
dmesg_mark
check "damaged space maps: create fails" fails mk
check "damaged space maps: the failure is logged" bash -c "dmesg | grep -q 'cannot open metadata'"
dmsetup remove vqm 2>/dev/null
DMESG_MARK=$all_mark
check "no kernel bug reports" no_new_bugs
ktap_finished
