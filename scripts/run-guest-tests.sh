#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs INSIDE the test VM (see scripts/check.sh). Usage:
#   run-guest-tests.sh <outdir> <kernel build dir>
# Writes to <outdir>:
#   kunit.log       kernel log of the first insmod of vdo_qat (KUnit KTAP)
#   kselftest.ktap  results of selftests/*, run by the kernel's kselftest
#                   runner (per-test timeouts from each settings file)
#   dmesg.log       the whole kernel log
#   guest-done      written last, when everything ran
set -u
OUT=$1 KDIR=$2
export VQ_ROOT=$(cd "$(dirname "$0")/.." && pwd)
KSRC=$KDIR; [ -d "$KDIR/source" ] && KSRC=$(readlink -f "$KDIR/source")
export PATH=/usr/sbin:/sbin:$PATH
# wait_nvme_prep <marker>: waits (up to 30 minutes in all) for a step of
# scripts/nvme-prep.sh, run on the host by check.sh while the vdo_qat tests
# run: vmm-ready (the test VMM), nvme-ready (everything: QEMU and the nested
# guest's kernel, named in its nested.env, which it then takes). Without
# nvme-prep (make bench, by hand) nothing waits.
NVME_WAITED=0
wait_nvme_prep() {
	local waited=0
	[ -f "$OUT/nvme-prep.log" ] || return 0
	while [ ! -f "$OUT/$1" ] && [ "$NVME_WAITED" -lt 1800 ]; do
		sleep 5
		waited=$((waited + 5)) NVME_WAITED=$((NVME_WAITED + 5))
	done
	echo "# waited ${waited} s for $1 (scripts/nvme-prep.sh)"
	if [ -f "$OUT/nested.env" ]; then set -a; . "$OUT/nested.env"; set +a; fi
}
# nvme_prep_step <collection> <program>: the nvme-prep.sh step the program
# needs, if any. Each program waits only for its own, so the others run
# while the background builds go on.
nvme_prep_step() {
	[ "$1" = nvme_vhost ] || return 0
	case "$2" in
	vmm.sh) echo vmm-ready ;;
	qemu_device.sh | guest.sh) echo nvme-ready ;;
	esac
}
if [ -f "$OUT/nested.env" ]; then set -a; . "$OUT/nested.env"; set +a; fi

# KUnit: the suites run when the module loads.
mark="vq-kunit-mark $$ $RANDOM"
echo "$mark" >/dev/kmsg
insmod "$VQ_ROOT/drivers/vdo_qat/vdo_qat.ko" && rmmod vdo_qat
dmesg | awk -v m="$mark" 'found { print } index($0, m) { found = 1 }' >"$OUT/kunit.log"

# kselftests, staged as kselftest's install step would lay them out.
STAGE=$(mktemp -d /tmp/vq-ksft.XXXXXX)
cp -r "$VQ_ROOT/selftests/." "$STAGE/"
cp -r "$KSRC/tools/testing/selftests/kselftest" "$STAGE/"
# The programs, in order: "<collection> <program> <timeout>" lines.
KSFT_LIST=$(bash "$VQ_ROOT/scripts/ksft-list.sh")
# Append mode: runner.sh reopens /dev/stdout with O_APPEND for test output,
# and a non-append stdout would overwrite those lines.
: >"$OUT/kselftest.ktap"
(
	set +u   # the kernel's runner.sh expects unset variables to be empty
	cd "$STAGE" || exit 1
	BASE_DIR=$STAGE
	. "$STAGE/kselftest/runner.sh"
	ktap_print_header
	ktap_set_plan "$(wc -l <<<"$KSFT_LIST")"
	mapfile -t progs < <(awk '{ print $1 "/" $2 }' <<<"$KSFT_LIST")
	for cp in "${progs[@]}"; do
		c=${cp%%/*} p=${cp#*/}
		step=$(nvme_prep_step "$c" "$p")
		[ -z "$step" ] || wait_nvme_prep "$step"
		# One program at a time, not in a subshell: test numbers continue.
		cd "$STAGE/$c" && run_many "$p"
	done
) >>"$OUT/kselftest.ktap" 2>&1

dmesg >"$OUT/dmesg.log"
echo done >"$OUT/guest-done"
