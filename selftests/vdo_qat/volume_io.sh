#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vdo_qat volume basics on a 64 MiB loop device with a 256 MiB logical size:
# format on a zeroed device, status and table lines, never-written blocks
# read as zeros, a crafted pattern with exact dedup / zero / compression
# counters, 512 B read-modify-write, gzip fragments readable by Python and
# Python-made fragments (32 KiB window) readable by the target, CRC errors
# reported as EIO, messages, reload with the same data, refusal of foreign
# data and of a corrupt superblock, logical and physical growth.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 46
trap 'dmsetup remove vq0 2>/dev/null; dmsetup remove vq2 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 64)                  # 16384 blocks: 512 metadata, 15872 data
LEN=$((256 * 2048))                 # 256 MiB logical
DEV=/dev/mapper/vq0
MAJMIN=$(printf '%d:%d' "0x$(stat -c %t "$LOOP")" "0x$(stat -c %T "$LOOP")")
mk() { dmsetup create vq0 --table "0 ${2:-$LEN} vdo_qat $LOOP ${2:-$LEN}${1:+ $1}" && dmsetup mknodes vq0; }
status() { dmsetup status vq0 | cut -d' ' -f4-; }

check "create on a zeroed device formats it" mk
check "format logged" bash -c "dmesg | grep -q 'vdo_qat: 253:[0-9]*: formatted: 16384 blocks, 512 for metadata'"
eq "table line" "0 $LEN vdo_qat $MAJMIN $LEN 6 compression auto dedup on index_memory 16" "$(dmsetup table vq0)"
eq "status of an empty volume" "normal 0 65536 0 15872 0 0 deflate-generic 0 0 ok auto absent -" "$(status)"
eq "never-written blocks read as zeros" "$(head -c 1048576 /dev/zero | sha)" \
	"$(dd if=$DEV bs=1M count=1 skip=100 iflag=direct status=none | sha)"

# Crafted pattern (python3: aligned buffers), LBN 0-15 one O_DIRECT write
# at a time, LBN 16-31 in one 64 KiB O_DIRECT write (16 bios in flight at
# once, so their fragments share packed blocks):
#  LBN 0-7   the same compressible block A   -> 1 fragment + 7 dedup hits
#  LBN 8-11  the same random block B         -> 1 raw block + 3 dedup hits
#  LBN 12-15 zeros                            -> 4 zero blocks, unmapped
#  LBN 16-31 16 distinct compressible blocks  -> 16 fragments
cat >"$VQ_TMP/pattern.py" <<'EOF'
import mmap, os, random, sys
dev, out = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
def text(seed):
    r = random.Random(seed)
    return bytes(r.choice(b"acgt") for _ in range(4096))
A, B, Z = text(1), rnd.randbytes(4096), bytes(4096)
blocks = [A] * 8 + [B] * 4 + [Z] * 4 + [text(100 + i) for i in range(16)]
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for i, b in enumerate(blocks[:16]):
    buf[:] = b
    os.pwritev(fd, [buf], i * 4096)
big = mmap.mmap(-1, 16 * 4096)
big[:] = b"".join(blocks[16:])
os.pwritev(fd, [big], 16 * 4096)
os.fsync(fd)
open(out, "wb").write(b"".join(blocks))
EOF
python3 "$VQ_TMP/pattern.py" $DEV "$VQ_TMP/expect"
stats() { dmsetup message vq0 0 stats | tr ' ' '\n' | grep -E "^($1)=" | tr '\n' ' '; }
eq "exact counters of the crafted pattern" \
	"writes=32 zero_blocks=4 dedup_hits=10 compressed=17 raw=1 mapped=28 items=18 " \
	"$(stats 'writes|zero_blocks|dedup_hits|compressed|raw|mapped|items')"
# 17 fragments of ~1.1 KiB (2 bits per byte) pack 3 to a block: 6 blocks,
# plus 1 raw block (7 if the 64 KiB write's bios reach the packer in
# another order than their LBNs, which can leave a little room unused).
phys=$(dm_stat vq0 phys_used)
check "17 fragments packed 3 to a block (+1 raw): phys_used=$phys" test "$phys" -le 8 -a "$phys" -ge 7
eq "status: 28 LBNs mapped, dedup saved 10, compression saved $((18 - phys))" \
	"normal 28 65536 $phys 15872 10 $((18 - phys)) deflate-generic 0 0 ok auto absent -" "$(status)"
eq "pattern reads back (sha256)" "$(sha <"$VQ_TMP/expect")" \
	"$(dd if=$DEV bs=4k count=32 iflag=direct status=none | sha)"
eq "map message: LBN 0 is a fragment shared 8 times" 8 "$(dmsetup message vq0 0 map 0 | cut -d' ' -f4)"
eq "map message: LBN 8 is a raw block (len 0) shared 4 times" "0 0 4" "$(dmsetup message vq0 0 map 8 | cut -d' ' -f2-)"
eq "map message: LBN 12 is unmapped" unmapped "$(dmsetup message vq0 0 map 12)"

# gzip: the fragment of LBN 16, cut from the data device, is a gzip member.
blockdev --flushbufs "$LOOP"
read -r SEC OFF FLEN _ < <(dmsetup message vq0 0 map 16)
eq "fragment of LBN 16 decompresses with Python's gzip module" \
	"$(dd if="$VQ_TMP/expect" bs=4k skip=16 count=1 status=none | sha)" \
	"$(python3 -c '
import gzip, sys
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]) * 512 + int(sys.argv[3]))
sys.stdout.buffer.write(gzip.decompress(f.read(int(sys.argv[4]))))' "$LOOP" "$SEC" "$OFF" "$FLEN" | sha)"

# A member made by Python's zlib (32 KiB window) in place of LBN 16's: its
# data has a 3596-byte back-reference that deflate-generic's 2 KiB window
# cannot make or read. The target must return exactly that data.
cat >"$VQ_TMP/inject.py" <<'EOF'
import random, struct, sys, zlib
loop, sec, off, flen, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
r = random.Random(3).randbytes(500)
data = r + b"a" * 3096 + r
c = zlib.compressobj(9, zlib.DEFLATED, -15)
d = c.compress(data) + c.flush()
assert len(d) + 18 <= flen, (len(d), flen)
member = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]) + d
member += bytes(flen - 8 - len(member)) + struct.pack("<II", zlib.crc32(data), len(data))
with open(loop, "r+b") as f:
    f.seek(sec * 512 + off); f.write(member); f.flush()
open(out, "wb").write(data)
EOF
python3 "$VQ_TMP/inject.py" "$LOOP" "$SEC" "$OFF" "$FLEN" "$VQ_TMP/far" && sync "$LOOP"
blockdev --flushbufs "$LOOP"
eq "a Python member with 3596-byte back-references reads back" "$(sha <"$VQ_TMP/far")" \
	"$(dd if=$DEV bs=4k skip=16 count=1 iflag=direct status=none | sha)"

# Corrupt one byte of the fragment of LBN 17: EIO and a counter, no data.
blockdev --flushbufs "$LOOP"
read -r SEC OFF FLEN _ < <(dmsetup message vq0 0 map 17)
python3 -c '
import sys
f = open(sys.argv[1], "r+b"); pos = int(sys.argv[2]) * 512 + int(sys.argv[3]) + int(sys.argv[4]) // 2
f.seek(pos); b = f.read(1); f.seek(pos); f.write(bytes([b[0] ^ 0x55]))' "$LOOP" "$SEC" "$OFF" "$FLEN"
blockdev --flushbufs "$LOOP"
c0=$(dm_stat vq0 crc_errors)
check "a corrupt fragment reads as an I/O error" fails dd if=$DEV of=/dev/null bs=4k skip=17 count=1 iflag=direct status=none
eq "crc_errors counts it" 1 $(( $(dm_stat vq0 crc_errors) - c0 ))
# Repair it by rewriting the block through the volume.
dd if="$VQ_TMP/expect" of=$DEV bs=4k skip=17 seek=17 count=1 oflag=direct status=none
eq "rewritten block reads back" "$(dd if="$VQ_TMP/expect" bs=4k skip=17 count=1 status=none | sha)" \
	"$(dd if=$DEV bs=4k skip=17 count=1 iflag=direct status=none | sha)"

# 512 B writes inside a block: read-modify-write.
head -c 512 /dev/urandom >"$VQ_TMP/s512"
p0=$(dm_stat vq0 partial_writes)
dd if="$VQ_TMP/s512" of=$DEV bs=512 seek=$((20 * 8 + 3)) oflag=direct status=none
eq "one partial write counted" 1 $(( $(dm_stat vq0 partial_writes) - p0 ))
cp "$VQ_TMP/expect" "$VQ_TMP/expect2"
dd if="$VQ_TMP/s512" of="$VQ_TMP/expect2" bs=512 seek=$((20 * 8 + 3)) conv=notrunc status=none
dd if="$VQ_TMP/far" of="$VQ_TMP/expect2" bs=4k seek=16 conv=notrunc status=none
eq "partial write merged into its block" "$(dd if="$VQ_TMP/expect2" bs=4k skip=20 count=1 status=none | sha)" \
	"$(dd if=$DEV bs=4k skip=20 count=1 iflag=direct status=none | sha)"

# Messages.
check "message compression off" dmsetup message vq0 0 compression off
r0=$(dm_stat vq0 raw)
python3 -c '
import mmap, os, random, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT); b = mmap.mmap(-1, 4096)
b[:] = bytes(random.Random(9).choice(b"xyz") for _ in range(4096)); os.pwritev(fd, [b], 40 * 4096)' $DEV
eq "with compression off a compressible block is stored raw" 1 $(( $(dm_stat vq0 raw) - r0 ))
check "message dedup off" dmsetup message vq0 0 dedup off
h0=$(dm_stat vq0 dedup_hits)
dd if="$VQ_TMP/expect" of=$DEV bs=4k count=1 seek=41 oflag=direct status=none
eq "with dedup off a duplicate is not shared" 0 $(( $(dm_stat vq0 dedup_hits) - h0 ))
check "messages compression on, dedup on" bash -c "dmsetup message vq0 0 compression on && dmsetup message vq0 0 dedup on"
eq "table shows the features" "0 $LEN vdo_qat $MAJMIN $LEN 6 compression auto dedup on index_memory 16" "$(dmsetup table vq0)"
check "unknown message refused" fails dmsetup message vq0 0 frobnicate
check "map beyond the logical size refused" fails dmsetup message vq0 0 map 65536

# Reload: remove, create again, same data.
dd if=$DEV bs=4k count=42 iflag=direct status=none >"$VQ_TMP/before"
m0=$(dm_stat vq0 mapped)
check "remove the volume" dmsetup remove vq0
check "create again on the same device loads it" mk
eq "data identical after the reload" "$(sha <"$VQ_TMP/before")" "$(dd if=$DEV bs=4k count=42 iflag=direct status=none | sha)"
eq "mapped count persisted" "$m0" "$(dm_stat vq0 mapped)"

# Grow the logical size with a table reload.
dmsetup reload vq0 --table "0 $((LEN * 2)) vdo_qat $LOOP $((LEN * 2))"
check "reload with twice the logical size" dmsetup resume vq0
eq "logical blocks after growth" 131072 "$(dm_stat vq0 logical_blocks)"
eq "data unchanged after growth" "$(sha <"$VQ_TMP/before")" "$(dd if=$DEV bs=4k count=42 iflag=direct status=none | sha)"
dmsetup remove vq0
dmesg_mark
check "shrinking the logical size is refused" fails mk '' $LEN
check "shrinking logged" bash -c "dmesg | grep -q 'smaller than the volume.s 131072: shrinking is not supported'"
dmsetup remove vq0 2>/dev/null

# Grow the data device: the new space is picked up on load.
truncate -s 96M "$(losetup -nO BACK-FILE "$LOOP")" && losetup -c "$LOOP"
check "create after the data device grew" mk '' $((LEN * 2))
eq "data blocks after device growth" $((15872 + 8192)) "$(dm_stat vq0 data_blocks)"
dmsetup remove vq0

# A vdo_qat target that starts at sector 2048 of its mapped device: LBNs
# count from the target's start.
L3=$(loopdev 16)
printf '0 2048 error\n2048 16384 vdo_qat %s 16384\n' "$L3" | dmsetup create vq2
dmsetup mknodes vq2
check "second target of a table: device created" test -b /dev/mapper/vq2
head -c 4096 /dev/urandom >"$VQ_TMP/b10"
dd if="$VQ_TMP/b10" of=/dev/mapper/vq2 bs=4k seek=$((256 + 10)) oflag=direct status=none
eq "second target: block written at its LBN 10 reads back" "$(sha <"$VQ_TMP/b10")" \
	"$(dd if=/dev/mapper/vq2 bs=4k skip=$((256 + 10)) count=1 iflag=direct status=none | sha)"
eq "second target: it is stored as LBN 10" "0 0 1" "$(dmsetup message vq2 2048 map 10 | cut -d' ' -f2-)"
dmsetup remove vq2

# Foreign data and corrupt metadata are refused, with a message.
L2=$(loopdev 16)
echo "not a vdo_qat volume" | dd of="$L2" conv=notrunc status=none
blockdev --flushbufs "$L2"
check "device with foreign data refused" fails dmsetup create vq1 --table "0 2048 vdo_qat $L2 2048"
check "foreign data logged" bash -c "dmesg | grep -q 'data device holds foreign data'"
dd if=/dev/urandom of="$LOOP" bs=1 count=8 seek=200 conv=notrunc status=none
blockdev --flushbufs "$LOOP"
check "corrupt superblock refused" fails mk '' $((LEN * 2))
check "corrupt superblock logged" bash -c "dmesg | grep -q 'superblock checksum or location bad'"
check "no kernel bug reports" no_new_bugs
ktap_finished
