#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fio write-and-verify (crc32c) on a vdo_qat volume at 4 KiB and 128 KiB
# with dedupe_percentage and buffer_compress_percentage set; then the
# volume is removed and created again and fio verifies the same data a
# second time. Counters must match what fio wrote exactly.
. "$(dirname "$0")/../lib.sh"

ktap_print_header
ktap_set_plan 14
trap 'dmsetup remove vqf 2>/dev/null; cleanup_loops; rmmod vdo_qat 2>/dev/null' EXIT
dmesg_mark
mod_loaded vdo_qat || insmod "$VDO_QAT_KO"

LOOP=$(loopdev 96)
LEN=$((256 * 2048))
DEV=/dev/mapper/vqf
mk() { dmsetup create vqf --table "0 $LEN vdo_qat $LOOP $LEN" && dmsetup mknodes vqf; }
check "create volume" mk

# Job 1: 16 MiB of 4 KiB random writes at 0; job 2: 32 MiB of 128 KiB
# sequential writes at 64 MiB. 30% duplicate buffers, 70% compressible.
JOBS=(
	"--name=j4k --rw=randwrite --bs=4k --size=16M --offset=0 --iodepth=8"
	"--name=j128k --rw=write --bs=128k --size=32M --offset=64M --iodepth=4"
)
COMMON="--filename=$DEV --direct=1 --ioengine=libaio --verify=crc32c --verify_fatal=1
	--randrepeat=1 --randseed=1234 --dedupe_percentage=30 --buffer_compress_percentage=70
	--buffer_compress_chunk=4k --output-format=json"

# fio_run <json> <extra args...>: error code, bytes written, bytes read.
fio_run() {
	local out=$1; shift
	fio $COMMON "$@" --output="$out" >/dev/null 2>&1
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["error"], j["write"]["io_bytes"], j["read"]["io_bytes"])' "$out" 2>/dev/null || echo "fio failed"
}

w0=$(dm_stat vqf writes)
eq "fio 4k: wrote and verified 16 MiB" "0 16777216 16777216" "$(fio_run "$VQ_TMP/a.json" ${JOBS[0]} --do_verify=1)"
eq "fio 128k: wrote and verified 32 MiB" "0 33554432 33554432" "$(fio_run "$VQ_TMP/b.json" ${JOBS[1]} --do_verify=1)"
# device-mapper splits each 128 KiB bio at 4 KiB boundaries (max_io_len).
eq "write bios: 4096 + 32 MiB / 4 KiB" $((4096 + 8192)) $(( $(dm_stat vqf writes) - w0 ))
eq "no CRC errors" 0 "$(dm_stat vqf crc_errors)"
c=$(dm_stat vqf compressed) r=$(dm_stat vqf raw) h=$(dm_stat vqf dedup_hits) z=$(dm_stat vqf zero_blocks)
eq "every written block was compressed, stored raw, deduplicated or zero" $((4096 + 8192)) $((c + r + h + z))
check "compressible data was compressed: $c fragments" test "$c" -gt 1000
# A flush writes out the packer bin, so the counters are final.
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)' $DEV
m=$(dm_stat vqf mapped) i=$(dm_stat vqf items) p=$(dm_stat vqf phys_used)
check "space accounting: mapped $m >= items $i >= phys_used $p" test "$m" -ge "$i" -a "$i" -ge "$p" -a "$p" -gt 0
ktap_print_msg "mapped=$m items=$i phys_used=$p compressed=$c raw=$r dedup_hits=$h zero=$z"

check "remove" dmsetup remove vqf
check "create again" mk
eq "mapped count after reload" "$m" "$(dm_stat vqf mapped)"
# (fio reports the bytes it would have written in verify_only mode too.)
eq "fio 4k: verified again after reload" "0 16777216 16777216" "$(fio_run "$VQ_TMP/c.json" ${JOBS[0]} --verify_only=1)"
eq "fio 128k: verified again after reload" "0 33554432 33554432" "$(fio_run "$VQ_TMP/d.json" ${JOBS[1]} --verify_only=1)"
check "no kernel bug reports" no_new_bugs
ktap_finished
