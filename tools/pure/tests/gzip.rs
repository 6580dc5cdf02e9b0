// SPDX-License-Identifier: GPL-2.0
//! Host tests of drivers/vdo_qat/compress/gzip.rs against flate2 (zlib's
//! formats) and Python's gzip module: members we frame around a raw
//! deflate stream with a 32 KiB window decompress with standard tools, and
//! members standard tools write (with optional header fields) parse.

use flate2::{
    read::DeflateDecoder, read::GzDecoder, write::DeflateEncoder, Compression, GzBuilder,
};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use vq_pure::gzip::{self, GzipError};

/// Our member for `data`: raw deflate (32 KiB window, as QAT writes) framed
/// by `frame_in_place`.
fn member(data: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::new(6));
    enc.write_all(data).unwrap();
    let deflate = enc.finish().unwrap();
    let mut buf = vec![0u8; deflate.len() + gzip::OVERHEAD];
    buf[gzip::HEADER_LEN..gzip::HEADER_LEN + deflate.len()].copy_from_slice(&deflate);
    let n = gzip::frame_in_place(
        &mut buf,
        deflate.len(),
        crc32fast::hash(data),
        data.len() as u32,
    )
    .unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn sample(len: usize, seed: u32) -> Vec<u8> {
    // Text-like, compressible, with back-references beyond 2 KiB.
    let words: [&[u8]; 6] = [b"extent ", b"sector ", b"bio ", b"dedup ", b"gzip ", b"\n"];
    let mut x = seed;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        v.extend_from_slice(words[(x >> 16) as usize % words.len()]);
    }
    v.truncate(len);
    v
}

#[test]
fn our_members_decompress_with_flate2() {
    for (len, seed) in [(0, 1), (1, 2), (4096, 3), (65536, 4)] {
        let data = sample(len, seed);
        let m = member(&data);
        let mut out = Vec::new();
        GzDecoder::new(&m[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}

#[test]
fn our_members_decompress_with_python_gzip() {
    let data = sample(4096, 7);
    let m = member(&data);
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(&m).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, data);
}

#[test]
fn members_from_gzip_tools_parse() {
    let data = sample(10_000, 9);
    let mut enc = GzBuilder::new()
        .filename("file.txt")
        .comment("a comment")
        .extra(vec![1, 2, 3, 4])
        .mtime(123_456)
        .write(Vec::new(), Compression::best());
    enc.write_all(&data).unwrap();
    let bytes = enc.finish().unwrap();
    let m = gzip::parse(&bytes).unwrap();
    assert_eq!(m.crc32, crc32fast::hash(&data));
    assert_eq!(m.isize, data.len() as u32);
    let mut out = Vec::new();
    DeflateDecoder::new(m.deflate)
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
}

#[test]
fn malformed_members() {
    let good = member(b"hello hello hello");
    assert_eq!(gzip::parse(&good[..17]), Err(GzipError::Truncated));
    let mut bad = good.clone();
    bad[0] = 0x1e;
    assert_eq!(gzip::parse(&bad), Err(GzipError::BadMagic));
    let mut bad = good.clone();
    bad[2] = 7;
    assert_eq!(gzip::parse(&bad), Err(GzipError::BadMethod));
    let mut bad = good.clone();
    bad[3] = 0x20;
    assert_eq!(gzip::parse(&bad), Err(GzipError::ReservedFlags));
    // FNAME without its terminating NUL before the end.
    let mut bad = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
    bad.extend_from_slice(&[b'x'; 12]);
    assert_eq!(gzip::parse(&bad), Err(GzipError::Truncated));
    // FEXTRA longer than the member.
    let mut bad = vec![0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 3, 0xff, 0xff];
    bad.extend_from_slice(&[0; 12]);
    assert_eq!(gzip::parse(&bad), Err(GzipError::Truncated));
}

#[test]
fn budget_follows_the_90_percent_rule() {
    assert_eq!(gzip::max_member(4096), 3686);
    assert_eq!(gzip::deflate_budget(4096) + gzip::OVERHEAD, 3686);
    assert_eq!(gzip::deflate_budget(10), 0);
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = gzip::parse(&bytes);
    }

    #[test]
    fn frame_parse_round_trip(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let m = member(&data);
        let p = gzip::parse(&m).unwrap();
        prop_assert_eq!(p.crc32, crc32fast::hash(&data));
        prop_assert_eq!(p.isize, data.len() as u32);
        let mut out = Vec::new();
        DeflateDecoder::new(p.deflate).read_to_end(&mut out).unwrap();
        prop_assert_eq!(out, data);
    }
}
