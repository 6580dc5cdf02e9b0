#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the nested QEMU guest of guest.sh (busybox, mkfs.ext4; built by
# scripts/mk-initramfs.sh). On its vhost-nvme disk: mkfs.ext4, copy the
# files of /payload, unmount, mount again and verify them against
# /payload/files.md5, write one file made here and print its checksum,
# read the raw device twice, unmount, power off. Every result is a "GUEST: <key> <value>" console
# line; the first failed step skips the rest.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "GUEST: $*"; }
mounted() { grep -q '^/dev/nvme0n1 /mnt ext4 ' /proc/mounts; }
run() { # <key> <shell command>: "GUEST: <key> ok", or "failed" and stop
	key=$1; shift
	if eval "$*" >/tmp/step.log 2>&1; then
		say "$key" ok
	else
		say "$key" failed
		sed "s/^/GUEST: $key: /" /tmp/step.log | head -n 5
		sync; say poweroff; reboot -f
	fi
}
say up
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
say disk "$(ls /dev/nvme0n1 2>&1)"
say model "$(cat /sys/class/nvme/nvme0/model 2>&1)"
say serial "$(cat /sys/class/nvme/nvme0/serial 2>&1)"
say sectors "$(cat /sys/block/nvme0n1/size 2>&1)"
say io_queues "$(ls /sys/block/nvme0n1/mq 2>/dev/null | wc -l)"
run mkfs mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 /dev/nvme0n1
run mount 'mount -t ext4 /dev/nvme0n1 /mnt && mounted'
run copy cp -a /payload/files /mnt/
run umount umount /mnt
run remount 'mount -t ext4 -o ro /dev/nvme0n1 /mnt && mounted'
run verify '(cd /mnt && md5sum -c -s /payload/files.md5)'
run umount2 umount /mnt
# The raw device, read twice with O_DIRECT in 1 MiB requests (8 commands
# of 128 KiB each): the same bytes both times.
run rawread '[ "$(dd if=/dev/nvme0n1 bs=1M count=32 iflag=direct | md5sum)" = "$(dd if=/dev/nvme0n1 bs=1M count=32 iflag=direct | md5sum)" ]'
run mount2 'mount -t ext4 /dev/nvme0n1 /mnt && mounted'
run write 'dd if=/dev/urandom of=/mnt/guest.bin bs=4k count=64'
say guest_md5 "$(md5sum /mnt/guest.bin | cut -d' ' -f1)"
run umount3 umount /mnt
sync
say io-done
# The host samples the controller's counters once a second.
sleep 3
say poweroff
# The guest kernel has no ACPI power-off: a reset, which QEMU's -no-reboot
# turns into an exit (status 0).
reboot -f
