// SPDX-License-Identifier: GPL-2.0

//! Asynchronous block I/O of whole 4 KiB buffers.
//!
//! A [`BlockIo`] owns the buffers of one I/O, a reference on the device and
//! its owner's context. [`BlockIo::submit`] hands the whole box to the
//! block layer; when the bio ends, [`IoDone::done`] gets the box back with
//! the status, so nothing can touch the buffers while the device uses
//! them, and no allocation is needed per I/O beyond the bio itself (from
//! `fs_bio_set`, `GFP_NOIO`: a mempool that waits rather than fails).
//!
//! C: `bio_alloc`, `submit_bio`, `bio_put` (`block/bio.c`, `block/blk-core.c`).

use crate::bindings;
use crate::bio::{Op, OpFlags, Status};
use crate::blkdev::{Bdev, BlockBuf};
use kernel::error::to_result;
use kernel::prelude::*;

/// Most buffers (4 KiB each) in one [`BlockIo`]: 128 KiB.
pub const MAX_BUFS: usize = 32;

/// The owner of asynchronous I/Os.
pub trait IoDone: Sized + Send + 'static {
    /// Called once when the I/O of `io` has ended, with its status; the
    /// buffers hold what was read (for a read).
    ///
    /// # Context
    ///
    /// The bio's completion context, which may be interrupt context: must
    /// not sleep (queue work instead). Dropping `io` there is allowed.
    fn done(io: KBox<BlockIo<Self>>, status: Status);
}

/// The buffers and context of one asynchronous I/O.
///
/// # Invariants
///
/// While submitted, the box is owned by its bio (`bi_private`, as a raw
/// pointer from [`KBox::into_raw`]) and referred to by nothing else.
pub struct BlockIo<T> {
    bdev: Bdev,
    /// The buffers, in device order: block `i` is at `sector + 8 * i`.
    pub bufs: KVec<BlockBuf>,
    /// The owner's context.
    pub ctx: T,
}

impl<T: IoDone> BlockIo<T> {
    /// A new I/O on `bdev` (which it keeps a reference on) with `ctx` and
    /// room for `cap` buffers (at most [`MAX_BUFS`]).
    ///
    /// # Errors
    ///
    /// `EINVAL` for `cap` over [`MAX_BUFS`], `ENOMEM`.
    pub fn new(bdev: &Bdev, ctx: T, cap: usize, flags: kernel::alloc::Flags) -> Result<KBox<Self>> {
        if cap > MAX_BUFS {
            return Err(EINVAL);
        }
        let bufs = KVec::with_capacity(cap, flags)?;
        Ok(KBox::new(
            BlockIo {
                bdev: bdev.clone_ref(),
                bufs,
                ctx,
            },
            flags,
        )?)
    }

    /// Starts reading (`Op::Read`) into or writing (`Op::Write`) from all
    /// the buffers at `sector` (512 B units) with `flags` (`FUA`,
    /// `PREFLUSH`); [`IoDone::done`] gets the box back when it ends.
    ///
    /// # Context
    ///
    /// Process context: may sleep for a bio (`GFP_NOIO`).
    ///
    /// # Errors
    ///
    /// Returns the box with `EINVAL` (nothing submitted) for another
    /// operation, no buffer or more than [`MAX_BUFS`].
    pub fn submit(self: KBox<Self>, op: Op, flags: OpFlags, sector: u64) -> Result<(), (KBox<Self>, Error)> {
        if !matches!(op, Op::Read | Op::Write) || self.bufs.is_empty() || self.bufs.len() > MAX_BUFS {
            return Err((self, EINVAL));
        }
        let mut ptrs = [core::ptr::null_mut::<kernel::ffi::c_void>(); MAX_BUFS];
        for (p, b) in ptrs.iter_mut().zip(self.bufs.iter()) {
            *p = b.as_ptr().cast_mut().cast();
        }
        let n = self.bufs.len() as u32;
        let dev = self.bdev.as_raw();
        let raw = KBox::into_raw(self);
        let opf = op.as_raw() | flags.bits();
        let end: Option<unsafe extern "C" fn(*mut bindings::bio)> = Some(end_io::<T>);
        // SAFETY: `dev` and the buffers (whole kmalloc'd pages) belong to the
        // box, which only `end_io::<T>` (matching `bi_private`) gets back.
        let rc = unsafe { bindings::kstor_aio_submit(dev, opf, sector, ptrs.as_ptr(), n, end, raw.cast()) };
        let r = to_result(rc);
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                // SAFETY: nothing was submitted: the box is still ours.
                Err((unsafe { KBox::from_raw(raw) }, e))
            }
        }
    }
}

extern "C" fn end_io<T: IoDone>(bio: *mut bindings::bio) {
    // SAFETY: `bio` is the ending bio that `kstor_aio_submit` set up with
    // this function; its private pointer is the box given there.
    let (private, status) = unsafe { (bindings::kstor_bio_private(bio), bindings::kstor_bio_status(bio)) };
    // SAFETY: we own the bio's only reference (from `bio_alloc`) and use
    // it no more.
    unsafe { bindings::bio_put(bio) };
    // SAFETY: by the type invariant, `private` came from `KBox::into_raw`
    // in `submit` and nothing else refers to it; the device is done with
    // the buffers.
    let io = unsafe { KBox::from_raw(private.cast::<BlockIo<T>>()) };
    T::done(io, Status::from_raw(status));
}
