#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The controller end to end, driven by the test VMM (tools/vmm, nvme-vmm)
# the way Linux's nvme driver drives it, with a memfd as guest RAM:
# bring-up and Identify, every I/O command verified against the backend's
# content (a tmpfs file, synchronous kiocbs; a memory-backed null_blk with
# 4 KiB LBAs, asynchronous direct I/O), PRP lists, 4 queues, shadow
# doorbells on and off with the MMIO doorbell ratios at QD 32, doorbell
# eventfds, resets with I/O in flight, error statuses; then 100,000 random
# commands (fuzz), and two controllers fuzzed at once. Each nvme-vmm
# output line "desc|expected|actual" is one test point; no kernel bug
# report may appear.
. "$(dirname "$0")/../lib.sh"

VMM=${NVME_VMM:-$VQ_ROOT/tools/vmm/target/release/nvme-vmm}
FUZZ_COUNT=${FUZZ_COUNT:-100000}
# Test points each nvme-vmm run prints.
TEST_POINTS=119
FUZZ_POINTS=8

ktap_print_header
ktap_set_plan $((3 + 2 * TEST_POINTS + 3 * FUZZ_POINTS + 1))
cleanup() {
	unload nvme_vhost >/dev/null 2>&1
	mod_loaded null_blk && rmmod null_blk
	rm -rf "$VQ_TMP"
}
trap cleanup EXIT
unload nvme_vhost >/dev/null 2>&1
dmesg_mark
check "load nvme_vhost" insmod "$NVME_VHOST_KO"
check "nvme-vmm built" test -x "$VMM"
check "load null_blk (memory backed, 4 KiB blocks)" \
	modprobe null_blk nr_devices=1 memory_backed=1 gb=1 bs=4096 irqmode=1

mkdir -p "$VQ_TMP"
img=$VQ_TMP/ns.img
truncate -s 65M "$img"

# run <prefix> <points> <nvme-vmm args...>: one test point per output line;
# missing lines (a crash) fail the rest of the plan.
run() {
	local prefix=$1 points=$2 n=0; shift 2
	while IFS='|' read -r desc want got; do
		case $desc in
		'#'*) ktap_print_msg "${desc#\# }"; continue ;;
		esac
		[ -z "$want$got" ] && { ktap_print_msg "$desc"; continue; }
		n=$((n + 1))
		eq "$prefix: $desc" "$want" "$got"
	done < <(if [ "$1" = cat ]; then "$@"; else "$VMM" "$@" 2>&1; fi)
	while [ "$n" -lt "$points" ]; do
		n=$((n + 1))
		ktap_test_fail "$prefix: missing result $n (nvme-vmm ended early)"
	done
}

run "tmpfs 512" "$TEST_POINTS" test --backend "$img" --lba 512
run "null_blk 4096" "$TEST_POINTS" test --backend /dev/nullb0 --lba 4096
truncate -s 0 "$img"; truncate -s 65M "$img"
run "fuzz" "$FUZZ_POINTS" fuzz --backend "$img" --count "$FUZZ_COUNT" --seed 1
# Two controllers at once: one guest sends garbage while the other's
# commands all complete (each controller has its own worker).
img2=$VQ_TMP/ns2.img
truncate -s 33M "$img2"
"$VMM" fuzz --backend "$img" --count 20000 --seed 3 >"$VQ_TMP/a.out" 2>&1 &
apid=$!
run "concurrent B" "$FUZZ_POINTS" fuzz --backend "$img2" --count 2000 --seed 4
wait "$apid"
run "concurrent A" "$FUZZ_POINTS" cat "$VQ_TMP/a.out"
check "no kernel bug reports (KASAN, lockdep, oops)" no_new_bugs
ktap_finished
