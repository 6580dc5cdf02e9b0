#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The QAT offload path, proven against the test provider qat_sim
# (selftests/vdo_qat/qat_sim/qat_sim.c): an asynchronous "deflate" acomp
# algorithm that behaves like qat_deflate (priority 4000, completions with
# bottom halves disabled, 32 KiB window, -E2BIG on overflow, scatterlist
# validation) with fault knobs.
#
# Covers: scatterlists from kmalloc, vmalloc and bio pages at offsets 0,
# 512 and 4095 (KUnit suite kstor_acomp_sources, run through qat_sim);
# >= 99% of compressible blocks offloaded, with fio verify; 100% and 10%
# injected errors, stuck requests and a full queue (-EBUSY backlog) with
# 0 verify and 0 I/O errors, and offload back once the faults stop; the
# provider unregistered, unloaded and loaded again mid-run; the policies
# auto, accel, software and off; the compressibility checker.
. "$(dirname "$0")/../lib.sh"

QAT_SIM_KO=$VQ_ROOT/selftests/vdo_qat/qat_sim/qat_sim.ko
P=/sys/module/qat_sim/parameters
sim() { cat "$P/$1"; }
simset() { echo "$2" >"$P/$1"; }

ktap_print_header
ktap_set_plan 79
cleanup() {
	touch "$VQ_TMP/stop" 2>/dev/null
	wait
	dmsetup remove vqo 2>/dev/null
	cleanup_loops
	rmmod vdo_qat 2>/dev/null
	rmmod qat_sim 2>/dev/null
}
trap cleanup EXIT
dmesg_mark
unload vdo_qat
unload qat_sim

# --- The provider, and the KUnit suites run through it ------------------
check "load qat_sim" insmod "$QAT_SIM_KO"
# (acomp entries of /proc/crypto do not show the async flag; the
# KUnit suites below check it through the API.)
check "/proc/crypto: qat_sim_deflate provides deflate at priority 4000" python3 -c '
import sys
for b in open("/proc/crypto").read().split("\n\n"):
    f = dict(l.split(":", 1) for l in b.splitlines() if ":" in l)
    f = {k.strip(): v.strip() for k, v in f.items()}
    if f.get("driver") == "qat_sim_deflate":
        sys.exit(not (f["name"] == "deflate" and f["priority"] == "4000"))
sys.exit(1)'
r0=$(sim requests) e0=$(sim e2big)
kmark="vq-offload-kunit $$ $RANDOM"
echo "$kmark" >/dev/kmsg
check "load vdo_qat (KUnit suites run)" insmod "$VDO_QAT_KO"
kunit=$(dmesg | awk -v m="$kmark" 'found { print } index($0, m) { found = 1 }')
check "KUnit kstor_acomp and kstor_acomp_sources pass on qat_sim" bash -c '
	! grep -q "not ok" <<<"$1" && grep -qE "] ok [0-9]+ kstor_acomp_sources$" <<<"$1" &&
	grep -qE "] ok [0-9]+ kstor_acomp$" <<<"$1"' _ "$kunit"
# kstor_acomp: 2 + 1 requests; kstor_acomp_sources: 3 sources x 3 offsets
# x (compress + decompress) = 18, then 2 + 1 on the job.
eq "qat_sim served exactly the KUnit requests" 24 $(( $(sim requests) - r0 ))
eq "two of them overflowed the 90% budget (-E2BIG)" 2 $(( $(sim e2big) - e0 ))
eq "no scatterlist rejected (kmalloc, vmalloc, bio pages at 0/512/4095)" 0 "$(sim sg_rejects)"
eq "no scatterlist over 4 entries" 0 "$(sim sg_over4)"

# The real QAT driver (CONFIG_CRYPTO_DEV_QAT_4XXX=m) loads beside them;
# without a device it registers no deflate, so qat_sim stays the provider.
check "qat_4xxx loads" modprobe qat_4xxx
check "without a QAT device no qat_deflate is registered" fails grep -q qat_deflate /proc/crypto

# --- A volume ------------------------------------------------------------
LOOP=$(loopdev 160)
LEN=$((128 * 2048))
DEV=/dev/mapper/vqo
mk() { dmsetup create vqo --table "0 $LEN vdo_qat $LOOP $LEN $*" && dmsetup mknodes vqo; }
field() { dmsetup status vqo | cut -d' ' -f"$1"; }
st() { dm_stat vqo "$1"; }
check "create a volume" mk
check "unload qat_4xxx" modprobe -r qat_4xxx
eq "status: qat_sim_deflate in use, policy auto, healthy" "qat_sim_deflate auto healthy" \
	"$(field 11) $(field 15) $(field 16)"

# fio_run <json> <args...>: error, bytes written, bytes read (write then
# verify with crc32c; 70% compressible buffers).
fio_run() {
	local out=$1; shift
	fio --filename=$DEV --direct=1 --ioengine=libaio --verify=crc32c --verify_fatal=1 \
		--randrepeat=1 --buffer_compress_percentage=70 --buffer_compress_chunk=4k \
		--refill_buffers --output-format=json --name=j --rw=randwrite --bs=4k \
		--iodepth=16 --do_verify=1 "$@" --output="$out" >/dev/null 2>&1
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["error"], j["write"]["io_bytes"], j["read"]["io_bytes"])' "$out" 2>/dev/null || echo "fio failed"
}
blocks() {	# blocks <first LBN>: 16 distinct compressible blocks there
	python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
import mmap; b = mmap.mmap(-1, 4096)
for i in range(16):
    b[:] = (b"policy %s block %d " % (sys.argv[2].encode(), i) * 400)[:4096]
    os.pwrite(fd, b, (int(sys.argv[2]) + i) * 4096)' $DEV "$1"
}
snap() { o=$(st offloaded) s=$(st sw_compressed) f=$(st fallback) a=$(st accel_errors) \
	pr=$(st probes) pk=$(st probes_ok) ov=$(st accel_overflows) \
	qc=$(sim compressed) qe=$(sim e2big) qi=$(sim injected_errors); }
wait_state() {	# wait_state <state>: writes (to trigger probes) until status shows it
	local i
	for i in $(seq 60); do
		[ "$(field 16)" = "$1" ] && return 0
		dd if="$VQ_TMP/text" of=$DEV bs=4k count=1 seek=$((30000 + i)) oflag=direct status=none
		sleep 0.25
	done
	[ "$(field 16)" = "$1" ]
}
python3 -c '
import random, sys
r = random.Random(5); w = [b"sector ", b"bio ", b"extent ", b"dedup ", b"offload ", b"\n"]
out = bytearray()
while len(out) < 4096 * 64: out += r.choice(w) + str(r.randrange(10**6)).encode()
sys.stdout.buffer.write(out[:4096 * 64])' >"$VQ_TMP/text"

# 1. Offload share.
snap
eq "fio 16 MiB write + verify on the accelerator" "0 16777216 16777216" \
	"$(fio_run "$VQ_TMP/a.json" --size=16M --offset=0)"
do=$(( $(st offloaded) - o )) ds=$(( $(st sw_compressed) - s ))
ktap_print_msg "offloaded=$do software=$ds skipped=$(st skipped) raw=$(st raw) overflows=$(st accel_overflows)"
check "at least 99% of compressed blocks offloaded ($do of $((do + ds)))" \
	test $((100 * do)) -ge $((99 * (do + ds))) -a "$do" -gt 2000
eq "qat_sim compressions = offloaded + successful probes" \
	$(( $(st offloaded) - o + $(st probes_ok) - pk )) $(( $(sim compressed) - qc ))
eq "qat_sim overflows = accelerator overflows" $(( $(st accel_overflows) - ov )) $(( $(sim e2big) - qe ))
eq "no accelerator error, no fallback" "0 0" "$(( $(st accel_errors) - a )) $(( $(st fallback) - f ))"
# fio keeps 16 writes in flight; lanes batch them, so the provider holds
# many requests at once, not one per lane or per CPU.
check "many requests in flight at once: up to $(sim max_in_flight) (2 vCPUs)" test "$(sim max_in_flight)" -ge 8

# 2. 100% errors.
snap
simset error_rate 100
eq "fio with 100% accelerator errors: 0 errors" "0 8388608 8388608" \
	"$(fio_run "$VQ_TMP/b.json" --size=8M --offset=16M)"
check "fallbacks counted ($(( $(st fallback) - f )))" test $(( $(st fallback) - f )) -gt 0
eq "state unhealthy while errors go on" unhealthy "$(field 16)"
eq "status: software compressor in use" deflate-generic "$(field 11)"
check "software compressed the blocks" test $(( $(st sw_compressed) - s )) -gt 1000
eq "every injected error was seen: by a request or a probe" $(( $(sim injected_errors) - qi )) \
	$(( $(st accel_errors) - a + $(st probes) - pr - ($(st probes_ok) - pk) ))
simset error_rate 0
check "offload re-enabled once errors stop" wait_state healthy
o1=$(st offloaded)
dd if="$VQ_TMP/text" of=$DEV bs=4k count=16 skip=32 seek=20000 oflag=direct status=none
eq "new writes are offloaded again" 16 $(( $(st offloaded) - o1 ))

# 3. 10% random errors, with a chosen error code (EBADMSG, QAT's firmware
# error).
snap
simset error_code 74
simset error_rate 10
eq "fio with 10% accelerator errors: 0 errors" "0 8388608 8388608" \
	"$(fio_run "$VQ_TMP/c.json" --size=8M --offset=24M)"
check "fallbacks counted ($(( $(st fallback) - f )))" test $(( $(st fallback) - f )) -gt 0
check "errors were injected ($(( $(sim injected_errors) - qi )))" test $(( $(sim injected_errors) - qi )) -gt 0
simset error_rate 0
simset error_code 5
check "offload re-enabled after 10% errors" wait_state healthy
check "the kernel log names the error code" bash -c 'dmesg | grep -q "accelerator qat_sim_deflate failed (error -74)"'

# Slow completions (300 ms each, under the 2 s timeout) are not failures.
snap
simset delay_ms 300
blocks 21500
simset delay_ms 0
eq "slow device: 16 blocks offloaded, no fallback" "16 0" \
	"$(( $(st offloaded) - o )) $(( $(st fallback) - f ))"

# 4. Stuck requests: the accelerator never answers.
snap
t0=$(st accel_timeouts)
simset stuck 1
dd if="$VQ_TMP/text" of=$DEV bs=4k count=8 seek=21000 oflag=direct status=none
check "stuck request timed out ($(( $(st accel_timeouts) - t0 )))" test $(( $(st accel_timeouts) - t0 )) -ge 1
eq "blocks written while stuck read back" "$(head -c 32768 "$VQ_TMP/text" | sha)" \
	"$(dd if=$DEV bs=4k count=8 skip=21000 iflag=direct status=none | sha)"
check "qat_sim holds the stuck request" test "$(sim in_flight)" -ge 1
simset stuck 0
sleep 1
eq "released requests completed" 0 "$(sim in_flight)"
check "offload re-enabled after a stuck request" wait_state healthy

# 5. A full queue: requests wait on the provider's backlog (-EBUSY).
snap
b0=$(sim backlogged)
simset queue_limit 1
eq "fio through the backlog: 0 errors" "0 4194304 4194304" \
	"$(fio_run "$VQ_TMP/d.json" --size=4M --offset=32M)"
simset queue_limit 0
check "requests were backlogged ($(( $(sim backlogged) - b0 )))" test $(( $(sim backlogged) - b0 )) -gt 0
eq "backlog is not an error" "0 0" "$(( $(st accel_errors) - a )) $(( $(st fallback) - f ))"
check "and they were offloaded" test $(( $(st offloaded) - o )) -gt 500

# 6. The provider goes away mid-run (unregistered, then unloaded) and
# comes back. A background loop of fio write+verify runs all along.
rm -f "$VQ_TMP/stop" "$VQ_TMP/bg.log"
(
	i=0
	while [ ! -e "$VQ_TMP/stop" ] && [ $i -lt 40 ]; do
		fio_run "$VQ_TMP/bg$i.json" --size=2M --offset=$((40 + i % 8 * 2))M >>"$VQ_TMP/bg.log"
		i=$((i + 1))
	done
) &
BG=$!
sleep 2
snap
simset registered 0
gone=0
for i in $(seq 40); do
	rmmod qat_sim 2>/dev/null && { gone=1; break; }
	sleep 0.5
done
eq "qat_sim unloaded mid-run, after the target released it" 1 "$gone"
check "state absent once a probe finds no provider" wait_state absent
eq "status: software compressor in use" deflate-generic "$(field 11)"
s1=$(st sw_compressed)
dd if="$VQ_TMP/text" of=$DEV bs=4k count=16 skip=48 seek=20100 oflag=direct status=none
check "software compresses meanwhile" test $(( $(st sw_compressed) - s1 )) -ge 16
check "load qat_sim again" insmod "$QAT_SIM_KO"
check "picked up again without reloading the target" wait_state healthy
eq "status: qat_sim_deflate" qat_sim_deflate "$(field 11)"
o1=$(st offloaded)
sleep 2
touch "$VQ_TMP/stop"
wait $BG
check "offloading again after the reload" test "$(st offloaded)" -gt "$o1"
runs=$(wc -l <"$VQ_TMP/bg.log")
eq "every background fio run verified, none failed ($runs runs)" "$runs" \
	"$(grep -c '^0 2097152 2097152$' "$VQ_TMP/bg.log")"
check "at least 3 background runs" test "$runs" -ge 3

# 7. Policies.
snap
check "message compression software" dmsetup message vqo 0 compression software
eq "status: software, disabled" "deflate-generic software disabled" "$(field 11) $(field 15) $(field 16)"
blocks 22000
eq "software policy: 16 compressed in software, none offloaded" "16 0" \
	"$(( $(st sw_compressed) - s )) $(( $(st offloaded) - o ))"
check "message compression accel" dmsetup message vqo 0 compression accel
blocks 22100
eq "accel policy: 16 offloaded" 16 $(( $(st offloaded) - o ))
eq "table line shows the policy" "compression accel" \
	"$(dmsetup table vqo | grep -o 'compression [a-z]*')"
snap
r0=$(st raw)
simset registered 0
blocks 22200
eq "accel policy, provider gone: 1 request redone in software, 15 stored raw" "1 1 15" \
	"$(( $(st fallback) - f )) $(( $(st sw_compressed) - s )) $(( $(st raw) - r0 ))"
eq "status: no compressor" none "$(field 11)"
simset registered 1
check "message compression off" dmsetup message vqo 0 compression off
snap
r0=$(st raw)
blocks 22300
eq "off: 16 stored raw, nothing compressed" "16 0 0" \
	"$(( $(st raw) - r0 )) $(( $(st offloaded) - o )) $(( $(st sw_compressed) - s ))"
check "unknown policy refused" fails dmsetup message vqo 0 compression fast
check "message compression auto" dmsetup message vqo 0 compression auto
check "auto finds the provider again" wait_state healthy

# 8. The compressibility checker: random data never reaches a compressor.
snap
k0=$(st skipped) r0=$(st raw) q0=$(sim requests)
head -c $((256 * 4096)) /dev/urandom >"$VQ_TMP/rand"
dd if="$VQ_TMP/rand" of=$DEV bs=4k seek=23000 oflag=direct status=none
eq "256 random blocks skipped by the checker and stored raw" "256 256" \
	"$(( $(st skipped) - k0 )) $(( $(st raw) - r0 ))"
eq "no accelerator request for them" 0 $(( $(sim requests) - q0 ))
k0=$(st skipped)
dd if="$VQ_TMP/text" of=$DEV bs=4k seek=23500 oflag=direct status=none
eq "64 text blocks: none skipped" 0 $(( $(st skipped) - k0 ))
eq "random data reads back" "$(sha <"$VQ_TMP/rand")" \
	"$(dd if=$DEV bs=4k count=256 skip=23000 iflag=direct status=none | sha)"

# 9. Everything reads back after the volume is re-created, and the
# provider can be unloaded once the target is gone.
eq "no scatterlist rejected during the run" 0 "$(sim sg_rejects)"
check "remove" dmsetup remove vqo
check "create again" mk
eq "fio verify of region 1 after re-creation" "0 16777216 16777216" \
	"$(fio_run "$VQ_TMP/e.json" --size=16M --offset=0 --verify_only=1)"
eq "text blocks intact" "$(sha <"$VQ_TMP/text")" \
	"$(dd if=$DEV bs=4k count=64 skip=23500 iflag=direct status=none | sha)"
eq "no CRC errors" 0 "$(st crc_errors)"
check "remove again" dmsetup remove vqo
check "unload vdo_qat" unload vdo_qat
check "unload qat_sim (no transform left behind)" unload qat_sim
check "no kernel bug reports" no_new_bugs
ktap_finished
