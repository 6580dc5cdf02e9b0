#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A metadata error aborts the transaction and the volume stays read-only
# until told otherwise (issue 13, defects 2 and 3).
#
# Before the fix: a failed commit set read-only mode in memory only, so a
# suspend/resume (or a re-create) brought the volume back writable, and the
# in-memory dedup index, kept across it, still named blocks that the
# abandoned transaction had allocated. Those blocks were then reused for
# other data, and a later write of the old content was mapped to that other
# data: wrong data on read, silently.
#
# Here: the metadata region's writes fail (dm-flakey error_writes) when a
# flush commits. The flush fails, the transaction is aborted (reads show
# the last commit), the volume is read-only, needs_check is recorded on
# the device once writes work again (at resume), survives re-creation, and
# only the clear_needs_check message makes the volume writable. Then the
# blocks of the aborted transaction are reused, the old content is written
# again, and every block reads back exactly what was written last.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 31
trap 'dmsetup remove vqn 2>/dev/null; dmsetup remove vqnl 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
all_mark=$DMESG_MARK
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 64)
LS=$(sectors_of "$LOOP")
MS=$((512 * 8))             # metadata region (metadata_blocks 512), sectors
LEN=$((64 * 2048))
DEV=/dev/mapper/vqn
good() { echo "0 $LS linear $LOOP 0"; }
badmeta() { printf '0 %s flakey %s 0 0 1 1 error_writes\n%s %s linear %s %s\n' \
	$MS "$LOOP" $MS $((LS - MS)) "$LOOP" $MS; }
lower() { dmsetup suspend --noflush vqnl && dmsetup load vqnl --table "$1" && dmsetup resume vqnl; }
mk() { dmsetup create vqn --table "0 $LEN vdo_qat /dev/mapper/vqnl $LEN 6 compression off metadata_blocks 512 commit_period 600000" && dmsetup mknodes vqn; }
recreate() { dmsetup remove vqn && mk; }
field() { dmsetup status vqn | cut -d' ' -f"$1"; }
# put <file> <first LBN>: O_DIRECT write of a file of whole blocks.
put() { dd if="$1" of=$DEV bs=4k seek="$2" oflag=direct conv=notrunc status=none; }
# get <first LBN> <blocks>: sha256 of what the volume holds there.
get() { dd if=$DEV bs=4k skip="$1" count="$2" iflag=direct status=none | sha; }
fsync_dev() { python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.fsync(fd)' "$DEV"; }

check "lower device (dm-linear)" dmsetup create vqnl --table "$(good)"
check "create the volume" mk
for f in a b c; do head -c $((64 * 4096)) /dev/urandom >"$VQ_TMP/$f"; done
put "$VQ_TMP/a" 0 && fsync_dev
A=$(sha <"$VQ_TMP/a") B=$(sha <"$VQ_TMP/b") C=$(sha <"$VQ_TMP/c") Z=$(head -c $((64 * 4096)) /dev/zero | sha)
# Acknowledged, not flushed: in the transaction the error aborts.
put "$VQ_TMP/b" 100
eq "B reads back before the error" "$B" "$(get 100 64)"

check "metadata writes start failing" lower "$(badmeta)"
check "the flush that commits fails" fails fsync_dev
eq "read-only at once" read-only "$(field 4)"
eq "one transaction aborted" 1 "$(dm_stat vqn aborts)"
check "the abort is logged" grep -q 'transaction aborted, volume is now read-only' <(dmesg_since)
eq "reads show the last commit: A" "$A" "$(get 0 64)"
eq "reads show the last commit: B is gone (never flushed)" "$Z" "$(get 100 64)"
check "writes fail" fails put "$VQ_TMP/c" 200

check "metadata writes work again" lower "$(good)"
check "suspend and resume the volume" bash -c "dmsetup suspend vqn && dmsetup resume vqn"
eq "still read-only after resume" read-only "$(field 4)"
eq "needs_check recorded (status)" needs_check "$(field 17)"
check "writes still fail" fails put "$VQ_TMP/c" 200
check "remove and create again" recreate
eq "still read-only after re-creation" read-only "$(field 4)"
eq "needs_check survives re-creation (stats)" 1 "$(dm_stat vqn needs_check)"
check "clear_needs_check message" dmsetup message vqn 0 clear_needs_check
eq "writable again" normal "$(field 4)"
eq "needs_check cleared" - "$(field 17)"

# Reuse the blocks the aborted transaction had allocated, then write its
# content again elsewhere: it must be stored anew, not deduplicated
# against the blocks that now hold C.
h0=$(dm_stat vqn dedup_hits)
put "$VQ_TMP/c" 200 && put "$VQ_TMP/b" 300 && fsync_dev
eq "C reads back" "$C" "$(get 200 64)"
eq "B written again reads back exactly" "$B" "$(get 300 64)"
eq "no dedup hit against the aborted transaction's blocks" 0 $(($(dm_stat vqn dedup_hits) - h0))
eq "A intact" "$A" "$(get 0 64)"
check "remove and create again" recreate
eq "after re-creation: A, C and B" "$A $C $B" "$(get 0 64) $(get 200 64) $(get 300 64)"
# A clean suspend/resume keeps the index (same commit before and after):
# B stored once more, then written again after it, is 64 dedup hits.
put "$VQ_TMP/b" 400 && fsync_dev
dmsetup suspend vqn && dmsetup resume vqn
h0=$(dm_stat vqn dedup_hits)
put "$VQ_TMP/b" 500 && fsync_dev
eq "after a clean suspend/resume the index still finds B: 64 hits" 64 $(($(dm_stat vqn dedup_hits) - h0))
eq "and B reads back there" "$B" "$(get 500 64)"
DMESG_MARK=$all_mark
check "no kernel bug reports" no_new_bugs
ktap_finished
