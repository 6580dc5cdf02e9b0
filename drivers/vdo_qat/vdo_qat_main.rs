// SPDX-License-Identifier: GPL-2.0

// Unsafe code belongs in kstor (rust/), never in a driver.
#![forbid(unsafe_code)]

//! vdo_qat: a device-mapper target for thin-provisioned, deduplicated,
//! gzip-compressed volumes with Intel QuickAssist offload.
//!
//! This file: the target callbacks. Table line: [`config`]; on-disk
//! format: [`format`]; the volume and the map of its data path:
//! [`volume`]; dedup index: [`dedup`].

use core::fmt::Write;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::Arc;
use kstor::args::{self, Args};
use kstor::bio::{Op, OwnedBio};
use kstor::blkdev::{Bdev, BlockBuf, SECTORS_PER_BLOCK};
use kstor::dm::{
    self, CtrError, DevClaim, DeviceVisitor, DmDev, Mapping, QueueLimits, StatusType, Target,
    TargetConfig,
};
use kstor::wq::Periodic;
use kstor::fmtbuf::BufWriter;

pub mod compress;
pub mod config;
pub mod dedup;
pub mod format;
mod inflight;
mod lane;
mod meta;
mod pack;
mod read;
mod space;
pub mod stats;
pub mod volume;
mod write;
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
const VERSION: [u32; 3] = [1, 0, 0];

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

/// Most lanes (work items) per volume.
const MAX_LANES: u32 = 32;
/// Lanes per CPU: a lane waits for its synchronous data and metadata I/O,
/// so a few per CPU keep the CPUs and the device busy.
const LANES_PER_CPU: u32 = 4;

/// One `vdo_qat` table line.
struct VdoQat {
    dev: DmDev,
    vol: Arc<volume::Volume>,
    /// The commit timer (dropped before `lanes`, whose queue it runs on).
    timer: Periodic<volume::Volume>,
    lanes: lane::Lanes,
    low_water: Option<u64>,
    metadata_blocks: Option<u64>,
    commit_period_ms: Option<u32>,
    max_refs: Option<u32>,
    /// This mapped device's exclusive use of the data device.
    _claim: DevClaim,
}

fn ctr_err(msg: &'static CStr) -> impl Fn(Error) -> CtrError {
    move |e| CtrError::new(msg, e)
}

/// Opens the data device of table line `c` and claims it for this mapped
/// device (`name`).
fn open_data_device(
    cfg: &mut TargetConfig<'_>,
    c: &config::Config<'_>,
    name: &str,
) -> Result<(DmDev, DevClaim), CtrError> {
    let dev = cfg.get_device(c.dev_path).map_err(|e| {
        pr_err!(
            "{}: cannot open data device {}: error {}\n",
            name,
            c.dev_path.to_str().unwrap_or("(not UTF-8)"),
            e.to_errno()
        );
        CtrError::new(c"Data device lookup failed", e)
    })?;
    // One volume per device: a second target on it (another mapped
    // device, or the same table twice) would format or load the same
    // metadata and corrupt it. A reload of this mapped device may.
    let claim = cfg.claim_exclusive(&dev).map_err(|e| {
        if e.err == EBUSY {
            pr_err!(
                "{}: data device {} is already used by vdo_qat volume {}\n",
                name,
                dev.name().to_str().unwrap_or("?"),
                e.holder()
            );
            CtrError::new(c"Data device already used by another vdo_qat target", EBUSY)
        } else {
            CtrError::new(c"Cannot claim the data device", e.err)
        }
    })?;
    Ok((dev, claim))
}

/// Reads block 0 of the data device: true if it is zeros (format), false
/// if it is our superblock (load). Anything else is refused: never
/// overwrite foreign data.
fn is_fresh(data: &Bdev, name: &str) -> Result<bool, CtrError> {
    let mut b0 = BlockBuf::new_zeroed(GFP_KERNEL).map_err(ctr_err(c"Cannot allocate memory"))?;
    data.read_block(0, &mut b0).map_err(|e| {
        pr_err!("{}: cannot read block 0 of the data device: error {}\n", name, e.to_errno());
        CtrError::new(c"Cannot read the data device", e)
    })?;
    let fresh = b0.iter().all(|&x| x == 0);
    if !fresh && !format::has_magic(&b0) {
        pr_err!(
            "{}: data device holds foreign data (block 0 is neither zeros nor a vdo_qat superblock); zero its first 4 KiB to format it\n",
            name
        );
        return Err(CtrError::new(c"Data device holds foreign data", EINVAL));
    }
    Ok(fresh)
}

/// What device-mapper sends to `map`: one bio per flush and per discard,
/// no write-zeroes bios, at most one 4 KiB block per bio, whole discards.
fn set_target_limits(cfg: &mut TargetConfig<'_>) {
    cfg.set_num_flush_bios(1);
    cfg.set_num_discard_bios(1);
    cfg.set_num_write_zeroes_bios(0);
    cfg.set_discards_supported(true);
    cfg.set_flush_supported(true);
    cfg.set_max_io_len(SECTORS_PER_BLOCK as u32);
    cfg.set_max_discard_granularity(true);
}

/// The volume of table line `c` over the data device (`data`, and
/// `meta_bdev` for its metadata), not yet formatted or loaded; the
/// accelerator probed.
fn new_volume(
    cfg: &mut TargetConfig<'_>,
    c: &config::Config<'_>,
    data: Bdev,
    meta_bdev: Bdev,
) -> Result<Arc<volume::Volume>, CtrError> {
    let events = cfg.event_notifier().map_err(ctr_err(c"Cannot allocate memory"))?;
    let probe = kstor::acomp::Acomp::new_software(c"deflate").ok();
    let driver = probe.as_ref().map_or(c"none", |a| a.driver_name());
    let opts = volume::Options {
        dedup: Atomic::new(c.dedup),
        logical_blocks: c.logical_blocks,
        low_water: c.low_water,
        metadata_blocks: c.metadata_blocks,
        index_mib: c.index_mib,
        max_refs: c.max_refs(),
        commit_period_ms: c.commit_period(),
    };
    let begin = cfg.target().begin();
    let vol = volume::Volume::new(data, meta_bdev, begin, opts, c.compression, events, driver)
        .map_err(ctr_err(c"Cannot allocate memory"))?;
    drop(probe);
    vol.probe_accel();
    Ok(vol)
}

/// Formats a fresh data device of `dev_blocks` blocks for table line `c`.
fn format_volume(vol: &volume::Volume, c: &config::Config<'_>, dev_blocks: u64, name: &str) -> Result<(), CtrError> {
    let meta = c.metadata_for(dev_blocks);
    vol.format(dev_blocks, meta).map_err(|e| {
        pr_err!(
            "{}: cannot format: device of {} blocks, {} metadata blocks: error {}\n",
            name,
            dev_blocks,
            meta,
            e.to_errno()
        );
        CtrError::new(c"Cannot format the data device", e)
    })?;
    pr_info!(
        "{}: formatted: {} blocks, {} for metadata, logical {} blocks\n",
        name,
        dev_blocks,
        meta,
        c.logical_blocks
    );
    Ok(())
}

/// Reads the superblock of a formatted data device: the logical size of
/// table line `c` may grow, not shrink.
fn check_superblock(vol: &volume::Volume, c: &config::Config<'_>, name: &str) -> Result<(), CtrError> {
    let sb = vol
        .read_superblock(name)
        .map_err(ctr_err(c"Bad vdo_qat superblock"))?;
    if c.logical_blocks < sb.logical_blocks {
        pr_err!(
            "{}: logical size {} blocks is smaller than the volume's {}: shrinking is not supported\n",
            name,
            c.logical_blocks,
            sb.logical_blocks
        );
        return Err(CtrError::new(c"Cannot shrink the logical size", EINVAL));
    }
    Ok(())
}

#[vtable]
impl dm::TargetOps for VdoQat {
    fn ctr(cfg: &mut TargetConfig<'_>, args: Args<'_>) -> Result<Pin<KBox<Self>>, CtrError> {
        let len = cfg.target().len();
        let name = cfg.target().device_name().to_str().unwrap_or("?");
        let c = config::Config::parse(args, len)?;
        let (dev, claim) = open_data_device(cfg, &c, name)?;
        let data = Bdev::from_dm(&dev).map_err(ctr_err(c"Data device lookup failed"))?;
        let meta_bdev = data.clone_ref();
        let dev_blocks = data.size_sectors() / SECTORS_PER_BLOCK;
        let fresh = is_fresh(&data, name)?;
        set_target_limits(cfg);
        let vol = new_volume(cfg, &c, data, meta_bdev)?;
        if fresh {
            format_volume(&vol, &c, dev_blocks, name)?;
        } else {
            check_superblock(&vol, &c, name)?;
        }
        let n = kernel::cpu::nr_cpu_ids()
            .saturating_mul(LANES_PER_CPU)
            .clamp(1, MAX_LANES) as usize;
        let lanes = lane::Lanes::new(&vol, n).map_err(ctr_err(c"Cannot allocate memory"))?;
        let timer = Periodic::new(lanes.queue_handle(), vol.clone())
            .map_err(ctr_err(c"Cannot allocate memory"))?;
        KBox::pin(
            VdoQat {
                dev,
                vol,
                timer,
                lanes,
                low_water: c.low_water,
                metadata_blocks: c.metadata_blocks,
                commit_period_ms: c.commit_period_ms,
                max_refs: c.max_refs,
                _claim: claim,
            },
            GFP_KERNEL,
        )
        .map_err(|_| CtrError::new(c"Cannot allocate memory", ENOMEM))
    }

    fn dtr(this: Pin<KBox<Self>>, _ti: &Target) {
        // Stop the timer, drain the lanes (their workqueue), then the last
        // commit; the claim goes last.
        let VdoQat {
            vol,
            timer,
            lanes,
            _claim,
            ..
        } = KBox::into_inner(Pin::into_inner(this));
        drop(timer);
        drop(lanes);
        vol.quiesce();
        vol.close();
        drop(_claim);
    }

    fn map(&self, ti: &Target, bio: OwnedBio<'static>) -> Mapping {
        let lbn = match bio.op() {
            Op::Read | Op::Write if bio.size() > 0 => {
                bio.sector().saturating_sub(ti.begin()) / SECTORS_PER_BLOCK
            }
            _ => 0,
        };
        self.lanes.queue(lbn, bio);
        Mapping::submitted()
    }

    fn preresume(&self, ti: &Target) -> Result {
        self.vol.open(ti.device_name().to_str().unwrap_or("?"))?;
        self.timer.start(self.vol.opts.commit_period_ms);
        Ok(())
    }

    fn postsuspend(&self, _ti: &Target) {
        // Commit, then close: a table reload opens the volume again in the
        // new table's preresume, from what is on the device.
        self.timer.stop();
        self.vol.quiesce();
        self.vol.close();
    }

    fn status(&self, _ti: &Target, kind: StatusType, out: &mut BufWriter<'_>) {
        // Output that does not fit is truncated by `BufWriter`; device-mapper
        // retries with a larger buffer when it sees a full one.
        let _ = match kind {
            StatusType::Info => self.vol.write_status(out),
            StatusType::Table => self.write_table(out),
            StatusType::Ima => write!(
                out,
                "target_name=vdo_qat,target_version={}.{}.{};",
                VERSION[0], VERSION[1], VERSION[2]
            ),
        };
    }

    fn message(&self, ti: &Target, mut args: Args<'_>, out: &mut BufWriter<'_>) -> Result {
        let name = ti.device_name().to_str().unwrap_or("?");
        let r = (|| -> Result<(), args::ArgError> {
            match args.next_str("message")? {
                "stats" => {
                    args.finish("end of message")?;
                    let _ = self.vol.write_stats(out);
                }
                "compression" => {
                    let what = "auto|accel|software|off";
                    let p = config::Policy::parse(args.next_str(what)?)
                        .ok_or_else(|| args.error_at_previous(what, args::ArgErrorKind::Invalid))?;
                    args.finish("end of message")?;
                    self.vol.engine.set_policy(p);
                    pr_info!("{}: compression {}\n", name, p.name());
                }
                "dedup" => {
                    let on = match args.next_str("on|off")? {
                        "on" => true,
                        "off" => false,
                        _ => {
                            return Err(args.error_at_previous("on|off", args::ArgErrorKind::Invalid))
                        }
                    };
                    args.finish("end of message")?;
                    self.vol.set_dedup(on);
                    pr_info!("{}: dedup {}\n", name, if on { "on" } else { "off" });
                }
                "clear_needs_check" => {
                    args.finish("end of message")?;
                    if self.vol.clear_needs_check().is_err() {
                        return Err(args.error_at_previous("message", args::ArgErrorKind::Invalid));
                    }
                }
                "map" => {
                    let lbn = args.next_u64("LBN", 0, u64::MAX)?;
                    args.finish("end of message")?;
                    if self.vol.write_map(lbn, out).is_err() {
                        return Err(args.error_at_previous("LBN", args::ArgErrorKind::OutOfRange));
                    }
                }
                _ => return Err(args.error_at_previous("message", args::ArgErrorKind::Unknown)),
            }
            Ok(())
        })();
        r.map_err(|e| {
            pr_warn!(
                "{}: bad message: {} (known: stats, compression auto|accel|software|off, dedup on|off, map <lbn>, clear_needs_check)\n",
                name,
                format_args!("{}", e)
            );
            EINVAL
        })
    }

    fn iterate_devices(&self, ti: &Target, visitor: &mut DeviceVisitor<'_>) -> i32 {
        let sectors = self.dev.size_sectors().unwrap_or(ti.len());
        visitor.visit(&self.dev, 0, sectors)
    }

    fn io_hints(&self, _ti: &Target, limits: &mut QueueLimits<'_>) {
        limits.set_logical_block_size(limits.logical_block_size().max(512));
        limits.set_physical_block_size(4096);
        limits.set_io_min(4096);
        limits.set_io_opt(4096);
        // Whole ranges (max_discard_granularity), in 4 KiB blocks.
        limits.set_discard(4096, 1 << 21);
    }
}

impl VdoQat {
    fn write_table(&self, out: &mut BufWriter<'_>) -> core::fmt::Result {
        let c = config::Config {
            dev_path: c"",
            logical_blocks: self.vol.opts.logical_blocks,
            compression: self.vol.engine.policy(),
            dedup: self.vol.opts.dedup.load(Relaxed),
            index_mib: self.vol.opts.index_mib,
            low_water: self.low_water,
            metadata_blocks: self.metadata_blocks,
            commit_period_ms: self.commit_period_ms,
            max_refs: self.max_refs,
        };
        c.write_table(out, self.dev.name().to_str().unwrap_or("?"))
    }
}
