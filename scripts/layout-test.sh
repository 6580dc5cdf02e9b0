#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: layout-test.sh <kernel build dir> [<outdir>]
# Host tests of the build-time checks of Rust's view of C structs
# (Documentation/dev/layout.rst), after the modules were built against
# <kernel build dir>. Run by scripts/check.sh; KTAP on stdout, and
# logs in <outdir>/layout-test/ (default build/check/layout-test/).
# Each step compiles one small crate (seconds); nothing rebuilds the kernel.
#
#  1. the modules were built with bindgen's layout tests on kstor's
#     bindings and with the checks of rust/layout.rs;
#  2. a probe module with the same machinery and agreeing fields builds;
#  3. the probe checking task_struct.mm, which bindgen lays out wrongly when
#     CONFIG_SCHEDSTATS is off, fails to build with the layout message;
#  4. the probe with a C entry that has no Rust twin fails to build;
#  5. each driver crate type-checks, and no longer does with an unsafe
#     block in one of its modules, even under #[allow(unsafe_code)];
#  6. scripts/rust-guard.sh passes the tree, rejects current!() in a driver
#     and a driver crate root without #![forbid(unsafe_code)];
#  7. rust/layout.h lists every field of a kernel::bindings struct that
#     kstor and the drivers (with macro expansions) read, write or
#     initialize, from rustc's typed HIR.
source "$(dirname "$0")/lib.sh"
set +e
kdir=${1:?usage: layout-test.sh <kernel build dir> [<outdir>]}
out=${2:-$VQ_ROOT/build/check}
work=$out/layout-test
rm -rf "$work"
mkdir -p "$work"
ksrc=$kdir
[ -d "$kdir/source" ] && ksrc=$(readlink -f "$kdir/source")
. "$ksrc/tools/testing/selftests/kselftest/ktap_helpers.sh"
export RUSTC_BOOTSTRAP=1
drivers=(vdo_qat nvme_vhost)

# probe <name>: builds the probe module with list <name>; its log is
# $work/probe-<name>.log.
probe() {
	local dir=$work/probe-$1
	cp -r "$VQ_ROOT/scripts/layout-test" "$dir"
	make -C "$kdir" M="$dir" "${VQ_KMAKE_ARGS[@]}" PROBE="$1" \
		KSTOR_RUST="$VQ_ROOT/rust" -j"$(vq_jobs)" modules >"$work/probe-$1.log" 2>&1
}

# crate_cmd <object>: the rustc command Kbuild ran for <object> (from its
# .cmd file), without its outputs; run it from $VQ_ROOT.
crate_cmd() {
	local c
	c=$(sed -n 's/^savedcmd_[^ ]* := //p' "$(dirname "$1")/.$(basename "$1").cmd")
	c=${c%%;*}
	sed -E 's/ --emit=[^ ]+//g; s/ --out-dir [^ ]+//' <<<"$c"
}

# copy_driver <driver> <dir>: the driver's Rust sources in <dir>.
copy_driver() {
	mkdir -p "$2"
	(cd "$VQ_ROOT/drivers/$1" && find . -name '*.rs' -exec cp --parents -t "$2" {} +)
}

# check_crate <driver> <dir> <log>: type-checks the driver crate from the
# copy in <dir>, with the flags of the real build.
check_crate() {
	local cmd root=drivers/$1/$1_main.rs
	cmd=$(crate_cmd "$VQ_ROOT/drivers/$1/$1_main.o") || return 1
	[[ $cmd == *" $root"* ]] || return 1
	cmd=${cmd/ $root/ $2/$1_main.rs}
	(cd "$VQ_ROOT" && eval "$cmd --emit=metadata=$2/lib$1_main.rmeta --out-dir $2") >"$3" 2>&1
}

ktap_print_header
ktap_set_plan 7

# 1. The real build.
ok=1
for d in "${drivers[@]}"; do
	[ -f "$VQ_ROOT/drivers/$d/$d.ko" ] || ok=0
	grep -q '"Offset of field: ' "$VQ_ROOT/build/kstor/bindings_$d.rs" 2>/dev/null || ok=0
	entries=$(grep -Po 'KSTOR_LAYOUT_ENTRIES: \w+ = \K\d+' "$VQ_ROOT/build/kstor/layout_$d.rs" 2>/dev/null)
	[ "${entries:-0}" -gt 0 ] || ok=0
done
if ((ok)); then
	ktap_test_pass "layout: modules built with bindgen layout tests and $entries checked entries"
else
	ktap_test_fail "layout: modules built with bindgen layout tests and rust/layout.rs checks"
fi

# 2.-4. Probe modules.
if probe good && [ -f "$work/probe-good/layout_probe.ko" ]; then
	ktap_test_pass "layout: probe with fields that agree builds"
else
	grep -E 'error|kstor layout' "$work/probe-good.log" | head -n 20 | sed 's/^/# /'
	ktap_test_fail "layout: probe with fields that agree builds"
fi

probe task
msg=$(grep -o 'kstor layout: offset of task_struct\.mm is [0-9]* in Rust but [0-9]* in C' "$work/probe-task.log")
grep 'kstor layout:' "$work/probe-task.log" | sed 's/^.*evaluation panicked: /# /'
if [ ! -f "$work/probe-task/layout_probe.ko" ] && [ -n "$msg" ] &&
	! grep -q 'task_struct\.__state' "$work/probe-task.log"; then
	ktap_test_pass "layout: task_struct.mm disagrees and fails the build (${msg#kstor layout: })"
else
	ktap_test_fail "layout: task_struct.mm disagreement fails the build"
fi

probe count
if [ ! -f "$work/probe-count/layout_probe.ko" ] &&
	grep -q 'kstor layout: number of entries (types and fields) is 5 in Rust but 6 in C' "$work/probe-count.log"; then
	ktap_test_pass "layout: a C entry without its Rust twin fails the build"
else
	ktap_test_fail "layout: a C entry without its Rust twin fails the build"
fi

# 5. #![forbid(unsafe_code)] in the driver crates.
ok=1
for d in "${drivers[@]}"; do
	dir=$work/forbid-$d
	copy_driver "$d" "$dir"
	if ! check_crate "$d" "$dir" "$work/forbid-$d-clean.log"; then
		ktap_print_msg "$d: the unchanged crate does not type-check (forbid-$d-clean.log)"
		ok=0
	fi
	printf '\nmod layout_test_unsafe;\n' >>"$dir/${d}_main.rs"
	printf '#[allow(unsafe_code)]\npub(crate) fn probe() {\n    unsafe {}\n}\n' >"$dir/layout_test_unsafe.rs"
	if check_crate "$d" "$dir" "$work/forbid-$d-unsafe.log" ||
		! grep -q 'forbid(unsafe_code)' "$work/forbid-$d-unsafe.log"; then
		ktap_print_msg "$d: an unsafe block compiles (forbid-$d-unsafe.log)"
		ok=0
	fi
	grep -E '^error' "$work/forbid-$d-unsafe.log" | sort -u | sed "s/^/# $d: /"
done
if ((ok)); then
	ktap_test_pass "forbid: driver crates compile, and reject an unsafe block"
else
	ktap_test_fail "forbid: driver crates compile, and reject an unsafe block"
fi

# 6. scripts/rust-guard.sh.
ok=1
for d in "${drivers[@]}"; do
	bash "$VQ_ROOT/scripts/rust-guard.sh" "$VQ_ROOT/rust" "$VQ_ROOT/drivers/$d" \
		"$VQ_ROOT/drivers/$d/${d}_main.rs" >"$work/guard-$d.log" 2>&1 || ok=0
done
dir=$work/guard-vdo_qat
copy_driver vdo_qat "$dir"
printf 'fn layout_test_task() -> i32 {\n    kernel::current!().pid()\n}\n' >>"$dir/vdo_qat_main.rs"
sed -i '/^#!\[forbid(unsafe_code)\]/d' "$dir/vdo_qat_main.rs"
bash "$VQ_ROOT/scripts/rust-guard.sh" "$VQ_ROOT/rust" "$dir" "$dir/vdo_qat_main.rs" \
	>"$work/guard-bad.log" 2>&1 && ok=0
sed "s|^$dir/|# |" "$work/guard-bad.log"
grep -q '`current!`' "$work/guard-bad.log" || ok=0
grep -q 'forbid(unsafe_code)' "$work/guard-bad.log" || ok=0
if ((ok)); then
	ktap_test_pass "guard: rejects current!() and a crate root without forbid(unsafe_code)"
else
	ktap_test_fail "guard: rejects current!() and a crate root without forbid(unsafe_code)"
fi

# 7. Every field Rust uses is checked.
hirs=()
for obj in drivers/vdo_qat/kstor drivers/vdo_qat/vdo_qat_main drivers/nvme_vhost/nvme_vhost_main; do
	hir=$work/$(basename "$obj").hir
	cmd=$(crate_cmd "$VQ_ROOT/$obj.o")
	(cd "$VQ_ROOT" &&
		KSTOR_BINDINGS=$VQ_ROOT/build/kstor/bindings_vdo_qat.rs \
		KSTOR_LAYOUT=$VQ_ROOT/build/kstor/layout_vdo_qat.rs KSTOR_MODNAME=vdo_qat \
		eval "$cmd -Zunpretty=hir,typed") >"$hir" 2>"$hir.log"
	hirs+=("$hir")
done
if python3 "$VQ_ROOT/scripts/layout-coverage.py" "$VQ_ROOT/rust/layout.h" \
	"$VQ_ROOT/build/kstor/bindings_vdo_qat.rs" "$kdir/rust/bindings/bindings_generated.rs" \
	"${hirs[@]}" >"$work/coverage.log" 2>&1; then
	ktap_test_pass "layout: rust/layout.h covers Rust's uses ($(tail -n1 "$work/coverage.log" | cut -d, -f1))"
else
	sed 's/^/# /' "$work/coverage.log"
	ktap_test_fail "layout: rust/layout.h covers every field Rust uses"
fi

ktap_finished
