#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host test (KTAP) of scripts/summarize.py on synthetic build/check
# directories: a run of four kselftest programs in two collections, complete
# or cut short by the VM's timeout, with and without guest-done.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/ktap.bash"
tmp=$(mktemp -d /tmp/vq-summarize-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# mkrun <dir> <kselftest KTAP> [guest-done]: a build/check directory whose
# cargo (3 passed), host script (1 passed) and KUnit (9 suites of one
# passing case) results pass.
mkrun() {
	local d=$tmp/$1 s i=0
	mkdir -p "$d"
	echo "test result: ok. 3 passed; 0 failed; 0 ignored" >"$d/cargo.log"
	printf 'TAP version 13\n1..1\nok 1 host test\n' >"$d/host-x.ktap"
	for s in kstor_acomp kstor_acomp_sources kstor_args kstor_bio kstor_crc32 \
		kstor_sgl kstor_zlib vdo_qat_config vdo_qat_gzip; do
		i=$((i + 1))
		printf '[    1.0] KTAP version 1\n[    1.0]     ok 1 case\n[    1.0] ok %d %s\n' "$i" "$s"
	done >"$d/kunit.log"
	printf 'c1 a.sh 10\nc1 b.sh 10\nc2 c.sh 20\nc2 d.sh 20\n' >"$d/kselftest.list"
	printf '%s\n' "$2" >"$d/kselftest.ktap"
	[ -z "${3:-}" ] || echo done >"$d/guest-done"
}
# summarize <dir>: runs summarize.py; sets rc, last (its last line), summary
# (summary.txt), problems (its "problem:" lines), notes ("note:" lines).
summarize() {
	local o
	o=$(python3 "$here/../summarize.py" "$tmp/$1")
	rc=$?
	last=$(tail -n 1 <<<"$o")
	summary=$(cat "$tmp/$1/summary.txt")
	problems=$(grep '^problem:' <<<"$o")
	notes=$(grep '^note:' <<<"$o")
}

head='TAP version 13
1..4'
a='# timeout set to 10
# selftests: c1: a.sh
# ok 1 a1
ok 1 selftests: c1: a.sh'
b='# timeout set to 10
# selftests: c1: b.sh
# ok 1 b1
ok 2 selftests: c1: b.sh'
c='# timeout set to 20
# selftests: c2: c.sh
# ok 1 c1'
c_end='ok 3 selftests: c2: c.sh'
d='# timeout set to 20
# selftests: c2: d.sh
# ok 1 d1
ok 4 selftests: c2: d.sh'
full="$head
$a
$b
$c
$c_end
$d"

ktap_plan 15

# A complete run: 3 cargo + 1 host + 9 KUnit + 4 kselftest test points.
mkrun complete "$full" done
summarize complete
eq "complete run: summary" "17 passed, 0 failed" "$summary"
eq "complete run: last line" "17 passed, 0 failed" "$last"
eq "complete run: exit code" 0 "$rc"
eq "complete run: no problem" "" "$problems"

# The same run with failures, counted as before: b.sh fails a test point,
# c.sh times out after a passing one.
mkrun failing "$(sed -e 's/^# ok 1 b1$/# not ok 1 b1/' -e 's/^ok 2 /not ok 2 /' \
	-e 's/^ok 3 selftests: c2: c.sh$/& # TIMEOUT 20 seconds/' -e 's/^ok 3 /not ok 3 /' <<<"$full")" done
summarize failing
eq "complete run with failures: summary" "16 passed, 2 failed" "$summary"
eq "complete run with failures: exit code" 1 "$rc"

# Every result in, but the VM stopped before guest-done: a note only.
mkrun no-guest-done "$full"
summarize no-guest-done
eq "no guest-done, all results in: summary" "17 passed, 0 failed" "$summary"
eq "no guest-done, all results in: exit code" 0 "$rc"
eq "no guest-done, all results in: no problem" "" "$problems"
eq "no guest-done, all results in: a note" 1 "$(grep -c guest-done <<<"$notes")"

# The VM killed during the third of four programs: c.sh and d.sh failed,
# by name, and nothing else.
mkrun killed "$head
$a
$b
$c"
summarize killed
eq "killed after 2 of 4: summary" "16 passed, 2 failed" "$summary"
eq "killed after 2 of 4: exit code" 1 "$rc"
eq "killed after 2 of 4: the programs without result" \
	"c2: c.sh
c2: d.sh" "$(sed -n 's/^problem: kselftest: \(.*\): no result .*/\1/p' <<<"$problems")"

# A plan that is not kselftest.list's: one more failure, loud.
mkrun bad-plan "${full/1..4/1..5}" done
summarize bad-plan
eq "plan 5 for 4 programs: summary" "17 passed, 1 failed" "$summary"
eq "plan 5 for 4 programs: the problem" \
	"problem: kselftest: plan 5 but 4 programs in kselftest.list" "$problems"
