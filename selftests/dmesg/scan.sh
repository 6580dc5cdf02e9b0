#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Scans the whole kernel log of this boot for bug reports (KASAN, KFENCE,
# lockdep, WARN, BUG, oops, UBSAN, hung tasks, RCU stalls). Runs last.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 1
DMESG_MARK=""
check "kernel log of the whole run is free of bug reports" no_new_bugs
ktap_finished
