// SPDX-License-Identifier: GPL-2.0

//! KUnit suite for the `vdo_qat` table line, run at insmod (KTAP in dmesg).

use kernel::prelude::kunit_tests;

#[kunit_tests(vdo_qat_config)]
mod tests {
    use crate::config::{Config, Policy};
    use kstor::args::{ArgErrorKind, Args};

    #[test]
    fn accepts() {
        let w = [c"/dev/loop0", c"2048"];
        let c = Config::parse(Args::new(&w), 2048).expect("valid");
        assert_eq!((c.logical_blocks, c.compression, c.dedup), (256, Policy::Auto, true));
        assert_eq!((c.index_mib, c.low_water, c.metadata_blocks), (16, None, None));
        assert_eq!(c.metadata_for(32768), 1024);
        assert_eq!(c.metadata_for(100), 512);
        let w = [
            c"7:0", c"16", c"8", c"compression", c"off", c"dedup", c"off", c"index_memory", c"2",
            c"low_water", c"5",
        ];
        let c = Config::parse(Args::new(&w), 16).expect("valid");
        assert_eq!((c.compression, c.dedup, c.index_mib), (Policy::Off, false, 2));
        assert_eq!((c.low_water, c.low_water_for(1000)), (Some(5), 5));
    }

    #[test]
    fn rejects() {
        let cases: [(&[&core::ffi::CStr], ArgErrorKind, usize); 8] = [
            (&[], ArgErrorKind::Missing, 1),
            (&[c"/dev/x"], ArgErrorKind::Missing, 2),
            (&[c"/dev/x", c"ten"], ArgErrorKind::Invalid, 2),
            (&[c"/dev/x", c"16"], ArgErrorKind::OutOfRange, 2),
            (&[c"/dev/x", c"8", c"2", c"compression"], ArgErrorKind::Missing, 5),
            (&[c"/dev/x", c"8", c"2", c"bogus", c"on"], ArgErrorKind::Unknown, 4),
            (
                &[c"/dev/x", c"8", c"4", c"dedup", c"on", c"dedup", c"off"],
                ArgErrorKind::Duplicate,
                6,
            ),
            (&[c"/dev/x", c"8", c"2", c"dedup", c"maybe"], ArgErrorKind::Invalid, 5),
        ];
        for (w, kind, pos) in cases {
            let e = Config::parse(Args::new(w), 8).expect_err("invalid");
            assert_eq!((e.kind, e.position), (kind, pos));
        }
    }
}

#[kunit_tests(vdo_qat_gzip)]
mod gzip_tests {
    use crate::compress::gzip::{self, GzipError};
    use kstor::crc32::crc32;

    /// "hello" as one stored (uncompressed) deflate block, RFC 1951 §3.2.4.
    const STORED_HELLO: [u8; 10] = [0x01, 0x05, 0x00, 0xfa, 0xff, b'h', b'e', b'l', b'l', b'o'];

    #[test]
    fn frame_then_parse() {
        let mut buf = [0u8; 64];
        buf[gzip::HEADER_LEN..gzip::HEADER_LEN + 10].copy_from_slice(&STORED_HELLO);
        let n = gzip::frame_in_place(&mut buf, 10, crc32(b"hello"), 5).expect("room");
        assert_eq!(n, 28);
        assert_eq!(&buf[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&buf[20..28], &[0x86, 0xa6, 0x10, 0x36, 5, 0, 0, 0]);
        let m = gzip::parse(&buf[..n]).expect("valid");
        assert_eq!(m.deflate, &STORED_HELLO[..]);
        assert_eq!((m.crc32, m.isize), (0x3610_a686, 5));
    }

    #[test]
    fn rejects() {
        let mut buf = [0u8; 28];
        assert_eq!(
            gzip::frame_in_place(&mut buf[..27], 10, 0, 0),
            Err(GzipError::NoRoom)
        );
        assert_eq!(gzip::parse(&buf[..17]), Err(GzipError::Truncated));
        assert_eq!(gzip::parse(&buf), Err(GzipError::BadMagic));
        assert_eq!(gzip::max_member(4096), 3686);
        assert_eq!(gzip::deflate_budget(4096), 3668);
    }
}
