// SPDX-License-Identifier: GPL-2.0

//! Crash-consistent metadata over the kernel's persistent-data library
//! (`drivers/md/persistent-data`, the library dm-thin and dm-cache use).
//!
//! A [`Store`] lives on one block device in 4 KiB blocks:
//!
//! - block 0 is the superblock, checksummed (crc32c, as dm-thin's) by
//!   [`Store::commit`]; its bytes 16.. belong to the caller;
//! - the metadata space map (`dm_sm_metadata`) allocates btree nodes and
//!   bitmaps; the caller's data region is marked used in it at format so
//!   metadata is only ever placed before `data_start`;
//! - a data space map (`dm_sm_disk`) holds a 32-bit reference count per
//!   data block (block numbers relative to `data_start`);
//! - any number of btrees with 64-bit keys and 64-bit values, named by
//!   their root block numbers, which the caller keeps in its superblock.
//!
//! Nothing is overwritten in place: btree nodes are shadowed, and a block
//! freed in a transaction is not reallocated before the next commit. A
//! crash therefore leaves the state of the last [`Store::commit`]. The
//! caller keeps the same rule for its data blocks: a data block is written
//! only after [`Store::data_new_block`] handed it out.

use crate::bindings;
use crate::blkdev::{Bdev, BlockBuf, BLOCK_SIZE};
use core::ptr::NonNull;
use kernel::alloc::flags::__GFP_ZERO;
use kernel::error::to_result;
use kernel::prelude::*;

/// Bytes reserved for each space map root in the caller's superblock
/// (`dm_sm_root_size()` is 32 today; dm-thin reserves 128 too).
pub const SM_ROOT_SIZE: usize = 128;
/// First byte of the superblock that belongs to the caller (bytes 0..16
/// hold the checksum and the block number).
pub const SB_USER_OFFSET: usize = 16;
/// Bytes of a value in the btrees of [`Store::lookup_wide`] and
/// [`Store::insert_wide`].
pub const WIDE: usize = 16;
/// Most values one [`Store::remove_range`] step removes (a step covers at
/// most this many consecutive keys).
const LEAF_MAX: usize = 256;

/// The block manager of a device, before a [`Store`] is opened on it.
///
/// # Invariants
///
/// `bm` is a block manager over `bdev` (4 KiB blocks), owned here.
pub struct BlockManager {
    bm: NonNull<bindings::dm_block_manager>,
    bdev: Bdev,
}

// SAFETY: the block manager is internally locked (dm-bufio).
unsafe impl Send for BlockManager {}

impl BlockManager {
    /// A block manager over `bdev`, which it keeps.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new(bdev: Bdev) -> Result<Self> {
        let mut err = 0;
        // SAFETY: `bdev` is held for the life of the result.
        let bm = unsafe { bindings::kstor_bm_create(bdev.as_raw(), &mut err) };
        match NonNull::new(bm) {
            // INVARIANT: created above over `bdev`.
            Some(bm) => Ok(BlockManager { bm, bdev }),
            None => Err(Error::from_errno(err)),
        }
    }

    /// The device.
    pub fn bdev(&self) -> &Bdev {
        &self.bdev
    }

    /// Copies block `b` into `out`; with `superblock` set it is checked as
    /// a [`Store`] superblock first.
    ///
    /// # Errors
    ///
    /// `EILSEQ` (bad checksum) or `ENOTBLK` (wrong block number) for a
    /// superblock that fails its check, `ENODATA` beyond the end, I/O
    /// errors.
    pub fn read_block(&self, b: u64, superblock: bool, out: &mut BlockBuf) -> Result {
        let v = if superblock {
            &raw const bindings::kstor_sb_validator
        } else {
            core::ptr::null()
        };
        let mut blk: *mut bindings::dm_block = core::ptr::null_mut();
        // SAFETY: the block manager is valid; `blk` is an out-pointer.
        to_result(unsafe { bindings::dm_bm_read_lock(self.bm.as_ptr(), b, v.cast_mut(), &mut blk) })?;
        // SAFETY: a read lock gives BLOCK_SIZE readable bytes at the block's
        // data until it is unlocked below.
        unsafe {
            let data = bindings::kstor_block_data(blk).cast::<u8>();
            core::ptr::copy_nonoverlapping(data, out.as_mut_ptr(), BLOCK_SIZE);
            bindings::dm_bm_unlock(blk);
        }
        Ok(())
    }
}

impl Drop for BlockManager {
    fn drop(&mut self) {
        // SAFETY: owned; no locks are held (every lock is dropped before
        // the method that took it returns).
        unsafe { bindings::dm_block_manager_destroy(self.bm.as_ptr()) };
    }
}

/// Collects the values a btree removes (its `value_type.dec`).
struct Collector {
    info: bindings::dm_btree_info,
    c: bindings::kstor_collect,
    vals: [u64; LEAF_MAX],
}

/// Transaction manager, space maps and btrees on one device.
///
/// # Invariants
///
/// `tm` and `msm` were created together over `bm`; `dsm` over `tm`; all
/// are owned here. `info` and `collect.info` name `tm`, with 8-byte values
/// and one level; `info_wide` names `tm` with [`WIDE`]-byte values; `collect.info` has `dec = kstor_collect_dec` with context
/// `&collect.c`, whose `vals` points to `collect.vals` (boxed: stable).
pub struct Store {
    tm: NonNull<bindings::dm_transaction_manager>,
    msm: NonNull<bindings::dm_space_map>,
    dsm: NonNull<bindings::dm_space_map>,
    info: KBox<bindings::dm_btree_info>,
    /// As `info`, for btrees with [`WIDE`]-byte values.
    info_wide: KBox<bindings::dm_btree_info>,
    collect: KBox<Collector>,
    /// Created by [`Store::create`] and not committed yet: the superblock
    /// is written without reading (and checking) the old one.
    fresh: bool,
    // Dropped last (after the fields above, see `Drop`).
    bm: BlockManager,
}

// SAFETY: used under the caller's lock; persistent-data objects may move
// between threads.
unsafe impl Send for Store {}

fn sm_result(err: i32, p: *mut bindings::dm_space_map) -> Result<NonNull<bindings::dm_space_map>> {
    NonNull::new(p).ok_or_else(|| Error::from_errno(if err != 0 { err } else { -12 }))
}

impl Store {
    #[allow(clippy::type_complexity)]
    fn infos(
        tm: NonNull<bindings::dm_transaction_manager>,
    ) -> Result<(KBox<bindings::dm_btree_info>, KBox<bindings::dm_btree_info>, KBox<Collector>)> {
        let vt = bindings::dm_btree_value_type {
            context: core::ptr::null_mut(),
            size: 8,
            inc: None,
            dec: None,
            equal: None,
        };
        let info = KBox::new(
            bindings::dm_btree_info {
                tm: tm.as_ptr(),
                levels: 1,
                value_type: vt,
            },
            GFP_KERNEL,
        )?;
        let info_wide = KBox::new(
            bindings::dm_btree_info {
                tm: tm.as_ptr(),
                levels: 1,
                value_type: bindings::dm_btree_value_type {
                    size: WIDE as u32,
                    ..vt
                },
            },
            GFP_KERNEL,
        )?;
        // Zeroed on the heap: the 2 KiB of values never touch the stack.
        let collect = KBox::<Collector>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
        // SAFETY: all-zero bytes are a valid `Collector` (integers, null
        // pointers, `None` function pointers, `false`).
        let mut collect = unsafe { collect.assume_init() };
        collect.info.tm = tm.as_ptr();
        collect.info.levels = 1;
        collect.info.value_type = vt;
        collect.info.value_type.dec = Some(bindings::kstor_collect_dec);
        collect.c.cap = LEAF_MAX as u32;
        Ok((info, info_wide, collect))
    }

    /// Formats the device: a new transaction manager and metadata space map
    /// over blocks `[0, data_start)`, and an empty data space map of
    /// `data_blocks` blocks. Nothing is durable before [`Store::commit`].
    ///
    /// # Errors
    ///
    /// `EINVAL` if `data_start` is 0, `ENOMEM`, I/O errors.
    pub fn create(bm: BlockManager, data_start: u64, data_blocks: u64) -> Result<Self> {
        if data_start == 0 {
            return Err(EINVAL);
        }
        let mut tm = core::ptr::null_mut();
        let mut msm = core::ptr::null_mut();
        // SAFETY: `bm` is valid; out-pointers are valid.
        to_result(unsafe { bindings::dm_tm_create_with_sm(bm.bm.as_ptr(), 0, &mut tm, &mut msm) })?;
        let (tm, msm) = match (NonNull::new(tm), NonNull::new(msm)) {
            (Some(t), Some(m)) => (t, m),
            _ => return Err(ENOMEM),
        };
        let guard = PartialStore { tm, msm, dsm: None };
        // The metadata space map covers the whole device (up to its
        // 16 GiB limit): mark the data region used so it never allocates
        // there. Its own bitmaps, made just now, must lie below the data.
        let mut nr = 0u64;
        // SAFETY: `msm` is valid.
        to_result(unsafe { bindings::kstor_sm_get_nr_blocks(msm.as_ptr(), &mut nr) })?;
        if data_start < nr {
            let mut c = 0u32;
            // SAFETY: `msm` is valid and `data_start` lies within it.
            to_result(unsafe { bindings::kstor_sm_get_count(msm.as_ptr(), data_start, &mut c) })?;
            if c != 0 {
                return Err(EINVAL);
            }
            // SAFETY: `msm` is valid and the range lies within it.
            to_result(unsafe { bindings::kstor_sm_inc_blocks(msm.as_ptr(), data_start, nr) })?;
        }
        let mut err = 0;
        // SAFETY: `tm` is valid.
        let dsm = sm_result(err, unsafe { bindings::kstor_sm_disk_create(tm.as_ptr(), data_blocks, &mut err) })?;
        let mut store = guard.finish(bm, dsm)?;
        store.fresh = true;
        Ok(store)
    }

    /// Opens the store whose space map roots the caller saved in its
    /// superblock (as [`Store::commit`] handed them over).
    ///
    /// # Errors
    ///
    /// `EINVAL`/`EILSEQ` for corrupt roots or blocks, `ENOMEM`, I/O errors.
    pub fn open(bm: BlockManager, msm_root: &[u8; SM_ROOT_SIZE], dsm_root: &[u8; SM_ROOT_SIZE]) -> Result<Self> {
        let mut tm = core::ptr::null_mut();
        let mut msm = core::ptr::null_mut();
        // SAFETY: `bm` is valid; the root is a readable buffer of its length
        // (the callee copies it); out-pointers are valid.
        to_result(unsafe {
            bindings::dm_tm_open_with_sm(
                bm.bm.as_ptr(),
                0,
                msm_root.as_ptr().cast_mut().cast(),
                SM_ROOT_SIZE,
                &mut tm,
                &mut msm,
            )
        })?;
        let (tm, msm) = match (NonNull::new(tm), NonNull::new(msm)) {
            (Some(t), Some(m)) => (t, m),
            _ => return Err(ENOMEM),
        };
        let guard = PartialStore { tm, msm, dsm: None };
        let mut err = 0;
        // SAFETY: `tm` is valid; the root buffer is readable and copied.
        let dsm = sm_result(err, unsafe {
            bindings::kstor_sm_disk_open(tm.as_ptr(), dsm_root.as_ptr().cast_mut().cast(), SM_ROOT_SIZE, &mut err)
        })?;
        guard.finish(bm, dsm)
    }

    /// The device.
    pub fn bdev(&self) -> &Bdev {
        self.bm.bdev()
    }

    /// Makes everything since the last commit durable: commits the space
    /// maps, writes every shadowed block, then lets `fill` write the
    /// caller's part of the superblock (bytes [`SB_USER_OFFSET`]..) given
    /// the two space map roots, and writes the superblock after a flush.
    ///
    /// # Errors
    ///
    /// I/O errors; the store should then be dropped (the device keeps the
    /// previous commit).
    pub fn commit(
        &mut self,
        fill: impl FnOnce(&mut [u8; BLOCK_SIZE], &[u8; SM_ROOT_SIZE], &[u8; SM_ROOT_SIZE]),
    ) -> Result {
        let mut mroot = [0u8; SM_ROOT_SIZE];
        let mut droot = [0u8; SM_ROOT_SIZE];
        // SAFETY: the objects are valid (type invariant); buffers are
        // writable for their length.
        unsafe {
            to_result(bindings::kstor_sm_commit(self.dsm.as_ptr()))?;
            to_result(bindings::dm_tm_pre_commit(self.tm.as_ptr()))?;
            to_result(bindings::kstor_sm_copy_root(self.msm.as_ptr(), mroot.as_mut_ptr().cast(), SM_ROOT_SIZE))?;
            to_result(bindings::kstor_sm_copy_root(self.dsm.as_ptr(), droot.as_mut_ptr().cast(), SM_ROOT_SIZE))?;
        }
        let mut blk: *mut bindings::dm_block = core::ptr::null_mut();
        let v = (&raw const bindings::kstor_sb_validator).cast_mut();
        // SAFETY: the block manager is valid; block 0 is the superblock.
        // A fresh store's block 0 holds no superblock yet: lock it zeroed.
        to_result(unsafe {
            if self.fresh {
                bindings::dm_bm_write_lock_zero(self.bm.bm.as_ptr(), 0, v, &mut blk)
            } else {
                bindings::dm_bm_write_lock(self.bm.bm.as_ptr(), 0, v, &mut blk)
            }
        })?;
        // SAFETY: a write lock gives BLOCK_SIZE writable bytes, page-aligned
        // (dm-bufio), until `dm_tm_commit` unlocks the block.
        let data = unsafe { &mut *bindings::kstor_block_data(blk).cast::<[u8; BLOCK_SIZE]>() };
        fill(data, &mroot, &droot);
        // SAFETY: `blk` is the write-locked superblock; commit unlocks it.
        to_result(unsafe { bindings::dm_tm_commit(self.tm.as_ptr(), blk) })?;
        self.fresh = false;
        Ok(())
    }

    /// A new empty btree; returns its root.
    ///
    /// # Errors
    ///
    /// `ENOSPC` when metadata is full, I/O errors.
    pub fn btree_empty(&mut self) -> Result<u64> {
        let mut root = 0u64;
        // SAFETY: `info` is valid (type invariant); `root` is writable.
        to_result(unsafe { bindings::dm_btree_empty(&mut *self.info, &mut root) })?;
        Ok(root)
    }

    /// A new empty btree of [`WIDE`]-byte values (only ever used through
    /// the `_wide` methods: the node format records the value size);
    /// returns its root.
    ///
    /// # Errors
    ///
    /// `ENOSPC` when metadata is full, I/O errors.
    pub fn btree_empty_wide(&mut self) -> Result<u64> {
        let mut root = 0u64;
        // SAFETY: `info_wide` is valid (type invariant); `root` is writable.
        to_result(unsafe { bindings::dm_btree_empty(&mut *self.info_wide, &mut root) })?;
        Ok(root)
    }

    /// The value at `key` in the btree at `root`, or `None`.
    ///
    /// # Errors
    ///
    /// I/O errors or a corrupt node (`EILSEQ`, `EINVAL`).
    pub fn lookup(&mut self, root: u64, key: u64) -> Result<Option<u64>> {
        let mut k = key;
        let mut v = [0u8; 8];
        // SAFETY: valid info; `k` is one key (one level); `v` holds a value.
        let r = unsafe { bindings::dm_btree_lookup(&mut *self.info, root, &mut k, v.as_mut_ptr().cast()) };
        if r == -(bindings::ENODATA as i32) {
            return Ok(None);
        }
        to_result(r)?;
        Ok(Some(u64::from_le_bytes(v)))
    }

    /// The first entry with a key at or after `key`, or `None`.
    ///
    /// # Errors
    ///
    /// As for [`Store::lookup`].
    pub fn lookup_next(&mut self, root: u64, key: u64) -> Result<Option<(u64, u64)>> {
        let mut k = key;
        let mut rk = 0u64;
        let mut v = [0u8; 8];
        // SAFETY: as for `lookup`; `rk` receives the key found.
        let r = unsafe {
            bindings::dm_btree_lookup_next(&mut *self.info, root, &mut k, &mut rk, v.as_mut_ptr().cast())
        };
        if r == -(bindings::ENODATA as i32) {
            return Ok(None);
        }
        to_result(r)?;
        Ok(Some((rk, u64::from_le_bytes(v))))
    }

    /// Inserts or replaces `key` → `value`; returns the new root.
    ///
    /// # Errors
    ///
    /// `ENOSPC` when metadata is full, I/O errors.
    pub fn insert(&mut self, root: u64, key: u64, value: u64) -> Result<u64> {
        let mut k = key;
        let v = value.to_le_bytes();
        let mut new_root = 0u64;
        // SAFETY: valid info; the value is 8 readable bytes (copied).
        to_result(unsafe {
            bindings::dm_btree_insert(&mut *self.info, root, &mut k, v.as_ptr().cast_mut().cast(), &mut new_root)
        })?;
        Ok(new_root)
    }

    /// Removes `key`; returns the new root.
    ///
    /// # Errors
    ///
    /// `ENODATA` if absent, `ENOSPC`, I/O errors.
    pub fn remove(&mut self, root: u64, key: u64) -> Result<u64> {
        let mut k = key;
        let mut new_root = 0u64;
        // SAFETY: valid info and pointers.
        to_result(unsafe { bindings::dm_btree_remove(&mut *self.info, root, &mut k, &mut new_root) })?;
        Ok(new_root)
    }

    /// The [`WIDE`]-byte value at `key` in the btree at `root` (made by
    /// [`Store::btree_empty_wide`]), or `None`.
    ///
    /// # Errors
    ///
    /// As for [`Store::lookup`].
    pub fn lookup_wide(&mut self, root: u64, key: u64) -> Result<Option<[u8; WIDE]>> {
        let mut k = key;
        let mut v = [0u8; WIDE];
        // SAFETY: valid info (type invariant); `k` is one key; `v` holds a
        // value of the info's size.
        let r = unsafe { bindings::dm_btree_lookup(&mut *self.info_wide, root, &mut k, v.as_mut_ptr().cast()) };
        if r == -(bindings::ENODATA as i32) {
            return Ok(None);
        }
        to_result(r)?;
        Ok(Some(v))
    }

    /// Inserts or replaces `key` → `value` in a btree of [`WIDE`]-byte
    /// values; returns the new root.
    ///
    /// # Errors
    ///
    /// As for [`Store::insert`].
    pub fn insert_wide(&mut self, root: u64, key: u64, value: &[u8; WIDE]) -> Result<u64> {
        let mut k = key;
        let mut new_root = 0u64;
        // SAFETY: valid info; the value is WIDE readable bytes (copied).
        to_result(unsafe {
            bindings::dm_btree_insert(&mut *self.info_wide, root, &mut k, value.as_ptr().cast_mut().cast(), &mut new_root)
        })?;
        Ok(new_root)
    }

    /// Removes `key` from a btree of [`WIDE`]-byte values; returns the new
    /// root.
    ///
    /// # Errors
    ///
    /// As for [`Store::remove`].
    pub fn remove_wide(&mut self, root: u64, key: u64) -> Result<u64> {
        let mut k = key;
        let mut new_root = 0u64;
        // SAFETY: valid info and pointers.
        to_result(unsafe { bindings::dm_btree_remove(&mut *self.info_wide, root, &mut k, &mut new_root) })?;
        Ok(new_root)
    }

    /// Removes the entries with keys in `[begin, end)` from the btree at
    /// `*root`, in runs of at most 256 consecutive keys
    /// (`dm_btree_remove_leaves`), skipping unmapped stretches with one
    /// lookup, and calls `each(store, value)` for every removed value.
    /// Updates `*root` as it goes; returns the number removed.
    ///
    /// # Errors
    ///
    /// `ENOSPC`, I/O errors, or an error from `each` (the removal so far
    /// stands in the current transaction, under `*root`).
    pub fn remove_range(
        &mut self,
        root: &mut u64,
        begin: u64,
        end: u64,
        mut each: impl FnMut(&mut Self, u64) -> Result,
    ) -> Result<u64> {
        let mut total = 0u64;
        let mut cur = begin;
        while cur < end {
            let Some((k, _)) = self.lookup_next(*root, cur)? else {
                break;
            };
            if k >= end {
                break;
            }
            let mut key = k;
            let mut new_root = 0u64;
            let mut n: u32 = 0;
            self.collect.c.len = 0;
            self.collect.c.overflow = false;
            // Derived afresh for each call: nothing else writes `c` or
            // `vals` until it returns.
            self.collect.c.vals = self.collect.vals.as_mut_ptr();
            self.collect.info.value_type.context = (&raw mut self.collect.c).cast();
            // `dm_btree_remove_leaves` removes every key up to its end: cap
            // the step at as many keys as the collector holds.
            let step_end = end.min(k.saturating_add(LEAF_MAX as u64));
            // SAFETY: `collect.info` is valid with its collector (type
            // invariant); out-pointers are valid.
            to_result(unsafe {
                bindings::dm_btree_remove_leaves(&mut self.collect.info, *root, &mut key, step_end, &mut new_root, &mut n)
            })?;
            *root = new_root;
            if self.collect.c.overflow || n == 0 || self.collect.c.len != n {
                return Err(EINVAL);
            }
            // `each` never reaches the collector (it uses `info`).
            for i in 0..n as usize {
                let v = self.collect.vals.get(i).copied().ok_or(EINVAL)?;
                each(self, v)?;
            }
            total += u64::from(n);
            // `remove_leaves` stops at the first gap: go on from there.
            cur = key.max(k + 1);
        }
        Ok(total)
    }

    /// Allocates a data block (reference count 1), never one that was in
    /// use at the last commit.
    ///
    /// # Errors
    ///
    /// `ENOSPC` if no block is free now (blocks freed since the last commit
    /// come back after it).
    pub fn data_new_block(&mut self) -> Result<u64> {
        let mut b = 0u64;
        // SAFETY: `dsm` is valid.
        to_result(unsafe { bindings::kstor_sm_new_block(self.dsm.as_ptr(), &mut b) })?;
        Ok(b)
    }

    /// Adds one reference to data block `b`.
    ///
    /// # Errors
    ///
    /// `EINVAL` beyond the end, `ENOSPC`, I/O errors.
    pub fn data_inc(&mut self, b: u64) -> Result {
        // SAFETY: `dsm` is valid; out-of-range blocks are refused inside.
        to_result(unsafe { bindings::kstor_sm_inc_blocks(self.dsm.as_ptr(), b, b.saturating_add(1)) })
    }

    /// Drops one reference to data block `b`; returns the count left.
    ///
    /// # Errors
    ///
    /// As for [`Store::data_inc`].
    pub fn data_dec(&mut self, b: u64) -> Result<u32> {
        // SAFETY: as for `data_inc`.
        to_result(unsafe { bindings::kstor_sm_dec_blocks(self.dsm.as_ptr(), b, b.saturating_add(1)) })?;
        self.data_count(b)
    }

    /// Adds one reference to each data block of `[b, e)`.
    ///
    /// # Errors
    ///
    /// As for [`Store::data_inc`].
    pub fn data_inc_range(&mut self, b: u64, e: u64) -> Result {
        // SAFETY: `dsm` is valid; out-of-range blocks are refused inside.
        to_result(unsafe { bindings::kstor_sm_inc_blocks(self.dsm.as_ptr(), b, e) })
    }

    /// Drops one reference from each data block of `[b, e)`.
    ///
    /// # Errors
    ///
    /// As for [`Store::data_inc`].
    pub fn data_dec_range(&mut self, b: u64, e: u64) -> Result {
        // SAFETY: `dsm` is valid; out-of-range blocks are refused inside.
        to_result(unsafe { bindings::kstor_sm_dec_blocks(self.dsm.as_ptr(), b, e) })
    }

    /// The reference count of data block `b`.
    ///
    /// # Errors
    ///
    /// `EINVAL` beyond the end, I/O errors.
    pub fn data_count(&mut self, b: u64) -> Result<u32> {
        let mut c = 0u32;
        // SAFETY: `dsm` is valid.
        to_result(unsafe { bindings::kstor_sm_get_count(self.dsm.as_ptr(), b, &mut c) })?;
        Ok(c)
    }

    /// Data blocks in the space map.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn data_nr_blocks(&mut self) -> Result<u64> {
        let mut n = 0u64;
        // SAFETY: `dsm` is valid.
        to_result(unsafe { bindings::kstor_sm_get_nr_blocks(self.dsm.as_ptr(), &mut n) })?;
        Ok(n)
    }

    /// Data blocks free for allocation now.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn data_nr_free(&mut self) -> Result<u64> {
        let mut n = 0u64;
        // SAFETY: `dsm` is valid.
        to_result(unsafe { bindings::kstor_sm_get_nr_free(self.dsm.as_ptr(), &mut n) })?;
        Ok(n)
    }

    /// Adds `extra` data blocks (usable after the next commit).
    ///
    /// # Errors
    ///
    /// `ENOSPC` when metadata is full, I/O errors.
    pub fn data_extend(&mut self, extra: u64) -> Result {
        // SAFETY: `dsm` is valid.
        to_result(unsafe { bindings::kstor_sm_extend(self.dsm.as_ptr(), extra) })
    }

    /// Metadata blocks free (of the metadata region), for status.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn metadata_nr_free(&mut self) -> Result<u64> {
        let mut n = 0u64;
        // SAFETY: `msm` is valid.
        to_result(unsafe { bindings::kstor_sm_get_nr_free(self.msm.as_ptr(), &mut n) })?;
        Ok(n)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // dm-thin's order (__destroy_persistent_data_objects): data space
        // map, metadata space map, transaction manager; `bm` after.
        // SAFETY: owned objects (type invariant), destroyed once.
        unsafe {
            bindings::kstor_sm_destroy(self.dsm.as_ptr());
            bindings::kstor_sm_destroy(self.msm.as_ptr());
            bindings::dm_tm_destroy(self.tm.as_ptr());
        }
    }
}

/// Objects created so far by [`Store::create`]/[`Store::open`]; destroyed
/// on error.
struct PartialStore {
    tm: NonNull<bindings::dm_transaction_manager>,
    msm: NonNull<bindings::dm_space_map>,
    dsm: Option<NonNull<bindings::dm_space_map>>,
}

impl PartialStore {
    fn finish(mut self, bm: BlockManager, dsm: NonNull<bindings::dm_space_map>) -> Result<Store> {
        self.dsm = Some(dsm);
        let (info, info_wide, collect) = Store::infos(self.tm)?;
        let (tm, msm) = (self.tm, self.msm);
        core::mem::forget(self);
        // INVARIANT: all objects created over `bm` above; infos name `tm`.
        Ok(Store {
            tm,
            msm,
            dsm,
            info,
            info_wide,
            collect,
            fresh: false,
            bm,
        })
    }
}

impl Drop for PartialStore {
    fn drop(&mut self) {
        // SAFETY: the objects were created and are owned here only.
        unsafe {
            if let Some(d) = self.dsm {
                bindings::kstor_sm_destroy(d.as_ptr());
            }
            bindings::kstor_sm_destroy(self.msm.as_ptr());
            bindings::dm_tm_destroy(self.tm.as_ptr());
        }
    }
}
