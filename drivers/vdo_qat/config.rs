// SPDX-License-Identifier: GPL-2.0

//! The `vdo_qat` table line (pure: compiled into the module and into
//! `tools/pure` for host tests).
//!
//! For now `vdo_qat` is a passthrough (linear) target:
//!
//! ```text
//! <start> <len> vdo_qat <dev_path> <offset> [<#opt_args> <opt_arg>...]
//! ```
//!
//! - `dev_path`: backing block device (path or `major:minor`);
//! - `offset`: first sector used on it (512 B sectors);
//! - optional arguments: `ignore_discard` (do not pass discards down).
//!
//! See `Documentation/admin-guide/vdo_qat.rst`.

use crate::args::{ArgError, ArgErrorKind, Args};
use core::ffi::CStr;
use core::fmt::{self, Write};

/// Most optional arguments a table line may carry.
pub const MAX_OPT_ARGS: u64 = 8;

/// A parsed table line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    /// Backing device path, as given.
    pub dev_path: &'a CStr,
    /// First sector used on the backing device (512 B sectors).
    pub offset: u64,
    /// Whether discards are dropped instead of passed down.
    pub ignore_discard: bool,
}

impl<'a> Config<'a> {
    /// Parses the arguments after the target name. `len` is the target
    /// length from the table line (512 B sectors).
    ///
    /// # Errors
    ///
    /// An [`ArgError`] naming the first bad word: missing device or offset,
    /// non-decimal offset, `offset + len` beyond 2^64 sectors, a bad
    /// optional-argument count, an unknown or repeated optional argument,
    /// or words after the last argument.
    pub fn parse(mut args: Args<'a>, len: u64) -> Result<Self, ArgError> {
        let dev_path = args.next_cstr("backing device path")?;
        if dev_path.to_bytes().is_empty() {
            return Err(args.error_at_previous("backing device path", ArgErrorKind::Invalid));
        }
        let offset = args.next_u64("offset (512 B sectors)", 0, u64::MAX - len)?;
        let mut opts = args.group("optional argument count", MAX_OPT_ARGS)?;
        let mut ignore_discard = false;
        while !opts.is_empty() {
            match opts.next_str("optional argument")? {
                "ignore_discard" if !ignore_discard => ignore_discard = true,
                "ignore_discard" => {
                    return Err(opts.error_at_previous("optional argument", ArgErrorKind::Duplicate))
                }
                _ => return Err(opts.error_at_previous("optional argument", ArgErrorKind::Unknown)),
            }
        }
        args.finish("end of table line")?;
        Ok(Config {
            dev_path,
            offset,
            ignore_discard,
        })
    }

    /// Checks that sectors `offset..offset + len` lie on a device of
    /// `dev_sectors` sectors.
    ///
    /// # Errors
    ///
    /// [`ArgErrorKind::OutOfRange`] on the offset (word 2) otherwise.
    pub fn check_fits(&self, len: u64, dev_sectors: u64) -> Result<(), ArgError> {
        match self.offset.checked_add(len) {
            Some(end) if end <= dev_sectors => Ok(()),
            _ => Err(ArgError {
                position: 2,
                what: "offset + length beyond the backing device end",
                kind: ArgErrorKind::OutOfRange,
            }),
        }
    }
}

/// Writes the table line for `dmsetup table` (re-loadable as is):
/// `<dev_name> <offset>[ 1 ignore_discard]`.
pub fn write_table(
    out: &mut impl Write,
    dev_name: &str,
    offset: u64,
    ignore_discard: bool,
) -> fmt::Result {
    write!(out, "{} {}", dev_name, offset)?;
    if ignore_discard {
        out.write_str(" 1 ignore_discard")?;
    }
    Ok(())
}
