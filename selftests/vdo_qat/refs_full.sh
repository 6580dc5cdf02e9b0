#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A stored copy shared by as many LBNs as an item may count stops being a
# dedup target: the next write of the same content stores a new copy, and
# the volume stays writable (issue 13, defect 5). Before the fix the
# reference count overflowed (EOVERFLOW at u32::MAX) and the whole volume
# went read-only. The limit is the table feature max_refs (default
# 4294967295; dm-vdo's is 254); this test sets 3 so the limit is reached in
# a few writes, and checks exact counters.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 16
trap 'dmsetup remove vqr 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 32)
LEN=$((64 * 2048))
DEV=/dev/mapper/vqr
mk() { dmsetup create vqr --table "0 $LEN vdo_qat $LOOP $LEN $1" && dmsetup mknodes vqr; }
check "create (compression off, max_refs 3)" mk "4 compression off max_refs 3"
eq "stats show max_refs" 3 "$(dm_stat vqr max_refs)"
eq "dmsetup table shows it" "max_refs 3" "$(dmsetup table vqr | grep -o 'max_refs [0-9]*')"
head -c 4096 /dev/urandom >"$VQ_TMP/blk"
R=$(sha <"$VQ_TMP/blk")
# read_back: how many of LBNs 0..9 hold the block.
read_back() {
	local i n=0
	for i in $(seq 0 9); do
		[ "$(dd if=$DEV bs=4k skip=$i count=1 iflag=direct status=none | sha)" = "$R" ] && n=$((n + 1))
	done
	echo $n
}
# The same block to LBNs 0..9, one after the other: copies of 3, 3, 3, 1.
for i in $(seq 0 9); do
	dd if="$VQ_TMP/blk" of=$DEV bs=4k seek=$i oflag=direct status=none
done
eq "6 writes shared a copy" 6 "$(dm_stat vqr dedup_hits)"
eq "3 writes found their copy full" 3 "$(dm_stat vqr refs_full)"
eq "4 copies stored" 4 "$(dm_stat vqr items)"
eq "4 data blocks used" 4 "$(dm_stat vqr phys_used)"
eq "10 LBNs mapped" 10 "$(dm_stat vqr mapped)"
eq "still writable" normal "$(dmsetup status vqr | cut -d' ' -f4)"
eq "no transaction aborted" 0 "$(dm_stat vqr aborts)"
eq "references of LBN 0 and LBN 9 (map message)" "3 1" \
	"$(dmsetup message vqr 0 map 0 | awk '{print $4}') $(dmsetup message vqr 0 map 9 | awk '{print $4}')"
eq "all 10 LBNs read back the block" 10 "$(read_back)"
dmsetup remove vqr
check "create again" mk "4 compression off max_refs 3"
eq "after re-creation: 4 copies, 10 LBNs" "4 10" "$(dm_stat vqr items) $(dm_stat vqr mapped)"
eq "all 10 LBNs read back the block after re-creation" 10 "$(read_back)"
dmsetup remove vqr
check "no kernel bug reports" no_new_bugs
ktap_finished
