// SPDX-License-Identifier: GPL-2.0

//! Space: data block allocation, the packer's reservations and passdown
//! discards.
//!
//! Data blocks are written out of place, into blocks that were free at the
//! last commit ([`crate::meta`]), so a crash returns the volume to its
//! last commit. An allocation counts as in flight until its mapping is
//! made (`Meta::inflight`); a commit waits for none to be in flight.
//!
//! **Passdown discards** of the blocks freed by a transaction are issued
//! after its commit without any lock held. While they run, those blocks
//! hold one extra reference in the (uncommitted) space map, so nothing can
//! reuse them before the discard is done, and the pass counts as an
//! allocation in flight so no commit can record the extra references.

use crate::meta::Meta;
use crate::volume::{Mode, Volume};
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kstor::blkdev::SECTORS_PER_BLOCK;

/// Freed PBN ranges, `(first, count)`, being discarded on the data device.
pub(crate) struct Passdown {
    ranges: KVVec<(u64, u64)>,
    /// `Meta::aborts` when the extra references were taken: an abort since
    /// then dropped them with its transaction.
    aborts: u64,
}

impl Volume {
    /// Allocates a data block (refcount 1), counting it in flight until
    /// [`Volume::alloc_done`]. With `reserved`, the block comes out of the
    /// packer's reservations ([`Volume::reserve`]); without, the blocks
    /// reserved are not touched. Commits once to reclaim freed blocks
    /// before failing with `ENOSPC`.
    ///
    /// # Errors
    ///
    /// `ENOSPC`, or `EIO` in read-only mode or on a metadata error (which
    /// makes the volume read-only).
    pub(crate) fn alloc(&self, reserved: bool) -> Result<u64> {
        self.alloc_tagged(reserved).map(|(b, _)| b)
    }

    /// [`Volume::alloc`], with the count of transactions aborted so far
    /// (`Meta::aborts`): a block allocated before an abort belongs to the
    /// abandoned transaction and must never be mapped or released.
    pub(crate) fn alloc_tagged(&self, reserved: bool) -> Result<(u64, u64)> {
        let mut raise = false;
        let r = (|| {
            let mut m = self.meta.lock();
            while m.commit_waiting {
                self.meta_cv.wait(&mut m);
            }
            let mut retried = false;
            loop {
                if m.mode != Mode::Normal {
                    return Err(EIO);
                }
                let held = m.reserved;
                let store = m.store.as_mut().ok_or(EIO)?;
                let free = store.data_nr_free().unwrap_or(0);
                let got = if reserved || free > held {
                    store.data_new_block()
                } else {
                    Err(ENOSPC)
                };
                match got {
                    Ok(b) => {
                        if reserved {
                            m.reserved = m.reserved.saturating_sub(1);
                        }
                        m.sb.phys_used += 1;
                        m.inflight += 1;
                        m.dirty = true;
                        let lw = self.low_water(m.sb.data_blocks);
                        if free.saturating_sub(1) < lw && !m.low_water_raised {
                            m.low_water_raised = true;
                            raise = true;
                        }
                        return Ok((b, m.aborts));
                    }
                    Err(e) if e == ENOSPC && !retried && !m.freed.is_empty() => {
                        retried = true;
                        // Without passdown: the freed blocks are needed now.
                        self.commit_locked(&mut m, false)?;
                    }
                    Err(e) => {
                        if e == ENOSPC {
                            self.stats.enospc.add(1, Relaxed);
                        } else {
                            self.fail_locked(&mut m, e);
                        }
                        return Err(e);
                    }
                }
            }
        })();
        if raise {
            pr_warn!("vdo_qat: free data blocks below the low-water mark\n");
            self.events.raise();
        }
        r
    }

    /// Reserves `n` data blocks for the packer, so that the writes it
    /// acknowledges can always be stored: they are taken by
    /// `alloc(true)`, or given back by [`Volume::unreserve`]. Does not
    /// commit (the caller holds the packer's lock).
    ///
    /// # Errors
    ///
    /// `ENOSPC` if fewer than `n` free blocks are left beyond those
    /// reserved already (with `Ok(true)` from [`Volume::reclaimable`], a
    /// commit may free some), `EIO` in read-only mode.
    pub(crate) fn reserve(&self, n: u64) -> Result {
        let mut m = self.meta.lock();
        if m.mode != Mode::Normal {
            return Err(EIO);
        }
        let held = m.reserved;
        let free = m.store.as_mut().ok_or(EIO)?.data_nr_free()?;
        if free < held + n {
            return Err(ENOSPC);
        }
        m.reserved += n;
        Ok(())
    }

    /// Gives back `n` reserved blocks that were not needed.
    pub(crate) fn unreserve(&self, n: u64) {
        if n > 0 {
            let mut m = self.meta.lock();
            m.reserved = m.reserved.saturating_sub(n);
        }
    }

    /// Whether blocks freed since the last commit would come back with a
    /// commit.
    pub(crate) fn reclaimable(&self) -> bool {
        !self.meta.lock().freed.is_empty()
    }

    /// Ends an allocation (or passdown) in flight.
    pub(crate) fn alloc_done(&self, m: &mut Meta) {
        m.inflight = m.inflight.saturating_sub(1);
        if m.inflight == 0 {
            self.meta_cv.notify_all();
        }
    }

    /// Drops the reference of a block allocated but never mapped.
    pub(crate) fn release_block_locked(&self, m: &mut Meta, pbn: u64) -> Result {
        if m.mode != Mode::Normal {
            return Err(EIO);
        }
        let r = (|| {
            let store = m.store.as_mut().ok_or(EIO)?;
            if store.data_dec(pbn)? == 0 {
                m.sb.phys_used = m.sb.phys_used.saturating_sub(1);
                m.freed.push(pbn, GFP_KERNEL)?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            self.fail_locked(m, e);
        }
        r
    }

    /// Turns the blocks freed by the transaction just committed into
    /// ranges held by one extra reference each, for [`Volume::pass_down`].
    pub(crate) fn hold_freed(&self, m: &mut Meta, mut freed: KVVec<u64>) -> Option<Passdown> {
        let Some(store) = m.store.as_mut() else {
            return None;
        };
        // A block freed and allocated again in the same transaction holds
        // live data now: keep only those still free.
        freed.retain(|b| matches!(store.data_count(*b), Ok(0)));
        freed.sort_unstable();
        let mut ranges = KVVec::new();
        let mut i = 0;
        while i < freed.len() {
            let start = freed[i];
            let mut j = i + 1;
            while j < freed.len() && freed[j] == freed[j - 1] + 1 {
                j += 1;
            }
            let n = (j - i) as u64;
            i = j;
            // A range that cannot be held is simply not discarded.
            if ranges.push((start, n), GFP_KERNEL).is_err() {
                break;
            }
            if store.data_inc_range(start, start + n).is_err() {
                let _ = ranges.pop();
                break;
            }
        }
        freed.clear();
        m.freed = freed;
        if ranges.is_empty() {
            return None;
        }
        m.inflight += 1;
        Some(Passdown {
            ranges,
            aborts: m.aborts,
        })
    }

    /// Discards the held ranges on the data device (no lock held), then
    /// drops their extra references.
    pub(crate) fn pass_down(&self, pd: Passdown) {
        let ds = self.data_start.load(Relaxed);
        for &(start, n) in pd.ranges.iter() {
            if self
                .data
                .discard((ds + start) * SECTORS_PER_BLOCK, n * SECTORS_PER_BLOCK)
                .is_ok()
            {
                self.stats.discards_passed.add(n, Relaxed);
            }
        }
        let mut m = self.meta.lock();
        if m.aborts == pd.aborts && m.mode == Mode::Normal {
            for &(start, n) in pd.ranges.iter() {
                let r = m
                    .store
                    .as_mut()
                    .ok_or(EIO)
                    .and_then(|s| s.data_dec_range(start, start + n));
                if let Err(e) = r {
                    self.fail_locked(&mut m, e);
                    break;
                }
            }
        }
        self.alloc_done(&mut m);
    }
}
