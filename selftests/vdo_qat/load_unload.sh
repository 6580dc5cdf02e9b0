#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Loads and unloads vdo_qat 10 times; each time the target type must be
# registered with device-mapper at its version and be gone after rmmod.
. "$(dirname "$0")/../lib.sh"

CYCLES=10
ktap_print_header
ktap_set_plan $((CYCLES + 1))
unload vdo_qat >/dev/null 2>&1
dmesg_mark
for i in $(seq 1 $CYCLES); do
	ok=1
	insmod "$VDO_QAT_KO" || ok=0
	t=$(dmsetup targets | awk '$1 == "vdo_qat" {print $2}')
	[ "$t" = "v1.0.0" ] || { ktap_print_msg "cycle $i: dmsetup targets shows '$t'"; ok=0; }
	rmmod vdo_qat || ok=0
	mod_loaded vdo_qat && ok=0
	dmsetup targets | grep -q '^vdo_qat ' && { ktap_print_msg "cycle $i: target still registered"; ok=0; }
	if [ $ok = 1 ]; then ktap_test_pass "load/unload cycle $i"; else ktap_test_fail "load/unload cycle $i"; fi
done
check "no kernel bug reports" no_new_bugs
ktap_finished
