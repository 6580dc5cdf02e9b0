#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Discard: fstrim on ext4 gives physical blocks back, status shows it, and
# the freed blocks are discarded on the data device (its backing file
# shrinks). Out of space: writing incompressible data past the physical
# size fails with ENOSPC (no oops), raises the low-water event, and the
# volume is consistent and readable after it is created again.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 17
trap 'umount "$VQ_TMP/mnt" 2>/dev/null; dmsetup remove vqd 2>/dev/null; dmsetup remove vqe 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

# --- discard ---
LOOP=$(loopdev 128)
BACK=$(losetup -nO BACK-FILE "$LOOP")
LEN=$((256 * 2048))
check "create volume" dmsetup create vqd --table "0 $LEN vdo_qat $LOOP $LEN"
dmsetup mknodes vqd
DEV=/dev/mapper/vqd
mkdir -p "$VQ_TMP/mnt"
check "mkfs.ext4 and mount" bash -c "mkfs.ext4 -q -b 4096 -E nodiscard $DEV && mount -o nodiscard $DEV $VQ_TMP/mnt"
head -c $((16 << 20)) /dev/urandom >"$VQ_TMP/mnt/r1"
cp "$VQ_TMP/mnt/r1" "$VQ_TMP/mnt/r2"
sync
p1=$(dm_stat vqd phys_used) d1=$(dm_stat vqd discards_passed)
kb1=$(du -k "$BACK" | cut -f1)
rm "$VQ_TMP/mnt/r1" "$VQ_TMP/mnt/r2"
sync
check "fstrim" fstrim "$VQ_TMP/mnt"
p2=$(dm_stat vqd phys_used) d2=$(dm_stat vqd discards_passed)
kb2=$(du -k "$BACK" | cut -f1)
ktap_print_msg "phys_used $p1 -> $p2, discards passed $d1 -> $d2, backing file $kb1 -> $kb2 KiB"
check "fstrim freed the ~4096 blocks of the two (deduplicated) files" test $((p1 - p2)) -ge 4000
check "the freed blocks were discarded on the data device" test $((d2 - d1)) -ge $((p1 - p2))
check "the backing file shrank by at least 15 MiB" test $((kb1 - kb2)) -ge 15360
eq "status shows the freed space" "$p2" "$(dmsetup status vqd | cut -d' ' -f7)"
check "discard bios reached the target" test "$(dm_stat vqd discards)" -gt 0
umount "$VQ_TMP/mnt"
dmsetup remove vqd

# --- out of space: 24 MiB device (5632 data blocks), 64 MiB logical ---
L2=$(loopdev 24)
LEN2=$((64 * 2048))
check "create a thin volume" dmsetup create vqe --table "0 $LEN2 vdo_qat $L2 $LEN2 2 low_water 512"
dmsetup mknodes vqe
cat >"$VQ_TMP/fill.py" <<'PY'
import errno, hashlib, mmap, os, sys
dev, out = sys.argv[1], sys.argv[2]
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
ok, err = 0, None
for i in range(16384):
    buf[:] = os.urandom(4096)
    try:
        os.pwritev(fd, [buf], i * 4096)
    except OSError as e:
        err = e.errno
        break
    ok += 1
    open(out, "ab").write(hashlib.sha256(buf).digest())
try:
    os.fsync(fd)
except OSError:
    pass
print(ok, errno.errorcode.get(err, err))
PY
rm -f "$VQ_TMP/sums"
read -r n err < <(python3 "$VQ_TMP/fill.py" /dev/mapper/vqe "$VQ_TMP/sums")
eq "the first write past the physical space fails with ENOSPC" ENOSPC "$err"
check "all $n data blocks (of 5632) were written first" test "$n" -ge 5600 -a "$n" -le 5632
check "enospc counted" test "$(dm_stat vqe enospc)" -ge 1
eq "status shows the low-water mark crossed" low "$(dmsetup status vqe | cut -d' ' -f14)"
check "a dm event was raised" test "$(dmsetup info -c --noheadings -o events vqe)" -ge 1
dmsetup remove vqe
check "create again after ENOSPC" dmsetup create vqe --table "0 $LEN2 vdo_qat $L2 $LEN2"
dmsetup mknodes vqe
eq "every acknowledged block reads back" "$(python3 -c '
import sys; print(sys.argv[1])' ok)" "$(python3 -c '
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
import mmap
b = mmap.mmap(-1, 4096)
sums = open(sys.argv[2], "rb").read()
n = len(sums) // 32
for i in range(n):
    os.preadv(fd, [b], i * 4096)
    if hashlib.sha256(b).digest() != sums[32 * i:32 * i + 32]:
        print("block", i, "differs"); sys.exit()
print("ok")' /dev/mapper/vqe "$VQ_TMP/sums")"
check "no kernel bug reports" no_new_bugs
ktap_finished
