#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Usage: layout-coverage.py <layout.h> <kstor bindings.rs> <kernel
bindings_generated.rs> <typed HIR>...

Checks that rust/layout.h lists every field of a kernel::bindings struct
that the given crates read, write or initialize (struct literals, also from
macro expansions such as #[kunit_tests]), and the struct itself. The input is
rustc's typed HIR (-Zunpretty=hir,typed), where a field access prints as
`(<expr> as <type>).<field> as <field type>` (<type> may be a reference
or a smart pointer to the struct) and a literal as
`<type> { <field>: ..., ... }`. Types that kstor generates itself are
skipped: bindgen's layout tests check all of their fields.

Prints what is missing (exit 1), or the number of checked uses (exit 0).
Exits 1 as well if it finds no use at all (the HIR format changed)."""
import re
import sys

layout_h, kstor_rs, kernel_rs, *hirs = sys.argv[1:]


def structs(path):
    text = open(path, errors="replace").read()
    return set(re.findall(r"^pub (?:struct|union) (\w+)", text, re.M))


kstor = structs(kstor_rs)
kernel = structs(kernel_rs) - kstor
text = open(layout_h).read()
listed_types = set(re.findall(r"\bS\((\w+)\)", text))
listed_fields = set(re.findall(r"\bF\((\w+),\s*(\w+)\)", text))

PATH = r"((?:[A-Za-z_]\w*::)*)([A-Za-z_]\w*)"


def kernel_type(prefix, name):
    """Whether a type as printed in the HIR is one of kernel::bindings."""
    if prefix.endswith("kernel::bindings::"):
        return True
    return prefix in ("", "bindings::") and name in kernel


def literal_fields(t, i):
    """Field names of the struct literal whose body starts at t[i]."""
    fields, depth, start = [], 0, True
    while i < len(t):
        c = t[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and start:
            m = re.match(r"\s*([A-Za-z_]\w*)\s*:(?!:)", t[i:])
            if m:
                fields.append(m.group(1))
        if depth == 0 and not c.isspace():
            start = c == ","
        i += 1
    return fields


def without_layout_module(t):
    """t without kstor's `mod layout { ... }`, whose checks name each field."""
    m = re.search(r"\bmod layout \{", t)
    if not m:
        return t
    depth, i = 0, m.end() - 1
    while i < len(t):
        depth += {"{": 1, "}": -1}.get(t[i], 0)
        if depth == 0:
            return t[: m.start()] + t[i + 1 :]
        i += 1
    return t


uses = set()
for path in hirs:
    t = re.sub(r"\s+", " ", open(path, errors="replace").read())
    t = without_layout_module(t)
    # The type may be a reference or a smart pointer (auto-deref): any
    # bindings struct named in it counts.
    for m in re.finditer(r"\bas ([^()]+?)\s*\)+\s*\.\s*([A-Za-z_]\w*)(?=\s+as\b)", t):
        for p in re.finditer(PATH, m.group(1)):
            if kernel_type(p.group(1), p.group(2)):
                uses.add((p.group(2), m.group(2)))
    for m in re.finditer(PATH + r" \{", t):
        if kernel_type(m.group(1), m.group(2)):
            for f in literal_fields(t, m.end()):
                uses.add((m.group(2), f))

missing = sorted(
    {f"S({ty})" for ty, _ in uses if ty not in listed_types}
    | {f"F({ty}, {f})" for ty, f in uses if (ty, f) not in listed_fields}
)
for entry in missing:
    print(f"not in rust/layout.h: {entry}")
if not uses:
    print("no field use of a kernel::bindings struct found: HIR format changed?")
    sys.exit(1)
if missing:
    sys.exit(1)
print(f"{len(uses)} field uses of {len({ty for ty, _ in uses})} kernel::bindings structs, all in rust/layout.h")
