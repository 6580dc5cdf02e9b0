#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: vm-run.sh <kdir> <outdir> <timeout_s> [command...]
# Environment: VQ_VM_MEM (guest memory, default 2G), VQ_VNG (the vng to run,
# default $VQ_CACHE/venv/bin/vng; the host tests put a fake there),
# VQ_VM_APPEND (more kernel command line).
# Boots the test kernel <kdir> under QEMU TCG with virtme-ng; the guest sees
# the host's filesystem read-only (the repository included) and <outdir>
# read-write. Runs <command> (a shell when none is given), kills the VM after
# <timeout_s> seconds (0: never) and exits 124, saves the console to
# <outdir>/console.log.
# KVM is never used: on this kind of host it hangs or asserts (see
# Documentation/dev/testing.rst).
source "$(dirname "$0")/lib.sh"
kdir=$1 out=$2 tmo=$3; shift 3
[[ $tmo =~ ^[0-9]+$ ]] || vq_die "vm-run: timeout '$tmo' is not a number of seconds"
vng=${VQ_VNG:-$VQ_CACHE/venv/bin/vng}
# vng runs its helpers (virtme-run, ...) from PATH.
export PATH=$VQ_CACHE/venv/bin:$PATH
mkdir -p "$out"
out=$(cd "$out" && pwd)
# /dev/kvm may exist but a stock kernel hangs or asserts under it on this
# kind of host (shared/reference/platform.md): always TCG, never wait on KVM.
[ -e /dev/kvm ] && vq_log "vm: /dev/kvm present, not used (TCG only)"
# The root filesystem (the host's, read-only over 9p) is mounted with
# cache=loose, which overrides virtme-ng's rootflags (the last one on the
# command line wins): the guest caches what it read, so starting a process
# costs about half as much (python3 with a few imports: 2.3 s instead of
# 6 s; dmsetup: 0.5 s instead of 0.8 s; measured under TCG with the debug
# kernel). Nothing on the host changes under the guest while it runs; the
# writable <outdir> is a separate mount without caching.
rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose
args=(--run "$kdir" --disable-kvm --force-9p --cpus 2 --memory "${VQ_VM_MEM:-2G}"
	--rwdir="$out" --cwd "$VQ_ROOT" --verbose
	--append "panic_on_warn=0 log_buf_len=4M brd.rd_nr=1 brd.rd_size=262144 rootflags=$rootflags ${VQ_VM_APPEND:-}")
if [ $# -eq 0 ]; then
	exec "$vng" "${args[@]}"
fi
cmd="$*"

# vng runs in a session (and process group) of its own, and QEMU, which it
# starts, with it: killing vng alone (as `timeout --foreground` did) left
# QEMU running. The whole group is killed on timeout and whenever this
# script ends, however it ends.
pgid=
# vm_alive: true while a process of the group runs (zombies do not count:
# they are dead, and an orphan's may wait on a parent that never reaps it).
vm_alive() {
	ps -e -o pgid=,stat= | awk -v g="$pgid" '$1 == g && $2 !~ /^Z/ { n++ } END { exit !n }'
}
# vm_kill: SIGTERM to the group (QEMU exits cleanly on it), SIGKILL 10 s
# later, then waits until the group is empty (30 s at most: a process stuck
# in the kernel survives SIGKILL, and is reported rather than waited on forever).
vm_kill() {
	[ -n "$pgid" ] && vm_alive || { pgid=; return 0; }
	local t0=$SECONDS killed=
	kill -TERM -- "-$pgid" 2>/dev/null || true
	while vm_alive; do
		if [ -z "$killed" ] && [ $((SECONDS - t0)) -ge 10 ]; then
			vq_log "vm: process group $pgid still running 10 s after SIGTERM: SIGKILL"
			kill -KILL -- "-$pgid" 2>/dev/null || true
			killed=$SECONDS
		elif [ -n "$killed" ] && [ $((SECONDS - killed)) -ge 30 ]; then
			vq_log "vm: process group $pgid survived SIGKILL:"
			ps -o pid=,stat=,args= -p "$(pgrep -d, -g "$pgid")" >&2 || true
			break
		fi
		sleep 0.1
	done
	pgid=
}
trap vm_kill EXIT
# Killed or interrupted: kill the VM, then die of the same signal so that
# the caller sees it (exit status 128 + signal number).
for sig in INT TERM HUP; do
	trap "vm_kill; trap - $sig; kill -s $sig \$\$" "$sig"
done

# setsid does not fork here (a background child of a non-interactive shell
# is never a group leader): its pid, $!, is the new session's and group's id.
setsid "$vng" "${args[@]}" --exec "$cmd" </dev/null >"$out/console.log" 2>&1 &
pgid=$!
rc=
end=$((SECONDS + tmo))
while kill -0 "$pgid" 2>/dev/null; do
	if [ "$tmo" -gt 0 ] && [ "$SECONDS" -ge "$end" ]; then
		rc=124
		break
	fi
	sleep 1
done
if [ -z "$rc" ]; then
	rc=0
	wait "$pgid" || rc=$?
fi
# QEMU may outlive vng even when vng exits by itself (a crash, say).
vm_kill
[ $rc -eq 124 ] && echo "vm-run: timed out after ${tmo}s (console: $out/console.log)" >&2
exit $rc
