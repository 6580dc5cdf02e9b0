#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Helpers shared by the kselftests of vdo_qat and nvme_vhost. Source it from
# a test directory; the kernel's kselftest/ktap_helpers.sh must be in
# ../kselftest (scripts/run-guest-tests.sh stages it there).
#
# Environment: VQ_ROOT = repository root (holds the built .ko files).

. "$(dirname "$0")/../kselftest/ktap_helpers.sh"

VQ_ROOT=${VQ_ROOT:?VQ_ROOT must point to the repository}
VDO_QAT_KO=$VQ_ROOT/drivers/vdo_qat/vdo_qat.ko
NVME_VHOST_KO=$VQ_ROOT/drivers/nvme_vhost/nvme_vhost.ko

# check <description> <command...>: one KTAP test point from a command.
check() {
	local desc=$1; shift
	if "$@"; then ktap_test_pass "$desc"; else ktap_test_fail "$desc"; fi
}

# eq <description> <expected> <actual>
eq() {
	if [ "$2" = "$3" ]; then
		ktap_test_pass "$1"
	else
		ktap_print_msg "$1: expected '$2', got '$3'"
		ktap_test_fail "$1"
	fi
}

# fails <command...>: true when the command fails (its stderr dropped).
fails() { ! "$@" 2>/dev/null; }

mod_loaded() { [ -d "/sys/module/$1" ]; }

unload() { mod_loaded "$1" && rmmod "$1"; ! mod_loaded "$1"; }

# Kernel log lines since the mark set by dmesg_mark. The mark is a line
# written to /dev/kmsg, not a line count, so it survives the ring buffer
# wrapping; if it was overwritten (or never set: DMESG_MARK=""), the whole
# log is used, which errs towards finding bug reports.
dmesg_mark() {
	DMESG_MARK="vq-selftest-mark $$ $RANDOM $SECONDS $(basename "$0")"
	echo "$DMESG_MARK" >/dev/kmsg
}
dmesg_since() {
	local log
	log=$(dmesg)
	if [ -n "${DMESG_MARK:-}" ] && grep -qF -- "$DMESG_MARK" <<<"$log"; then
		awk -v m="$DMESG_MARK" 'found { print } index($0, m) { found = 1 }' <<<"$log"
	else
		printf '%s\n' "$log"
	fi
}

# Reports of kernel bugs that fail any test (KASAN, KFENCE, lockdep, WARN,
# BUG, oops, UBSAN, hung tasks, RCU stalls, refcount and list corruption).
BUG_PATTERN='BUG:|KASAN:|KFENCE:|WARNING:|Oops|kernel BUG|UBSAN:|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|rcu_sched self-detected stall|rcu: INFO|refcount_t:|list_add corruption|list_del corruption|general protection fault|Call Trace:'

# no_new_bugs: true when no bug report appeared since dmesg_mark.
no_new_bugs() {
	local hits
	hits=$(dmesg_since | grep -E "$BUG_PATTERN" | head -n 5)
	[ -z "$hits" ] && return 0
	ktap_print_msg "kernel reported: $hits"
	return 1
}

# loopdev <size_MiB>: a loop device over a fresh file in $VQ_TMP.
VQ_TMP=${VQ_TMP:-/tmp/vq-selftest.$$}
LOOPS=()
loopdev() {
	mkdir -p "$VQ_TMP"
	local f; f=$(mktemp "$VQ_TMP/backing.XXXXXX")
	truncate -s "$1M" "$f"
	local l; l=$(losetup -f --show "$f") || return 1
	LOOPS+=("$l")
	echo "$l"
}

cleanup_loops() {
	local l
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$VQ_TMP"
}

sectors_of() { blockdev --getsz "$1"; }

# No udev in the test VM: let libdevmapper create /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

# dm_stat <dev> <counter> [sector]: one counter of the "stats" message of
# the vdo_qat target at <sector> (default 0) of <dev>.
dm_stat() {
	dmsetup message "$1" "${3:-0}" stats | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'
}

sha() { sha256sum | cut -d' ' -f1; }
