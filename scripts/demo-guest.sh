#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs INSIDE the VM for scripts/demo.sh. Usage: demo-guest.sh <outdir>
set -eu
OUT=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/usr/sbin:/sbin:$PATH DM_DISABLE_UDEV=1
exec >"$OUT/demo.log" 2>&1
run() { echo "# $*"; "$@"; }

run insmod "$ROOT/drivers/vdo_qat/vdo_qat.ko"
run insmod "$ROOT/drivers/nvme_vhost/nvme_vhost.ko"
run dmsetup targets
run ls -l /dev/vhost-nvme
mkdir -p /tmp/demo && truncate -s 256M /tmp/demo/backing
LOOP=$(losetup -f --show /tmp/demo/backing)
SECTORS=$(( $(blockdev --getsz "$LOOP") - 2048 ))
run dmsetup create vol0 --table "0 $SECTORS vdo_qat $LOOP 2048"
run dmsetup table vol0
head -c 16M /dev/urandom >/tmp/demo/data
run dd if=/tmp/demo/data of=/dev/mapper/vol0 bs=1M oflag=direct status=none
a=$(sha256sum </tmp/demo/data | cut -d' ' -f1)
b=$(head -c 16M /dev/mapper/vol0 | sha256sum | cut -d' ' -f1)
echo "sha256 written:   $a"
echo "sha256 read back: $b"
run dmsetup status vol0
run dmsetup message vol0 0 stats
run dmsetup remove vol0
losetup -d "$LOOP"
run rmmod nvme_vhost vdo_qat
[ "$a" = "$b" ] && echo "demo: OK"
