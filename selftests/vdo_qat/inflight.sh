#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Raw writes in flight (issue 14: drivers/vdo_qat/inflight.rs). A raw
# write no longer keeps its lane waiting: it is acknowledged by the lane's
# map work once written and mapped, while the lane goes on. So:
#
# 1. Read after write: 16 threads each write one LBN 60 times (a new
#    pattern each time, O_DIRECT) and read it back after every write; every
#    read must return the write just acknowledged (an acknowledgement
#    before the mapping, or a mapping that goes back in time, fails this).
# 2. Partial writes of one block at once: 8 threads write the 8 sectors
#    of one 4 KiB block concurrently, 40 rounds; after each round all 8
#    sectors must hold that round's data. A partial write is a
#    read-modify-write of the block: if it did not wait for a write of the
#    same LBN still in flight, it would write back stale sectors.
# 3. The same data after the volume is removed and created again.
# 4. Counters: the writes were stored raw and the volume is normal.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 11
trap 'dmsetup remove vqi 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 64)
LEN=$((64 * 2048))
DEV=/dev/mapper/vqi
mk() { dmsetup create vqi --table "0 $LEN vdo_qat $LOOP $LEN 2 compression off" && dmsetup mknodes vqi; }
check "create the volume (compression off: every block raw)" mk

out=$(python3 - "$DEV" <<'PY'
import mmap, os, sys, threading, hashlib
dev = sys.argv[1]
B = 4096
errors = []

def pattern(tag, n):
    # n bytes that differ for every tag, incompressible
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s/%d" % (tag, i)).digest()
        i += 1
    return out[:n]

def raw_writer(lbn):
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    w = mmap.mmap(-1, B)
    r = mmap.mmap(-1, B)
    try:
        for k in range(60):
            w[:] = pattern(b"lbn%d-%d" % (lbn, k), B)
            os.pwritev(fd, [w], lbn * B)
            os.preadv(fd, [r], lbn * B)
            if r[:] != w[:]:
                errors.append("lbn %d write %d read back other data" % (lbn, k))
                return
    finally:
        os.close(fd)

ts = [threading.Thread(target=raw_writer, args=(l,)) for l in range(16)]
for t in ts: t.start()
for t in ts: t.join()
print("raw_errors=%d" % len(errors))
for e in errors[:5]:
    print("#", e, file=sys.stderr)

LBN = 100
perr = []
def sector_writer(s, rnd, barrier):
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    buf = mmap.mmap(-1, 4096)
    buf[:512] = pattern(b"r%d-s%d" % (rnd, s), 512)
    barrier.wait()
    os.pwritev(fd, [memoryview(buf)[:512]], LBN * B + s * 512)
    os.close(fd)

fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
r = mmap.mmap(-1, B)
for rnd in range(40):
    barrier = threading.Barrier(8)
    ts = [threading.Thread(target=sector_writer, args=(s, rnd, barrier)) for s in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    os.preadv(fd, [r], LBN * B)
    want = b"".join(pattern(b"r%d-s%d" % (rnd, s), 512) for s in range(8))
    if r[:] != want:
        bad = [s for s in range(8) if r[s * 512:(s + 1) * 512] != want[s * 512:(s + 1) * 512]]
        perr.append("round %d: sectors %s stale" % (rnd, bad))
os.fsync(fd)
os.close(fd)
print("partial_errors=%d" % len(perr))
for e in perr[:5]:
    print("#", e, file=sys.stderr)

h = hashlib.sha256()
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
for lbn in list(range(16)) + [LBN]:
    os.preadv(fd, [r], lbn * B)
    h.update(r[:])
os.close(fd)
print("digest=%s" % h.hexdigest())
PY
)
echo "$out" | sed 's/^/# /'
eq "every read after a raw write returns it" "raw_errors=0" "$(echo "$out" | grep '^raw_errors=')"
eq "concurrent partial writes of one block all land" "partial_errors=0" "$(echo "$out" | grep '^partial_errors=')"
D1=$(echo "$out" | sed -n 's/^digest=//p')
RAW=$(dm_stat vqi raw) ASYNC=$(dm_stat vqi raw_async)
check "the writes were stored raw (raw=$RAW >= 960)" test "$RAW" -ge 960
check "most went in flight without their lane (raw_async=$ASYNC)" test "$ASYNC" -ge 900
eq "no write error" "0" "$(dm_stat vqi write_errors)"
check "remove the volume" dmsetup remove vqi
check "create it again" mk
D2=$(python3 - "$DEV" <<'PY'
import hashlib, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
r = mmap.mmap(-1, 4096)
h = hashlib.sha256()
for lbn in list(range(16)) + [100]:
    os.preadv(fd, [r], lbn * 4096)
    h.update(r[:])
print(h.hexdigest())
PY
)
eq "the same data after re-creation" "$D1" "$D2"
eq "status mode normal" "normal" "$(dmsetup status vqi | awk '{ print $4 }')"
check "no kernel bug reports" no_new_bugs
ktap_finished
