#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The /dev/vhost-nvme ioctls of include/uapi/linux/vhost_nvme.h: ownership,
# the guest memory table, and BAR0 register accesses driving the
# controller's state the way Linux's nvme driver does (CAP, VS, AQA, ASQ
# and ACQ as 32-bit halves, CC.EN, CSTS.RDY, shutdown, reset), with bad
# accesses refused.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 40
trap 'unload nvme_vhost >/dev/null 2>&1' EXIT
unload nvme_vhost >/dev/null 2>&1
dmesg_mark
check "load nvme_vhost" insmod "$NVME_VHOST_KO"

# Each output line of the Python driver: <description>|<expected>|<actual>.
while IFS='|' read -r desc want got; do
	eq "$desc" "$want" "$got"
done < <(python3 - <<'PY'
import errno, fcntl, mmap, os, struct

def ioc(d, nr, size): return (d << 30) | (size << 16) | (0xAF << 8) | nr
SET_OWNER, SET_MEM = ioc(0, 0xE0, 0), ioc(1, 0xE1, 8)
RD, WR, RESET = ioc(3, 0xE3, 16), ioc(1, 0xE4, 16), ioc(0, 0xE8, 0)
fd = os.open("/dev/vhost-nvme", os.O_RDWR)

def rd(off, w=4):
    b = bytearray(struct.pack("<IIQ", off, w, 0))
    fcntl.ioctl(fd, RD, b)
    return struct.unpack("<IIQ", b)[2]

def wr(off, v, w=4):
    fcntl.ioctl(fd, WR, struct.pack("<IIQ", off, w, v))

def err(f, *a):
    try:
        f(*a)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def out(desc, want, got):
    print(f"{desc}|{want}|{got}")

out("register read before SET_OWNER", "EPERM", err(rd, 0))
out("SET_OWNER", "ok", err(fcntl.ioctl, fd, SET_OWNER))
out("second SET_OWNER", "EBUSY", err(fcntl.ioctl, fd, SET_OWNER))
pid = os.fork()
if pid == 0:
    os._exit(0 if err(rd, 0) == "EPERM" else 1)
out("another process is not the owner", 0, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
import threading
res = []
t = threading.Thread(target=lambda: res.append(err(rd, 0)))
t.start(); t.join()
out("another thread of the owner is the owner (QEMU's vCPU threads)", "ok", res[0])
CFG = ioc(1, 0xEA, 24)
def cfg(serial, queues): return struct.pack("<20sI", serial, queues)
out("SET_CONFIG: serial not printable", "EINVAL", err(fcntl.ioctl, fd, CFG, cfg(b"a\x07", 0)))
out("SET_CONFIG: 17 queue pairs", "EINVAL", err(fcntl.ioctl, fd, CFG, cfg(b"VQ", 17)))
out("SET_CONFIG", "ok", err(fcntl.ioctl, fd, CFG, cfg(b"VQ-REG-1", 4)))

cap = rd(0, 8)
out("CAP as two 32-bit halves", hex(cap), hex(rd(0) | rd(4) << 32))
out("CAP.MQES (0-based)", 1023, cap & 0xffff)
out("CAP.CQR, DSTRD, CSS=NVM, MPSMIN/MAX", "1 0 1 0 0",
    f"{cap >> 16 & 1} {cap >> 32 & 0xf} {cap >> 37 & 0xff} {cap >> 48 & 0xf} {cap >> 52 & 0xf}")
out("VS 1.4", hex(0x10400), hex(rd(8)))
out("CSTS before enable", 0, rd(0x1c))

# Guest memory: two regions of an anonymous mapping; the admin queues
# below lie in them.
m = mmap.mmap(-1, 2 << 20)
import ctypes
ua = ctypes.addressof(ctypes.c_char.from_buffer(m))
def table(regions):
    b = struct.pack("<II", len(regions), 0)
    for g, s, u in regions:
        b += struct.pack("<QQQQ", g, s, u, 0)
    return bytearray(b)
TWO = table([(0, 1 << 20, ua), (4 << 30, 1 << 20, ua + (1 << 20))])
fd2 = os.open("/dev/vhost-nvme", os.O_RDWR)
fcntl.ioctl(fd2, SET_OWNER)
fcntl.ioctl(fd2, WR, struct.pack("<IIQ", 0x24, 4, (31 << 16) | 31))
fcntl.ioctl(fd2, WR, struct.pack("<IIQ", 0x28, 8, 0x1000))
fcntl.ioctl(fd2, WR, struct.pack("<IIQ", 0x30, 8, 0x2000))
fcntl.ioctl(fd2, WR, struct.pack("<IIQ", 0x14, 4, (4 << 20) | (6 << 16) | 1))
b = bytearray(struct.pack("<IIQ", 0x1c, 4, 0))
fcntl.ioctl(fd2, RD, b)
out("enable without a memory table: CSTS.CFS", 2, struct.unpack("<IIQ", b)[2])
os.close(fd2)
out("SET_MEM_TABLE, 2 regions", "ok", err(fcntl.ioctl, fd, SET_MEM, TWO))

# Linux: AQA, ASQ and ACQ as lo/hi halves, then CC (IOCQES 4, IOSQES 6, EN).
wr(0x24, (31 << 16) | 31)
for reg, base in ((0x28, 0x1_0000_2000), (0x30, 0x3000)):
    wr(reg, base & 0xffffffff)
    wr(reg + 4, base >> 32)
wr(0x14, (4 << 20) | (6 << 16) | 1)
out("CSTS.RDY after CC.EN", 1, rd(0x1c))
out("ASQ reads back as 64 bits", hex(0x1_0000_2000), hex(rd(0x28, 8)))
out("ACQ reads back", hex(0x3000), hex(rd(0x30, 8)))
out("SET_MEM_TABLE while enabled", "EBUSY", err(fcntl.ioctl, fd, SET_MEM, TWO))
out("AQA reads back", hex((31 << 16) | 31), hex(rd(0x24)))
out("CC reads back", hex((4 << 20) | (6 << 16) | 1), hex(rd(0x14)))
wr(0x0c, 0b101)
wr(0x10, 0b001)
out("INTMS set, INTMC clear", 0b100, rd(0x0c))
wr(0x14, rd(0x14) | 1 << 14)
out("shutdown: CSTS.SHST complete, RDY still 1", hex(0b1001), hex(rd(0x1c)))
out("VHOST_NVME_RESET", "ok", err(fcntl.ioctl, fd, RESET))
out("after reset: CSTS 0, CC.EN 0, INTMS 0", "0 0 0", f"{rd(0x1c)} {rd(0x14) & 1} {rd(0x0c)}")
wr(0x14, (1 << 7) | 1)
out("enable with 8 KiB pages: CSTS.CFS", 2, rd(0x1c))
wr(0x14, 0)
wr(0x14, 1)
out("enable again after CC.EN=0: RDY", 1, rd(0x1c))
out("SET_CONFIG while enabled", "EBUSY", err(fcntl.ioctl, fd, CFG, cfg(b"VQ", 1)))

out("no register at 0x40", "EINVAL", err(rd, 0x40))
out("16-bit access", "EINVAL", err(rd, 0x14, 2))
out("64-bit access to VS", "EINVAL", err(rd, 0x08, 8))
out("doorbell of SQ 16 (last queue)", "ok", err(wr, 0x1000 + 16 * 8, 3))
out("doorbell of SQ 17 (no such queue)", "EINVAL", err(wr, 0x1000 + 17 * 8, 3))

out("overlapping regions", "EINVAL",
    err(fcntl.ioctl, fd, SET_MEM, table([(0, 1 << 20, ua), (1 << 19, 1 << 20, ua)])))
out("empty region", "EINVAL", err(fcntl.ioctl, fd, SET_MEM, table([(0, 0, ua)])))
out("65 regions", "E2BIG",
    err(fcntl.ioctl, fd, SET_MEM, table([(i << 20, 1 << 20, ua) for i in range(65)])))
out("unknown ioctl", "ENOTTY", err(fcntl.ioctl, fd, ioc(0, 0xEF, 0)))
del ua
os.close(fd)
PY
)
check "unload" unload nvme_vhost
check "no kernel bug reports" no_new_bugs
ktap_finished
