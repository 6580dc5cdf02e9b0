#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: rust-guard.sh <rust dir> <driver dir> [<driver crate root>...]
# Source rules the compiler does not enforce by itself, run by rust/kstor.mk
# before kstor.o is built (a violation fails the build):
#  - no kernel::task (Task, CurrentTask, current!()) and no task_struct in
#    rust/ or the driver: Task's accessors read task_struct at bindgen's
#    offsets, which are wrong in the debug config (CONFIG_SCHEDSTATS off);
#    read task fields in C (rust/shim.c, e.g. kstor_current_mm_grab());
#  - every driver crate root has #![forbid(unsafe_code)];
#  - the driver does not use C bindings (kstor's safe API only).
# Comments are ignored. See Documentation/dev/layout.rst.
set -u
rust=$1 drv=$2
shift 2
bad=0

# scan <regex> <message> <files...>: reports matches outside // comments.
scan() {
	local re=$1 msg=$2
	shift 2
	(($#)) || return 0
	if awk -v re="$re" -v msg="$msg" '
		{ line = $0; sub(/\/\/.*/, "", line) }
		match(line, re) {
			hit = substr(line, RSTART, RLENGTH)
			gsub(/^[^A-Za-z_]|[^A-Za-z_!:]$/, "", hit)
			printf "%s:%d: error: `%s`: %s\n", FILENAME, FNR, hit, msg
			n++
		}
		END { exit n > 0 }' "$@" >&2; then
		return 0
	fi
	bad=1
}

mapfile -t kstor < <(find "$rust" -maxdepth 1 -name '*.rs' | sort)
mapfile -t driver < <(find "$drv" -name '*.rs' | sort)
task_msg="kernel::task is not allowed (Task reads task_struct at bindgen's offsets, wrong in the debug config): read task fields in a C helper (rust/)"
scan '(^|[^A-Za-z0-9_])(kernel::task|current!|task::(Task|CurrentTask)|task_struct)([^A-Za-z0-9_]|$)' \
	"$task_msg" "${kstor[@]}" "${driver[@]}"
scan '(^|[^A-Za-z0-9_])bindings::' \
	"drivers use C through kstor's safe API, not bindings" "${driver[@]}"
for root in "$@"; do
	if ! grep -q '^#!\[forbid(unsafe_code)\]' "$root"; then
		echo "$root:1: error: a driver crate root must start with #![forbid(unsafe_code)]" >&2
		bad=1
	fi
done
exit $bad
