#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Loads and unloads nvme_vhost 10 times; each time /dev/vhost-nvme must be
# a misc character device that opens, rejects unknown ioctls with ENOTTY,
# and disappears after rmmod.
. "$(dirname "$0")/../lib.sh"

CYCLES=10
ktap_print_header
ktap_set_plan $((CYCLES + 1))
unload nvme_vhost >/dev/null 2>&1
dmesg_mark
for i in $(seq 1 $CYCLES); do
	ok=1
	insmod "$NVME_VHOST_KO" || ok=0
	[ -c /dev/vhost-nvme ] || { ktap_print_msg "cycle $i: no /dev/vhost-nvme"; ok=0; }
	major=$(stat -c %t /dev/vhost-nvme 2>/dev/null)
	[ "$major" = a ] || { ktap_print_msg "cycle $i: major 0x$major, want 0xa (misc)"; ok=0; }
	r=$(python3 -c '
import errno, fcntl, os
fd = os.open("/dev/vhost-nvme", os.O_RDWR)
try:
    fcntl.ioctl(fd, 0xAF00)
    print("accepted")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
os.close(fd)' 2>&1)
	[ "$r" = ENOTTY ] || { ktap_print_msg "cycle $i: unknown ioctl gave '$r', want ENOTTY"; ok=0; }
	rmmod nvme_vhost || ok=0
	mod_loaded nvme_vhost && ok=0
	[ -e /dev/vhost-nvme ] && { ktap_print_msg "cycle $i: /dev/vhost-nvme left behind"; ok=0; }
	if [ $ok = 1 ]; then ktap_test_pass "load/unload cycle $i"; else ktap_test_fail "load/unload cycle $i"; fi
done
check "no kernel bug reports" no_new_bugs
ktap_finished
