#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# One volume per data device (issue 13, defect 1). Before the fix a second
# vdo_qat target on a device a live volume used was accepted (another
# mapped device, or the same table twice); both loaded the same metadata
# and corrupted it. Now: the data device is claimed by the mapped device
# of the first target; a second user fails with EBUSY and a message naming
# the holder; a table reload of the same mapped device still works; the
# claim is released with the volume; the data is intact throughout.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 14
trap 'for d in vqx2 vqx1 vqx3; do dmsetup remove $d 2>/dev/null; done; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
all_mark=$DMESG_MARK
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 32)
L2=$(loopdev 32)
LEN=$((64 * 2048))
tbl() { echo "0 $LEN vdo_qat $1 $LEN"; }
check "first volume on the device" dmsetup create vqx1 --table "$(tbl "$LOOP")"
dmsetup mknodes vqx1
head -c $((256 << 10)) /dev/urandom >"$VQ_TMP/data"
dd if="$VQ_TMP/data" of=/dev/mapper/vqx1 bs=64k oflag=direct status=none
want=$(sha <"$VQ_TMP/data")

dmesg_mark
check "a second mapped device on the same device is refused" fails dmsetup create vqx2 --table "$(tbl "$LOOP")"
check "the refusal names the holder" grep -q 'is already used by vdo_qat volume vqx1' <(dmesg_since)
check "the same device by major:minor is refused too" fails dmsetup create vqx2 --table "$(tbl "$(lsblk -ndo MAJ:MIN "$LOOP" | tr -d ' ')")"
two="0 $LEN vdo_qat $L2 $LEN
$LEN $LEN vdo_qat $L2 $LEN"
check "one table with two targets on one device is refused" fails dmsetup create vqx3 --table "$two"
dmsetup remove vqx3 2>/dev/null
# Two targets of one table on two devices are fine.
two="0 $LEN vdo_qat $L2 $LEN
$LEN $LEN vdo_qat $(loopdev 32) $LEN"
check "one table with two targets on two devices" dmsetup create vqx3 --table "$two"
dmsetup remove vqx3
eq "nothing was created by the refused tables" "vqx1" "$(dmsetup ls --target vdo_qat | awk '{print $1}' | sort | tr '\n' ' ' | sed 's/ $//')"

# A reload of the same mapped device (grown logical size) claims it again.
check "table reload of the same volume" bash -c "dmsetup load vqx1 --table '0 $((LEN * 2)) vdo_qat $LOOP $((LEN * 2))' && dmsetup resume vqx1"
eq "logical size after the reload" "$((LEN * 2))" "$(blockdev --getsz /dev/mapper/vqx1)"
eq "data intact after the refusals and the reload" "$want" "$(dd if=/dev/mapper/vqx1 bs=64k count=4 iflag=direct status=none | sha)"
eq "stats: 64 blocks mapped" 64 "$(dm_stat vqx1 mapped)"
check "remove the volume" dmsetup remove vqx1
check "the claim went with it: the device can be used again" bash -c "dmsetup create vqx2 --table '0 $((LEN * 2)) vdo_qat $LOOP $((LEN * 2))' && dmsetup mknodes vqx2 &&
	[ \"\$(dd if=/dev/mapper/vqx2 bs=64k count=4 iflag=direct status=none | sha256sum | cut -d' ' -f1)\" = $want ]"
dmsetup remove vqx2
DMESG_MARK=$all_mark
check "no kernel bug reports" no_new_bugs
ktap_finished
