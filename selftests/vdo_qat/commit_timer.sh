#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The commit timer (issue 13, defect 6). Before the fix an idle volume
# committed only if its last commit was a second old at the moment it went
# idle: a burst that ended within a second of a commit stayed uncommitted
# until the next I/O, possibly for hours, and a power cut lost it. Now the
# metadata is committed every commit_period (default 1000 ms, as dm-thin)
# while anything is uncommitted.
#
# A commit (fsync), then at once a burst without fsync, then 3 s of
# silence, then the power cut (the device under the volume swapped for
# dm-flakey dropping every write); the volume created again must hold the
# burst. Also: the commit_period table feature.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 15
trap 'dmsetup remove vqt 2>/dev/null; dmsetup remove vqtl 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 32)
LS=$(sectors_of "$LOOP")
LEN=$((64 * 2048))
DEV=/dev/mapper/vqt
linear() { echo "0 $LS linear $LOOP 0"; }
dropping() { echo "0 $LS flakey $LOOP 0 0 1 1 drop_writes"; }
lower() { dmsetup suspend --noflush vqtl && dmsetup load vqtl --table "$1" && dmsetup resume vqtl; }
mk() { dmsetup create vqt --table "0 $LEN vdo_qat /dev/mapper/vqtl $LEN $*" && dmsetup mknodes vqt; }
check "lower device" dmsetup create vqtl --table "$(linear)"
check "create the volume" mk
head -c $((64 * 4096)) /dev/urandom >"$VQ_TMP/a"
( sed 's/^/compressible text line /' /etc/services; seq 1 80000 ) | head -c $((64 * 4096)) >"$VQ_TMP/b"
A=$(sha <"$VQ_TMP/a") B=$(sha <"$VQ_TMP/b")
# One process: write A, fsync (a commit), then B (64 blocks in one
# O_DIRECT write, well within a second of the commit), no fsync.
# It prints the commit count read right after the fsync (whose commit is
# done when fsync returns).
c0=$(python3 - "$DEV" "$VQ_TMP/a" "$VQ_TMP/b" <<'PY'
import mmap, os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
for i, name in enumerate(sys.argv[2:]):
    data = open(name, "rb").read()
    buf = mmap.mmap(-1, len(data))
    buf[:] = data
    os.pwritev(fd, [buf], i * 64 * 4096)
    if i == 0:
        os.fsync(fd)
        st = subprocess.run(["dmsetup", "message", "vqt", "0", "stats"], capture_output=True, text=True).stdout
        c = [w.split("=")[1] for w in st.split() if w.startswith("commits=")][0]
print(c)
PY
)
sleep 3
c1=$(dm_stat vqt commits)
check "the timer committed while the volume was idle" test $((c1 - c0)) -ge 1
check "once or twice (only while something was uncommitted)" test $((c1 - c0)) -le 2
sleep 2
eq "no commit without changes" "$c1" "$(dm_stat vqt commits)"
check "power cut" lower "$(dropping)"
dmsetup remove vqt
check "power back" lower "$(linear)"
blockdev --flushbufs "$LOOP"
check "create again" mk
eq "A (fsync'ed) survived" "$A" "$(dd if=$DEV bs=4k count=64 iflag=direct status=none | sha)"
eq "B (committed by the timer) survived" "$B" "$(dd if=$DEV bs=4k skip=64 count=64 iflag=direct status=none | sha)"
dmsetup remove vqt

# The commit_period feature: in the table, in stats, and it paces commits.
check "create with commit_period 200" mk 2 commit_period 200
eq "dmsetup table shows it" "commit_period 200" "$(dmsetup table vqt | grep -o 'commit_period [0-9]*')"
eq "stats show it" 200 "$(dm_stat vqt commit_period_ms)"
check "commit_period 5 is refused" fails dmsetup load vqt --table "0 $LEN vdo_qat /dev/mapper/vqtl $LEN 2 commit_period 5"
dmsetup remove vqt
check "no kernel bug reports" no_new_bugs
ktap_finished
