// SPDX-License-Identifier: GPL-2.0

//! The volume: block map, dedup, compression, packing, space and commits.
//!
//! Bios are split by device-mapper at 4 KiB boundaries (`max_io_len`), so
//! each read or write touches one LBN. `map` queues a bio on the lane of
//! its LBN (`lbn % lanes`); each lane is a work item on the volume's
//! unbound workqueue, so lanes run in parallel on all CPUs while the bios
//! of one LBN stay in order (read-modify-write of partial blocks needs
//! that). Discards (whole ranges) and flushes go to lane 0.
//!
//! A write, in its lane: copy the data (read-modify-write for a partial
//! block); an all-zero block just drops the mapping; otherwise SHA-256 it
//! and look it up in the dedup index; a hit is checked against the item
//! record's fingerprint and reference count before the stored copy is
//! shared. On a miss compress it with acomp deflate and frame a gzip
//! member: if the member fits the 90% rule it joins the packer bin
//! ([`pack`]) and the write is acknowledged once its packed block is
//! written and mapped; else the block is stored raw in a new data block,
//! acknowledged once written and mapped.
//!
//! Space, commits, passdown discards, the commit timer and read-only
//! failover: [`space`].
//!
//! Locking: `bin` (the packer) before `meta` (the metadata transaction,
//! the dedup index and the counters that must match them). `meta` is held
//! for metadata operations (btree lookups and updates, and commits, whose
//! metadata I/O happens under it as in dm-thin), never across data I/O,
//! passdown discards or inflation; `bin` is held to change or copy the
//! packer's state, never across I/O or inflation. A discard releases
//! `meta` between chunks of [`DISCARD_CHUNK`] blocks.

mod pack;
mod space;

use crate::compress::engine::{self, Engine, Probe};
use crate::compress::{gzip, heuristic};
use crate::config::Policy;
use crate::dedup::{self, Index, Slot};
use crate::format::{self, Item, Loc, Share, Superblock, BLOCK};
use pack::{Bin, Frag};
use core::fmt::Write;
use kernel::alloc::KVVec;
use kernel::new_condvar;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, CondVar, Mutex, SpinLock};
use kernel::time::{Instant, Monotonic};
use kernel::workqueue::{Work, WorkItem};
use kstor::acomp::{Acomp, Job, Tfm};
use kstor::bio::{BioList, Op, OwnedBio, Status};
use kstor::blkdev::{Bdev, BlockBuf, SECTORS_PER_BLOCK};
use kstor::crc32::crc32;
use kstor::dm::EventNotifier;
use kstor::hash::sha256;
use kstor::pdata::{BlockManager, Store};
use kstor::wq::{OwnedQueue, Tick};
use kstor::zlib::Inflater;

/// Counters reported by `status` and the `stats` message. Exact: each is
/// bumped once per event.
pub struct Stats {
    /// Read bios.
    pub reads: Atomic<u64>,
    /// Write bios with data.
    pub writes: Atomic<u64>,
    /// Empty PREFLUSH bios.
    pub flushes: Atomic<u64>,
    /// Writes with FUA.
    pub fua: Atomic<u64>,
    /// Discard bios.
    pub discards: Atomic<u64>,
    /// Writes shorter than a block (read-modify-write).
    pub partial_writes: Atomic<u64>,
    /// Blocks written as all zeros (stored as unmapped).
    pub zero_blocks: Atomic<u64>,
    /// Writes that shared an existing copy.
    pub dedup_hits: Atomic<u64>,
    /// Blocks stored as gzip fragments.
    pub compressed: Atomic<u64>,
    /// Blocks stored raw (incompressible, over 90%, or compression off).
    pub raw: Atomic<u64>,
    /// Packed blocks written.
    pub packed_blocks: Atomic<u64>,
    /// Fragments read whose gzip CRC-32 or length did not match.
    pub crc_errors: Atomic<u64>,
    /// Writes failed for lack of space.
    pub enospc: Atomic<u64>,
    /// Metadata commits.
    pub commits: Atomic<u64>,
    /// Data blocks discarded on the data device after being freed.
    pub discards_passed: Atomic<u64>,
    /// Compressions that failed with an error other than "no room".
    pub compress_errors: Atomic<u64>,
    /// Reads retried because the mapping changed under them.
    pub read_retries: Atomic<u64>,
    /// Dedup index hits refused because the item record holds other
    /// content (a stale entry, dropped).
    pub stale_hits: Atomic<u64>,
    /// Dedup hits on a copy already shared `max_refs` times: a new
    /// copy was stored instead.
    pub refs_full: Atomic<u64>,
    /// Packed blocks whose writes failed (never acknowledged).
    pub packed_failed: Atomic<u64>,
    /// Data block writes that failed.
    pub write_errors: Atomic<u64>,
    /// Metadata transactions aborted by an error (read-only failover).
    pub aborts: Atomic<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            reads: Atomic::new(0),
            writes: Atomic::new(0),
            flushes: Atomic::new(0),
            fua: Atomic::new(0),
            discards: Atomic::new(0),
            partial_writes: Atomic::new(0),
            zero_blocks: Atomic::new(0),
            dedup_hits: Atomic::new(0),
            compressed: Atomic::new(0),
            raw: Atomic::new(0),
            packed_blocks: Atomic::new(0),
            crc_errors: Atomic::new(0),
            enospc: Atomic::new(0),
            commits: Atomic::new(0),
            discards_passed: Atomic::new(0),
            compress_errors: Atomic::new(0),
            read_retries: Atomic::new(0),
            stale_hits: Atomic::new(0),
            refs_full: Atomic::new(0),
            packed_failed: Atomic::new(0),
            write_errors: Atomic::new(0),
            aborts: Atomic::new(0),
        }
    }
}

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

/// State under the metadata lock.
struct Meta {
    store: Option<Store>,
    sb: Superblock,
    index: Index<KVVec<Slot>>,
    /// PBNs freed since the last commit: discarded after it (those still
    /// free then).
    freed: KVVec<u64>,
    dirty: bool,
    mode: Mode,
    /// Allocations whose mapping is not inserted yet; commits wait for 0.
    inflight: u32,
    /// A commit is waiting: new allocations wait.
    commit_waiting: bool,
    /// Commits in this session.
    epoch: u64,
    /// When the last commit (or open) happened.
    last_commit: Instant<Monotonic>,
    low_water_raised: bool,
    /// Transactions aborted (read-only failover) in this session.
    aborts: u64,
    /// Data blocks reserved by the packer for writes it acknowledged.
    reserved: u64,
    /// Superblock generation when the store was last closed cleanly: the
    /// dedup index was built against exactly that metadata.
    closed_at: Option<u64>,
}

/// A vdo_qat volume.
#[pin_data]
pub struct Volume {
    #[pin]
    meta: Mutex<Meta>,
    #[pin]
    meta_cv: CondVar,
    #[pin]
    bin: Mutex<Bin>,
    /// Data device, for data I/O outside the metadata lock.
    data: Bdev,
    /// Second reference, for the block manager at each open.
    meta_bdev: Bdev,
    data_start: Atomic<u64>,
    /// First sector of the target in the mapped device (`ti->begin`).
    begin: u64,
    /// Mirrors of `meta.sb.logical_blocks` and of read-only mode, read by
    /// every bio without the metadata lock.
    logical_blocks: Atomic<u64>,
    read_only: Atomic<bool>,
    /// needs_check could not be written when it was set: write it at the
    /// next open.
    needs_check_pending: Atomic<bool>,
    /// The options.
    pub opts: Options,
    /// The counters.
    pub stats: Stats,
    events: EventNotifier,
    /// Software compressor's driver name.
    driver: [u8; 32],
    /// Compression policy, accelerator health and their counters.
    #[pin]
    pub engine: Engine,
}

/// Writes a lane gathers before it waits for the accelerator: with 4
/// lanes per CPU, up to 32 compressions per CPU are in flight.
const BATCH: usize = 8;

type Digest = [u8; dedup::DIGEST_LEN];

/// Resources of one lane (used by its work item only).
struct LaneRes {
    /// Software deflate (`deflate-generic`).
    sw: Option<Acomp>,
    inflater: Inflater,
    /// Reads; probe output check.
    data: BlockBuf,
    rbuf: BlockBuf,
    /// One per write of a batch: its data (source) and gzip member
    /// (destination).
    jobs: KVec<Job>,
    /// Jobs whose accelerator request timed out: kept until the device
    /// completes them, since it may still write their buffers.
    stuck: KVec<Job>,
    /// A job ready to replace one set aside, so that a stuck request
    /// needs no allocation to be worked around.
    spare: Option<Job>,
}

/// Where a write of a batch stands after its first pass.
enum Step {
    Placed(Result<Placed>),
    /// Compressing on the accelerator.
    Accel {
        lbn: u64,
        digest: Option<Digest>,
        tfm: Arc<Tfm>,
    },
    /// Same data as a write of the batch still being compressed: redone
    /// after it is placed, so that it deduplicates against it.
    Deferred,
}

/// One lane: a queue of bios and the work item that drains it.
#[pin_data]
pub struct Lane {
    vol: Arc<Volume>,
    #[pin]
    queue: SpinLock<BioList>,
    #[pin]
    res: Mutex<LaneRes>,
    #[pin]
    work: Work<Lane>,
}

kernel::impl_has_work! {
    impl HasWork<Self> for Lane { self.work }
}

impl WorkItem for Lane {
    type Pointer = Arc<Lane>;

    fn run(this: Arc<Lane>) {
        loop {
            // Gather writes of distinct LBNs (their order does not matter);
            // anything else ends the batch and is handled after it.
            let mut batch: [Option<OwnedBio<'static>>; BATCH] = Default::default();
            let mut lbns = [0u64; BATCH];
            let mut n = 0;
            let mut carry = None;
            while n < BATCH {
                let Some(bio) = this.queue.lock().pop() else {
                    break;
                };
                match this.vol.batchable(&bio) {
                    Some(lbn) if !lbns[..n].contains(&lbn) => {
                        lbns[n] = lbn;
                        batch[n] = Some(bio);
                        n += 1;
                    }
                    _ => {
                        carry = Some(bio);
                        break;
                    }
                }
            }
            if n == 0 && carry.is_none() {
                break;
            }
            {
                let mut res = this.res.lock();
                kstor::wq::noio(|| {
                    if n > 0 {
                        this.vol.write_batch(&mut res, &mut batch[..n]);
                    }
                    if let Some(bio) = carry {
                        this.vol.handle(&mut res, bio);
                    }
                });
            }
            // Free jobs the device finally completed, releasing their
            // transform (and the provider's module).
            kstor::wq::noio(|| this.res.lock().stuck.retain(|j| j.wait(0) == Err(ETIMEDOUT)));
        }
    }
}

/// The lanes and their workqueue.
pub struct Lanes {
    lanes: KVec<Arc<Lane>>,
    wq: Arc<OwnedQueue>,
}

impl Lanes {
    /// `n` lanes over `vol`, each with its own compressor (if `deflate` is
    /// available) and inflater.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new(vol: &Arc<Volume>, n: usize) -> Result<Self> {
        let wq = Arc::new(OwnedQueue::new(c"vdo_qat")?, GFP_KERNEL)?;
        let mut lanes = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let mut jobs = KVec::with_capacity(BATCH, GFP_KERNEL)?;
            for _ in 0..BATCH {
                jobs.push(Job::new()?, GFP_KERNEL)?;
            }
            let res = LaneRes {
                sw: Acomp::new_software(c"deflate").ok(),
                inflater: Inflater::new(GFP_KERNEL)?,
                data: BlockBuf::new_zeroed(GFP_KERNEL)?,
                rbuf: BlockBuf::new_zeroed(GFP_KERNEL)?,
                jobs,
                stuck: KVec::new(),
                spare: Some(Job::new()?),
            };
            let lane = Arc::pin_init(
                pin_init!(Lane {
                    vol: vol.clone(),
                    queue <- kernel::new_spinlock!(BioList::new()),
                    res <- new_mutex!(res),
                    work <- kernel::new_work!("vdo_qat::Lane"),
                }),
                GFP_KERNEL,
            )?;
            lanes.push(lane, GFP_KERNEL)?;
        }
        Ok(Lanes { lanes, wq })
    }

    /// The lanes' workqueue (for the commit timer).
    pub fn queue_handle(&self) -> Arc<OwnedQueue> {
        self.wq.clone()
    }

    /// Queues `bio` on the lane of `lbn`.
    pub fn queue(&self, lbn: u64, bio: OwnedBio<'static>) {
        let n = self.lanes.len().max(1) as u64;
        let Some(lane) = self.lanes.get((lbn % n) as usize) else {
            bio.end(Status::ioerr());
            return;
        };
        lane.queue.lock().push(bio);
        // Fails only if already queued, in which case it will see the bio.
        let _ = self.wq.enqueue(lane.clone());
    }
}

fn errno_status(e: Error) -> Status {
    Status::from_error(e)
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

    fn low_water(&self, data_blocks: u64) -> u64 {
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

    /// Handles one bio (in its lane).
    fn handle(&self, res: &mut LaneRes, bio: OwnedBio<'static>) {
        match bio.op() {
            Op::Read => {
                self.stats.reads.add(1, Relaxed);
                let mut bio = bio;
                let r = self.read_bio(res, &mut bio);
                bio.end(match r {
                    Ok(()) => Status::OK,
                    Err(e) => errno_status(e),
                });
            }
            Op::Write if bio.size() == 0 => {
                self.stats.flushes.add(1, Relaxed);
                let r = self.flush();
                bio.end(match r {
                    Ok(()) => Status::OK,
                    Err(e) => errno_status(e),
                });
            }
            Op::Write => {
                self.stats.writes.add(1, Relaxed);
                if bio.is_fua() {
                    self.stats.fua.add(1, Relaxed);
                }
                self.upkeep(res);
                let r = self.write_slot(res, 0, &bio);
                self.complete_write(res, 0, bio, r);
            }
            Op::Discard => {
                self.stats.discards.add(1, Relaxed);
                let r = self.discard_bio(&bio);
                bio.end(match r {
                    Ok(()) => Status::OK,
                    Err(e) => errno_status(e),
                });
            }
            _ => bio.end(errno_status(EOPNOTSUPP)),
        }
    }

    /// The LBN of a one-block bio and its byte range inside the block.
    fn lbn_of(&self, bio: &OwnedBio<'_>, logical: u64) -> Result<(u64, usize, usize)> {
        let s = bio.sector().checked_sub(self.begin).ok_or(EIO)?;
        let lbn = s / SECTORS_PER_BLOCK;
        let off = ((s % SECTORS_PER_BLOCK) * 512) as usize;
        let len = bio.size() as usize;
        if lbn >= logical || off + len > BLOCK || len == 0 {
            return Err(EIO);
        }
        Ok((lbn, off, len))
    }

    fn logical(&self) -> u64 {
        self.logical_blocks.load(Relaxed)
    }

    fn read_bio(&self, res: &mut LaneRes, bio: &mut OwnedBio<'static>) -> Result {
        let (lbn, off, len) = self.lbn_of(bio, self.logical())?;
        let LaneRes {
            data,
            rbuf,
            inflater,
            ..
        } = res;
        self.read_lbn(lbn, data, rbuf, inflater)?;
        // Copy the bio's part of the block into its pages.
        let mut at = off;
        if let Some(segs) = bio.segments_mut() {
            for mut seg in segs {
                let n = seg.len() as usize;
                if at + n > off + len {
                    return Err(EIO);
                }
                seg.copy_from_slice(&data[at..at + n]);
                at += n;
            }
        }
        Ok(())
    }

    /// Reads LBN `lbn` into `out` (zeros if unmapped), using `rbuf` for the
    /// stored block.
    fn read_lbn(&self, lbn: u64, out: &mut BlockBuf, rbuf: &mut BlockBuf, inf: &mut Inflater) -> Result {
        if let Some(r) = self.read_from_bin(lbn, out, rbuf, inf) {
            return r;
        }
        for _ in 0..8 {
            let Some(loc) = self.lookup_map(lbn)? else {
                out.fill(0);
                return Ok(());
            };
            let ds = self.data_start.load(Relaxed);
            self.data.read_block((ds + loc.pbn) * SECTORS_PER_BLOCK, rbuf)?;
            let r = if loc.is_fragment() {
                self.decode_fragment(rbuf, loc, out, inf).inspect_err(|_| {
                    // Never share a copy that no longer reads back.
                    self.forget_digest(loc);
                })
            } else {
                out.copy_from_slice(&rbuf[..]);
                Ok(())
            };
            // The block may have been freed and reused while we read it
            // (the LBN remapped by a discard, or by a packed block written
            // from another lane): then read again. A freed block is
            // unmapped first and not reused before a commit.
            if self.lookup_map(lbn)? == Some(loc) {
                return r;
            }
            self.stats.read_retries.add(1, Relaxed);
        }
        Err(EIO)
    }

    /// Where LBN `lbn` is stored (`None`: unmapped). A metadata error or a
    /// corrupt mapping makes the volume read-only.
    fn lookup_map(&self, lbn: u64) -> Result<Option<Loc>> {
        let mut m = self.meta.lock();
        let (map_root, nb) = (m.sb.map_root, m.sb.data_blocks);
        let store = m.store.as_mut().ok_or(EIO)?;
        let r = store.lookup(map_root, lbn).and_then(|v| match v {
            None => Ok(None),
            Some(v) => Loc::decode(v, nb).map(Some).map_err(|_| {
                pr_err!("vdo_qat: corrupt mapping of LBN {}: {:#x}\n", lbn, v);
                EIO
            }),
        });
        if let Err(e) = r {
            self.fail_locked(&mut m, e);
        }
        r
    }

    /// Drops the dedup index entry of the item at `loc`.
    fn forget_digest(&self, loc: Loc) {
        let mut m = self.meta.lock();
        let Meta {
            store, sb, index, ..
        } = &mut *m;
        if let Some(store) = store.as_mut() {
            if let Ok(Some(v)) = store.lookup_wide(sb.item_root, loc.encode()) {
                let it = Item::decode(&v);
                if it.flags & format::ITEM_HAS_FP != 0 {
                    index.remove_loc(it.fp, loc.encode());
                }
            }
        }
    }

    fn decode_fragment(&self, blk: &BlockBuf, loc: Loc, out: &mut BlockBuf, inf: &mut Inflater) -> Result {
        let start = usize::from(loc.offset);
        let end = start + usize::from(loc.len);
        let bad = || {
            self.stats.crc_errors.add(1, Relaxed);
            EIO
        };
        let m = gzip::parse(blk.get(start..end).ok_or(EIO)?).map_err(|_| bad())?;
        let n = inf.inflate_raw(m.deflate, &mut out[..]).map_err(|_| bad())?;
        if n != BLOCK || m.isize != BLOCK as u32 || crc32(&out[..]) != m.crc32 {
            return Err(bad());
        }
        Ok(())
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

    /// The LBN of a write bio that can join a batch (one with data).
    fn batchable(&self, bio: &OwnedBio<'static>) -> Option<u64> {
        if bio.op() != Op::Write || bio.size() == 0 {
            return None;
        }
        self.lbn_of(bio, self.logical()).ok().map(|(lbn, _, _)| lbn)
    }

    /// Lane housekeeping before writes: frees jobs the accelerator finally
    /// completed, replaces a job left in flight, and probes the
    /// accelerator when a probe is due.
    fn upkeep(&self, res: &mut LaneRes) {
        res.stuck.retain(|j| j.wait(0) == Err(ETIMEDOUT));
        if res.spare.is_none() {
            res.spare = Job::new().ok();
        }
        for i in 0..res.jobs.len() {
            if res.jobs.get(i).is_some_and(|j| j.in_flight()) {
                Self::set_aside(res, i);
            }
        }
        let LaneRes {
            jobs,
            inflater,
            data,
            stuck,
            ..
        } = res;
        let Some(job) = jobs.get_mut(0) else {
            return;
        };
        // A lane whose earlier request is still stuck on the device does
        // not probe it again: a hung device stalls each lane once.
        if stuck.is_empty()
            && self.engine.claim_probe()
            && matches!(self.engine.probe(job, inflater, &mut data[..]), Probe::Stuck)
        {
            Self::set_aside(res, 0);
        }
    }

    /// Moves job `i`, still in flight, to the stuck list and puts the
    /// spare job (or a new one) with a copy of its source in its place.
    /// Without either it stays (its source is still readable; the next
    /// upkeep tries again).
    fn set_aside(res: &mut LaneRes, i: usize) {
        let Some(mut fresh) = res.spare.take().or_else(|| Job::new().ok()) else {
            return;
        };
        let Some(job) = res.jobs.get_mut(i) else {
            return;
        };
        if let Ok(src) = fresh.src_mut() {
            src.copy_from_slice(&job.src()[..]);
        }
        core::mem::swap(job, &mut fresh);
        // On failure `fresh` is dropped: its `Drop` waits, then leaks.
        let _ = res.stuck.push(fresh, GFP_KERNEL);
    }

    /// Handles a batch of writes to distinct LBNs: prepares each one
    /// (compressions go to the accelerator asynchronously, all in flight
    /// at once), then collects and places them in order.
    fn write_batch(&self, res: &mut LaneRes, bios: &mut [Option<OwnedBio<'static>>]) {
        self.upkeep(res);
        let accel = self.engine.accel();
        let mut steps: [Option<Step>; BATCH] = Default::default();
        let mut pending: [Option<Digest>; BATCH] = [None; BATCH];
        for (i, slot) in bios.iter().enumerate().take(BATCH) {
            let Some(bio) = slot.as_ref() else {
                continue;
            };
            self.stats.writes.add(1, Relaxed);
            if bio.is_fua() {
                self.stats.fua.add(1, Relaxed);
            }
            let step = self
                .prepare(res, i, bio, accel.as_ref(), &pending[..i])
                .unwrap_or_else(|e| Step::Placed(Err(e)));
            if let Step::Accel { digest, .. } = &step {
                pending[i] = *digest;
            }
            steps[i] = Some(step);
        }
        // One deadline for the batch: a stuck device costs it one timeout,
        // not one per request.
        let submitted = Instant::<Monotonic>::now();
        for (i, slot) in bios.iter_mut().enumerate().take(BATCH) {
            let (Some(bio), Some(step)) = (slot.take(), steps[i].take()) else {
                continue;
            };
            let r = match step {
                Step::Placed(r) => r,
                Step::Accel { lbn, digest, tfm } => {
                    let waited = submitted.elapsed().as_millis().clamp(0, i64::from(u32::MAX));
                    let left = i64::from(engine::ACCEL_TIMEOUT_MS).saturating_sub(waited).max(0);
                    self.finish_accel(res, i, lbn, digest, &tfm, left as u32)
                }
                Step::Deferred => self.write_slot(res, i, &bio),
            };
            self.complete_write(res, i, bio, r);
        }
    }

    /// Writes `bio` with job `i`, waiting for its compression.
    fn write_slot(&self, res: &mut LaneRes, i: usize, bio: &OwnedBio<'static>) -> Result<Placed> {
        let accel = self.engine.accel();
        match self.prepare(res, i, bio, accel.as_ref(), &[])? {
            Step::Placed(r) => r,
            Step::Accel { lbn, digest, tfm } => {
                self.finish_accel(res, i, lbn, digest, &tfm, engine::ACCEL_TIMEOUT_MS)
            }
            Step::Deferred => Err(EIO),
        }
    }

    /// Ends a write bio, or hands it to the packer with its fragment (from
    /// job `i`'s destination), which acknowledges it once the fragment has
    /// a place (a FUA write once its packed block is mapped). A fragment
    /// that cannot join a bin for lack of memory is stored raw. FUA
    /// commits before the bio ends.
    fn complete_write(&self, res: &mut LaneRes, i: usize, bio: OwnedBio<'static>, r: Result<Placed>) {
        let (bio, r) = match r {
            Ok(Placed::Fragment(frag)) => {
                let (lbn, digest) = (frag.lbn, frag.digest);
                let Some(job) = res.jobs.get_mut(i) else {
                    bio.end(Status::ioerr());
                    return;
                };
                let joined = match job.dst_mut() {
                    Ok(dst) => self.add_to_bin(&dst[..], frag, bio),
                    Err(e) => Err((bio, e)),
                };
                match joined {
                    Ok(()) => return,
                    Err((bio, e)) if e == ENOMEM => {
                        let r = self.place_raw(lbn, job.src(), digest);
                        (bio, r)
                    }
                    Err((bio, e)) => (bio, Err(e)),
                }
            }
            r => (bio, r),
        };
        let r = match r {
            Ok(_) if bio.is_fua() => self.commit(),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        bio.end(match r {
            Ok(()) => Status::OK,
            Err(e) => errno_status(e),
        });
    }

    /// First pass of a write with job `i`: read-modify-write, zero check,
    /// dedup, compressibility check, then compression: submitted to the
    /// accelerator (`Step::Accel`), or done in software, or the block is
    /// stored raw.
    fn prepare(
        &self,
        res: &mut LaneRes,
        i: usize,
        bio: &OwnedBio<'static>,
        accel: Option<&Arc<Tfm>>,
        pending: &[Option<Digest>],
    ) -> Result<Step> {
        let (lbn, off, len) = self.lbn_of(bio, self.logical())?;
        if self.read_only.load(Relaxed) {
            return Err(EIO);
        }
        let LaneRes {
            sw,
            inflater,
            rbuf,
            jobs,
            ..
        } = res;
        let job = jobs.get_mut(i).ok_or(ENOMEM)?;
        let data = job.src_mut()?;
        if len < BLOCK {
            self.stats.partial_writes.add(1, Relaxed);
            self.read_lbn(lbn, data, rbuf, inflater)?;
        }
        let mut at = off;
        for seg in bio.segments() {
            let n = seg.len() as usize;
            if at + n > off + len {
                return Err(EIO);
            }
            seg.copy_to_slice(&mut data[at..at + n]);
            at += n;
        }
        if data.iter().all(|&b| b == 0) {
            self.stats.zero_blocks.add(1, Relaxed);
            self.set_mapping(lbn, None)?;
            return Ok(Step::Placed(Ok(Placed::Done)));
        }
        let digest = if self.opts.dedup.load(Relaxed) {
            Some(sha256(&data[..]))
        } else {
            None
        };
        if let Some(d) = &digest {
            if self.try_dedup(lbn, d)? {
                self.stats.dedup_hits.add(1, Relaxed);
                return Ok(Step::Placed(Ok(Placed::Done)));
            }
            if pending.iter().any(|p| p.as_ref() == Some(d)) {
                return Ok(Step::Deferred);
            }
        }
        let policy = self.engine.policy();
        if policy == Policy::Off {
            return Ok(Step::Placed(self.place_raw(lbn, job.src(), digest)));
        }
        if !heuristic::worth_compressing(&data[..]) {
            self.engine.stats.skipped.add(1, Relaxed);
            return Ok(Step::Placed(self.place_raw(lbn, job.src(), digest)));
        }
        let budget = gzip::deflate_budget(BLOCK);
        if let Some(tfm) = accel.filter(|_| policy.wants_accel()) {
            let dst = gzip::HEADER_LEN..gzip::HEADER_LEN + budget;
            if job.submit(tfm, true, BLOCK, dst).is_ok() {
                return Ok(Step::Accel {
                    lbn,
                    digest,
                    tfm: tfm.clone(),
                });
            }
            // Not submitted (no memory for a request): software below.
        }
        if policy != Policy::Accel {
            if let Some(frag) = self.compress_sw(sw, job, lbn, digest) {
                return Ok(Step::Placed(Ok(Placed::Fragment(frag))));
            }
        }
        Ok(Step::Placed(self.place_raw(lbn, job.src(), digest)))
    }

    /// Second pass of a write sent to the accelerator: waits for it (up to
    /// `wait_ms` more milliseconds), frames
    /// the member; on an overflow stores the block raw; on any other error
    /// or a timeout marks the accelerator failed and redoes the block in
    /// software (no error reaches the bio).
    fn finish_accel(
        &self,
        res: &mut LaneRes,
        i: usize,
        lbn: u64,
        digest: Option<Digest>,
        tfm: &Arc<Tfm>,
        wait_ms: u32,
    ) -> Result<Placed> {
        let r = res.jobs.get_mut(i).ok_or(EIO)?.wait(wait_ms);
        match r {
            Ok(dlen) => {
                self.engine.stats.offloaded.add(1, Relaxed);
                let job = res.jobs.get_mut(i).ok_or(EIO)?;
                if let Some(frag) = Self::frame(job, dlen, lbn, digest) {
                    return Ok(Placed::Fragment(frag));
                }
                return self.place_raw(lbn, job.src(), digest);
            }
            Err(e) if e == E2BIG || e == ENOSPC => {
                self.engine.stats.accel_overflows.add(1, Relaxed);
                let job = res.jobs.get(i).ok_or(EIO)?;
                return self.place_raw(lbn, job.src(), digest);
            }
            Err(e) => {
                self.engine.fail(tfm, e);
                self.engine.stats.fallback.add(1, Relaxed);
                if e == ETIMEDOUT {
                    // The device may still write this job's buffers.
                    Self::set_aside(res, i);
                }
            }
        }
        let LaneRes { sw, jobs, .. } = res;
        let job = jobs.get_mut(i).ok_or(EIO)?;
        if !job.in_flight() {
            if let Some(frag) = self.compress_sw(sw, job, lbn, digest) {
                return Ok(Placed::Fragment(frag));
            }
        }
        self.place_raw(lbn, job.src(), digest)
    }

    /// Compresses job's source in software into a gzip member at the start
    /// of its destination; `None` if it does not fit the 90% rule or the
    /// compressor failed.
    fn compress_sw(
        &self,
        sw: &mut Option<Acomp>,
        job: &mut Job,
        lbn: u64,
        digest: Option<Digest>,
    ) -> Option<Frag> {
        let ac = sw.as_mut()?;
        let budget = gzip::deflate_budget(BLOCK);
        let r = job.run_with(ac, true, BLOCK, gzip::HEADER_LEN..gzip::HEADER_LEN + budget);
        let dlen = match r {
            Ok(n) => n,
            Err(e) if e == ENOSPC || e == E2BIG => return None,
            Err(_) => {
                self.stats.compress_errors.add(1, Relaxed);
                return None;
            }
        };
        self.engine.stats.software.add(1, Relaxed);
        Self::frame(job, dlen, lbn, digest)
    }

    /// Frames the `dlen` deflate bytes in job's destination as a gzip
    /// member; `None` if it breaks the 90% rule.
    fn frame(job: &mut Job, dlen: usize, lbn: u64, digest: Option<Digest>) -> Option<Frag> {
        let (src, dst) = job.buffers().ok()?;
        let n = gzip::frame_in_place(&mut dst[..], dlen, crc32(&src[..]), BLOCK as u32).ok()?;
        (n <= gzip::max_member(BLOCK)).then(|| Frag::new(lbn, n as u16, digest))
    }

    /// Stores `data` raw for `lbn`.
    fn place_raw(&self, lbn: u64, data: &BlockBuf, digest: Option<Digest>) -> Result<Placed> {
        self.stats.raw.add(1, Relaxed);
        self.store_raw(lbn, data, digest)?;
        Ok(Placed::Done)
    }

    /// Shares the stored copy the index names for `digest`, if the item
    /// record confirms it (same fingerprint) and has room for another
    /// reference; maps `lbn` to it. `Ok(false)`: store the block.
    fn try_dedup(&self, lbn: u64, digest: &[u8; dedup::DIGEST_LEN]) -> Result<bool> {
        // Lock order: bin, then meta.
        let mut bin = self.bin.lock();
        let mut m = self.meta.lock();
        if m.mode != Mode::Normal {
            return Err(EIO);
        }
        let Some((slot, locv)) = m.index.lookup(digest) else {
            return Ok(false);
        };
        let looked = {
            let Meta { store, sb, .. } = &mut *m;
            let store = store.as_mut().ok_or(EIO)?;
            store.lookup_wide(sb.item_root, locv).map(|v| {
                let share = v.map_or(Share::Stale, |v| Item::decode(&v).share(digest, self.opts.max_refs));
                (share, Loc::decode(locv, sb.data_blocks))
            })
        };
        let (share, loc) = self.check_meta(&mut m, looked)?;
        let loc = match (share, loc) {
            (Share::Yes, Ok(loc)) => loc,
            (Share::Full, _) => {
                // The new copy replaces this entry in the index.
                self.stats.refs_full.add(1, Relaxed);
                return Ok(false);
            }
            _ => {
                self.stats.stale_hits.add(1, Relaxed);
                m.index.remove_if(slot, locv);
                return Ok(false);
            }
        };
        let r = self.item_get_locked(&mut m, loc);
        self.check_meta(&mut m, r)?;
        self.map_locked(&mut m, lbn, Some(loc))?;
        bin.supersede(lbn, lbn + 1);
        Ok(true)
    }

    /// Fails the volume on a metadata error from `r`.
    fn check_meta<T>(&self, m: &mut Meta, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.fail_locked(m, *e);
        }
        r
    }

    /// Takes one more reference on the item at `loc`.
    fn item_get_locked(&self, m: &mut Meta, loc: Loc) -> Result {
        let Meta { store, sb, .. } = m;
        let store = store.as_mut().ok_or(EIO)?;
        let locv = loc.encode();
        let mut item = Item::decode(&store.lookup_wide(sb.item_root, locv)?.ok_or(EIO)?);
        item.refs = item.refs.checked_add(1).ok_or(EOVERFLOW)?;
        sb.item_root = store.insert_wide(sb.item_root, locv, &item.encode())?;
        Ok(())
    }

    /// Stores `data` raw in a new block and maps `lbn` to it.
    fn store_raw(&self, lbn: u64, data: &BlockBuf, digest: Option<[u8; dedup::DIGEST_LEN]>) -> Result {
        let pbn = self.alloc(false)?;
        let ds = self.data_start.load(Relaxed);
        let w = self.data.write_block((ds + pbn) * SECTORS_PER_BLOCK, data, Default::default());
        // Lock order: bin, then meta; the mapping supersedes the packer's
        // fragments of the LBN in the same step (see `pack`).
        let mut bin = self.bin.lock();
        let mut m = self.meta.lock();
        let r = match w {
            Ok(()) => {
                let r = self.new_item_locked(&mut m, Loc::raw(pbn), digest.as_ref(), false, 1);
                self.check_meta(&mut m, r)
                    .and_then(|_| self.map_locked(&mut m, lbn, Some(Loc::raw(pbn))))
                    .inspect(|_| bin.supersede(lbn, lbn + 1))
            }
            Err(e) => {
                self.stats.write_errors.add(1, Relaxed);
                let _ = self.release_block_locked(&mut m, pbn);
                Err(e)
            }
        };
        self.alloc_done(&mut m);
        drop(m);
        drop(bin);
        r
    }

    /// Creates the item record of a stored copy (`refs` references, the
    /// fingerprint of `digest`), indexes its digest; `extra_ref` takes one
    /// more data-block reference (the second and later fragments of a
    /// packed block).
    fn new_item_locked(
        &self,
        m: &mut Meta,
        loc: Loc,
        digest: Option<&[u8; 32]>,
        extra_ref: bool,
        refs: u32,
    ) -> Result {
        if m.mode != Mode::Normal {
            return Err(EIO);
        }
        let Meta {
            store, sb, index, ..
        } = m;
        let store = store.as_mut().ok_or(EIO)?;
        if extra_ref {
            store.data_inc(loc.pbn)?;
        }
        if let Some(d) = digest {
            index.insert(d, loc.encode());
        }
        let item = Item {
            refs,
            ..Item::new(digest)
        };
        sb.item_root = store.insert_wide(sb.item_root, loc.encode(), &item.encode())?;
        sb.items += 1;
        Ok(())
    }

    /// Points `lbn` at `loc` (whose item already counts this reference),
    /// or unmaps it; releases the previous mapping's reference.
    fn map_locked(&self, m: &mut Meta, lbn: u64, loc: Option<Loc>) -> Result {
        if m.mode != Mode::Normal {
            return Err(EIO);
        }
        // Any metadata error, even ENOSPC, may leave a half-made update:
        // never commit it (dm-thin aborts the transaction likewise).
        let r = Self::map_inner(m, lbn, loc);
        if let Err(e) = r {
            self.fail_locked(m, e);
        }
        r
    }

    fn map_inner(m: &mut Meta, lbn: u64, loc: Option<Loc>) -> Result {
        let Meta {
            store,
            sb,
            index,
            freed,
            dirty,
            ..
        } = m;
        let store = store.as_mut().ok_or(EIO)?;
        let old = store.lookup(sb.map_root, lbn)?;
        match loc {
            Some(l) => sb.map_root = store.insert(sb.map_root, lbn, l.encode())?,
            None if old.is_some() => sb.map_root = store.remove(sb.map_root, lbn)?,
            None => {}
        }
        match (old.is_some(), loc.is_some()) {
            (false, true) => sb.mapped += 1,
            (true, false) => sb.mapped = sb.mapped.saturating_sub(1),
            _ => {}
        }
        *dirty = true;
        if let Some(o) = old {
            put_item(store, sb, index, freed, o)?;
        }
        Ok(())
    }

    /// Sets the mapping of `lbn` (no new item), superseding the packer's
    /// fragments of it in the same step.
    fn set_mapping(&self, lbn: u64, loc: Option<Loc>) -> Result {
        let mut bin = self.bin.lock();
        let mut m = self.meta.lock();
        self.map_locked(&mut m, lbn, loc)
            .inspect(|_| bin.supersede(lbn, lbn + 1))
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

    /// Unmaps the whole blocks of a discard bio, [`DISCARD_CHUNK`] blocks
    /// per hold of the metadata lock, then commits and passes the freed
    /// blocks down.
    fn discard_bio(&self, bio: &OwnedBio<'static>) -> Result {
        let s = bio.sector().checked_sub(self.begin).ok_or(EIO)?;
        let e = s + u64::from(bio.sectors());
        // Only whole blocks are unmapped.
        let b0 = s.div_ceil(SECTORS_PER_BLOCK);
        let b1 = (e / SECTORS_PER_BLOCK).min(self.logical());
        let mut c0 = b0;
        while c0 < b1 {
            let c1 = b1.min(c0.saturating_add(DISCARD_CHUNK));
            self.discard_range(c0, c1)?;
            c0 = c1;
        }
        if b0 >= b1 {
            return Ok(());
        }
        self.commit()
    }

    /// Unmaps LBNs `[b0, b1)` in one hold of the metadata lock.
    fn discard_range(&self, b0: u64, b1: u64) -> Result {
        let mut bin = self.bin.lock();
        bin.supersede(b0, b1);
        let mut m = self.meta.lock();
        drop(bin);
        if m.mode != Mode::Normal {
            return Err(EIO);
        }
        let r = (|| {
            let Meta {
                store,
                sb,
                index,
                freed,
                dirty,
                ..
            } = &mut *m;
            let store = store.as_mut().ok_or(EIO)?;
            let mut sbc = *sb;
            let mut root = sb.map_root;
            let n = store.remove_range(&mut root, b0, b1, |st, v| {
                put_item(st, &mut sbc, index, freed, v)
            })?;
            sbc.map_root = root;
            sbc.mapped = sbc.mapped.saturating_sub(n);
            *sb = sbc;
            *dirty = true;
            Ok(())
        })();
        self.check_meta(&mut m, r)
    }

    /// Sets dedup on or off.
    pub fn set_dedup(&self, on: bool) {
        self.opts.dedup.store(on, Relaxed);
    }

    /// The compressor new blocks go to: the accelerator's driver, the
    /// software one, or `none` (policy `off`, or `accel` without one).
    fn write_driver(&self, out: &mut impl Write) -> core::fmt::Result {
        let p = self.engine.policy();
        self.engine.with_driver(|d| match d {
            Some(d) if p.wants_accel() => out.write_str(d),
            _ if p == Policy::Auto || p == Policy::Software => out.write_str(self.sw_driver()),
            _ => out.write_str("none"),
        })
    }

    /// Writes the status line (see the admin guide).
    pub fn write_status(&self, out: &mut impl Write) -> core::fmt::Result {
        let m = self.meta.lock();
        let sb = m.sb;
        let mode = match (m.store.is_some(), m.mode) {
            (false, _) => "closed",
            (true, Mode::Normal) => "normal",
            (true, Mode::ReadOnly) => "read-only",
        };
        let lw = if m.low_water_raised { "low" } else { "ok" };
        let nc = if sb.flags & format::FLAG_NEEDS_CHECK != 0 {
            "needs_check"
        } else {
            "-"
        };
        drop(m);
        write!(
            out,
            "{} {} {} {} {} {} {} ",
            mode,
            sb.mapped,
            sb.logical_blocks,
            sb.phys_used,
            sb.data_blocks,
            sb.mapped - sb.items.min(sb.mapped),
            sb.items - sb.phys_used.min(sb.items),
        )?;
        self.write_driver(out)?;
        let e = &self.engine;
        write!(
            out,
            " {} {} {} {} {} {}",
            e.stats.offloaded.load(Relaxed),
            e.stats.fallback.load(Relaxed),
            lw,
            e.policy().name(),
            e.health().name(),
            nc
        )
    }

    /// Writes every counter, `key=value` separated by spaces.
    pub fn write_stats(&self, out: &mut impl Write) -> core::fmt::Result {
        let s = &self.stats;
        let e = &self.engine.stats;
        let m = self.meta.lock();
        let sb = m.sb;
        let idx_used = m.index.used();
        let idx_cap = m.index.capacity();
        let epoch = m.epoch;
        drop(m);
        write!(
            out,
            "reads={} writes={} flushes={} fua={} discards={} partial_writes={} zero_blocks={} \
             dedup_hits={} compressed={} raw={} packed_blocks={} crc_errors={} enospc={} \
             commits={} discards_passed={} compress_errors={} read_retries={} \
             stale_hits={} refs_full={} packed_failed={} write_errors={} aborts={} \
             needs_check={} max_refs={} commit_period_ms={} offloaded={} \
             sw_compressed={} fallback={} accel_errors={} accel_timeouts={} accel_overflows={} \
             skipped={} probes={} probes_ok={} accel={} \
             mapped={} items={} phys_used={} data_blocks={} logical_blocks={} \
             data_start={} generation={} epoch={} index_used={} index_capacity={} \
             compression={} dedup={} driver=",
            s.reads.load(Relaxed),
            s.writes.load(Relaxed),
            s.flushes.load(Relaxed),
            s.fua.load(Relaxed),
            s.discards.load(Relaxed),
            s.partial_writes.load(Relaxed),
            s.zero_blocks.load(Relaxed),
            s.dedup_hits.load(Relaxed),
            s.compressed.load(Relaxed),
            s.raw.load(Relaxed),
            s.packed_blocks.load(Relaxed),
            s.crc_errors.load(Relaxed),
            s.enospc.load(Relaxed),
            s.commits.load(Relaxed),
            s.discards_passed.load(Relaxed),
            s.compress_errors.load(Relaxed),
            s.read_retries.load(Relaxed),
            s.stale_hits.load(Relaxed),
            s.refs_full.load(Relaxed),
            s.packed_failed.load(Relaxed),
            s.write_errors.load(Relaxed),
            s.aborts.load(Relaxed),
            u32::from(sb.flags & format::FLAG_NEEDS_CHECK != 0),
            self.opts.max_refs,
            self.opts.commit_period_ms,
            e.offloaded.load(Relaxed),
            e.software.load(Relaxed),
            e.fallback.load(Relaxed),
            e.accel_errors.load(Relaxed),
            e.accel_timeouts.load(Relaxed),
            e.accel_overflows.load(Relaxed),
            e.skipped.load(Relaxed),
            e.probes.load(Relaxed),
            e.probes_ok.load(Relaxed),
            self.engine.health().name(),
            sb.mapped,
            sb.items,
            sb.phys_used,
            sb.data_blocks,
            sb.logical_blocks,
            sb.data_start,
            sb.generation,
            epoch,
            idx_used,
            idx_cap,
            self.engine.policy().name(),
            if self.opts.dedup.load(Relaxed) { "on" } else { "off" },
        )?;
        self.write_driver(out)
    }

    /// Writes where LBN `lbn` is stored: `unmapped`, or `<device sector of
    /// the block> <offset> <len> <refs>` (`len` 0: raw block).
    ///
    /// # Errors
    ///
    /// `EINVAL` beyond the logical size; metadata errors.
    pub fn write_map(&self, lbn: u64, out: &mut impl Write) -> Result {
        let mut m = self.meta.lock();
        let Meta { store, sb, .. } = &mut *m;
        if lbn >= sb.logical_blocks {
            return Err(EINVAL);
        }
        let store = store.as_mut().ok_or(EIO)?;
        match store.lookup(sb.map_root, lbn)? {
            None => {
                let _ = write!(out, "unmapped");
            }
            Some(v) => {
                let loc = Loc::decode(v, sb.data_blocks).map_err(|_| EIO)?;
                let it = Item::decode(&store.lookup_wide(sb.item_root, v)?.ok_or(EIO)?);
                let _ = write!(
                    out,
                    "{} {} {} {}",
                    (sb.data_start + loc.pbn) * SECTORS_PER_BLOCK,
                    loc.offset,
                    loc.len,
                    it.refs
                );
            }
        }
        Ok(())
    }
}

/// Most LBNs a discard unmaps per hold of the metadata lock.
const DISCARD_CHUNK: u64 = 4096;

impl Tick for Volume {
    fn tick(&self) {
        self.periodic();
    }
}

/// Where a write's data went.
enum Placed {
    /// Mapped (zero, dedup or raw).
    Done,
    /// Compressed into the job's destination, to be packed.
    Fragment(Frag),
}

/// Drops one reference of item `locv` (see [`Volume::put_item_locked`]).
fn put_item(
    store: &mut Store,
    sb: &mut Superblock,
    index: &mut Index<KVVec<Slot>>,
    freed: &mut KVVec<u64>,
    locv: u64,
) -> Result {
    let loc = Loc::decode(locv, sb.data_blocks).map_err(|_| EIO)?;
    let Some(iv) = store.lookup_wide(sb.item_root, locv)? else {
        pr_err!("vdo_qat: mapping to PBN {} has no item record\n", loc.pbn);
        return Err(EIO);
    };
    let mut item = Item::decode(&iv);
    if item.refs > 1 {
        item.refs -= 1;
        sb.item_root = store.insert_wide(sb.item_root, locv, &item.encode())?;
        return Ok(());
    }
    sb.item_root = store.remove_wide(sb.item_root, locv)?;
    sb.items = sb.items.saturating_sub(1);
    if item.flags & format::ITEM_HAS_FP != 0 {
        index.remove_loc(item.fp, locv);
    }
    if store.data_dec(loc.pbn)? == 0 {
        sb.phys_used = sb.phys_used.saturating_sub(1);
        freed.push(loc.pbn, GFP_KERNEL)?;
    }
    Ok(())
}
