#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs INSIDE the test VM (scripts/bench-guest.sh, make bench). Usage:
#   bench-nested.sh <outdir>
# Environment: VQ_QEMU (QEMU with vhost-nvme), VQ_GUEST_KERNEL (bzImage),
# VQ_FIO (static fio), NESTED_BENCH_SECS (per point, default 20).
#
# QEMU guests nested in this VM (nested TCG): the same fio job
# (scripts/bench-nested-init.sh: 4 KiB random reads, O_DIRECT, io_uring,
# QD 1 and 16) in a guest on vhost-nvme, on QEMU's own emulated nvme
# (shadow doorbells, ioeventfd=on) and on virtio-blk, one after the other,
# all over the same null_blk device without memory. Per I/O, between the
# guest's start and end marks: the CPU time of the whole QEMU process, and
# the device's part of it, that is all but the vCPU thread (the main loop,
# I/O threads and, for vhost-nvme, the controller's worker, a thread of
# QEMU). Under nested TCG the guest's own CPU time dominates the first.
set -eu
OUT=$1
R=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/usr/sbin:/sbin:$PATH
hz=$(getconf CLK_TCK)
log() { echo "$*" | tee -a "$OUT/bench.log"; }
N=$OUT/nested
mkdir -p "$N"
SECS=${NESTED_BENCH_SECS:-20}
insmod "$R/drivers/nvme_vhost/nvme_vhost.ko"
modprobe null_blk nr_devices=1 memory_backed=0 gb=16 irqmode=1
"$R/scripts/mk-initramfs.sh" "$N/bench.cpio.gz" "$R/scripts/bench-nested-init.sh" "$VQ_FIO"
# CPU ticks of QEMU process $1: "<all threads> <vCPU threads>". The rest
# (main loop, I/O threads, the vhost-nvme worker) is the device's cost.
ticks() {
	local all vcpu=0 f rest
	all=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0)
	for f in /proc/$1/task/*/stat; do
		rest=$(cat "$f" 2>/dev/null) || continue
		case "$rest" in *"/TCG) "*) ;; *) continue ;; esac
		rest=${rest##*) }
		vcpu=$((vcpu + $(awk '{ print $12 + $13 }' <<<"$rest")))
	done
	echo "$all $vcpu"
}
vstats() { cat /sys/kernel/debug/nvme_vhost.*/stats 2>/dev/null |
	awk '$1 == "io_commands" { c = $2 } $1 == "kick_doorbells" { k = $2 } $1 == "io_mmio_doorbells" { m = $2 } END { print c + 0, k + m }'; }
declare -A RES
for dev in vhost-nvme nvme virtio-blk; do
	drive=(-drive file=/dev/nullb0,if=none,id=d0,format=raw,cache=none,aio=threads)
	case $dev in
	vhost-nvme) args=(-device vhost-nvme,backend=/dev/nullb0,serial=VQBENCH) ;;
	nvme) args=("${drive[@]}" -device nvme,serial=QEMUBENCH,drive=d0,ioeventfd=on) ;;
	virtio-blk) args=("${drive[@]}" -device virtio-blk-pci,drive=d0) ;;
	esac
	con=$N/console-$dev.log
	"$VQ_QEMU" -name "bench-$dev,debug-threads=on" -accel tcg,tb-size=128 -m 256 -smp 1 -nographic -no-reboot -nic none \
		-L /usr/share/seabios -L /usr/share/qemu -kernel "$VQ_GUEST_KERNEL" \
		-initrd "$N/bench.cpio.gz" -append "console=ttyS0 quiet bench_secs=$SECS" \
		"${args[@]}" >"$con" 2>&1 </dev/null &
	qp=$!
	( sleep 900; kill "$qp" 2>/dev/null ) &
	watchdog=$!
	seen=" "
	declare -A T0=() S0=()
	while kill -0 "$qp" 2>/dev/null; do
		while read -r what point iops lat; do
			case "$seen" in *" $what-$point "*) continue ;; esac
			seen="$seen$what-$point "
			if [ "$what" = start ]; then
				T0[$point]=$(ticks "$qp") S0[$point]=$(vstats)
			else
				read -r a1 v1 <<<"$(ticks "$qp")"
				read -r a0 v0 <<<"${T0[$point]}"
				read -r c1 d1 <<<"$(vstats)"
				read -r c0 d0 <<<"${S0[$point]}"
				RES[$dev,$point]=$(python3 -c '
import sys
a, v, hz, secs, iops, lat, dc, dd = sys.argv[1:]
ios = float(iops) * float(secs)
us = lambda t: 1e6 * float(t) / float(hz) / ios if ios else 0
db = "%.3f" % (float(dd) / float(dc)) if int(dc) > 0 else "-"
print("%.0f %.0f %.0f %.0f %s" % (float(iops), float(lat), us(a), us(int(a) - int(v)), db))' \
					$((a1 - a0)) $((v1 - v0)) "$hz" "$SECS" "$iops" "$lat" $((c1 - c0)) $((d1 - d0)))
			fi
		done < <(sed -n 's/^GUEST: \(start\|end\) \(qd[0-9]*\) *\([0-9.]*\) *\([0-9.]*\).*/\1 \2 \3 \4/p' "$con" | tr -d '\r')
		sleep 0.2
	done
	wait "$qp" || log "nested $dev: QEMU exited with $?"
	kill "$watchdog" 2>/dev/null || true
done
{
	echo
	echo "QEMU guests (nested TCG, 1 vCPU, guest kernel scripts/kconfig/guest.config): fio 4 KiB random reads,"
	echo "O_DIRECT, io_uring, $SECS s per point; backend null_blk (no memory) for all three; QEMU $("$VQ_QEMU" --version | head -n 1 | awk '{print $4}')"
	printf '%-11s %4s %6s %11s %15s %17s %14s\n' device QD IOPS "latency us" "QEMU CPU us/IO" "device CPU us/IO" "doorbells/cmd"
	for dev in vhost-nvme nvme virtio-blk; do
		for point in qd1 qd16; do
			read -r iops lat cpu dcpu db <<<"${RES[$dev,$point]:-- - - - -}"
			printf '%-11s %4s %6s %11s %15s %17s %14s\n' "$dev" "${point#qd}" "$iops" "$lat" "$cpu" "$dcpu" "$db"
		done
	done
	for point in qd1 qd16; do
		for other in nvme virtio-blk; do
			python3 -c '
import sys
p, o, a, b = sys.argv[1:]
a, b = a.split(), b.split()
if len(a) < 4 or len(b) < 4 or "-" in (a[0], b[0], a[2], b[2], a[3], b[3]) or 0 in (float(b[0]), float(b[2]), float(b[3])):
    print("%s: vhost-nvme / %s: no result" % (p, o)); sys.exit()
print("%s: vhost-nvme / %s: %.2fx the IOPS, %.2fx the QEMU CPU per I/O, %.2fx the device CPU per I/O" % (p.upper(), o, float(a[0]) / float(b[0]), float(a[2]) / float(b[2]), float(a[3]) / float(b[3])))' \
				"$point" "$other" "${RES[vhost-nvme,$point]:--}" "${RES[$other,$point]:--}"
		done
	done
} | tee -a "$OUT/bench.txt"
rmmod null_blk
rmmod nvme_vhost

