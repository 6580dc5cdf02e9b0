#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarizes a `make check` run: cargo test output, KUnit KTAP from the
kernel log, kselftest KTAP. Prints each part and a last line
`N passed, N failed`; exits 1 on any failure or missing result."""
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
sp = sf = 0
if ksft is None:
    problems.append("no kselftest output (guest did not run)")
    sf += 1
else:
    inner_fail = False
    for line in ksft.splitlines():
        m = re.match(r"^# (not ok|ok) \d+ ", line)
        if m:
            print("    " + line[2:])
            if m.group(1) == "ok":
                sp += 1
            else:
                sf += 1
                inner_fail = True
            continue
        m = re.match(r"^(not ok|ok) \d+ (.*)", line)
        if m:
            print(line)
            # A program that failed without a failed test point (timeout,
            # crash, wrong plan) counts as one failure.
            if m.group(1) == "not ok" and not inner_fail:
                sf += 1
            inner_fail = False
    plan = re.search(r"^1\.\.(\d+)", ksft, re.M)
    results = len(re.findall(r"^(?:not ok|ok) \d+ ", ksft, re.M))
    if not plan or int(plan.group(1)) != results:
        problems.append(f"kselftest: plan {plan.group(1) if plan else '?'} but {results} results")
        sf += 1
print(f"kselftest: {sp} passed, {sf} failed")
passed += sp
failed += sf

print("== dmesg scan ==")
scan = re.search(r"^(not ok|ok) \d+ selftests: dmesg: scan.sh.*$", ksft or "", re.M)
print(scan.group(0) if scan else "dmesg scan did not run")
if not (out / "guest-done").exists():
    problems.append("the guest did not finish (see console.log)")
    failed += 1
for p in problems:
    print(f"problem: {p}")
print(f"{passed} passed, {failed} failed")
(out / "summary.txt").write_text(f"{passed} passed, {failed} failed\n")
sys.exit(1 if failed else 0)
