// SPDX-License-Identifier: GPL-2.0
//! Host tests of rust/args.rs, rust/fmtbuf.rs and drivers/vdo_qat/config.rs.

use core::fmt::Write;
use proptest::prelude::*;
use std::ffi::{CStr, CString};
use vq_pure::args::{parse_u64, ArgErrorKind, Args};
use vq_pure::fmtbuf::BufWriter;
use vq_pure::vdo_qat_config::Config;

fn words(line: &str) -> Vec<CString> {
    line.split_whitespace()
        .map(|w| CString::new(w).unwrap())
        .collect()
}

/// (dev, logical blocks, compression, dedup, index MiB, low water, metadata)
type Parsed = (String, u64, &'static str, bool, u64, Option<u64>, Option<u64>);

fn parse(line: &str, len: u64) -> Result<Parsed, (ArgErrorKind, usize)> {
    let owned = words(line);
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    Config::parse(Args::new(&refs), len)
        .map(|c| {
            (
                c.dev_path.to_str().unwrap().to_owned(),
                c.logical_blocks,
                c.compression.name(),
                c.dedup,
                c.index_mib,
                c.low_water,
                c.metadata_blocks,
            )
        })
        .map_err(|e| (e.kind, e.position))
}

fn table(line: &str, len: u64) -> String {
    let owned = words(line);
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    let c = Config::parse(Args::new(&refs), len).unwrap();
    let mut buf = [0u8; 256];
    let mut w = BufWriter::new(&mut buf);
    c.write_table(&mut w, c.dev_path.to_str().unwrap()).unwrap();
    String::from_utf8(w.as_bytes().to_vec()).unwrap()
}

#[test]
fn valid_lines() {
    assert_eq!(
        parse("/dev/loop0 2048", 2048),
        Ok(("/dev/loop0".into(), 256, "auto", true, 16, None, None))
    );
    assert_eq!(
        parse("7:0 16 4 compression off low_water 9", 16),
        Ok(("7:0".into(), 2, "off", true, 16, Some(9), None))
    );
    assert_eq!(
        parse("7:0 16 6 dedup off index_memory 64 metadata_blocks 600", 16),
        Ok(("7:0".into(), 2, "auto", false, 64, None, Some(600)))
    );
    // The compression policies; `on` is `auto`.
    for (word, policy) in [
        ("on", "auto"),
        ("auto", "auto"),
        ("accel", "accel"),
        ("software", "software"),
        ("off", "off"),
    ] {
        let line = format!("7:0 16 2 compression {word}");
        assert_eq!(parse(&line, 16).map(|p| p.2), Ok(policy), "{line}");
    }
    assert_eq!(
        table("7:0 2048 2 compression accel", 2048),
        "7:0 2048 6 compression accel dedup on index_memory 16"
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
        ("/dev/loop0 4", OutOfRange, 2),
        ("/dev/loop0 16", OutOfRange, 2),
        ("/dev/loop0 8 1", Missing, 4),
        ("/dev/loop0 8 17 a b c d e f g h i", OutOfRange, 3),
        ("/dev/loop0 8 x", Invalid, 3),
        ("/dev/loop0 8 2 compress on", Unknown, 4),
        ("/dev/loop0 8 2 compression yes", Invalid, 5),
        ("/dev/loop0 8 4 dedup on dedup on", Duplicate, 6),
        ("/dev/loop0 8 2 index_memory 0", OutOfRange, 5),
        ("/dev/loop0 8 2 index_memory 4097", OutOfRange, 5),
        ("/dev/loop0 8 2 metadata_blocks 511", OutOfRange, 5),
        ("/dev/loop0 8 0 trailing", TooMany, 4),
        ("/dev/loop0 8 1 dedup", Missing, 5),
        ("/dev/loop0 8 2 commit_period 9", OutOfRange, 5),
        ("/dev/loop0 8 2 commit_period 600001", OutOfRange, 5),
        ("/dev/loop0 8 2 commit_period 1s", Invalid, 5),
        ("/dev/loop0 8 4 commit_period 10 commit_period 10", Duplicate, 6),
        ("/dev/loop0 8 2 max_refs 1", OutOfRange, 5),
        ("/dev/loop0 8 2 max_refs 4294967296", OutOfRange, 5),
    ];
    for &(line, kind, pos) in cases {
        assert_eq!(parse(line, 8), Err((kind, pos)), "line {line:?}");
    }
}

#[test]
fn table_round_trip() {
    let t = table("7:0 2048 4 compression off low_water 100", 2048);
    assert_eq!(
        t,
        "7:0 2048 8 compression off dedup on index_memory 16 low_water 100"
    );
    assert_eq!(parse(&t, 2048), parse("7:0 2048 4 compression off low_water 100", 2048));
}

/// `commit_period <ms>` (issue 13, defect 6): parsed, defaulted, written
/// back by `dmsetup table`, and re-parsed to the same value.
#[test]
fn commit_period_feature() {
    let owned = words("7:0 16 2 commit_period 250");
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    let c = Config::parse(Args::new(&refs), 16).unwrap();
    assert_eq!((c.commit_period_ms, c.commit_period()), (Some(250), 250));
    let owned = words("7:0 16");
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    let c = Config::parse(Args::new(&refs), 16).unwrap();
    assert_eq!((c.commit_period_ms, c.commit_period()), (None, 1000));
    for ms in [10u32, 600_000] {
        let line = format!("7:0 16 2 commit_period {ms}");
        assert_eq!(
            table(&line, 16),
            format!("7:0 16 8 compression auto dedup on index_memory 16 commit_period {ms}")
        );
    }
    let t = table("7:0 2048 4 low_water 7 commit_period 30", 2048);
    assert_eq!(
        t,
        "7:0 2048 10 compression auto dedup on index_memory 16 low_water 7 commit_period 30"
    );
    assert_eq!(parse(&t, 2048), parse("7:0 2048 4 low_water 7 commit_period 30", 2048));
}

/// `max_refs <n>` (issue 13, defect 5).
#[test]
fn max_refs_feature() {
    let owned = words("7:0 16 2 max_refs 3");
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    let c = Config::parse(Args::new(&refs), 16).unwrap();
    assert_eq!((c.max_refs, c.max_refs()), (Some(3), 3));
    let owned = words("7:0 16");
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    assert_eq!(Config::parse(Args::new(&refs), 16).unwrap().max_refs(), u32::MAX);
    assert_eq!(
        table("7:0 16 4 max_refs 254 commit_period 500", 16),
        "7:0 16 10 compression auto dedup on index_memory 16 commit_period 500 max_refs 254"
    );
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
    fn any_line_parses_or_names_a_word(ws in proptest::collection::vec(prop_oneof![
        Just("on".to_string()), Just("off".to_string()), Just("dedup".to_string()),
        Just("compression".to_string()), Just("index_memory".to_string()),
        Just("low_water".to_string()), "[a-z_0-9/:]{1,12}"], 0..10), len in 1u64..64) {
        let len = len * 8;
        let line = format!("/dev/x {len} {}", ws.join(" "));
        match parse(&line, len) {
            Ok(p) => prop_assert_eq!(parse(&table(&line, len), len), Ok(p)),
            Err((_, pos)) => prop_assert!(pos >= 1 && pos <= ws.len() + 3),
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
