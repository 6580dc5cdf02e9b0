#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host test (KTAP) of the size limits of the kernel crates (issue 14): no
# file under drivers/ over 700 lines and no function over 80
# (scripts/size-limits.py), and that the checker itself catches both.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/ktap.bash"
tmp=$(mktemp -d /tmp/vq-size-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ktap_plan 4

out=$(python3 "$here/../size-limits.py")
eq "drivers/: no file over 700 lines, no function over 80" "" "$out"

# A function of 81 lines and one of 80, in a file of 701 lines.
{
	echo "fn long() {"
	for i in $(seq 79); do echo "    let _x$i = $i;"; done
	echo "}"
	echo "    pub(crate) fn fits(&self) {"
	for i in $(seq 78); do echo "        let _y$i = $i;"; done
	echo "    }"
	for i in $(seq 540); do echo "// filler $i"; done
} >"$tmp/big.rs"
out=$(python3 "$here/../size-limits.py" "$tmp")
rc=$?
eq "a file of 701 lines is caught" "file $tmp/big.rs 701" "$(grep '^file' <<<"$out")"
eq "a function of 81 lines is caught, one of 80 is not" "fn $tmp/big.rs:1 long 81" "$(grep '^fn' <<<"$out")"
eq "exit code 1 on a violation" 1 "$rc"
