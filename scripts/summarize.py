#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarizes a `make check` run: cargo test output, the KTAP of the host
script tests, KUnit KTAP from the kernel log, kselftest KTAP. Prints each
part and a last line `N passed, N failed`; exits 1 on any failure or
missing result. A kselftest program without a result (the VM was killed
first) is one failure, named; a run whose results are all in does not fail
for lack of guest-done alone."""
import re
import sys
from pathlib import Path

out = Path(sys.argv[1])
# KUnit suites that must report (suite -> number of test cases).
EXPECTED_KUNIT = {
    "kstor_acomp": 3,
    "kstor_acomp_sources": 2,
    "kstor_args": 3,
    "kstor_bio": 5,
    "kstor_crc32": 2,
    "kstor_sgl": 3,
    "kstor_zlib": 2,
    "vdo_qat_config": 2,
    "vdo_qat_gzip": 2,
}
passed = failed = 0
problems = []
notes = []


def read(name):
    p = out / name
    return p.read_text(errors="replace") if p.exists() else None


# cargo test: "test result: ok. 9 passed; 0 failed; ..."
print("== host cargo tests ==")
cargo = read("cargo.log") or ""
cp = cf = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", cargo):
    cp += int(m.group(1))
    cf += int(m.group(2))
if "test result:" not in cargo:
    problems.append("cargo tests did not run")
    cf += 1
print(f"cargo: {cp} passed, {cf} failed")
passed += cp
failed += cf

print("== host script tests ==")
# scripts/tests/*.sh and scripts/layout-test.sh, run by check.sh: one
# KTAP file each.
hp = hf = 0
host = sorted(out.glob("host-*.ktap"))
if not host:
    problems.append("host script tests did not run")
    hf += 1
for f in host:
    text = f.read_text(errors="replace")
    n = 0
    for line in text.splitlines():
        m = re.match(r"^(not ok|ok) \d+ ", line)
        if m:
            print(f"{f.stem[5:]}: {line}")
            n += 1
            if m.group(1) == "ok":
                hp += 1
            else:
                hf += 1
    plan = re.search(r"^1\.\.(\d+)", text, re.M)
    if not plan or int(plan.group(1)) != n:
        problems.append(f"{f.name}: plan {plan.group(1) if plan else '?'} but {n} results")
        hf += 1
print(f"host script tests: {hp} passed, {hf} failed")
passed += hp
failed += hf

print("== KUnit ==")
kunit = read("kunit.log")
kp = kf = 0
if kunit is None:
    problems.append("no KUnit log (guest did not run)")
    kf += 1
else:
    seen = {}
    for line in kunit.splitlines():
        line = re.sub(r"^\[[^\]]*\]\s?", "", line)
        m = re.match(r"^(\s+)(not ok|ok) (\d+) (\S+)", line)
        if m:
            print(line)
            if m.group(2) == "ok":
                kp += 1
            else:
                kf += 1
            continue
        m = re.match(r"^(not ok|ok) \d+ (\S+)", line)
        if m:
            print(line)
            seen[m.group(2)] = m.group(1)
    for suite, n in EXPECTED_KUNIT.items():
        if suite not in seen:
            problems.append(f"KUnit suite {suite} did not report")
            kf += 1
print(f"KUnit: {kp} passed, {kf} failed")
passed += kp
failed += kf

print("== kselftest ==")
ksft = read("kselftest.ktap")
# The programs the guest runs (scripts/ksft-list.sh, written by check.sh):
# any without a result line is one failure, named.
klist = read("kselftest.list")
expected = None
if klist is not None:
    expected = [tuple(line.split()[:2]) for line in klist.splitlines() if line.strip()]
sp = sf = 0
results = {}          # (collection, program) -> "ok" / "not ok"
nresults = 0
inner_failed = set()  # programs with a failed test point (counted already)
current = None        # the program running: "# selftests: <c>: <p>"
if ksft is None:
    problems.append("no kselftest output (guest did not run)")
    if expected is None:
        sf += 1
for line in (ksft or "").splitlines():
    m = re.match(r"^# selftests: (\S+): (\S+)$", line)
    if m:
        current = m.groups()
        continue
    m = re.match(r"^# (not ok|ok) \d+ ", line)
    if m:
        print("    " + line[2:])
        if m.group(1) == "ok":
            sp += 1
        else:
            sf += 1
            inner_failed.add(current)
        continue
    m = re.match(r"^(not ok|ok) \d+ (.*)", line)
    if m:
        print(line)
        nresults += 1
        name = re.match(r"selftests: (\S+): (\S+)", m.group(2))
        prog = name.groups() if name else current
        results[prog] = m.group(1)
        # A program that failed without a failed test point (timeout,
        # crash, wrong plan) counts as one failure.
        if m.group(1) == "not ok" and prog not in inner_failed:
            sf += 1
        current = None
plan = re.search(r"^1\.\.(\d+)", ksft or "", re.M)
planned = int(plan.group(1)) if plan else None
missing = []
if expected is None:
    complete = planned is not None and planned == nresults
    if ksft is not None and not complete:
        problems.append(f"kselftest: plan {'?' if planned is None else planned} but {nresults} results")
        sf += 1
else:
    missing = [p for p in expected if p not in results]
    for c, p in missing:
        if (c, p) in inner_failed:
            problems.append(f"kselftest: {c}: {p}: no result (its failed test point is counted)")
        else:
            problems.append(f"kselftest: {c}: {p}: no result (not run, or cut short)")
            sf += 1
    if planned is not None and planned != len(expected):
        problems.append(f"kselftest: plan {planned} but {len(expected)} programs in kselftest.list")
        sf += 1
    if nresults != len(expected) - len(missing):
        problems.append(f"kselftest: {nresults} results for {len(expected) - len(missing)} programs")
        sf += 1
    complete = not missing and planned == len(expected) == nresults
print(f"kselftest: {sp} passed, {sf} failed")
passed += sp
failed += sf

print("== dmesg scan ==")
scan = re.search(r"^(not ok|ok) \d+ selftests: dmesg: scan.sh.*$", ksft or "", re.M)
print(scan.group(0) if scan else "dmesg scan did not run")
if not (out / "guest-done").exists():
    if complete and kunit is not None:
        # The VM stopped after the last result, while writing dmesg.log.
        notes.append("every result is in but the guest did not write guest-done (see console.log)")
    elif expected is None:
        problems.append("the guest did not finish (see console.log)")
        failed += 1
    else:
        problems.append("the guest did not finish (see console.log); what it did not run is counted above")
for n in notes:
    print(f"note: {n}")
for p in problems:
    print(f"problem: {p}")
print(f"{passed} passed, {failed} failed")
(out / "summary.txt").write_text(f"{passed} passed, {failed} failed\n")
sys.exit(1 if failed else 0)
