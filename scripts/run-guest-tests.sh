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
# wait_nvme_prep: waits (up to 30 minutes) for scripts/nvme-prep.sh, run
# on the host by check.sh while the vdo_qat tests run, then takes VQ_QEMU
# and VQ_GUEST_KERNEL for the nested guest from its nested.env. Without
# nvme-prep (make bench, by hand) nothing waits.
wait_nvme_prep() {
	local waited=0
	[ -f "$OUT/nvme-prep.log" ] || return 0
	while [ ! -f "$OUT/nvme-ready" ] && [ "$waited" -lt 1800 ]; do
		sleep 5
		waited=$((waited + 5))
	done
	echo "# waited ${waited} s for the nvme_vhost builds (scripts/nvme-prep.sh)"
	if [ -f "$OUT/nested.env" ]; then set -a; . "$OUT/nested.env"; set +a; fi
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
	for c in $(awk '!seen[$1]++ { print $1 }' <<<"$KSFT_LIST"); do
		[ "$c" = nvme_vhost ] && wait_nvme_prep
		# Not in a subshell: test numbers continue across collections.
		cd "$STAGE/$c" && run_many $(awk -v c="$c" '$1 == c { print $2 }' <<<"$KSFT_LIST")
	done
) >>"$OUT/kselftest.ktap" 2>&1

dmesg >"$OUT/dmesg.log"
echo done >"$OUT/guest-done"
