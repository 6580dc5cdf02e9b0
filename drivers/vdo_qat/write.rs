// SPDX-License-Identifier: GPL-2.0

//! The write path, in stage order.
//!
//! A write, in its lane: copy the data (read-modify-write for a partial
//! block); an all-zero block just drops the mapping; otherwise SHA-256 it
//! and look it up in the dedup index; a hit is checked against the item
//! record's fingerprint and reference count before the stored copy is
//! shared. On a miss compress it ([`crate::compress`]): if the gzip member
//! fits the 90% rule it joins the packer bin ([`crate::pack`]), which
//! acknowledges it once its space is reserved; else the block is stored
//! raw in a new data block, acknowledged once written and mapped.

use crate::compress::engine::{self};
use crate::compress::{gzip, heuristic};
use crate::config::Policy;
use crate::format::{Item, Loc, Share, BLOCK};
use crate::lane::{errno_status, Lane, LaneRes, BATCH};
use crate::meta::Meta;
use crate::pack::Frag;
use crate::volume::{Digest, Mode, Volume};
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;
use kernel::time::{Instant, Monotonic};
use kstor::acomp::Tfm;
use kstor::bio::{OwnedBio, Status};
use kstor::blkdev::{BlockBuf, SECTORS_PER_BLOCK};
use kstor::hash::sha256;

/// Most LBNs a discard unmaps per hold of the metadata lock.
pub(crate) const DISCARD_CHUNK: u64 = 4096;

/// Where a write of a batch stands after its first pass.
pub(crate) enum Step {
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

/// Where a write's data went.
pub(crate) enum Placed {
    /// Mapped (zero or dedup).
    Done,
    /// To be stored raw: the data is the job's source.
    Raw {
        /// The write's LBN.
        lbn: u64,
        /// Its digest, if dedup is on.
        digest: Option<Digest>,
    },
    /// Compressed into the job's destination, to be packed.
    Fragment(Frag),
}

impl Volume {
    /// Handles a batch of writes to distinct LBNs: prepares each one
    /// (compressions go to the accelerator asynchronously, all in flight
    /// at once), then collects and places them in order.
    pub(crate) fn write_batch(&self, lane: &Arc<Lane>, res: &mut LaneRes, bios: &mut [Option<OwnedBio<'static>>]) {
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
            self.complete_write(lane, res, i, bio, r);
        }
    }

    /// Writes `bio` with job `i`, waiting for its compression.
    pub(crate) fn write_slot(&self, res: &mut LaneRes, i: usize, bio: &OwnedBio<'static>) -> Result<Placed> {
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
    pub(crate) fn complete_write(
        &self,
        lane: &Arc<Lane>,
        res: &mut LaneRes,
        i: usize,
        bio: OwnedBio<'static>,
        r: Result<Placed>,
    ) {
        let (bio, r) = match r {
            Ok(Placed::Raw { lbn, digest }) => {
                let Some(job) = res.jobs.get(i) else {
                    bio.end(Status::ioerr());
                    return;
                };
                self.stats.raw.add(1, Relaxed);
                // Without FUA the write goes in flight; the lane goes on.
                let bio = if bio.is_fua() {
                    bio
                } else {
                    match self.submit_raw(lane, job.src(), lbn, digest, bio) {
                        Ok(()) => return,
                        Err(bio) => bio,
                    }
                };
                let r = self.store_raw(lbn, job.src(), digest).map(|_| Placed::Done);
                (bio, r)
            }
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
    pub(crate) fn prepare(
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
            return Ok(Step::Placed(Ok(Placed::Raw { lbn, digest })));
        }
        if !heuristic::worth_compressing(&data[..]) {
            self.engine.stats.skipped.add(1, Relaxed);
            return Ok(Step::Placed(Ok(Placed::Raw { lbn, digest })));
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
        Ok(Step::Placed(Ok(Placed::Raw { lbn, digest })))
    }

    /// Second pass of a write sent to the accelerator: waits for it (up to
    /// `wait_ms` more milliseconds), frames
    /// the member; on an overflow stores the block raw; on any other error
    /// or a timeout marks the accelerator failed and redoes the block in
    /// software (no error reaches the bio).
    pub(crate) fn finish_accel(
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
                return Ok(Placed::Raw { lbn, digest });
            }
            Err(e) if e == E2BIG || e == ENOSPC => {
                self.engine.stats.accel_overflows.add(1, Relaxed);
                return Ok(Placed::Raw { lbn, digest });
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
        Ok(Placed::Raw { lbn, digest })
    }

    /// Stores `data` raw for `lbn`.
    pub(crate) fn place_raw(&self, lbn: u64, data: &BlockBuf, digest: Option<Digest>) -> Result<Placed> {
        self.stats.raw.add(1, Relaxed);
        self.store_raw(lbn, data, digest)?;
        Ok(Placed::Done)
    }

    /// Shares the stored copy the index names for `digest`, if the item
    /// record confirms it (same fingerprint) and has room for another
    /// reference; maps `lbn` to it. `Ok(false)`: store the block.
    pub(crate) fn try_dedup(&self, lbn: u64, digest: &Digest) -> Result<bool> {
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

    /// Stores `data` raw in a new block and maps `lbn` to it, waiting
    /// for the write.
    pub(crate) fn store_raw(&self, lbn: u64, data: &BlockBuf, digest: Option<Digest>) -> Result {
        let (pbn, tag) = self.alloc_tagged(false)?;
        let ds = self.data_start.load(Relaxed);
        let w = self.data.write_block((ds + pbn) * SECTORS_PER_BLOCK, data, Default::default());
        // Lock order: bin, then meta; the mapping supersedes the packer's
        // fragments of the LBN in the same step (see `pack`).
        let mut bin = self.bin.lock();
        let mut m = self.meta.lock();
        self.map_raw_locked(&mut bin, &mut m, lbn, pbn, tag, digest.as_ref(), w)
    }
}
