#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# QEMU's vhost-nvme device without booting a guest (-S, the monitor on
# stdin): realize with an fd passed in (vhostfd) and the PCI identity in
# "info pci"; the blocked migration and its message; realize through
# /dev/vhost-nvme; and realize errors for each bad property, with QEMU's
# message. VQ_QEMU as for guest.sh.
. "$(dirname "$0")/../lib.sh"

QEMU=${VQ_QEMU:-}
ktap_print_header
ktap_set_plan 12
cleanup() {
	unload nvme_vhost >/dev/null 2>&1
	rm -rf "$VQ_TMP"
}
trap cleanup EXIT
unload nvme_vhost >/dev/null 2>&1
dmesg_mark
check "load nvme_vhost" insmod "$NVME_VHOST_KO"
mkdir -p "$VQ_TMP"
img=$VQ_TMP/ns.img
truncate -s 16M "$img"
# qemu <monitor commands> <device properties...>: QEMU's output.
qemu() {
	local cmds=$1; shift
	printf '%b' "$cmds" | timeout 120 "$QEMU" -M pc -S -nodefaults -display none -monitor stdio \
		-L /usr/share/seabios -L /usr/share/qemu "$@" 2>&1
}
out=$(qemu 'info pci\nmigrate exec:cat>/dev/null\nquit\n' \
	-device "vhost-nvme,backend=$img,serial=QDEV1,queues=3,vhostfd=9" 9<>/dev/vhost-nvme)
check "realize with vhostfd: info pci lists the controller, 1b36:0010" \
	grep -q 'PCI device 1b36:0010' <<<"$out"
check "migration blocked with vhost-nvme's message" \
	grep -q 'vhost-nvme: migration is not supported' <<<"$out"
out=$(qemu 'info pci\nquit\n' -device "vhost-nvme,backend=$img")
check "realize with /dev/vhost-nvme" grep -q 'PCI device 1b36:0010' <<<"$out"
errs() { qemu 'quit\n' -device "$1" | grep -o "$2" | head -n 1; }
eq "no backend" "the backend property is required" "$(errs vhost-nvme 'the backend property is required')"
eq "backend missing" "cannot open $VQ_TMP/none" "$(errs "vhost-nvme,backend=$VQ_TMP/none" "cannot open $VQ_TMP/none")"
eq "17 queues" "queues must be 1..16" "$(errs "vhost-nvme,backend=$img,queues=17" 'queues must be 1..16')"
eq "serial of 21 bytes" "serial is longer than 20 bytes" \
	"$(errs "vhost-nvme,backend=$img,serial=ABCDEFGHIJKLMNOPQRSTU" 'serial is longer than 20 bytes')"
eq "serial not printable" "SET_CONFIG" "$(errs "vhost-nvme,backend=$img,serial=$(printf 'a\tb')" 'SET_CONFIG')"
eq "LBA size 1024" "SET_BACKEND" "$(errs "vhost-nvme,backend=$img,lba-size=1024" 'SET_BACKEND')"
eq "no such vhostdev" "cannot open $VQ_TMP/vn" "$(errs "vhost-nvme,backend=$img,vhostdev=$VQ_TMP/vn" "cannot open $VQ_TMP/vn")"
check "no kernel bug reports" no_new_bugs
ktap_finished
