#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: ksft-list.sh
# Prints the kselftest programs scripts/run-guest-tests.sh runs, in the
# order it runs them, one a line: <collection> <program> <timeout_s>.
# The one list of collections: the guest runs it, scripts/check.sh derives
# the VM's timeout from it (vq_vm_timeout) and scripts/summarize.py names
# the programs that have no result.
# <timeout_s> is what the kernel's kselftest runner applies: timeout= in the
# collection's settings file, else its default of 45 s.
set -euo pipefail
cd "$(dirname "$0")/../selftests"
COLLECTIONS=(vdo_qat nvme_vhost dmesg)   # dmesg last: scans the whole run
for c in "${COLLECTIONS[@]}"; do
	t=
	[ ! -r "$c/settings" ] || t=$(sed -n 's/^[[:space:]]*timeout=\([0-9][0-9]*\).*/\1/p' "$c/settings" | tail -n 1)
	for p in $(sed -n 's/^TEST_PROGS *:= *//p' "$c/Makefile"); do
		echo "$c $p ${t:-45}"
	done
done
