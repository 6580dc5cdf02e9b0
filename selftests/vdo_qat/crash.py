#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Crash points for crash.sh: one interpreter for all of them (python
starts slowly under TCG), the writer forked for each point.

Usage: crash.py <volume> <lower> <loop> <sectors> <span> <first> <last>
                <mode> <journal>

mode: plain, discard (the writer also discards), suspend (the power is cut
while `dmsetup suspend` of the volume commits), full (the volume is full:
writes meet ENOSPC, the writer discards to make room).

Prints one line per point, `PASS <text>` or `FAIL <text>`, for crash.sh
to turn into KTAP; details on lines starting with `# `.
"""
import errno
import fcntl
import mmap
import os
import random
import signal
import struct
import sys
import time

BLKDISCARD = 0x1277
ZERO = bytes(4096)


def content(lbn, seq):
    """What write `seq` puts at `lbn`: compressible, one of 4 shared blocks
    (dedup) or random, by seq."""
    kind = seq % 5
    head = b"%08d:%08d:" % (lbn, seq)
    if kind < 2:
        return (head * 256)[:4096]
    if kind == 2:
        return (b"shared-%d-" % (seq % 4) * 512)[:4096]
    return random.Random(seq).randbytes(4096)


# Device-mapper through its ioctls (include/uapi/linux/dm-ioctl.h), not
# dmsetup: a process start costs most of a second in the test VM, and a
# point needs nine dm operations.
DM_HDR = struct.Struct("=3I7IQ128s129s7s")     # struct dm_ioctl, 312 bytes
DM_SPEC = struct.Struct("=QQiI16s")           # struct dm_target_spec, 40 bytes
DM_CREATE, DM_REMOVE, DM_SUSPEND, DM_LOAD = 3, 4, 6, 9
DM_SUSPEND_FLAG, DM_NOFLUSH_FLAG = 1 << 1, 1 << 11
BLKFLSBUF = 0x1261


def dm(cmd, name, flags=0, table=()):
    """One DM ioctl on device `name`; `table`: (start, length, type,
    params) tuples for DM_LOAD. Returns the device number. Raises OSError."""
    body = b""
    for i, (start, length, ttype, params) in enumerate(table):
        p = params.encode() + b"\0"
        p += b"\0" * (-(DM_SPEC.size + len(p)) % 8)
        nxt = DM_SPEC.size + len(p) if i + 1 < len(table) else 0
        body += DM_SPEC.pack(start, length, 0, nxt, ttype.encode()) + p
    size = DM_HDR.size + len(body) + 16384
    hdr = DM_HDR.pack(4, 0, 0, size, DM_HDR.size, len(table), 0, flags, 0, 0, 0,
                      name.encode(), b"", b"")
    buf = bytearray(hdr + body + bytes(size - DM_HDR.size - len(body)))
    nr = (3 << 30) | (DM_HDR.size << 16) | (0xFD << 8) | cmd
    fd = os.open("/dev/mapper/control", os.O_RDWR)
    try:
        fcntl.ioctl(fd, nr, buf)
    finally:
        os.close(fd)
    return DM_HDR.unpack_from(buf)[10]


def dm_swap(name, table):
    """suspend --noflush, load, resume."""
    dm(DM_SUSPEND, name, DM_SUSPEND_FLAG | DM_NOFLUSH_FLAG)
    dm(DM_LOAD, name, table=table)
    dm(DM_SUSPEND, name)


def dm_create(name, table):
    """create, load, resume, and the /dev/mapper node (no udev)."""
    dm(DM_CREATE, name)
    try:
        dm(DM_LOAD, name, table=table)
        dev = dm(DM_SUSPEND, name)
    except OSError:
        dm(DM_REMOVE, name)
        raise
    path = "/dev/mapper/" + name
    if os.path.exists(path):
        os.unlink(path)
    os.mknod(path, 0o600 | 0o60000, dev)


def dm_remove(name):
    dm(DM_REMOVE, name)
    try:
        os.unlink("/dev/mapper/" + name)
    except FileNotFoundError:
        pass


def writer(dev, journal, seed, span, discards, full):
    """The writer: never returns. Journals each write (W), discard (D),
    failure (X) before or after it, and each completed fsync (S). With
    `full`, it writes random blocks only, to keep the volume full."""
    rnd = random.Random(seed)
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    j = open(journal, "a", buffering=1)
    buf = mmap.mmap(-1, 4096)
    seq = seed * 1000000

    def discard(most=64):
        nonlocal seq
        seq += 1
        n = rnd.randrange(1, most + 1)
        lbn = rnd.randrange(span - n)
        j.write("D %d %d %d\n" % (lbn, n, seq))
        try:
            fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", lbn * 4096, n * 4096))
        except OSError:
            j.write("X %d\n" % seq)

    while True:
        for _ in range(8):
            seq += 1
            if full and seq % 5 < 3:
                seq += 3 - seq % 5
            lbn = rnd.randrange(span)
            j.write("W %d %d\n" % (lbn, seq))
            buf[:] = content(lbn, seq)
            try:
                os.pwritev(fd, [buf], lbn * 4096)
            except OSError as e:
                # Not acknowledged: its content must never appear.
                j.write("X %d\n" % seq)
                if e.errno == errno.ENOSPC:
                    # Make a little room, so that the volume stays full.
                    discard(4)
        if discards and rnd.random() < 0.5:
            discard()
        try:
            os.fsync(fd)
            j.write("S %d\n" % seq)
        except OSError:
            pass


def verify(dev, journal, cut, span):
    """Checks the volume against the journal; on success rewrites the
    journal as the baseline (B lines: what the disk holds now)."""
    durable = {}   # lbn -> (seq, kind) as of the last completed fsync
    pending = []   # (lbn, seq, kind) issued since
    failed = set()
    for n, line in enumerate(open(journal)):
        f = line.split()
        if not f:
            continue
        if f[0] == "B":
            durable[int(f[1])] = (int(f[2]), f[3])
        elif f[0] == "W" and len(f) == 3:
            pending.append((int(f[1]), int(f[2]), "W"))
        elif f[0] == "D" and len(f) == 4:
            lbn, cnt, seq = int(f[1]), int(f[2]), int(f[3])
            pending.extend((l, seq, "D") for l in range(lbn, lbn + cnt))
        elif f[0] == "X" and len(f) == 2:
            failed.add(int(f[1]))
        elif f[0] == "S" and len(f) == 2 and n < cut:
            # Lines after `cut` were journalled after the power cut: their
            # writes may or may not have landed, their fsyncs prove nothing.
            s = int(f[1])
            keep = []
            for p in pending:
                if p[1] in failed:
                    continue
                if p[1] <= s:
                    if p[0] not in durable or durable[p[0]][0] < p[1]:
                        durable[p[0]] = (p[1], p[2])
                else:
                    keep.append(p)
            pending = keep
    allowed = {}
    for lbn, seq, kind in pending:
        if seq not in failed:
            allowed.setdefault(lbn, []).append((seq, kind))

    def value(lbn, seq, kind):
        return ZERO if kind == "D" else content(lbn, seq)

    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    chunk = 256
    b = mmap.mmap(-1, chunk * 4096)
    bad, base, msgs = 0, [], []
    for first in range(0, span, chunk):
        os.preadv(fd, [b], first * 4096)
        for lbn in range(first, min(span, first + chunk)):
            got = b[(lbn - first) * 4096:(lbn - first + 1) * 4096]
            ok = list(allowed.get(lbn, []))
            ok.append(durable.get(lbn, (0, "D")))
            match = [sk for sk in ok if value(lbn, *sk) == got]
            if not match:
                bad += 1
                if bad <= 3:
                    msgs.append("LBN %d: unexpected content %r (durable %s)"
                                % (lbn, got[:20], durable.get(lbn)))
            else:
                s, k = max(match)
                if s:
                    base.append("B %d %d %s\n" % (lbn, s, k))
    os.close(fd)
    if bad == 0:
        open(journal, "w").write("".join(base))
    return bad, "durable=%d pending=%d failed writes=%d" % (len(durable), len(pending), len(failed)), msgs


def lines(journal):
    with open(journal) as f:
        return sum(1 for _ in f)


def syncs(journal):
    with open(journal) as f:
        return sum(1 for l in f if l.startswith("S "))


def main():
    vol, low, loop, sectors, span, first, last, mode, journal = sys.argv[1:10]
    span, first, last = int(span), int(first), int(last)
    dev = "/dev/mapper/" + vol
    sectors = int(sectors)
    linear = [(0, sectors, "linear", "%s 0" % loop)]
    dropping = [(0, sectors, "flakey", "%s 0 0 1 1 drop_writes" % loop)]
    table = [(0, 131072, "vdo_qat", "/dev/mapper/%s 131072" % low)]

    open(journal, "a").close()
    for i in range(first, last + 1):
        s0 = syncs(journal)
        pid = os.fork()
        if pid == 0:
            try:
                writer(dev, journal, i, span, mode == "discard", mode == "full")
            finally:
                os._exit(1)
        # Let the writer get going: wait for its first fsync of this round.
        for _ in range(300):
            if syncs(journal) > s0:
                break
            time.sleep(0.05)
        time.sleep(random.uniform(0.1, 0.6))
        susp = None
        if mode == "suspend":
            # Cut the power while the suspend writes the bin and commits.
            susp = os.fork()
            if susp == 0:
                try:
                    dm(DM_SUSPEND, vol, DM_SUSPEND_FLAG)
                finally:
                    os._exit(0)
            time.sleep(random.uniform(0, 0.2))
        os.kill(pid, signal.SIGSTOP)
        cut = lines(journal)
        # Power cut: from now on every write to the disk is lost.
        dm_swap(low, dropping)
        if susp:
            os.waitpid(susp, 0)
            # Resume on the dead device: the volume loads its metadata again.
            dm(DM_SUSPEND, vol)
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        dm_remove(vol)
        dm_swap(low, linear)
        lfd = os.open(loop, os.O_RDONLY)
        fcntl.ioctl(lfd, BLKFLSBUF, 0)
        os.close(lfd)
        try:
            dm_create(vol, table)
        except OSError as e:
            print("FAIL crash point %d: volume loads (%s)" % (i, e), flush=True)
            continue
        bad, info, msgs = verify(dev, journal, cut, span)
        for m in msgs:
            print("# " + m)
        if bad:
            print("FAIL crash point %d (%s): %d LBNs wrong, %s" % (i, mode, bad, info), flush=True)
        else:
            print("PASS crash point %d (%s): every fsync'ed block intact (%s)" % (i, mode, info), flush=True)


if __name__ == "__main__":
    main()
