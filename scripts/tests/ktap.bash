# SPDX-License-Identifier: GPL-2.0
# KTAP output for the host tests in scripts/tests/*.sh. Source it. check.sh
# saves each test's output as build/check/host-<name>.ktap, and
# scripts/summarize.py counts its results against its plan.

KTAP_N=0
# ktap_plan <number of test points>
ktap_plan() { printf 'TAP version 13\n1..%s\n' "$1"; }
# eq <description> <expected> <actual>: one test point.
eq() {
	KTAP_N=$((KTAP_N + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $KTAP_N $1"
	else
		echo "# $1: expected '$2', got '$3'"
		echo "not ok $KTAP_N $1"
	fi
}
