// SPDX-License-Identifier: GPL-2.0

// Build-time comparison of Rust's view of C structs with C's layout, for
// the types of `kernel::bindings`, which the kernel generates with
// `--no-layout-tests`. Included (`include!`) by `rust/layout.rs` and by the
// layout self-test (`scripts/layout-test/`); module `c` below holds the
// constants that bindgen computes from `rust/layout_check.h`. See
// Documentation/dev/layout.rst.

/// C's layout, computed by clang: bindgen's output for the layout header
/// (`KSTOR_LAYOUT` names it).
#[allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub,
    clippy::all
)]
mod c {
    include!(env!("KSTOR_LAYOUT"));
}

/// A message assembled during constant evaluation (`panic!` in a constant
/// takes a single `&str`).
struct LayoutMsg {
    buf: [u8; 160],
    len: usize,
}

impl LayoutMsg {
    const fn new() -> Self {
        LayoutMsg {
            buf: [0; 160],
            len: 0,
        }
    }

    const fn push(mut self, b: u8) -> Self {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }

    const fn str(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            self = self.push(b[i]);
            i += 1;
        }
        self
    }

    const fn num(mut self, mut v: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while n > 0 {
            n -= 1;
            self = self.push(digits[n]);
        }
        self
    }
}

/// Fails the build, naming `what` and both values, unless `rust == c`.
const fn layout_eq(kind: &str, what: &str, rust: usize, c: usize) {
    if rust == c {
        return;
    }
    let m = LayoutMsg::new()
        .str("kstor layout: ")
        .str(kind)
        .str(" of ")
        .str(what)
        .str(" is ")
        .num(rust)
        .str(" in Rust but ")
        .num(c)
        .str(" in C");
    let (bytes, _) = m.buf.split_at(m.len);
    match core::str::from_utf8(bytes) {
        Ok(s) => panic!("{}", s),
        Err(_) => panic!("kstor layout: Rust and C disagree"),
    }
}

/// The size of the field that `_f` moves out (the function is never called;
/// by value rather than by reference, for fields of packed structs).
const fn layout_field_size<T, F>(_f: fn(T) -> F) -> usize {
    core::mem::size_of::<F>()
}

/// `layout_check!(rs, c; type { field, ... } ...)` checks, for each
/// `type` of module `rs`, its size and alignment and, for each `field`, its
/// offset and size against the constants of module `c` (`KSTOR_SIZE_type`,
/// ...), and that `c` lists exactly as many entries (`KSTOR_LAYOUT_ENTRIES`).
macro_rules! layout_check {
    ($rs:ident, $c:ident; $($t:ident { $($f:ident),* $(,)? })*) => {
        kernel::macros::paste! {
            $(
                layout_check!(@eq "size", stringify!($t),
                    core::mem::size_of::<$rs::$t>(), $c::[<KSTOR_SIZE_ $t>]);
                layout_check!(@eq "alignment", stringify!($t),
                    core::mem::align_of::<$rs::$t>(), $c::[<KSTOR_ALIGN_ $t>]);
                $(
                    layout_check!(@eq "offset", concat!(stringify!($t), ".", stringify!($f)),
                        core::mem::offset_of!($rs::$t, $f), $c::[<KSTOR_OFF_ $t __ $f>]);
                    layout_check!(@eq "size", concat!(stringify!($t), ".", stringify!($f)),
                        layout_field_size(|s: $rs::$t| s.$f), $c::[<KSTOR_FSIZE_ $t __ $f>]);
                )*
            )*
        }
        layout_check!(@eq "number", "entries (types and fields)",
            0 $(+ 1 $(+ layout_check!(@one $f))*)*, $c::KSTOR_LAYOUT_ENTRIES);
    };
    (@eq $kind:literal, $what:expr, $rust:expr, $c:expr) => {
        const _: () = layout_eq($kind, $what, $rust, $c as usize);
    };
    (@one $f:ident) => {
        1
    };
}
