#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash consistency: 50 crash points. A writer issues O_DIRECT 4 KiB writes
# to random LBNs (compressible, duplicate and random content) with an fsync
# every 8 writes, journalling each write, discard and completed fsync. At a
# random moment the writer is stopped and the device under vdo_qat
# (dm-linear) is swapped for dm-flakey dropping every write, as if power
# were cut: nothing after that reaches the disk. The writer runs on a
# little, the volume is torn down, the device restored, the volume created
# again: it must load, and every LBN must hold what it held at the last
# completed fsync, or a value written (or discarded) after it: never
# anything else, never the content of a write that failed.
#
# Points 1-20: writes only (1024 LBNs). Points 21-30: the writer also discards ranges.
# Points 31-40: the power is cut while `dmsetup suspend` of the volume is
# committing, and the volume is resumed on the dead device before it is
# torn down. Points 41-50: a volume kept full (random blocks only, 2048
# LBNs on 1024 data blocks): writes meet ENOSPC (and the commit that
# reclaims freed blocks), and the writer discards to make room. The writer
# and the checks run in crash.py.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 55
trap 'pkill -9 -f vdo_qat/crash.py 2>/dev/null; for d in vqc vqe vqlow vqlow2; do dmsetup remove $d 2>/dev/null; done; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

mkdir -p "$VQ_TMP"
HERE=$(cd "$(dirname "$0")" && pwd)

# The plain volume (points 1-40): 48 MiB, the writer uses 1024 LBNs.
LOOP=$(loopdev 48)
LS=$(sectors_of "$LOOP")
LEN=$((64 * 2048))
# The full volume (points 41-50): 6 MiB, 1024 data blocks for 2048 LBNs.
LOOP2=$(loopdev 6)
LS2=$(sectors_of "$LOOP2")
linear() { echo "0 $2 linear $1 0"; }
check "lower device (dm-linear)" dmsetup create vqlow --table "$(linear "$LOOP" "$LS")"
check "second lower device (dm-linear)" dmsetup create vqlow2 --table "$(linear "$LOOP2" "$LS2")"
mk() { dmsetup create "$1" --table "0 $LEN vdo_qat /dev/mapper/$2 $LEN" && dmsetup mknodes "$1"; }
check "create the volume" mk vqc vqlow
check "create the full volume" mk vqe vqlow2

# Fill the full volume with random blocks until ENOSPC (the baseline).
python3 - /dev/mapper/vqe "$VQ_TMP/journal.vqe" <<'PY'
import mmap, os, random, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
base = []
for lbn in range(2048):
    seq = 3 + 5 * lbn           # a random block (seq % 5 == 3) of its own
    buf[:] = random.Random(seq).randbytes(4096)
    try:
        os.pwritev(fd, [buf], lbn * 4096)
    except OSError:
        break
    base.append("B %d %d W\n" % (lbn, seq))
os.fsync(fd)
open(sys.argv[2], "w").write("".join(base))
PY
ktap_print_msg "full volume: $(wc -l <"$VQ_TMP/journal.vqe") blocks written before ENOSPC"

# points <volume> <lower> <loop> <sectors> <span> <first> <last> <mode>
points() {
	local line
	while IFS= read -r line; do
		case "$line" in
		PASS\ *) ktap_test_pass "${line#PASS }" ;;
		FAIL\ *) ktap_test_fail "${line#FAIL }" ;;
		*) ktap_print_msg "${line#\# }" ;;
		esac
	done < <(python3 "$HERE/crash.py" "$@" "$VQ_TMP/journal.$1" 2>&1)
}
points vqc vqlow "$LOOP" "$LS" 1024 1 20 plain
points vqc vqlow "$LOOP" "$LS" 1024 21 30 discard
points vqc vqlow "$LOOP" "$LS" 1024 31 40 suspend
points vqe vqlow2 "$LOOP2" "$LS2" 2048 41 50 full
check "no kernel bug reports" no_new_bugs
ktap_finished
