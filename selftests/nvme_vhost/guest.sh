#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# End to end in a QEMU guest nested in the test VM (nested TCG): QEMU's
# vhost-nvme device (qemu/patches) attaches a vdo_qat volume through
# /dev/vhost-nvme; the guest (scripts/kconfig/guest.config, busybox
# initramfs, guest-init.sh) finds /dev/nvme0n1 with the given serial,
# makes an ext4 file system, writes a set of files (random, compressible,
# duplicated), reads them back and verifies them, writes one file of its
# own and powers off. Meanwhile the controller's debugfs counters show
# the guest's nvme driver on shadow doorbells, with fewer than 0.5 MMIO
# doorbell writes per command. After the guest is gone, the host checks
# the file system, every file's checksum and the volume's dedup and
# compression counters, then reloads the volume and checks again.
#
# Environment (scripts/check.sh builds both, scripts/run-guest-tests.sh
# passes them): VQ_QEMU = qemu-system-x86_64 with vhost-nvme,
# VQ_GUEST_KERNEL = the guest's bzImage.
. "$(dirname "$0")/../lib.sh"

QEMU=${VQ_QEMU:-}
GUEST_KERNEL=${VQ_GUEST_KERNEL:-}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-420}
SERIAL=VQGUEST0001
LEN=$((128 * 2048))             # the volume: 128 MiB, 512 B sectors
DEV=/dev/mapper/vqg

ktap_print_header
ktap_set_plan 32
QPID=
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	umount "$VQ_TMP/mnt" 2>/dev/null
	dmsetup remove vqg 2>/dev/null
	cleanup_loops
	unload nvme_vhost >/dev/null 2>&1
	unload vdo_qat >/dev/null 2>&1
}
trap cleanup EXIT
unload nvme_vhost >/dev/null 2>&1
dmesg_mark
check "QEMU with the vhost-nvme device built" \
	bash -c "[ -x '$QEMU' ] && '$QEMU' -device help | grep -q '\"vhost-nvme\"'"
check "guest kernel built" test -f "$GUEST_KERNEL"
check "load nvme_vhost" insmod "$NVME_VHOST_KO"
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"
LOOP=$(loopdev 96)
check "vdo_qat volume of 128 MiB created" \
	bash -c "dmsetup create vqg --table '0 $LEN vdo_qat $LOOP $LEN' && dmsetup mknodes vqg"

# The files: random, compressible text, and duplicates of both (dedup).
pl=$VQ_TMP/payload
mkdir -p "$pl/files"
head -c $((512 << 10)) /dev/urandom >"$pl/files/random1"
head -c $((300 << 10)) /dev/urandom >"$pl/files/random2"
seq 1 120000 >"$pl/files/text1"
seq 1 2 200000 | sed 's/$/ vdo_qat nvme_vhost/' >"$pl/files/text2"
cp "$pl/files/random1" "$pl/files/random1.copy"
cp "$pl/files/text1" "$pl/files/text1.copy"
mkdir -p "$pl/files/small"
for i in $(seq 1 24); do head -c $((i * 1000)) /dev/urandom >"$pl/files/small/f$i"; done
(cd "$pl" && find files -type f | sort | xargs md5sum >files.md5)
check "initramfs built" "$VQ_ROOT/scripts/mk-initramfs.sh" "$VQ_TMP/guest.cpio.gz" \
	"$(dirname "$0")/guest-init.sh" mkfs.ext4 -- "$pl"

# The guest, with the controller's counters sampled once a second.
console=$VQ_TMP/console.log
timeout "$GUEST_TIMEOUT" "$QEMU" -accel tcg,tb-size=128 -m 256 -smp 1 -nographic -no-reboot -nic none \
	-L /usr/share/seabios -L /usr/share/qemu \
	-kernel "$GUEST_KERNEL" -initrd "$VQ_TMP/guest.cpio.gz" \
	-append "console=ttyS0 panic=-1" \
	-device "vhost-nvme,backend=$DEV,serial=$SERIAL,queues=2" >"$console" 2>&1 </dev/null &
QPID=$!
while kill -0 "$QPID" 2>/dev/null; do
	cat /sys/kernel/debug/nvme_vhost.*/stats >"$VQ_TMP/stats.new" 2>/dev/null &&
		grep -q '^commands' "$VQ_TMP/stats.new" && mv "$VQ_TMP/stats.new" "$VQ_TMP/stats"
	sleep 1
done
wait "$QPID"; rc=$?; QPID=
eq "QEMU exits 0 after the guest's poweroff" 0 "$rc"
# On a failed step, the guest's kernel log and the step's output.
if [ "$rc" != 0 ] || grep -q '^GUEST: [a-z0-9]* failed' "$console"; then
	grep -avE '^GUEST: (up|disk|model|serial|sectors|io_queues) ' "$console" | tail -n 40 | tr -d '\r' |
		while IFS= read -r l; do ktap_print_msg "console: $l"; done
fi
g() { sed -n "s/^GUEST: $1 //p" "$console" | tr -d '\r' | head -n 1; }
eq "guest: /dev/nvme0n1" /dev/nvme0n1 "$(g disk)"
eq "guest: serial" "$SERIAL" "$(g serial | tr -d ' ')"
eq "guest: size in sectors" "$LEN" "$(g sectors)"
eq "guest: I/O queues (1 vCPU)" 1 "$(g io_queues)"
eq "guest: mkfs.ext4" ok "$(g mkfs)"
eq "guest: mount" ok "$(g mount)"
eq "guest: copy the files" ok "$(g copy)"
eq "guest: files read back and verified after a remount" ok "$(g verify)"
eq "guest: umount" ok "$(g umount)"
eq "guest: raw device read twice with O_DIRECT, same bytes" ok "$(g rawread)"
check "guest: powered off" grep -q '^GUEST: poweroff' "$console"

# The counters, as of the last sample (after the guest's I/O).
s() { awk -v k="$1" '$1 == k { print $2 }' "$VQ_TMP/stats" 2>/dev/null; }
cmds=$(s io_commands) mmio=$(s io_mmio_doorbells) kick=$(s kick_doorbells)
ktap_print_msg "controller: $(tr '\n' ' ' <"$VQ_TMP/stats" 2>/dev/null)"
eq "shadow doorbells on (Doorbell Buffer Config from the guest's driver)" 1 "$(s dbbuf)"
check "shadow doorbells read, EventIdx written" \
	test "$(s shadow_doorbell_reads)" -gt 0 -a "$(s eventidx_writes)" -gt 0
check "at least 500 I/O commands ($cmds)" test "${cmds:-0}" -ge 500
# Doorbell writes of I/O queues, through QEMU's MMIO handler or an
# ioeventfd: each is a trap of the guest (a VM exit under KVM).
ratio=$(awk -v m="${mmio:-0}" -v k="${kick:-0}" -v c="${cmds:-0}" 'BEGIN { if (c > 0) printf "%.4f", (m + k) / c; else print "inf" }')
ktap_print_msg "MMIO doorbell writes per I/O command: $ratio ($mmio through QEMU, $kick by ioeventfd, $cmds commands)"
check "fewer than 0.5 MMIO doorbell writes per I/O command ($ratio)" \
	awk -v r="$ratio" 'BEGIN { exit !(r != "inf" && r < 0.5) }'
eq "no I/O command failed" 0 "$(s io_errors)"

# The host's view of the volume once the guest is gone.
mnt=$VQ_TMP/mnt
mkdir -p "$mnt"
verify_on_host() {
	mount -t ext4 -o ro "$DEV" "$mnt" || return 1
	local ok=0
	(cd "$mnt" && md5sum -c --quiet "$pl/files.md5") || ok=1
	[ "$(md5sum <"$mnt/guest.bin" | cut -d' ' -f1)" = "$(g guest_md5)" ] || ok=1
	umount "$mnt"
	return $ok
}
check "host: fsck.ext4 finds the file system clean" e2fsck -fn "$DEV"
check "host: every file and the guest's own file verified on the volume" verify_on_host
check "host: duplicates deduplicated (dedup hits > 0)" test "$(dm_stat vqg dedup_hits)" -gt 0
check "host: text compressed (compressed blocks > 0)" test "$(dm_stat vqg compressed)" -gt 0
check "host: volume removed" dmsetup remove vqg
check "host: volume loaded again from its metadata" \
	bash -c "dmsetup create vqg --table '0 $LEN vdo_qat $LOOP $LEN' && dmsetup mknodes vqg"
check "host: files verified after the reload" verify_on_host
check "host: volume removed again" dmsetup remove vqg
check "no kernel bug reports" no_new_bugs
eq "guest: no kernel bug reports" "" "$(grep -E "$BUG_PATTERN" "$console" | head -n 3)"
ktap_finished
