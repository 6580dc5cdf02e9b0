// SPDX-License-Identifier: GPL-2.0

//! Raw data writes in flight, and the map stage that ends them.
//!
//! A full-block write that is stored raw (incompressible, over the 90%
//! rule, compression off) and has no FUA does not keep its lane waiting:
//! the lane allocates its block, copies the data into a [`BlockIo`] and
//! submits it ([`Volume::submit_raw`]), then goes on with its next bios.
//! When the write ends, its [`IoDone`] callback (bio completion context)
//! links it on its lane's done list and queues the lane's map work
//! ([`Lane::map_done`]), which maps every finished write of the list in
//! one hold of the packer and metadata locks, then acknowledges them.
//!
//! Ordering: while a write of an LBN is in flight the LBN is locked in its
//! lane; later writes of it are parked and run, in order, once it is mapped
//! (as dm-vdo's LBN locks), so a mapping never goes back in time and a
//! partial write reads what the earlier write stored. A lane has at most
//! [`LANE_FLIGHT`] writes in flight; past that, and for FUA writes, a raw
//! write is stored synchronously as before.
//!
//! A flush or commit waits for the allocations in flight (`Meta::inflight`)
//! while the map work, a work item of its own, maps them: a lane waiting in
//! a commit never waits for itself.

use crate::dedup::DIGEST_LEN;
use crate::format::Loc;
use crate::lane::{errno_status, Lane};
use crate::meta::Meta;
use crate::pack::Bin;
use crate::volume::Volume;
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::Arc;
use kstor::aio::{BlockIo, IoDone};
use kstor::bio::{BioList, Op, OpFlags, OwnedBio, Status};
use kstor::blkdev::{BlockBuf, SECTORS_PER_BLOCK};

/// Most raw writes one lane keeps in flight.
pub(crate) const LANE_FLIGHT: usize = 32;

/// A raw block write in flight: its bio, its place, and its lane.
pub(crate) struct RawWrite {
    lane: Arc<Lane>,
    bio: Option<OwnedBio<'static>>,
    lbn: u64,
    pbn: u64,
    /// `Meta::aborts` when `pbn` was allocated.
    tag: u64,
    digest: Option<[u8; DIGEST_LEN]>,
    status: Status,
    /// The next finished write on the lane's done list.
    next: Option<KBox<BlockIo<RawWrite>>>,
}

impl IoDone for RawWrite {
    fn done(mut io: KBox<BlockIo<Self>>, status: Status) {
        io.ctx.status = status;
        let lane = io.ctx.lane.clone();
        lane.finished(io);
    }
}

/// A lane's writes in flight (under its `flight` lock, an IRQ-safe
/// spinlock: the done list is pushed from bio completion).
pub(crate) struct Flight {
    /// Finished writes, newest first, waiting for the map work.
    done: Option<KBox<BlockIo<RawWrite>>>,
    /// LBNs with a write in flight (at most [`LANE_FLIGHT`]).
    locked: KVec<u64>,
    /// Writes of locked LBNs, in arrival order.
    parked: BioList,
}

impl Flight {
    /// An empty record with room for [`LANE_FLIGHT`] LBNs.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub(crate) fn new() -> Result<Flight> {
        Ok(Flight {
            done: None,
            locked: KVec::with_capacity(LANE_FLIGHT, GFP_KERNEL)?,
            parked: BioList::new(),
        })
    }
}

impl Lane {
    /// Parks `bio`, a write of `lbn`, if a write of `lbn` is in flight;
    /// gives it back otherwise.
    pub(crate) fn park_if_locked(&self, lbn: u64, bio: OwnedBio<'static>) -> Option<OwnedBio<'static>> {
        let mut f = self.flight.lock();
        if f.locked.contains(&lbn) {
            f.parked.push(bio);
            return None;
        }
        Some(bio)
    }

    /// Locks `lbn` for a write in flight; false if the lane has
    /// [`LANE_FLIGHT`] in flight already.
    fn lock_lbn(&self, lbn: u64) -> bool {
        self.flight.lock().locked.push_within_capacity(lbn).is_ok()
    }

    /// Unlocks `lbn` and puts the parked writes back at the head of the
    /// lane's queue, in order; true if there were any.
    fn unlock_lbn(&self, lbn: u64) -> bool {
        let mut parked = {
            let mut f = self.flight.lock();
            if let Some(i) = f.locked.iter().position(|&l| l == lbn) {
                let _ = f.locked.remove(i);
            }
            if f.parked.is_empty() {
                return false;
            }
            core::mem::take(&mut f.parked)
        };
        let mut q = self.queue.lock();
        parked.append(&mut q);
        core::mem::swap(&mut *q, &mut parked);
        true
    }

    /// Links a finished write on the done list and queues the map work.
    ///
    /// # Context
    ///
    /// Bio completion: any context, no sleeping.
    fn finished(self: Arc<Self>, mut io: KBox<BlockIo<RawWrite>>) {
        {
            let mut f = self.flight.lock();
            io.ctx.next = f.done.take();
            f.done = Some(io);
        }
        self.queue_map();
    }

    /// The map stage: maps every finished write of the done list in one
    /// hold of the packer and metadata locks, then acknowledges them and
    /// unlocks their LBNs.
    pub(crate) fn map_done(self: &Arc<Self>) {
        loop {
            let Some(mut head) = self.flight.lock().done.take() else {
                return;
            };
            let vol = &self.vol;
            {
                let mut bin = vol.bin.lock();
                let mut m = vol.meta.lock();
                let mut cur = Some(&mut head);
                while let Some(io) = cur {
                    let w = &mut io.ctx;
                    let written = if w.status.is_ok() { Ok(()) } else { Err(EIO) };
                    let r = vol.map_raw_locked(&mut bin, &mut m, w.lbn, w.pbn, w.tag, w.digest.as_ref(), written);
                    w.status = match r {
                        Ok(()) => Status::OK,
                        Err(e) => errno_status(e),
                    };
                    cur = w.next.as_mut();
                }
            }
            let mut requeue = false;
            let mut cur = Some(head);
            while let Some(mut io) = cur {
                cur = io.ctx.next.take();
                requeue |= self.unlock_lbn(io.ctx.lbn);
                if let Some(bio) = io.ctx.bio.take() {
                    bio.end(io.ctx.status);
                }
            }
            if requeue {
                self.queue_lane();
            }
        }
    }
}

impl Volume {
    /// Maps `lbn` to the raw block `pbn` (allocated with `tag`, see
    /// [`Volume::alloc_tagged`]) once its write ended with `written`, or
    /// releases the block if the write failed; ends its allocation. A block
    /// of a transaction aborted since is left alone (it is free again in
    /// the reloaded metadata).
    ///
    /// # Errors
    ///
    /// The write's error; `EIO` after an abort; metadata errors
    /// (read-only failover).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_raw_locked(
        &self,
        bin: &mut Bin,
        m: &mut Meta,
        lbn: u64,
        pbn: u64,
        tag: u64,
        digest: Option<&[u8; DIGEST_LEN]>,
        written: Result,
    ) -> Result {
        let r = if m.aborts != tag {
            Err(EIO)
        } else if let Err(e) = written {
            self.stats.write_errors.add(1, Relaxed);
            let _ = self.release_block_locked(m, pbn);
            Err(e)
        } else {
            let r = self.new_item_locked(m, Loc::raw(pbn), digest, false, 1);
            self.check_meta(m, r)
                .and_then(|_| self.map_locked(m, lbn, Some(Loc::raw(pbn))))
                .inspect(|_| bin.supersede(lbn, lbn + 1))
        };
        self.alloc_done(m);
        r
    }

    /// Stores `data` raw for the write `bio` of `lbn` without waiting:
    /// allocates a block and submits the write; the lane's map work maps
    /// and acknowledges it. Gives `bio` back (`Err`) when the write cannot
    /// go in flight (the lane is full, no memory): store it synchronously
    /// then. Errors of the allocation end the bio.
    pub(crate) fn submit_raw(
        &self,
        lane: &Arc<Lane>,
        data: &BlockBuf,
        lbn: u64,
        digest: Option<[u8; DIGEST_LEN]>,
        bio: OwnedBio<'static>,
    ) -> Result<(), OwnedBio<'static>> {
        let ctx = RawWrite {
            lane: lane.clone(),
            bio: None,
            lbn,
            pbn: 0,
            tag: 0,
            digest,
            status: Status::OK,
            next: None,
        };
        let Ok(mut io) = BlockIo::new(&self.data, ctx, 1, GFP_KERNEL) else {
            return Err(bio);
        };
        let Ok(mut buf) = BlockBuf::new_zeroed(GFP_KERNEL) else {
            return Err(bio);
        };
        buf.copy_from_slice(&data[..]);
        if io.bufs.push(buf, GFP_KERNEL).is_err() || !lane.lock_lbn(lbn) {
            return Err(bio);
        }
        let (pbn, tag) = match self.alloc_tagged(false) {
            Ok(t) => t,
            Err(e) => {
                lane.unlock_lbn(lbn);
                bio.end(errno_status(e));
                return Ok(());
            }
        };
        io.ctx.pbn = pbn;
        io.ctx.tag = tag;
        self.stats.raw_async.add(1, Relaxed);
        io.ctx.bio = Some(bio);
        let sector = (self.data_start.load(Relaxed) + pbn) * SECTORS_PER_BLOCK;
        if let Err((mut io, e)) = io.submit(Op::Write, OpFlags::NONE, sector) {
            // Not submitted: end it here as a failed write.
            let mut bin = self.bin.lock();
            let mut m = self.meta.lock();
            let _ = self.map_raw_locked(&mut bin, &mut m, lbn, pbn, tag, None, Err(e));
            drop(m);
            drop(bin);
            lane.unlock_lbn(lbn);
            if let Some(bio) = io.ctx.bio.take() {
                bio.end(errno_status(e));
            }
        }
        Ok(())
    }
}
