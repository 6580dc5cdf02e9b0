#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash consistency: 20 crash points. A writer issues O_DIRECT 4 KiB writes
# to random LBNs (compressible, duplicate and random content) with an fsync
# every 8 writes, journalling each write and each completed fsync. At a
# random moment the writer is stopped and the device under vdo_qat
# (dm-linear) is swapped for dm-flakey dropping every write, as if power
# were cut: nothing after that reaches the disk. The writer runs on a
# little, the volume is torn down, the device restored, the volume created
# again: it must load, and every LBN must hold what it held at the last
# completed fsync, or a value written after it (never anything else).
. "$(dirname "$0")/../lib.sh"

POINTS=20
ktap_print_header
ktap_set_plan $((POINTS + 3))
trap 'kill -9 $WPID 2>/dev/null; dmsetup remove vqc 2>/dev/null; dmsetup remove vqlow 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 48)
LS=$(sectors_of "$LOOP")
LEN=$((64 * 2048))          # 16384 LBNs; the writer uses the first 2048
DEV=/dev/mapper/vqc
linear() { echo "0 $LS linear $LOOP 0"; }
dropping() { echo "0 $LS flakey $LOOP 0 0 1 1 drop_writes"; }
check "lower device (dm-linear)" dmsetup create vqlow --table "$(linear)"
mk() { dmsetup create vqc --table "0 $LEN vdo_qat /dev/mapper/vqlow $LEN" && dmsetup mknodes vqc; }
check "create the volume" mk

cat >"$VQ_TMP/writer.py" <<'PY'
import mmap, os, random, sys
dev, journal, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
j = open(journal, "a", buffering=1)
buf = mmap.mmap(-1, 4096)
def content(lbn, seq):
    kind = seq % 3
    head = b"%08d:%08d:" % (lbn, seq)
    if kind == 0:   # compressible
        return (head * 256)[:4096]
    if kind == 1:   # one of 4 shared contents (dedup)
        return (b"shared-%d-" % (seq % 4) * 512)[:4096]
    return random.Random(seq).randbytes(4096)
seq = seed * 1000000
while True:
    for _ in range(8):
        seq += 1
        lbn = rnd.randrange(2048)
        j.write("W %d %d\n" % (lbn, seq))
        buf[:] = content(lbn, seq)
        os.pwritev(fd, [buf], lbn * 4096)
    os.fsync(fd)
    j.write("S %d\n" % seq)
PY
cat >"$VQ_TMP/verify.py" <<'PY'
import hashlib, mmap, os, random, sys
dev, journal, cut = sys.argv[1], sys.argv[2], int(sys.argv[3])
def content(lbn, seq):
    kind = seq % 3
    head = b"%08d:%08d:" % (lbn, seq)
    if kind == 0:
        return (head * 256)[:4096]
    if kind == 1:
        return (b"shared-%d-" % (seq % 4) * 512)[:4096]
    return random.Random(seq).randbytes(4096)
durable = {}    # lbn -> seq as of the last completed fsync
pending = []    # (lbn, seq) written since
# Lines after `cut` were journalled after the power cut: their writes may
# or may not have landed, and their fsyncs prove nothing.
for n, line in enumerate(open(journal)):
    f = line.split()
    if len(f) == 3 and f[0] == "B":
        durable[int(f[1])] = int(f[2])
    elif len(f) == 3 and f[0] == "W":
        pending.append((int(f[1]), int(f[2])))
    elif len(f) == 2 and f[0] == "S" and n < cut:
        for lbn, seq in pending:
            if seq <= int(f[1]):
                durable[lbn] = seq
        pending = [p for p in pending if p[1] > int(f[1])]
allowed = {}
for lbn, seq in pending:
    allowed.setdefault(lbn, set()).add(seq)
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
b = mmap.mmap(-1, 4096)
bad = 0
base = []       # what the disk holds now: the next round's baseline
for lbn in range(2048):
    os.preadv(fd, [b], lbn * 4096)
    got = bytes(b)
    ok = {s: content(lbn, s) for s in allowed.get(lbn, ())}
    if lbn in durable:
        ok[durable[lbn]] = content(lbn, durable[lbn])
    elif got == bytes(4096):
        continue
    match = [s for s, c in ok.items() if c == got]
    if not match:
        bad += 1
        if bad <= 3:
            print("LBN %d: unexpected content %r (durable seq %s)" % (lbn, got[:20], durable.get(lbn)))
    else:
        base.append("B %d %d\n" % (lbn, match[0]))
if bad == 0:
    open(journal, "w").write("".join(base))
print("bad=%d durable=%d pending=%d" % (bad, len(durable), len(pending)))
PY

rm -f "$VQ_TMP/journal"
for i in $(seq 1 $POINTS); do
	python3 "$VQ_TMP/writer.py" $DEV "$VQ_TMP/journal" $i 2>/dev/null &
	WPID=$!
	# Let the writer get going (python starts slowly under TCG): wait for
	# its first fsync of this round.
	s0=$(cat "$VQ_TMP/journal" 2>/dev/null | grep -c '^S')
	for _ in $(seq 300); do
		[ "$(cat "$VQ_TMP/journal" 2>/dev/null | grep -c '^S')" -gt "$s0" ] && break
		sleep 0.1
	done
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.5 + r % 150 / 100 }')"
	kill -STOP $WPID
	cut=$(cat "$VQ_TMP/journal" 2>/dev/null | wc -l)
	# Power cut: from now on every write to the disk is lost.
	dmsetup suspend --noflush vqlow && dmsetup load vqlow --table "$(dropping)" && dmsetup resume vqlow
	kill -CONT $WPID
	sleep 0.3
	kill -9 $WPID; wait $WPID 2>/dev/null
	dmsetup remove vqc
	dmsetup suspend --noflush vqlow && dmsetup load vqlow --table "$(linear)" && dmsetup resume vqlow
	blockdev --flushbufs "$LOOP"
	if ! mk; then
		ktap_test_fail "crash point $i: volume loads"; continue
	fi
	res=$(python3 "$VQ_TMP/verify.py" $DEV "$VQ_TMP/journal" "$cut" 2>&1 | tail -n 4)
	case "$res" in
	*bad=0\ *) ktap_test_pass "crash point $i: every fsync'ed block intact (${res##*bad=0 })" ;;
	*) ktap_print_msg "$res"; ktap_test_fail "crash point $i" ;;
	esac
done
check "no kernel bug reports" no_new_bugs
ktap_finished
