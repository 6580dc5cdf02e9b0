// SPDX-License-Identifier: GPL-2.0

//! Lanes: per-LBN queues of bios and the work items that drain them.
//!
//! `map` queues a bio on the lane of its LBN (`lbn % lanes`); each lane is
//! a work item on the volume's unbound workqueue, so lanes run in parallel
//! on all CPUs while the bios of one LBN stay in order (read-modify-write
//! of partial blocks needs that). Discards (whole ranges) and flushes go
//! to lane 0. A lane gathers up to [`BATCH`] writes of distinct LBNs, so
//! that their compressions are in flight on the accelerator together.

use crate::compress::engine::Probe;
use crate::inflight::Flight;
use crate::volume::Volume;
use crate::write::DISCARD_CHUNK;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::{Arc, Mutex, SpinLock, SpinLockIrq};
use kernel::workqueue::{Work, WorkItem};
use kstor::acomp::{Acomp, Job};
use kstor::bio::{BioList, Op, OwnedBio, Status};
use kstor::blkdev::{BlockBuf, SECTORS_PER_BLOCK};
use kstor::wq::OwnedQueue;
use kstor::zlib::Inflater;

/// Writes a lane gathers before it waits for the accelerator: with 4
/// lanes per CPU, up to 32 compressions per CPU are in flight.
pub(crate) const BATCH: usize = 8;

/// Resources of one lane (used by its work item only).
pub(crate) struct LaneRes {
    /// Software deflate (`deflate-generic`).
    pub(crate) sw: Option<Acomp>,
    pub(crate) inflater: Inflater,
    /// Reads; probe output check.
    pub(crate) data: BlockBuf,
    pub(crate) rbuf: BlockBuf,
    /// One per write of a batch: its data (source) and gzip member
    /// (destination).
    pub(crate) jobs: KVec<Job>,
    /// Jobs whose accelerator request timed out: kept until the device
    /// completes them, since it may still write their buffers.
    pub(crate) stuck: KVec<Job>,
    /// A job ready to replace one set aside, so that a stuck request
    /// needs no allocation to be worked around.
    pub(crate) spare: Option<Job>,
}

/// One lane: a queue of bios, the work item that drains it, and the map
/// work that ends its raw writes in flight ([`crate::inflight`]).
#[pin_data]
pub(crate) struct Lane {
    pub(crate) vol: Arc<Volume>,
    #[pin]
    pub(crate) queue: SpinLock<BioList>,
    #[pin]
    res: Mutex<LaneRes>,
    /// Writes in flight (pushed from bio completion: IRQ-safe).
    #[pin]
    pub(crate) flight: SpinLockIrq<Flight>,
    #[pin]
    work: Work<Lane, 0>,
    #[pin]
    map_work: Work<Lane, 1>,
    wq: Arc<OwnedQueue>,
}

kernel::impl_has_work! {
    impl HasWork<Self, 0> for Lane { self.work }
    impl HasWork<Self, 1> for Lane { self.map_work }
}

impl Lane {
    /// Queues the lane's work (its bios).
    pub(crate) fn queue_lane(self: &Arc<Self>) {
        // Fails only if already queued, in which case it will see the bios.
        let _ = self.wq.enqueue::<Arc<Lane>, 0>(self.clone());
    }

    /// Queues the lane's map work (its finished writes).
    pub(crate) fn queue_map(self: &Arc<Self>) {
        let _ = self.wq.enqueue::<Arc<Lane>, 1>(self.clone());
    }

    /// The next bio to handle: parks writes of LBNs with a write in flight.
    fn next_bio(&self) -> Option<OwnedBio<'static>> {
        loop {
            let bio = self.queue.lock().pop()?;
            match self.vol.batchable(&bio) {
                Some(lbn) => {
                    if let Some(bio) = self.park_if_locked(lbn, bio) {
                        return Some(bio);
                    }
                }
                None => return Some(bio),
            }
        }
    }
}

impl WorkItem<0> for Lane {
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
                let Some(bio) = this.next_bio() else {
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
                        this.vol.write_batch(&this, &mut res, &mut batch[..n]);
                    }
                    // A write of an LBN of the batch may be in flight now.
                    let carry = carry.and_then(|bio| match this.vol.batchable(&bio) {
                        Some(lbn) => this.park_if_locked(lbn, bio),
                        None => Some(bio),
                    });
                    if let Some(bio) = carry {
                        this.vol.handle(&this, &mut res, bio);
                    }
                });
            }
            // Free jobs the device finally completed, releasing their
            // transform (and the provider's module).
            kstor::wq::noio(|| this.res.lock().stuck.retain(|j| j.wait(0) == Err(ETIMEDOUT)));
        }
    }
}

impl WorkItem<1> for Lane {
    type Pointer = Arc<Lane>;

    fn run(this: Arc<Lane>) {
        kstor::wq::noio(|| this.map_done());
    }
}

/// The lanes and their workqueue.
pub(crate) struct Lanes {
    lanes: KVec<Arc<Lane>>,
    wq: Arc<OwnedQueue>,
}

impl Drop for Lanes {
    fn drop(&mut self) {
        // No work item may drop the last reference to the queue (each lane
        // holds one): let them all finish while we hold ours.
        self.wq.drain();
    }
}

impl Lanes {
    /// `n` lanes over `vol`, each with its own compressor (if `deflate` is
    /// available) and inflater.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub(crate) fn new(vol: &Arc<Volume>, n: usize) -> Result<Self> {
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
            let flight = Flight::new()?;
            let lane_wq = wq.clone();
            let lane = Arc::pin_init(
                pin_init!(Lane {
                    vol: vol.clone(),
                    queue <- kernel::new_spinlock!(BioList::new()),
                    res <- new_mutex!(res),
                    flight <- kernel::new_spinlock_irq!(flight),
                    work <- kernel::new_work!("vdo_qat::Lane"),
                    map_work <- kernel::new_work!("vdo_qat::Lane::map"),
                    wq: lane_wq,
                }),
                GFP_KERNEL,
            )?;
            lanes.push(lane, GFP_KERNEL)?;
        }
        Ok(Lanes { lanes, wq })
    }

    /// The lanes' workqueue (for the commit timer).
    pub(crate) fn queue_handle(&self) -> Arc<OwnedQueue> {
        self.wq.clone()
    }

    /// Queues `bio` on the lane of `lbn`.
    pub(crate) fn queue(&self, lbn: u64, bio: OwnedBio<'static>) {
        let n = self.lanes.len().max(1) as u64;
        let Some(lane) = self.lanes.get((lbn % n) as usize) else {
            bio.end(Status::ioerr());
            return;
        };
        lane.queue.lock().push(bio);
        lane.queue_lane();
    }
}

pub(crate) fn errno_status(e: Error) -> Status {
    Status::from_error(e)
}

impl Volume {
    /// Handles one bio (in its lane).
    pub(crate) fn handle(&self, lane: &Arc<Lane>, res: &mut LaneRes, bio: OwnedBio<'static>) {
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
                self.complete_write(lane, res, 0, bio, r);
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

    /// Unmaps the whole blocks of a discard bio, [`DISCARD_CHUNK`] blocks
    /// per hold of the metadata lock, then commits and passes the freed
    /// blocks down.
    pub(crate) fn discard_bio(&self, bio: &OwnedBio<'static>) -> Result {
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

    /// The LBN of a write bio that can join a batch (one with data).
    pub(crate) fn batchable(&self, bio: &OwnedBio<'static>) -> Option<u64> {
        if bio.op() != Op::Write || bio.size() == 0 {
            return None;
        }
        self.lbn_of(bio, self.logical()).ok().map(|(lbn, _, _)| lbn)
    }

    /// Lane housekeeping before writes: frees jobs the accelerator finally
    /// completed, replaces a job left in flight, and probes the
    /// accelerator when a probe is due.
    pub(crate) fn upkeep(&self, res: &mut LaneRes) {
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
    pub(crate) fn set_aside(res: &mut LaneRes, i: usize) {
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
}
