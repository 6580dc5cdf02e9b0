#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the nested QEMU guests of make bench (scripts/bench-guest.sh):
# the same fio job on whichever disk the guest has (/dev/nvme0n1 or
# /dev/vda): 4 KiB random reads with O_DIRECT through io_uring, at QD 1
# and QD 16, BENCH_SECS (from the kernel command line) per point. Prints
# "GUEST: start <point>" and "GUEST: end <point> <IOPS> <mean latency us>"
# around each point (the host reads CPU times then; 3 s pass before the
# next step), then powers off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
secs=$(sed -n 's/.*bench_secs=\([0-9]*\).*/\1/p' /proc/cmdline)
i=0
while [ ! -b /dev/nvme0n1 ] && [ ! -b /dev/vda ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
dev=$(ls /dev/nvme0n1 /dev/vda 2>/dev/null | head -n 1)
echo "GUEST: disk $dev"
for qd in 1 16; do
	fio --name=warm --filename="$dev" --rw=randread --bs=4k --iodepth=$qd --ioengine=io_uring \
		--direct=1 --size=64M --runtime=2 --time_based >/dev/null 2>&1
	echo "GUEST: start qd$qd"
	fio --name=r --filename="$dev" --rw=randread --bs=4k --iodepth=$qd --ioengine=io_uring \
		--direct=1 --size=64M --runtime="${secs:-10}" --time_based --randrepeat=1 \
		--output-format=terse --terse-version=3 >/tmp/r 2>/tmp/e
	# Terse v3: field 8 read IOPS, 40 mean total latency (us).
	echo "GUEST: end qd$qd $(awk -F';' '{ print $8, $40 }' /tmp/r)"
	sleep 3
	head -n 3 /tmp/e | sed 's/^/GUEST: fio: /'
done
reboot -f
