// SPDX-License-Identifier: GPL-2.0
//! Host tests of rust/args.rs, rust/fmtbuf.rs and drivers/vdo_qat/config.rs.

use core::fmt::Write;
use proptest::prelude::*;
use std::ffi::{CStr, CString};
use vq_pure::args::{parse_u64, ArgErrorKind, Args};
use vq_pure::fmtbuf::BufWriter;
use vq_pure::vdo_qat_config::{write_table, Config};

fn words(line: &str) -> Vec<CString> {
    line.split_whitespace()
        .map(|w| CString::new(w).unwrap())
        .collect()
}

fn parse(line: &str, len: u64) -> Result<(String, u64, bool), (ArgErrorKind, usize)> {
    let owned = words(line);
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    Config::parse(Args::new(&refs), len)
        .map(|c| {
            (
                c.dev_path.to_str().unwrap().to_owned(),
                c.offset,
                c.ignore_discard,
            )
        })
        .map_err(|e| (e.kind, e.position))
}

#[test]
fn valid_lines() {
    assert_eq!(
        parse("/dev/loop0 0", 8),
        Ok(("/dev/loop0".into(), 0, false))
    );
    assert_eq!(parse("7:0 2048 0", 8), Ok(("7:0".into(), 2048, false)));
    assert_eq!(
        parse("7:0 2048 1 ignore_discard", 8),
        Ok(("7:0".into(), 2048, true))
    );
}

#[test]
fn malformed_lines() {
    use ArgErrorKind::*;
    let cases: &[(&str, ArgErrorKind, usize)] = &[
        ("", Missing, 1),
        ("/dev/loop0", Missing, 2),
        ("/dev/loop0 -1", Invalid, 2),
        ("/dev/loop0 0x10", Invalid, 2),
        ("/dev/loop0 99999999999999999999", OutOfRange, 2),
        ("/dev/loop0 18446744073709551615", OutOfRange, 2),
        ("/dev/loop0 0 1", Missing, 4),
        ("/dev/loop0 0 9 a b c d e f g h i", OutOfRange, 3),
        ("/dev/loop0 0 x", Invalid, 3),
        ("/dev/loop0 0 1 compress", Unknown, 4),
        ("/dev/loop0 0 2 ignore_discard ignore_discard", Duplicate, 5),
        ("/dev/loop0 0 0 trailing", TooMany, 4),
        ("/dev/loop0 0 1 ignore_discard trailing", TooMany, 5),
    ];
    for &(line, kind, pos) in cases {
        assert_eq!(parse(line, 8), Err((kind, pos)), "line {line:?}");
    }
}

#[test]
fn fits() {
    let owned = words("/dev/x 100");
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    let c = Config::parse(Args::new(&refs), 28).unwrap();
    assert!(c.check_fits(28, 128).is_ok());
    assert_eq!(
        c.check_fits(29, 128).unwrap_err().kind,
        ArgErrorKind::OutOfRange
    );
    assert_eq!(
        c.check_fits(u64::MAX, u64::MAX).unwrap_err().kind,
        ArgErrorKind::OutOfRange
    );
}

#[test]
fn table_round_trip() {
    let mut buf = [0u8; 64];
    let mut w = BufWriter::new(&mut buf);
    write_table(&mut w, "7:0", 2048, true).unwrap();
    assert_eq!(w.as_bytes(), b"7:0 2048 1 ignore_discard");
    let line = String::from_utf8(w.as_bytes().to_vec()).unwrap();
    assert_eq!(parse(&line, 8), Ok(("7:0".into(), 2048, true)));
}

#[test]
fn bufwriter_truncates_and_terminates() {
    let mut buf = [0xffu8; 8];
    let mut w = BufWriter::new(&mut buf);
    write!(w, "abc").unwrap();
    write!(w, "defghij").unwrap();
    assert!(w.truncated());
    assert_eq!(w.as_bytes(), b"abcdefg");
    assert_eq!(buf[7], 0);
    let mut empty: [u8; 0] = [];
    let mut w = BufWriter::new(&mut empty);
    write!(w, "x").unwrap();
    assert_eq!(w.len(), 0);
}

proptest! {
    #[test]
    fn parse_u64_matches_std(s in "[0-9]{1,22}") {
        let ours = parse_u64(s.as_bytes()).ok();
        prop_assert_eq!(ours, s.parse::<u64>().ok());
    }

    #[test]
    fn parse_u64_rejects_non_digits(s in ".*[^0-9].*") {
        prop_assert_eq!(parse_u64(s.as_bytes()), Err(ArgErrorKind::Invalid));
    }

    /// Any line either parses into a config that prints back to itself, or
    /// fails naming a position inside the line (or one past its end).
    #[test]
    fn any_line_parses_or_names_a_word(ws in proptest::collection::vec("[a-z_0-9/:]{1,12}", 0..8), len in 1u64..u64::MAX) {
        let line = ws.join(" ");
        match parse(&line, len) {
            Ok((dev, off, ign)) => {
                let mut buf = [0u8; 256];
                let mut w = BufWriter::new(&mut buf);
                write_table(&mut w, &dev, off, ign).unwrap();
                let again = String::from_utf8(w.as_bytes().to_vec()).unwrap();
                prop_assert_eq!(parse(&again, len), Ok((dev, off, ign)));
            }
            Err((_, pos)) => prop_assert!(pos >= 1 && pos <= ws.len() + 1),
        }
    }

    #[test]
    fn bufwriter_never_overflows(parts in proptest::collection::vec(".{0,40}", 0..10), cap in 0usize..64) {
        let mut buf = vec![0xaau8; cap];
        let mut w = BufWriter::new(&mut buf);
        let mut all = String::new();
        for p in &parts { write!(w, "{p}").unwrap(); all.push_str(p); }
        let n = w.len();
        prop_assert!(cap == 0 || n < cap);
        prop_assert_eq!(w.as_bytes(), &all.as_bytes()[..n]);
        if cap > 0 { prop_assert_eq!(buf[n], 0); }
    }
}
