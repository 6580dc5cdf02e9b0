#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Size limits of the kernel crates (issue 14): no file under drivers/ over
700 lines, no function over 80 (from its `fn` line to the closing brace at
the same indentation).

Usage: size-limits.py [<dir>...]  (default: drivers/ of the repository)
Prints one line per violation, "file <path> <lines>" or
"fn <path>:<line> <name> <lines>", and exits 1 if there is any.
"""
import os
import re
import sys

MAX_FILE = 700
MAX_FN = 80
FN = re.compile(r"^(\s*)(pub(\([\w:]+\))? )?((const|unsafe|async|extern \"C\") )*fn (\w+)")


def check(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    bad = []
    n = len(lines) - (1 if lines and lines[-1] == "" else 0)
    if n > MAX_FILE:
        bad.append("file %s %d" % (path, n))
    for i, l in enumerate(lines):
        m = FN.match(l)
        if not m or l.rstrip().endswith(";"):
            continue
        close = m.group(1) + "}"
        j = i
        while j < len(lines) and lines[j] != close:
            j += 1
        if j - i + 1 > MAX_FN:
            bad.append("fn %s:%d %s %d" % (path, i + 1, m.group(6), j - i + 1))
    return bad


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    dirs = sys.argv[1:] or [os.path.join(root, "drivers")]
    bad = []
    for d in dirs:
        for base, _, files in sorted(os.walk(d)):
            for f in sorted(files):
                if f.endswith(".rs"):
                    bad += check(os.path.join(base, f))
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
