#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: vm-run.sh [vm-run.sh to test]   (default: scripts/vm-run.sh)
# Host test (KTAP) of the VM runner with a fake vng that starts a fake QEMU
# (sleep, renamed) and never exits by itself: on timeout, on SIGTERM and
# when vng dies first, the runner must leave no process of the fake behind
# and keep its exit codes. Also checks the VM timeout check.sh derives from
# the kselftest settings. Takes about 25 s.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/ktap.bash"
vm_run=${1:-$here/../vm-run.sh}
tmp=$(mktemp -d /tmp/vq-vm-run-test.XXXXXX)

# fake [dir]: "<pid> <command line>" of each live process of the fake VM
# (vng and QEMU; zombies are dead, not left behind) whose command line
# holds <dir> (default: all of this test's).
fake() {
	ps -e -o pid=,stat=,args= | T=${1:-$tmp}/ awk 'index($0, ENVIRON["T"]) && $2 !~ /^Z/ &&
		(/bin\/vng/ || /qemu-system-x86_64/) { $2 = ""; print }'
}
cleanup() {
	local p
	p=$(fake | awk '{ print $1 }')
	[ -z "$p" ] || kill -KILL $p 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# The fake vng. FAKE_VNG_MODE: "" (dies on SIGTERM, like vng), stubborn
# (it and its QEMU ignore SIGTERM: SIG_IGN survives exec), exit (exits 3
# at once and leaves its QEMU running, as a crashing vng would).
mkdir -p "$tmp/bin" "$tmp/cache/venv/bin" "$tmp/kdir"
cat >"$tmp/bin/vng" <<'VNG'
#!/bin/bash
echo "fake vng: $*"
echo "fake vng: stdin $(readlink /proc/$$/fd/0)"
[ "${FAKE_VNG_MODE:-}" = stubborn ] && trap '' TERM
(exec -a "$FAKE_RUN/qemu-system-x86_64" sleep 1000) &
[ "${FAKE_VNG_MODE:-}" = exit ] && exit 3
wait
VNG
chmod +x "$tmp/bin/vng"
# Where a vm-run.sh without VQ_VNG looks, so that this test also runs
# against older versions of it.
ln -s "$tmp/bin/vng" "$tmp/cache/venv/bin/vng"
export VQ_CACHE=$tmp/cache VQ_VNG=$tmp/bin/vng

# run <name> <mode> <timeout_s> [signal]: runs vm-run.sh in the background
# (its outdir: $tmp/<run number>/out), waits until the fake QEMU runs, sends
# vm-run.sh <signal> if given, waits for it. Sets rc (its exit code), during
# (processes of this run's fake VM while it ran), after (the same once it
# returned), console.
nrun=0
run() {
	local name=$1 i pid
	nrun=$((nrun + 1))
	export FAKE_RUN=$tmp/$nrun
	FAKE_VNG_MODE=$2 "$vm_run" "$tmp/kdir" "$FAKE_RUN/out" "$3" "true" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		fake "$FAKE_RUN" | grep -q qemu-system-x86_64 && break
		sleep 0.1
	done
	during=$(fake "$FAKE_RUN" | wc -l)
	[ -z "${4:-}" ] || kill -s "$4" "$pid"
	wait "$pid"
	rc=$?
	after=$(fake "$FAKE_RUN" | wc -l)
	fake "$FAKE_RUN" | sed 's/^/# left behind: /'
	console=$(cat "$FAKE_RUN/out/console.log" 2>/dev/null)
	echo "# $name: exit $rc, processes during $during, after $after"
}

ktap_plan 15

run "timeout" "" 2
eq "timeout: the fake VM ran (vng + QEMU)" 2 "$during"
eq "timeout: exit code 124" 124 "$rc"
eq "timeout: no process of the fake VM left" 0 "$after"
eq "timeout: console captured" 1 "$(grep -c '^fake vng: --run ' <<<"$console")"
eq "the VM's stdin is /dev/null" "fake vng: stdin /dev/null" "$(grep stdin <<<"$console")"

run "timeout, SIGTERM ignored" stubborn 2
eq "timeout, SIGTERM ignored: exit code 124" 124 "$rc"
eq "timeout, SIGTERM ignored: no process of the fake VM left" 0 "$after"

run "vng exits, QEMU stays" exit 60
eq "vng exits first: its exit code" 3 "$rc"
eq "vng exits first: no process of the fake VM left" 0 "$after"

run "vm-run.sh killed" "" 60 TERM
eq "vm-run.sh killed (SIGTERM): exit code 143" 143 "$rc"
eq "vm-run.sh killed (SIGTERM): no process of the fake VM left" 0 "$after"

# The VM timeout of check.sh: sum over the kselftest programs of their
# timeout + 30 s, plus 600 s, capped at VQ_VM_CAP (default 3300 s).
# vdo_qat: 15 x 900, nvme_vhost: 5 x 600, dmesg: 1 x 60 = 16560 s;
# + 21 x 30 + 600 = 17790 s, capped: 3300 s. A change of settings or
# TEST_PROGS must update these numbers.
list=$("$here/../ksft-list.sh")
eq "kselftest programs run in the VM" 21 "$(wc -l <<<"$list")"
eq "sum of their kselftest timeouts" 16560 "$(awk '{ s += $3 } END { print s }' <<<"$list")"
eq "VM timeout (vq_vm_timeout), capped" 3300 "$(. "$here/../lib.sh" && vq_vm_timeout)"
eq "VM timeout uncapped (VQ_VM_CAP=100000)" 17790 "$(. "$here/../lib.sh" && VQ_VM_CAP=100000 vq_vm_timeout)"
