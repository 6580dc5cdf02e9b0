// SPDX-License-Identifier: GPL-2.0

//! vdo_qat: a device-mapper target for thin-provisioned, deduplicated,
//! gzip-compressed volumes with Intel QuickAssist offload.
//!
//! Stage 1 (this file): a passthrough (linear) target built only on the
//! safe `kstor` abstractions, proving target registration, table parsing,
//! device lookup, bio remapping, status and messages on real I/O.
//! Table line: see [`config`].

use core::fmt::Write;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kstor::args::{self, Args};
use kstor::bio::{Op, OwnedBio};
use kstor::dm::{self, CtrError, DeviceVisitor, DmDev, Mapping, StatusType, Target, TargetConfig};
use kstor::fmtbuf::BufWriter;

pub mod compress;
pub mod config;
#[cfg(CONFIG_KUNIT)]
mod kunit;

module! {
    type: VdoQatModule,
    name: "vdo_qat",
    authors: ["vdo_qat developers"],
    description: "Deduplicating, gzip-compressing device-mapper target with QAT offload",
    license: "GPL",
}

/// Target version reported by `dmsetup targets`.
const VERSION: [u32; 3] = [0, 1, 0];

struct VdoQatModule {
    _target: dm::Registration<VdoQat>,
}

impl kernel::Module for VdoQatModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _target: dm::Registration::new(c"vdo_qat", VERSION, module)?,
        })
    }
}

/// Bio counters, exact, reported by `status` and the `stats` message.
struct Counters {
    reads: Atomic<u64>,
    writes: Atomic<u64>,
    flushes: Atomic<u64>,
    fua: Atomic<u64>,
    discards: Atomic<u64>,
    write_zeroes: Atomic<u64>,
}

impl Counters {
    const fn new() -> Self {
        Counters {
            reads: Atomic::new(0),
            writes: Atomic::new(0),
            flushes: Atomic::new(0),
            fua: Atomic::new(0),
            discards: Atomic::new(0),
            write_zeroes: Atomic::new(0),
        }
    }

    fn count(&self, bio: &OwnedBio<'_>) {
        let c = match bio.op() {
            Op::Read => &self.reads,
            Op::Write if bio.size() == 0 => &self.flushes,
            Op::Write => &self.writes,
            Op::Flush => &self.flushes,
            Op::Discard => &self.discards,
            Op::WriteZeroes => &self.write_zeroes,
            _ => return,
        };
        c.add(1, Relaxed);
        if bio.is_fua() {
            self.fua.add(1, Relaxed);
        }
    }

    fn write(&self, out: &mut impl Write) -> core::fmt::Result {
        write!(
            out,
            "reads={} writes={} flushes={} fua={} discards={} write_zeroes={}",
            self.reads.load(Relaxed),
            self.writes.load(Relaxed),
            self.flushes.load(Relaxed),
            self.fua.load(Relaxed),
            self.discards.load(Relaxed),
            self.write_zeroes.load(Relaxed)
        )
    }
}

/// One `vdo_qat` table line.
struct VdoQat {
    dev: DmDev,
    offset: u64,
    ignore_discard: bool,
    stats: Counters,
}

#[vtable]
impl dm::TargetOps for VdoQat {
    fn ctr(cfg: &mut TargetConfig<'_>, args: Args<'_>) -> Result<Pin<KBox<Self>>, CtrError> {
        let len = cfg.target().len();
        let c = config::Config::parse(args, len)?;
        let dev = cfg.get_device(c.dev_path).map_err(|e| {
            pr_err!(
                "{}: cannot open backing device {}: error {}\n",
                cfg.target().device_name().to_str().unwrap_or("?"),
                c.dev_path.to_str().unwrap_or("(not UTF-8)"),
                e.to_errno()
            );
            CtrError::new(c"Backing device lookup failed", e)
        })?;
        let dev_sectors = dev
            .size_sectors()
            .map_err(|e| CtrError::new(c"Backing device lookup failed", e))?;
        c.check_fits(len, dev_sectors)?;
        cfg.set_num_flush_bios(1);
        cfg.set_num_discard_bios(if c.ignore_discard { 0 } else { 1 });
        cfg.set_num_write_zeroes_bios(1);
        KBox::pin(
            VdoQat {
                dev,
                offset: c.offset,
                ignore_discard: c.ignore_discard,
                stats: Counters::new(),
            },
            GFP_KERNEL,
        )
        .map_err(|_| CtrError::new(c"Cannot allocate memory", ENOMEM))
    }

    fn map(&self, ti: &Target, bio: OwnedBio<'static>) -> Mapping {
        self.stats.count(&bio);
        if bio.size() == 0 {
            // Empty flush: its sector is meaningless (0 even when the target
            // starts later); `remap` leaves it alone.
            return Mapping::remap(bio, &self.dev, 0);
        }
        match ti
            .offset_of(bio.sector())
            .and_then(|o| o.checked_add(self.offset))
        {
            Some(sector) => Mapping::remap(bio, &self.dev, sector),
            None => Mapping::kill(bio),
        }
    }

    fn status(&self, _ti: &Target, kind: StatusType, out: &mut BufWriter<'_>) {
        // Output that does not fit is truncated by `BufWriter`; device-mapper
        // retries with a larger buffer when it sees a full one.
        let _ = match kind {
            StatusType::Info => self.stats.write(out),
            StatusType::Table => config::write_table(
                out,
                self.dev.name().to_str().unwrap_or("?"),
                self.offset,
                self.ignore_discard,
            ),
            StatusType::Ima => write!(
                out,
                "target_name=vdo_qat,target_version={}.{}.{};",
                VERSION[0], VERSION[1], VERSION[2]
            ),
        };
    }

    fn message(&self, ti: &Target, mut args: Args<'_>, out: &mut BufWriter<'_>) -> Result {
        let name = ti.device_name().to_str().unwrap_or("?");
        match args.next_str("message") {
            Ok("stats") if args.is_empty() => {
                let _ = self.stats.write(out);
                Ok(())
            }
            Ok(m) => {
                pr_warn!("{}: unrecognised message '{}' (known: stats)\n", name, m);
                Err(EINVAL)
            }
            Err(e) => {
                pr_warn!("{}: bad message: {}\n", name, format_args!("{}", e));
                Err(EINVAL)
            }
        }
    }

    fn iterate_devices(&self, ti: &Target, visitor: &mut DeviceVisitor<'_>) -> i32 {
        visitor.visit(&self.dev, self.offset, ti.len())
    }
}
