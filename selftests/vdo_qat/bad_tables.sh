#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Malformed vdo_qat table lines: each must be refused, leave no device, log
# a message naming the fault, and cause no kernel bug report. The device is
# all zeros, so the last case gets as far as formatting (too small for the
# metadata asked for).
. "$(dirname "$0")/../lib.sh"

trap 'dmsetup remove bad 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"
LOOP=$(loopdev 8)   # 16384 sectors

# table line | text the kernel log must contain
CASES=(
	"0 2048 vdo_qat|missing argument 1: data device path"
	"0 2048 vdo_qat $LOOP|missing argument 2: logical size (512 B sectors)"
	"0 2048 vdo_qat $LOOP abc|invalid argument 2: logical size (512 B sectors)"
	"0 2048 vdo_qat $LOOP -8|invalid argument 2: logical size (512 B sectors)"
	"0 2048 vdo_qat $LOOP 4096|argument out of range 2: logical size: must equal the target length"
	"0 2044 vdo_qat $LOOP 2044|argument out of range 2: logical size: must equal the target length"
	"0 2048 vdo_qat $LOOP 2048 1|missing argument 4: feature argument count"
	"0 2048 vdo_qat $LOOP 2048 99 a|argument out of range 3: feature argument count"
	"0 2048 vdo_qat $LOOP 2048 2 compress on|unknown optional argument 4: feature"
	"0 2048 vdo_qat $LOOP 2048 2 dedup maybe|invalid argument 5: dedup on|off"
	"0 2048 vdo_qat $LOOP 2048 4 dedup on dedup off|duplicate optional argument 6: feature"
	"0 2048 vdo_qat $LOOP 2048 2 index_memory 0|argument out of range 5: index_memory (MiB)"
	"0 2048 vdo_qat $LOOP 2048 2 metadata_blocks 10|argument out of range 5: metadata_blocks (4 KiB blocks)"
	"0 2048 vdo_qat $LOOP 2048 0 extra|too many arguments 4: end of table line"
	"0 2048 vdo_qat /dev/vq-no-such-device 2048|cannot open data device /dev/vq-no-such-device"
	"0 2048 vdo_qat $LOOP 2048 2 metadata_blocks 4000|cannot format"
)

ktap_print_header
ktap_set_plan $(( ${#CASES[@]} + 1 ))
dmesg_mark
all_mark=$DMESG_MARK
for c in "${CASES[@]}"; do
	table=${c%%|*} want=${c#*|}
	dmesg_mark
	ok=1
	if dmsetup create bad --table "$table" >/dev/null 2>&1; then
		ktap_print_msg "accepted: $table"; ok=0
	fi
	dmsetup info bad >/dev/null 2>&1 && { ktap_print_msg "device left behind"; dmsetup remove bad; ok=0; }
	dmesg_since | grep '^\[.*\] vdo_qat: ' | grep -qF "$want" || { ktap_print_msg "no '$want' in the kernel log:"; dmesg_since | tail -n 3 | sed 's/^/#   /'; ok=0; }
	no_new_bugs || ok=0
	if [ $ok = 1 ]; then ktap_test_pass "rejects '$table'"; else ktap_test_fail "rejects '$table'"; fi
done
DMESG_MARK=$all_mark
check "no kernel bug reports" no_new_bugs
ktap_finished
