// SPDX-License-Identifier: GPL-2.0

//! Block devices held by reference, and synchronous 4 KiB block I/O.
//!
//! A [`Bdev`] pins the block device of a target's [`DmDev`] with its own
//! reference on the device's file (`dm_dev->bdev_file`), so code that sleeps
//! (synchronous I/O, persistent-data, workers) can use it without the RCU
//! section that guards [`DmDev`] accessors.
//!
//! [`BlockBuf`] is a 4 KiB kmalloc'd buffer: one page, page-aligned
//! (kmalloc aligns power-of-two sizes naturally), usable for I/O and as a
//! scatterlist source.

use crate::bindings;
use crate::bio::{Op, OpFlags};
use crate::dm::DmDev;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use kernel::alloc::flags::__GFP_ZERO;
use kernel::error::to_result;
use kernel::prelude::*;

/// Bytes in one block: the unit of [`Bdev::read_block`]/[`Bdev::write_block`].
pub const BLOCK_SIZE: usize = 4096;
/// 512 B sectors per block.
pub const SECTORS_PER_BLOCK: u64 = (BLOCK_SIZE / 512) as u64;

/// A 4 KiB, page-aligned, kmalloc'd buffer.
///
/// # Invariants
///
/// The box is a kmalloc allocation of 4096 bytes, hence one whole page of
/// the linear map.
pub struct BlockBuf(KBox<[u8; BLOCK_SIZE]>);

impl BlockBuf {
    /// A zeroed buffer.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new_zeroed(flags: kernel::alloc::Flags) -> Result<Self> {
        let b = KBox::<[u8; BLOCK_SIZE]>::new_uninit(flags | __GFP_ZERO)?;
        // SAFETY: `__GFP_ZERO` zeroed the bytes, a valid `[u8; N]`.
        // INVARIANT: `KBox` allocates with kmalloc.
        Ok(BlockBuf(unsafe { b.assume_init() }))
    }
}

impl Deref for BlockBuf {
    type Target = [u8; BLOCK_SIZE];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for BlockBuf {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A held block device.
///
/// The reference keeps the device open, but device-mapper's claim on it
/// ends when the target that got it is destroyed: drop every `Bdev` in
/// the target's `dtr` at the latest.
///
/// # Invariants
///
/// `file` is a block device file on which this value owns one reference;
/// `bdev` is its block device, alive as long as the reference.
pub struct Bdev {
    file: NonNull<bindings::file>,
    bdev: NonNull<bindings::block_device>,
}

// SAFETY: the reference may be dropped and the device used from any thread.
unsafe impl Send for Bdev {}
// SAFETY: all methods take `&self` and are thread-safe in the block layer.
unsafe impl Sync for Bdev {}

impl Bdev {
    /// Takes a reference on the block device behind `dev`.
    ///
    /// # Errors
    ///
    /// `ENODEV` if the target owning `dev` has been destroyed.
    pub fn from_dm(dev: &DmDev) -> Result<Self> {
        let file = dev.with_raw(|raw| {
            // SAFETY: `raw` is a held `dm_dev` inside `with_raw`; its file
            // is valid, and `get_file` takes our own reference on it.
            unsafe { bindings::kstor_dm_dev_get_file(raw) }
        })?;
        let file = NonNull::new(file).ok_or(ENODEV)?;
        // SAFETY: `file` is a block device file we hold.
        let bdev = unsafe { bindings::kstor_file_bdev(file.as_ptr()) };
        let Some(bdev) = NonNull::new(bdev) else {
            // SAFETY: we own the reference taken above.
            unsafe { bindings::kstor_fput(file.as_ptr()) };
            return Err(ENODEV);
        };
        // INVARIANT: one reference on `file` taken above.
        Ok(Bdev { file, bdev })
    }

    /// Another reference on the same device.
    pub fn clone_ref(&self) -> Bdev {
        // SAFETY: we hold a reference on `file`, so taking another is
        // valid; `get_file` returns its argument.
        unsafe { bindings::get_file(self.file.as_ptr()) };
        // INVARIANT: the new value owns the reference taken above.
        Bdev {
            file: self.file,
            bdev: self.bdev,
        }
    }

    /// The raw block device, valid while `self` lives.
    pub(crate) fn as_raw(&self) -> *mut bindings::block_device {
        self.bdev.as_ptr()
    }

    /// Size in 512 B sectors.
    pub fn size_sectors(&self) -> u64 {
        // SAFETY: the device is held by the type invariant.
        unsafe { bindings::kstor_bdev_nr_sectors(self.bdev.as_ptr()) }
    }

    fn rw(&self, op: Op, flags: OpFlags, sector: u64, buf: *mut u8) -> Result {
        // SAFETY: the device is held; `buf` is a whole kmalloc'd page (the
        // `BlockBuf` invariant) that outlives this synchronous call.
        to_result(unsafe {
            bindings::kstor_sync_rw(
                self.bdev.as_ptr(),
                op.as_raw() | flags.bits(),
                sector,
                buf.cast(),
                BLOCK_SIZE as u32,
            )
        })
    }

    /// Reads the 4 KiB at `sector` (512 B units) into `buf`; sleeps until
    /// done.
    ///
    /// # Errors
    ///
    /// The I/O error (`EIO`, `ENOMEM`, ...).
    pub fn read_block(&self, sector: u64, buf: &mut BlockBuf) -> Result {
        self.rw(Op::Read, OpFlags::NONE, sector, buf.0.as_mut_ptr())
    }

    /// Writes `buf` to the 4 KiB at `sector` (512 B units) with `flags`
    /// (e.g. FUA); sleeps until done.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn write_block(&self, sector: u64, buf: &BlockBuf, flags: OpFlags) -> Result {
        // The block layer only reads the page of a write.
        self.rw(Op::Write, flags, sector, buf.0.as_ptr().cast_mut())
    }

    /// Discards `nr` sectors at `sector` (`blkdev_issue_discard`); sleeps.
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` if the device has no discard support, or the I/O error.
    pub fn discard(&self, sector: u64, nr: u64) -> Result {
        // SAFETY: the device is held.
        to_result(unsafe { bindings::kstor_discard(self.bdev.as_ptr(), sector, nr) })
    }
}

impl Drop for Bdev {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { bindings::kstor_fput(self.file.as_ptr()) };
    }
}
