// SPDX-License-Identifier: GPL-2.0

//! The `vdo_qat` table line (pure: compiled into the module and into
//! `tools/pure` for host tests).
//!
//! ```text
//! <start> <len> vdo_qat <data_dev> <logical_sectors> [<#feature args> <feature arg>...]
//! ```
//!
//! - `data_dev`: the device holding the volume (path or `major:minor`);
//! - `logical_sectors`: the volume's logical size in 512 B sectors; must
//!   equal `<len>` and be a multiple of 8 (4 KiB blocks); may exceed the
//!   device (thin provisioning), and may grow on a table reload;
//! - feature arguments (each a key and a value):
//!   - `compression auto|accel|software|off` (default `auto`; `on` is
//!     `auto`): see [`Policy`];
//!   - `dedup on|off` (default on);
//!   - `index_memory <MiB>`: memory of the dedup index, 1..=4096 (default
//!     16);
//!   - `low_water <4 KiB blocks>`: raise a dm event when fewer data blocks
//!     than this are free (default: 1/16 of the data blocks);
//!   - `metadata_blocks <4 KiB blocks>`: metadata region size, used only
//!     when formatting (default: 1/32 of the device, at least 512);
//!   - `commit_period <ms>`: how often the metadata is committed while
//!     anything is uncommitted, 10..=600000 (default 1000, as dm-thin);
//!   - `max_refs <n>`: most LBNs one stored copy may be shared by,
//!     2..=4294967295 (default 4294967295); a write of the same content
//!     after that stores a new copy.
//!
//! See `Documentation/admin-guide/vdo_qat.rst`.

use crate::args::{ArgError, ArgErrorKind, Args};
use core::ffi::CStr;
use core::fmt::{self, Write};

/// Most feature arguments (words) a table line may carry.
pub const MAX_FEATURE_ARGS: u64 = 16;
/// Default dedup index memory, MiB.
pub const DEFAULT_INDEX_MIB: u64 = 16;
/// Largest dedup index memory, MiB.
pub const MAX_INDEX_MIB: u64 = 4096;
/// Smallest metadata region, 4 KiB blocks.
pub const MIN_METADATA_BLOCKS: u64 = 512;
/// Default commit period, milliseconds.
pub const DEFAULT_COMMIT_PERIOD_MS: u32 = 1000;
/// Shortest commit period, milliseconds.
pub const MIN_COMMIT_PERIOD_MS: u64 = 10;
/// Longest commit period, milliseconds.
pub const MAX_COMMIT_PERIOD_MS: u64 = 600_000;
/// Default (and largest) number of LBNs one stored copy may be shared by.
pub const DEFAULT_MAX_REFS: u32 = u32::MAX;

/// How new blocks are compressed (QZFS's algorithm checker; see
/// `Documentation/admin-guide/vdo_qat.rst`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    /// The accelerator (an asynchronous acomp provider such as
    /// `qat_deflate`) while it is present and healthy, else software.
    Auto = 0,
    /// The accelerator only: while it is absent or unhealthy, blocks are
    /// stored raw and no CPU is spent compressing.
    Accel = 1,
    /// Software deflate only (the accelerator is released).
    Software = 2,
    /// No compression.
    Off = 3,
}

impl Policy {
    /// Parses `auto`, `on` (= `auto`), `accel`, `software` or `off`.
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "auto" | "on" => Some(Policy::Auto),
            "accel" => Some(Policy::Accel),
            "software" => Some(Policy::Software),
            "off" => Some(Policy::Off),
            _ => None,
        }
    }

    /// The name in table lines and messages.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Auto => "auto",
            Policy::Accel => "accel",
            Policy::Software => "software",
            Policy::Off => "off",
        }
    }

    /// The policy stored as `v` (by `as u8`); unknown values are `Off`.
    pub fn from_u8(v: u8) -> Policy {
        match v {
            0 => Policy::Auto,
            1 => Policy::Accel,
            2 => Policy::Software,
            _ => Policy::Off,
        }
    }

    /// Whether the accelerator may be used.
    pub fn wants_accel(self) -> bool {
        matches!(self, Policy::Auto | Policy::Accel)
    }
}

/// A parsed table line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    /// Data device path, as given.
    pub dev_path: &'a CStr,
    /// Logical size in 4 KiB blocks.
    pub logical_blocks: u64,
    /// How new blocks are compressed.
    pub compression: Policy,
    /// Deduplicate new blocks.
    pub dedup: bool,
    /// Dedup index memory, MiB.
    pub index_mib: u64,
    /// Low-water mark in free data blocks; `None`: the default.
    pub low_water: Option<u64>,
    /// Metadata region at format, 4 KiB blocks; `None`: the default.
    pub metadata_blocks: Option<u64>,
    /// Commit period, milliseconds; `None`: [`DEFAULT_COMMIT_PERIOD_MS`].
    pub commit_period_ms: Option<u32>,
    /// Most LBNs per stored copy; `None`: [`DEFAULT_MAX_REFS`].
    pub max_refs: Option<u32>,
}

fn on_off(args: &mut Args<'_>, what: &'static str) -> Result<bool, ArgError> {
    match args.next_str(what)? {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(args.error_at_previous(what, ArgErrorKind::Invalid)),
    }
}

impl<'a> Config<'a> {
    /// Parses the arguments after the target name. `len` is the target
    /// length from the table line (512 B sectors).
    ///
    /// # Errors
    ///
    /// An [`ArgError`] naming the first bad word: missing device or size,
    /// a size that is not `len` or not a multiple of 8 sectors, a bad
    /// feature count, an unknown or repeated feature, a bad value, or words
    /// after the last argument.
    pub fn parse(mut args: Args<'a>, len: u64) -> Result<Self, ArgError> {
        let dev_path = args.next_cstr("data device path")?;
        if dev_path.to_bytes().is_empty() {
            return Err(args.error_at_previous("data device path", ArgErrorKind::Invalid));
        }
        let sectors = args.next_u64("logical size (512 B sectors)", 8, u64::MAX)?;
        if sectors != len || sectors % 8 != 0 {
            return Err(args.error_at_previous(
                "logical size: must equal the target length, a multiple of 8 sectors",
                ArgErrorKind::OutOfRange,
            ));
        }
        let mut c = Config {
            dev_path,
            logical_blocks: sectors / 8,
            compression: Policy::Auto,
            dedup: true,
            index_mib: DEFAULT_INDEX_MIB,
            low_water: None,
            metadata_blocks: None,
            commit_period_ms: None,
            max_refs: None,
        };
        let mut opts = args.group("feature argument count", MAX_FEATURE_ARGS)?;
        let mut seen = 0u32;
        while !opts.is_empty() {
            let key = opts.next_str("feature")?;
            let bit = match key {
                "compression" => 1,
                "dedup" => 2,
                "index_memory" => 4,
                "low_water" => 8,
                "metadata_blocks" => 16,
                "commit_period" => 32,
                "max_refs" => 64,
                _ => return Err(opts.error_at_previous("feature", ArgErrorKind::Unknown)),
            };
            if seen & bit != 0 {
                return Err(opts.error_at_previous("feature", ArgErrorKind::Duplicate));
            }
            seen |= bit;
            match key {
                "compression" => {
                    let what = "compression auto|accel|software|off";
                    c.compression = Policy::parse(opts.next_str(what)?)
                        .ok_or_else(|| opts.error_at_previous(what, ArgErrorKind::Invalid))?
                }
                "dedup" => c.dedup = on_off(&mut opts, "dedup on|off")?,
                "index_memory" => {
                    c.index_mib = opts.next_u64("index_memory (MiB)", 1, MAX_INDEX_MIB)?
                }
                "low_water" => {
                    c.low_water = Some(opts.next_u64("low_water (4 KiB blocks)", 0, u64::MAX)?)
                }
                "max_refs" => {
                    let n = opts.next_u64("max_refs", 2, u64::from(u32::MAX))?;
                    c.max_refs = Some(n as u32)
                }
                "commit_period" => {
                    let ms = opts.next_u64(
                        "commit_period (ms)",
                        MIN_COMMIT_PERIOD_MS,
                        MAX_COMMIT_PERIOD_MS,
                    )?;
                    c.commit_period_ms = Some(ms as u32)
                }
                _ => {
                    c.metadata_blocks = Some(opts.next_u64(
                        "metadata_blocks (4 KiB blocks)",
                        MIN_METADATA_BLOCKS,
                        1 << 32,
                    )?)
                }
            }
        }
        args.finish("end of table line")?;
        Ok(c)
    }

    /// The metadata region to format a device of `dev_blocks` 4 KiB blocks
    /// with.
    pub fn metadata_for(&self, dev_blocks: u64) -> u64 {
        self.metadata_blocks
            .unwrap_or((dev_blocks / 32).max(MIN_METADATA_BLOCKS))
    }

    /// The low-water mark for `data_blocks` data blocks.
    pub fn low_water_for(&self, data_blocks: u64) -> u64 {
        self.low_water.unwrap_or(data_blocks / 16)
    }

    /// The commit period, milliseconds.
    pub fn commit_period(&self) -> u32 {
        self.commit_period_ms.unwrap_or(DEFAULT_COMMIT_PERIOD_MS)
    }

    /// The most LBNs one stored copy may be shared by.
    pub fn max_refs(&self) -> u32 {
        self.max_refs.unwrap_or(DEFAULT_MAX_REFS)
    }

    /// Writes the table line for `dmsetup table` (re-loadable as is).
    pub fn write_table(&self, out: &mut impl Write, dev_name: &str) -> fmt::Result {
        let onoff = |b: bool| if b { "on" } else { "off" };
        let nfeat = 6 + if self.low_water.is_some() { 2 } else { 0 }
            + if self.metadata_blocks.is_some() { 2 } else { 0 }
            + if self.commit_period_ms.is_some() { 2 } else { 0 }
            + if self.max_refs.is_some() { 2 } else { 0 };
        write!(
            out,
            "{} {} {} compression {} dedup {} index_memory {}",
            dev_name,
            self.logical_blocks * 8,
            nfeat,
            self.compression.name(),
            onoff(self.dedup),
            self.index_mib
        )?;
        if let Some(l) = self.low_water {
            write!(out, " low_water {}", l)?;
        }
        if let Some(m) = self.metadata_blocks {
            write!(out, " metadata_blocks {}", m)?;
        }
        if let Some(p) = self.commit_period_ms {
            write!(out, " commit_period {}", p)?;
        }
        if let Some(n) = self.max_refs {
            write!(out, " max_refs {}", n)?;
        }
        Ok(())
    }
}
