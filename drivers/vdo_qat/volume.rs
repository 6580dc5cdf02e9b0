// SPDX-License-Identifier: GPL-2.0

//! The volume: its state and lifecycle (format, open, close, flush).
//!
//! Bios are split by device-mapper at 4 KiB boundaries (`max_io_len`), so
//! each read or write touches one LBN. The stages of the data path live
//! in files of their own:
//!
//! - [`crate::lane`]: queues and work items; a bio's dispatch.
//! - [`crate::write`]: a write's stages: read-modify-write, zero check,
//!   dedup, compression, placement (raw block or packer), acknowledgement.
//! - [`crate::compress`]: compressibility checker, accelerator and
//!   software compression, gzip framing.
//! - [`crate::pack`]: the packer (gzip members gathered into 4 KiB blocks).
//! - [`crate::space`]: data block allocation, reservations, passdown.
//! - [`crate::meta`]: the only user of the persistent-data store: block
//!   map, item records, commits, read-only failover.
//! - [`crate::read`]: reads (packer, lookup, read, inflate).
//! - [`crate::stats`]: counters, status and the `stats` message.
//!
//! Locking: `bin` (the packer) before `meta` (the metadata transaction,
//! the dedup index and the counters that must match them). `meta` is held
//! for metadata operations (btree lookups and updates, and commits, whose
//! metadata I/O happens under it as in dm-thin), never across data I/O,
//! passdown discards or inflation; `bin` is held to change or copy the
//! packer's state, never across I/O or inflation. A discard releases
//! `meta` between chunks of [`crate::write::DISCARD_CHUNK`] blocks.

use crate::compress::engine::Engine;
use crate::config::Policy;
use crate::dedup::{self, Index, Slot};
use crate::format::{self, Superblock, BLOCK};
use crate::meta::Meta;
use crate::pack::Bin;
use crate::stats::Stats;
use kernel::alloc::KVVec;
use kernel::new_condvar;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, CondVar, Mutex};
use kernel::time::Instant;
use kstor::acomp::Job;
use kstor::bio::OwnedBio;
use kstor::blkdev::{Bdev, BlockBuf, SECTORS_PER_BLOCK};
use kstor::dm::EventNotifier;
use kstor::pdata::{BlockManager, Store};
use kstor::wq::Tick;
use kstor::zlib::Inflater;

/// A SHA-256 digest of a 4 KiB block.
pub(crate) type Digest = [u8; dedup::DIGEST_LEN];

/// Volume mode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads and writes.
    Normal,
    /// Metadata failed (or needs_check is set): reads only, writes fail
    /// with EIO.
    ReadOnly,
}

/// Options from the table line and messages.
pub struct Options {
    /// Deduplicate new blocks.
    pub dedup: Atomic<bool>,
    /// Logical size, 4 KiB blocks.
    pub logical_blocks: u64,
    /// Low-water mark, free data blocks; `None`: 1/16 of them.
    pub low_water: Option<u64>,
    /// Metadata region at format; `None`: the default.
    pub metadata_blocks: Option<u64>,
    /// Index memory, MiB.
    pub index_mib: u64,
    /// Most LBNs one stored copy may be shared by.
    pub max_refs: u32,
    /// Commit timer period, milliseconds.
    pub commit_period_ms: u32,
}

/// A vdo_qat volume.
#[pin_data]
pub struct Volume {
    #[pin]
    pub(crate) meta: Mutex<Meta>,
    #[pin]
    pub(crate) meta_cv: CondVar,
    #[pin]
    pub(crate) bin: Mutex<Bin>,
    /// Data device, for data I/O outside the metadata lock.
    pub(crate) data: Bdev,
    /// Second reference, for the block manager at each open.
    pub(crate) meta_bdev: Bdev,
    pub(crate) data_start: Atomic<u64>,
    /// First sector of the target in the mapped device (`ti->begin`).
    pub(crate) begin: u64,
    /// Mirrors of `meta.sb.logical_blocks` and of read-only mode, read by
    /// every bio without the metadata lock.
    pub(crate) logical_blocks: Atomic<u64>,
    pub(crate) read_only: Atomic<bool>,
    /// needs_check could not be written when it was set: write it at the
    /// next open.
    pub(crate) needs_check_pending: Atomic<bool>,
    /// The options.
    pub opts: Options,
    /// The counters.
    pub stats: Stats,
    pub(crate) events: EventNotifier,
    /// Software compressor's driver name.
    pub(crate) driver: [u8; 32],
    /// Compression policy, accelerator health and their counters.
    #[pin]
    pub engine: Engine,
}

impl Volume {
    /// A closed volume on `data` (two references to the data device).
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new(
        data: Bdev,
        meta_bdev: Bdev,
        begin: u64,
        opts: Options,
        policy: Policy,
        events: EventNotifier,
        driver: &CStr,
    ) -> Result<Arc<Self>> {
        let nslots = dedup::slots_for_mib(opts.index_mib);
        let slots = KVVec::from_elem(Slot::default(), nslots, GFP_KERNEL)?;
        let mut name = [0u8; 32];
        let d = driver.to_bytes();
        let n = d.len().min(31);
        name[..n].copy_from_slice(&d[..n]);
        let bin = Bin::new()?;
        Arc::pin_init(
            pin_init!(Volume {
                meta <- new_mutex!(Meta {
                    store: None,
                    sb: Superblock::default(),
                    index: Index::new(slots),
                    freed: KVVec::new(),
                    dirty: false,
                    mode: Mode::Normal,
                    inflight: 0,
                    commit_waiting: false,
                    epoch: 0,
                    last_commit: Instant::now(),
                    low_water_raised: false,
                    aborts: 0,
                    reserved: 0,
                    closed_at: None,
                }),
                meta_cv <- new_condvar!(),
                bin <- new_mutex!(bin),
                data,
                meta_bdev,
                data_start: Atomic::new(0),
                begin,
                logical_blocks: Atomic::new(0),
                read_only: Atomic::new(false),
                needs_check_pending: Atomic::new(false),
                opts,
                stats: Stats::default(),
                events,
                driver: name,
                engine <- Engine::new(policy),
            }),
            GFP_KERNEL,
        )
    }

    /// The software compressor's driver name (`deflate-generic`).
    pub fn sw_driver(&self) -> &str {
        let n = self.driver.iter().position(|&b| b == 0).unwrap_or(32);
        core::str::from_utf8(&self.driver[..n]).unwrap_or("?")
    }

    pub(crate) fn low_water(&self, data_blocks: u64) -> u64 {
        self.opts.low_water.unwrap_or(data_blocks / 16)
    }

    /// Formats the device: `dev_blocks` 4 KiB blocks, `metadata` of them
    /// for metadata. Commits an empty volume.
    ///
    /// # Errors
    ///
    /// `EINVAL` if the device is too small, metadata or I/O errors.
    pub fn format(&self, dev_blocks: u64, metadata: u64) -> Result {
        if metadata < 2 || dev_blocks < metadata + 16 {
            return Err(EINVAL);
        }
        let data_blocks = (dev_blocks - metadata).min(format::MAX_PBN);
        let bm = BlockManager::new(self.meta_bdev.clone_ref())?;
        let mut store = Store::create(bm, metadata, data_blocks)?;
        let sb = Superblock {
            flags: 0,
            data_start: metadata,
            data_blocks,
            logical_blocks: self.opts.logical_blocks,
            map_root: store.btree_empty()?,
            item_root: store.btree_empty_wide()?,
            mapped: 0,
            items: 0,
            phys_used: 0,
            generation: 1,
        };
        store.commit(|b, m, d| {
            b[16..].fill(0);
            sb.encode(b);
            Superblock::encode_roots(b, m, d);
        })
    }

    /// Reads and checks the superblock without opening the metadata.
    ///
    /// # Errors
    ///
    /// `EILSEQ`/`ENOTBLK` for a bad checksum, `EINVAL` for a superblock
    /// that fails [`Superblock::decode`] (logged), I/O errors.
    pub fn read_superblock(&self, name: &str) -> Result<Superblock> {
        let bm = BlockManager::new(self.meta_bdev.clone_ref())?;
        let mut b = BlockBuf::new_zeroed(GFP_KERNEL)?;
        bm.read_block(0, true, &mut b).inspect_err(|e| {
            pr_err!("{}: superblock checksum or location bad (error {})\n", name, e.to_errno());
        })?;
        let dev_blocks = self.meta_bdev.size_sectors() / SECTORS_PER_BLOCK;
        Superblock::decode(&b, dev_blocks).map_err(|e| {
            pr_err!("{}: superblock refused: {:?}\n", name, e);
            EINVAL
        })
    }

    /// Opens the metadata if it is not open (first resume of this table):
    /// loads the superblock, then applies a grown logical size or data
    /// device, and commits those changes.
    ///
    /// # Errors
    ///
    /// As for [`Volume::read_superblock`]; `EINVAL` for a smaller logical
    /// size than the volume's; metadata errors.
    pub fn open(&self, name: &str) -> Result {
        let mut m = self.meta.lock();
        if m.store.is_none() {
            let (store, sb) = self.load_store(name)?;
            m.store = Some(store);
            m.sb = sb;
            // The index never outlives the metadata it was built against:
            // keep it only over a clean close and open of the same commit.
            if m.closed_at.take() != Some(sb.generation) {
                m.index.clear();
            }
            m.freed.clear();
            m.dirty = false;
            m.mode = if sb.flags & format::FLAG_NEEDS_CHECK != 0 {
                pr_warn!(
                    "{}: needs_check is set (an earlier metadata error): read-only until the \"clear_needs_check\" message\n",
                    name
                );
                Mode::ReadOnly
            } else {
                Mode::Normal
            };
            if self.needs_check_pending.load(Relaxed) && m.mode == Mode::Normal {
                pr_warn!("{}: recording the needs_check flag of an earlier metadata error\n", name);
                m.mode = Mode::ReadOnly;
                self.record_needs_check(&mut m);
            }
            self.data_start.store(sb.data_start, Relaxed);
        }
        if self.opts.logical_blocks < m.sb.logical_blocks {
            pr_err!(
                "{}: logical size {} blocks is smaller than the volume's {}: shrinking is not supported\n",
                name,
                self.opts.logical_blocks,
                m.sb.logical_blocks
            );
            return Err(EINVAL);
        }
        m.low_water_raised = false;
        self.read_only.store(m.mode != Mode::Normal, Relaxed);
        if m.mode != Mode::Normal {
            // Nothing changes on a volume that needs checking.
            self.logical_blocks.store(m.sb.logical_blocks, Relaxed);
            return Ok(());
        }
        if self.opts.logical_blocks > m.sb.logical_blocks {
            pr_info!(
                "{}: logical size grows from {} to {} blocks\n",
                name,
                m.sb.logical_blocks,
                self.opts.logical_blocks
            );
            m.sb.logical_blocks = self.opts.logical_blocks;
            m.dirty = true;
        }
        let dev_blocks = self.meta_bdev.size_sectors() / SECTORS_PER_BLOCK;
        let avail = dev_blocks
            .saturating_sub(m.sb.data_start)
            .min(format::MAX_PBN);
        if avail > m.sb.data_blocks {
            let extra = avail - m.sb.data_blocks;
            if let Some(s) = m.store.as_mut() {
                s.data_extend(extra)?;
            }
            pr_info!(
                "{}: data device grew: {} more data blocks\n",
                name,
                extra
            );
            m.sb.data_blocks = avail;
            m.dirty = true;
        }
        self.logical_blocks.store(m.sb.logical_blocks, Relaxed);
        self.commit_locked(&mut m, false).map(|_| ())
    }

    /// Writes the bin out, then commits; for suspend and teardown.
    pub fn quiesce(&self) {
        let _ = self.flush();
    }

    /// Drops the open metadata (after [`Volume::quiesce`]); the next
    /// [`Volume::open`] loads it again from the device. A table reload
    /// opens the new table's store only after the old one is closed here
    /// (postsuspend of the old table precedes preresume of the new one).
    pub fn close(&self) {
        let mut m = self.meta.lock();
        let clean = m.store.is_some() && !m.dirty && m.inflight == 0 && m.mode == Mode::Normal;
        m.closed_at = clean.then_some(m.sb.generation);
        if !clean {
            m.index.clear();
        }
        m.store = None;
        m.freed.clear();
        m.dirty = false;
    }

    /// The LBN of a one-block bio and its byte range inside the block.
    pub(crate) fn lbn_of(&self, bio: &OwnedBio<'_>, logical: u64) -> Result<(u64, usize, usize)> {
        let s = bio.sector().checked_sub(self.begin).ok_or(EIO)?;
        let lbn = s / SECTORS_PER_BLOCK;
        let off = ((s % SECTORS_PER_BLOCK) * 512) as usize;
        let len = bio.size() as usize;
        if lbn >= logical || off + len > BLOCK || len == 0 {
            return Err(EIO);
        }
        Ok((lbn, off, len))
    }

    pub(crate) fn logical(&self) -> u64 {
        self.logical_blocks.load(Relaxed)
    }

    /// Probes for the accelerator now if a probe is due (at creation, so
    /// that the first writes already find it).
    ///
    /// # Context
    ///
    /// Process context; may wait [`engine::ACCEL_TIMEOUT_MS`].
    pub fn probe_accel(&self) {
        let (Ok(mut job), Ok(mut inf), Ok(mut scratch)) = (
            Job::new(),
            Inflater::new(GFP_KERNEL),
            BlockBuf::new_zeroed(GFP_KERNEL),
        ) else {
            return;
        };
        if self.engine.claim_probe() {
            // A stuck probe job is dropped here: its `Drop` waits for the
            // device, then leaks the job rather than free what it may use.
            self.engine.probe(&mut job, &mut inf, &mut scratch[..]);
        }
    }

    /// Makes every acknowledged write durable: writes the open bin (its
    /// writes are not acknowledged yet, but a flush should not leave them
    /// waiting), then commits.
    ///
    /// # Errors
    ///
    /// [`Volume::commit`]'s errors.
    pub fn flush(&self) -> Result {
        self.write_bin();
        self.commit()
    }

    /// Sets dedup on or off.
    pub fn set_dedup(&self, on: bool) {
        self.opts.dedup.store(on, Relaxed);
    }
}

impl Tick for Volume {
    fn tick(&self) {
        self.periodic();
    }
}
