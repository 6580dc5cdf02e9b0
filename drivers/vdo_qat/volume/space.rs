// SPDX-License-Identifier: GPL-2.0

//! Space and durability: data block allocation, commits, passdown
//! discards, the commit timer and read-only failover.
//!
//! Data blocks are written out of place, into blocks that were free at the
//! last commit, and the metadata is a persistent-data transaction: a crash
//! returns the volume to its last commit.
//!
//! - **Commits** happen on PREFLUSH, FUA, discard, suspend, when freed
//!   blocks are needed, and every `commit_period` (default 1 s, as
//!   dm-thin) from the commit timer while anything is uncommitted. A
//!   commit waits for allocations whose mapping is not made yet
//!   (`Meta::inflight`), so no committed block is allocated without a
//!   mapping.
//! - **Passdown discards** of the blocks freed by a transaction are issued
//!   after its commit without any lock held. While they run, those blocks
//!   hold one extra reference in the (uncommitted) space map, so nothing
//!   can reuse them before the discard is done, and the pass counts as an
//!   allocation in flight so no commit can record the extra references.
//! - **Read-only failover** (as dm-thin's `abort_metadata` +
//!   `needs_check`): any metadata error aborts the transaction (the store
//!   is loaded again from the last commit, the dedup index emptied), sets
//!   [`format::FLAG_NEEDS_CHECK`] in the superblock with a commit of that
//!   last state, and the volume serves reads only. The flag survives
//!   suspend, reload and re-creation; only the `clear_needs_check` message
//!   clears it. Writes acknowledged since the last commit are lost then,
//!   as after a crash, and the next flush fails.

use super::{Meta, Mode, Volume};
use crate::format::{self, Superblock};
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::MutexGuard;
use kernel::time::Instant;
use kstor::blkdev::{BlockBuf, SECTORS_PER_BLOCK};
use kstor::pdata::{BlockManager, Store};

/// Freed PBN ranges, `(first, count)`, being discarded on the data device.
pub(super) struct Passdown {
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
    pub(super) fn alloc(&self, reserved: bool) -> Result<u64> {
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
                        return Ok(b);
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
    pub(super) fn reserve(&self, n: u64) -> Result {
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
    pub(super) fn unreserve(&self, n: u64) {
        if n > 0 {
            let mut m = self.meta.lock();
            m.reserved = m.reserved.saturating_sub(n);
        }
    }

    /// Whether blocks freed since the last commit would come back with a
    /// commit.
    pub(super) fn reclaimable(&self) -> bool {
        !self.meta.lock().freed.is_empty()
    }

    /// Ends an allocation (or passdown) in flight.
    pub(super) fn alloc_done(&self, m: &mut Meta) {
        m.inflight = m.inflight.saturating_sub(1);
        if m.inflight == 0 {
            self.meta_cv.notify_all();
        }
    }

    /// Drops the reference of a block allocated but never mapped.
    pub(super) fn release_block_locked(&self, m: &mut Meta, pbn: u64) -> Result {
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

    /// Commits the metadata transaction (waits for allocations in flight),
    /// then discards the blocks it freed on the data device.
    ///
    /// # Errors
    ///
    /// `EIO` in read-only mode or on a failed commit (which makes the
    /// volume read-only).
    pub fn commit(&self) -> Result {
        let mut m = self.meta.lock();
        let pd = self.commit_locked(&mut m, true)?;
        drop(m);
        if let Some(pd) = pd {
            self.pass_down(pd);
        }
        Ok(())
    }

    /// Commits under the lock. With `passdown`, the blocks the transaction
    /// freed get their extra reference and come back for
    /// [`Volume::pass_down`], to be called after the lock is dropped;
    /// without, they are allocatable at once.
    pub(super) fn commit_locked(
        &self,
        m: &mut MutexGuard<'_, Meta>,
        passdown: bool,
    ) -> Result<Option<Passdown>> {
        while m.inflight > 0 {
            m.commit_waiting = true;
            self.meta_cv.wait(m);
        }
        m.commit_waiting = false;
        self.meta_cv.notify_all();
        if !m.dirty {
            return Ok(None);
        }
        if m.mode != Mode::Normal {
            return Err(EIO);
        }
        let Meta { store, sb, .. } = &mut **m;
        let Some(store) = store.as_mut() else {
            return Err(EIO);
        };
        sb.generation += 1;
        let sbc = *sb;
        let r = store.commit(|b, mr, dr| {
            b[16..].fill(0);
            sbc.encode(b);
            Superblock::encode_roots(b, mr, dr);
        });
        if let Err(e) = r {
            self.fail_locked(m, e);
            return Err(EIO);
        }
        self.stats.commits.add(1, Relaxed);
        m.last_commit = Instant::now();
        m.dirty = false;
        m.epoch += 1;
        let mut freed = core::mem::take(&mut m.freed);
        if !passdown {
            freed.clear();
            m.freed = freed;
            return Ok(None);
        }
        Ok(self.hold_freed(m, freed))
    }

    /// Turns the blocks freed by the transaction just committed into
    /// ranges held by one extra reference each, for [`Volume::pass_down`].
    fn hold_freed(&self, m: &mut Meta, mut freed: KVVec<u64>) -> Option<Passdown> {
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
    pub(super) fn pass_down(&self, pd: Passdown) {
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

    /// Loads the store and superblock from the device (the last commit).
    pub(super) fn load_store(&self, name: &str) -> Result<(Store, Superblock)> {
        let bm = BlockManager::new(self.meta_bdev.clone_ref())?;
        let mut b = BlockBuf::new_zeroed(GFP_KERNEL)?;
        bm.read_block(0, true, &mut b)?;
        let dev_blocks = self.meta_bdev.size_sectors() / SECTORS_PER_BLOCK;
        let sb = Superblock::decode(&b, dev_blocks).map_err(|e| {
            pr_err!("{}: superblock refused: {:?}\n", name, e);
            EINVAL
        })?;
        let (mr, dr) = Superblock::roots(&b);
        let store = Store::open(bm, &mr, &dr).inspect_err(|e| {
            pr_err!("{}: cannot open metadata: error {}\n", name, e.to_errno());
        })?;
        Ok((store, sb))
    }

    /// Commits `m.sb` (with its flags) over an unchanged transaction: how
    /// the needs_check flag is set and cleared.
    fn commit_flags(&self, m: &mut Meta) -> Result {
        let Meta { store, sb, .. } = m;
        let store = store.as_mut().ok_or(EIO)?;
        sb.generation += 1;
        let sbc = *sb;
        store.commit(|b, mr, dr| {
            b[16..].fill(0);
            sbc.encode(b);
            Superblock::encode_roots(b, mr, dr);
        })?;
        self.stats.commits.add(1, Relaxed);
        Ok(())
    }

    /// Records needs_check on the device; if that fails, remembers to do
    /// it at the next open.
    pub(super) fn record_needs_check(&self, m: &mut Meta) {
        m.sb.flags |= format::FLAG_NEEDS_CHECK;
        match self.commit_flags(m) {
            Ok(()) => self.needs_check_pending.store(false, Relaxed),
            Err(e) => {
                pr_err!(
                    "vdo_qat: cannot record needs_check on the device (error {}): will retry at the next resume\n",
                    e.to_errno()
                );
                self.needs_check_pending.store(true, Relaxed);
            }
        }
    }

    /// Aborts the transaction after metadata error `e` and enters
    /// read-only mode (see the module documentation).
    pub(super) fn fail_locked(&self, m: &mut Meta, e: Error) {
        if m.mode != Mode::Normal {
            return;
        }
        pr_err!(
            "vdo_qat: metadata operation failed (error {}): transaction aborted, volume is now read-only (needs_check)\n",
            e.to_errno()
        );
        m.mode = Mode::ReadOnly;
        self.read_only.store(true, Relaxed);
        self.stats.aborts.add(1, Relaxed);
        m.aborts += 1;
        m.index.clear();
        m.freed.clear();
        m.dirty = false;
        m.reserved = 0;
        // Roll back to the last commit: what the abandoned transaction
        // allocated is free again there, and nothing may refer to it.
        m.store = None;
        match self.load_store("vdo_qat") {
            Ok((store, sb)) => {
                m.store = Some(store);
                m.sb = sb;
                self.record_needs_check(m);
            }
            Err(e) => {
                pr_err!(
                    "vdo_qat: cannot load the metadata again (error {}): every I/O fails\n",
                    e.to_errno()
                );
                self.needs_check_pending.store(true, Relaxed);
            }
        }
    }

    /// Leaves read-only mode on purpose (the `clear_needs_check` message),
    /// after the metadata was checked: clears the flag on the device.
    ///
    /// # Errors
    ///
    /// `EIO` if the metadata is not loaded or the commit fails.
    pub fn clear_needs_check(&self) -> Result {
        let mut m = self.meta.lock();
        if m.store.is_none() {
            return Err(EIO);
        }
        if m.mode == Mode::Normal && m.sb.flags & format::FLAG_NEEDS_CHECK == 0 {
            return Ok(());
        }
        m.sb.flags &= !format::FLAG_NEEDS_CHECK;
        self.commit_flags(&mut m)?;
        self.needs_check_pending.store(false, Relaxed);
        m.index.clear();
        m.mode = Mode::Normal;
        self.read_only.store(false, Relaxed);
        pr_info!("vdo_qat: needs_check cleared: volume is writable again\n");
        Ok(())
    }

    /// The commit timer: writes the open bin and commits whatever is not
    /// committed yet.
    pub(super) fn periodic(&self) {
        if self.meta.lock().store.is_none() {
            return;
        }
        self.write_bin();
        let _ = self.commit();
    }
}
