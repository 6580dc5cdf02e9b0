#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Compressed writes are never acknowledged and then dropped (issue 13,
# defect 4). Before the fix a compressed write was acknowledged as soon as
# its member joined the packer bin, but the bin's block was allocated only
# when the bin was written: on ENOSPC (or a write error) every member of the
# bin was dropped ("N acknowledged writes lost") and reads returned older
# data. Now a bin reserves its blocks when it opens, before it acknowledges
# anything; a write for which nothing can be reserved fails with ENOSPC.
#
# Four threads write unique, compressible 4 KiB blocks with O_DIRECT (so
# bins fill with several members) to a thin volume until it is full, with
# an fsync every 32 writes. Every write that succeeded must read back
# exactly, before and after the volume is created again; every write that
# failed must have failed with ENOSPC and left its block as it was (zeros).
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 11
trap 'dmsetup remove vqp 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 8)            # 2048 blocks: 512 metadata, 1536 data
LEN=$((64 * 2048))           # 16384 LBNs
DEV=/dev/mapper/vqp
mk() { dmsetup create vqp --table "0 $LEN vdo_qat $LOOP $LEN 2 compression software" && dmsetup mknodes vqp; }
check "create a 64 MiB volume on 6 MiB of data blocks" mk

cat >"$VQ_TMP/fill.py" <<'PY'
import errno, hashlib, mmap, os, random, sys, threading
dev, out = sys.argv[1], sys.argv[2]
THREADS, PER = 4, 4096
WORDS = b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
def content(lbn):
    """Unique per LBN, compressible to about 1 KiB."""
    r = random.Random(lbn)
    body = b" ".join(r.choice(WORDS) for _ in range(700))
    return (r.randbytes(256) + body)[:4096].ljust(4096, b".")
results = {}
lock = threading.Lock()
def run(t):
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    buf = mmap.mmap(-1, 4096)
    for k in range(PER):
        lbn = t * PER + k
        buf[:] = content(lbn)
        try:
            os.pwritev(fd, [buf], lbn * 4096)
            st = "ok"
        except OSError as e:
            st = errno.errorcode.get(e.errno, str(e.errno))
        with lock:
            results[lbn] = st
        if st != "ok":
            break
        if k % 32 == 31:
            try:
                os.fsync(fd)
            except OSError:
                pass
    os.close(fd)
ts = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
for t in ts: t.start()
for t in ts: t.join()
with open(out, "w") as f:
    for lbn, st in sorted(results.items()):
        f.write("%d %s %s\n" % (lbn, st, hashlib.sha256(content(lbn)).hexdigest()))
oks = sum(1 for s in results.values() if s == "ok")
errs = sorted(set(s for s in results.values() if s != "ok"))
print(oks, ",".join(errs) or "none")
PY
cat >"$VQ_TMP/verify.py" <<'PY'
import hashlib, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
zero = hashlib.sha256(bytes(4096)).hexdigest()
want = {}
for line in open(sys.argv[2]):
    lbn, st, h = line.split()
    want[int(lbn)] = h if st == "ok" else zero
CHUNK = 256
b = mmap.mmap(-1, CHUNK * 4096)
bad = 0
for first in sorted({l - l % CHUNK for l in want}):
    os.preadv(fd, [b], first * 4096)
    for lbn in range(first, first + CHUNK):
        if lbn not in want:
            continue
        got = hashlib.sha256(b[(lbn - first) * 4096:(lbn - first + 1) * 4096]).hexdigest()
        if got != want[lbn]:
            bad += 1
            if bad <= 3:
                print("LBN %d: %s" % (lbn, "old data (zeros)" if got == zero else "wrong data"))
print("bad=%d" % bad)
PY
read -r n errs < <(python3 "$VQ_TMP/fill.py" $DEV "$VQ_TMP/results")
ktap_print_msg "$n writes acknowledged; failures: $errs; packed blocks $(dm_stat vqp packed_blocks), failed $(dm_stat vqp packed_failed), enospc $(dm_stat vqp enospc)"
eq "the writes that failed failed with ENOSPC" ENOSPC "$errs"
check "more writes acknowledged than there are data blocks ($n > 1536): packing worked" test "$n" -gt 1536
check "ENOSPC counted" test "$(dm_stat vqp enospc)" -ge 1
eq "no packed block failed (space was reserved before acknowledging)" 0 "$(dm_stat vqp packed_failed)"
check "nothing logged as lost" fails grep -q 'acknowledged writes lost' <(dmesg_since)
eq "before re-creation: every acknowledged block reads back, failed ones unchanged" bad=0 \
	"$(python3 "$VQ_TMP/verify.py" $DEV "$VQ_TMP/results" | tail -n 1)"
eq "still writable (ENOSPC is not an error of the volume)" normal "$(dmsetup status vqp | cut -d' ' -f4)"
check "remove and create again" bash -c "dmsetup remove vqp && dmsetup create vqp --table '0 $LEN vdo_qat $LOOP $LEN' && dmsetup mknodes vqp"
eq "after re-creation: every acknowledged block reads back, failed ones unchanged" bad=0 \
	"$(python3 "$VQ_TMP/verify.py" $DEV "$VQ_TMP/results" | tail -n 1)"
check "no kernel bug reports" no_new_bugs
ktap_finished
