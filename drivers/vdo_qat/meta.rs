// SPDX-License-Identifier: GPL-2.0

//! Metadata: the block map, item records, commits and read-only failover.
//! The only user of the persistent-data store ([`kstor::pdata::Store`]).
//!
//! The metadata is a persistent-data transaction: a crash returns the
//! volume to its last commit.
//!
//! - **Commits** happen on PREFLUSH, FUA, discard, suspend, when freed
//!   blocks are needed, and every `commit_period` (default 1 s, as
//!   dm-thin) from the commit timer while anything is uncommitted. A
//!   commit waits for allocations whose mapping is not made yet
//!   (`Meta::inflight`), so no committed block is allocated without a
//!   mapping.
//! - **Read-only failover** (as dm-thin's `abort_metadata` +
//!   `needs_check`): any metadata error aborts the transaction (the store
//!   is loaded again from the last commit, the dedup index emptied), sets
//!   [`format::FLAG_NEEDS_CHECK`] in the superblock with a commit of that
//!   last state, and the volume serves reads only. The flag survives
//!   suspend, reload and re-creation; only the `clear_needs_check` message
//!   clears it. Writes acknowledged since the last commit are lost then,
//!   as after a crash, and the next flush fails.

use crate::dedup::{Index, Slot};
use crate::format::{self, Item, Loc, Superblock};
use crate::space::Passdown;
use crate::volume::{Mode, Volume};
use core::fmt::Write;
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::MutexGuard;
use kernel::time::{Instant, Monotonic};
use kstor::blkdev::{BlockBuf, SECTORS_PER_BLOCK};
use kstor::pdata::{BlockManager, Store};

/// State under the metadata lock.
pub(crate) struct Meta {
    pub(crate) store: Option<Store>,
    pub(crate) sb: Superblock,
    pub(crate) index: Index<KVVec<Slot>>,
    /// PBNs freed since the last commit: discarded after it (those still
    /// free then).
    pub(crate) freed: KVVec<u64>,
    pub(crate) dirty: bool,
    pub(crate) mode: Mode,
    /// Allocations whose mapping is not inserted yet; commits wait for 0.
    pub(crate) inflight: u32,
    /// A commit is waiting: new allocations wait.
    pub(crate) commit_waiting: bool,
    /// Commits in this session.
    pub(crate) epoch: u64,
    /// When the last commit (or open) happened.
    pub(crate) last_commit: Instant<Monotonic>,
    pub(crate) low_water_raised: bool,
    /// Transactions aborted (read-only failover) in this session.
    pub(crate) aborts: u64,
    /// Data blocks reserved by the packer for writes it acknowledged.
    pub(crate) reserved: u64,
    /// Superblock generation when the store was last closed cleanly: the
    /// dedup index was built against exactly that metadata.
    pub(crate) closed_at: Option<u64>,
}

impl Volume {
    /// Where LBN `lbn` is stored (`None`: unmapped). A metadata error or a
    /// corrupt mapping makes the volume read-only.
    pub(crate) fn lookup_map(&self, lbn: u64) -> Result<Option<Loc>> {
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
    pub(crate) fn forget_digest(&self, loc: Loc) {
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

    /// Fails the volume on a metadata error from `r`.
    pub(crate) fn check_meta<T>(&self, m: &mut Meta, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.fail_locked(m, *e);
        }
        r
    }

    /// Takes one more reference on the item at `loc`.
    pub(crate) fn item_get_locked(&self, m: &mut Meta, loc: Loc) -> Result {
        let Meta { store, sb, .. } = m;
        let store = store.as_mut().ok_or(EIO)?;
        let locv = loc.encode();
        let mut item = Item::decode(&store.lookup_wide(sb.item_root, locv)?.ok_or(EIO)?);
        item.refs = item.refs.checked_add(1).ok_or(EOVERFLOW)?;
        sb.item_root = store.insert_wide(sb.item_root, locv, &item.encode())?;
        Ok(())
    }

    /// Creates the item record of a stored copy (`refs` references, the
    /// fingerprint of `digest`), indexes its digest; `extra_ref` takes one
    /// more data-block reference (the second and later fragments of a
    /// packed block).
    pub(crate) fn new_item_locked(
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
    pub(crate) fn map_locked(&self, m: &mut Meta, lbn: u64, loc: Option<Loc>) -> Result {
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

    pub(crate) fn map_inner(m: &mut Meta, lbn: u64, loc: Option<Loc>) -> Result {
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
    pub(crate) fn set_mapping(&self, lbn: u64, loc: Option<Loc>) -> Result {
        let mut bin = self.bin.lock();
        let mut m = self.meta.lock();
        self.map_locked(&mut m, lbn, loc)
            .inspect(|_| bin.supersede(lbn, lbn + 1))
    }

    /// Unmaps LBNs `[b0, b1)` in one hold of the metadata lock.
    pub(crate) fn discard_range(&self, b0: u64, b1: u64) -> Result {
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
    pub(crate) fn commit_locked(
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

    /// Loads the store and superblock from the device (the last commit).
    pub(crate) fn load_store(&self, name: &str) -> Result<(Store, Superblock)> {
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
    pub(crate) fn commit_flags(&self, m: &mut Meta) -> Result {
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
    pub(crate) fn record_needs_check(&self, m: &mut Meta) {
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
    pub(crate) fn fail_locked(&self, m: &mut Meta, e: Error) {
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
    pub(crate) fn periodic(&self) {
        if self.meta.lock().store.is_none() {
            return;
        }
        self.write_bin();
        let _ = self.commit();
    }
}

/// Drops one reference of item `locv` (see [`Volume::put_item_locked`]).
pub(crate) fn put_item(
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
