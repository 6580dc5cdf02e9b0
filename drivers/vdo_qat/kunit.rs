// SPDX-License-Identifier: GPL-2.0

//! KUnit suite for the `vdo_qat` table line, run at insmod (KTAP in dmesg).

use kernel::prelude::kunit_tests;

#[kunit_tests(vdo_qat_config)]
mod tests {
    use crate::config::Config;
    use kstor::args::{ArgErrorKind, Args};

    #[test]
    fn accepts() {
        let w = [c"/dev/loop0", c"0"];
        let c = Config::parse(Args::new(&w), 8).expect("valid");
        assert_eq!((c.offset, c.ignore_discard), (0, false));
        let w = [c"7:0", c"2048", c"1", c"ignore_discard"];
        let c = Config::parse(Args::new(&w), 8).expect("valid");
        assert_eq!((c.offset, c.ignore_discard), (2048, true));
        assert!(c.check_fits(8, 2056).is_ok());
        assert_eq!(
            c.check_fits(9, 2056).map_err(|e| e.kind),
            Err(ArgErrorKind::OutOfRange)
        );
    }

    #[test]
    fn rejects() {
        let cases: [(&[&core::ffi::CStr], ArgErrorKind, usize); 7] = [
            (&[], ArgErrorKind::Missing, 1),
            (&[c"/dev/x"], ArgErrorKind::Missing, 2),
            (&[c"/dev/x", c"ten"], ArgErrorKind::Invalid, 2),
            (
                &[c"/dev/x", c"0", c"2", c"ignore_discard"],
                ArgErrorKind::Missing,
                5,
            ),
            (&[c"/dev/x", c"0", c"1", c"bogus"], ArgErrorKind::Unknown, 4),
            (
                &[c"/dev/x", c"0", c"2", c"ignore_discard", c"ignore_discard"],
                ArgErrorKind::Duplicate,
                5,
            ),
            (&[c"/dev/x", c"0", c"0", c"extra"], ArgErrorKind::TooMany, 4),
        ];
        for (w, kind, pos) in cases {
            let e = Config::parse(Args::new(w), 8).expect_err("invalid");
            assert_eq!((e.kind, e.position), (kind, pos));
        }
    }
}
