// SPDX-License-Identifier: GPL-2.0

//! Block I/O requests (`struct bio`, `include/linux/blk_types.h`,
//! `include/linux/bio.h`).
//!
//! - [`Bio`]: a view of a bio: operation, flags (PREFLUSH, FUA, ...), start
//!   sector (512 B units), size (bytes), segment iteration.
//! - [`OwnedBio`]: the duty to complete a bio exactly once, as a
//!   device-mapper target has after `map` returns `DM_MAPIO_SUBMITTED`.
//!   Dropping it uncompleted completes it with `BLK_STS_IOERR`, so a bio is
//!   never leaked (which would hang the submitter).
//! - [`NewBio`]: a bio this module allocated (pages owned), used for the
//!   module's own I/O and by tests.

use crate::bindings;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use kernel::alloc::flags::GFP_KERNEL;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Full, Release};
use kernel::types::Opaque;

/// Size of a sector in bytes: bios address devices in 512 B sectors.
pub const SECTOR_SIZE: u32 = 512;
/// `SECTOR_SHIFT`.
pub const SECTOR_SHIFT: u32 = 9;

/// The operation of a bio (`enum req_op`, the low `REQ_OP_BITS` of `bi_opf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `REQ_OP_READ`.
    Read,
    /// `REQ_OP_WRITE`.
    Write,
    /// `REQ_OP_FLUSH` (an empty flush; device-mapper turns these into empty
    /// writes with PREFLUSH before `map`).
    Flush,
    /// `REQ_OP_DISCARD`.
    Discard,
    /// `REQ_OP_SECURE_ERASE`.
    SecureErase,
    /// `REQ_OP_WRITE_ZEROES`.
    WriteZeroes,
    /// Any other operation (zoned, driver-private), with its raw value.
    Other(u32),
}

const REQ_OP_MASK: u32 = (1 << bindings::REQ_OP_BITS) - 1;

impl Op {
    /// Decodes the operation part of a `blk_opf_t`.
    pub fn from_opf(opf: u32) -> Op {
        match opf & REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_FLUSH => Op::Flush,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            bindings::req_op_REQ_OP_SECURE_ERASE => Op::SecureErase,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Op::WriteZeroes,
            other => Op::Other(other),
        }
    }

    /// The raw `enum req_op` value.
    pub fn as_raw(self) -> u32 {
        match self {
            Op::Read => bindings::req_op_REQ_OP_READ,
            Op::Write => bindings::req_op_REQ_OP_WRITE,
            Op::Flush => bindings::req_op_REQ_OP_FLUSH,
            Op::Discard => bindings::req_op_REQ_OP_DISCARD,
            Op::SecureErase => bindings::req_op_REQ_OP_SECURE_ERASE,
            Op::WriteZeroes => bindings::req_op_REQ_OP_WRITE_ZEROES,
            Op::Other(v) => v & REQ_OP_MASK,
        }
    }

    /// Whether data flows to the device (`op_is_write()`: odd operations).
    pub fn is_write(self) -> bool {
        self.as_raw() & 1 == 1
    }
}

/// The flag part of a `blk_opf_t` (`enum req_flag_bits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OpFlags(u32);

impl OpFlags {
    /// No flags.
    pub const NONE: OpFlags = OpFlags(0);
    /// `REQ_SYNC`.
    pub const SYNC: OpFlags = OpFlags(1 << bindings::req_flag_bits___REQ_SYNC);
    /// `REQ_META`.
    pub const META: OpFlags = OpFlags(1 << bindings::req_flag_bits___REQ_META);
    /// `REQ_FUA`: the data must be on stable media when the bio completes.
    pub const FUA: OpFlags = OpFlags(1 << bindings::req_flag_bits___REQ_FUA);
    /// `REQ_PREFLUSH`: flush the volatile cache before this bio.
    pub const PREFLUSH: OpFlags = OpFlags(1 << bindings::req_flag_bits___REQ_PREFLUSH);

    /// The raw flag bits (operation bits cleared).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: OpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for OpFlags {
    type Output = OpFlags;
    fn bitor(self, rhs: OpFlags) -> OpFlags {
        OpFlags(self.0 | rhs.0)
    }
}

/// A block-layer completion status (`blk_status_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(bindings::blk_status_t);

impl Status {
    /// `BLK_STS_OK`.
    pub const OK: Status = Status(0);

    /// The status for a kernel error code (`errno_to_blk_status()`); e.g.
    /// `EIO` gives `BLK_STS_IOERR`, `ENOSPC` gives `BLK_STS_NOSPC`.
    pub fn from_error(err: Error) -> Status {
        // SAFETY: `errno_to_blk_status` is a pure table lookup.
        Status(unsafe { bindings::errno_to_blk_status(err.to_errno()) })
    }

    /// `BLK_STS_IOERR`.
    pub fn ioerr() -> Status {
        Status::from_error(EIO)
    }

    /// The negative errno this status maps to (`blk_status_to_errno()`);
    /// 0 for `OK`.
    pub fn to_errno(self) -> i32 {
        // SAFETY: `blk_status_to_errno` is a pure table lookup.
        unsafe { bindings::blk_status_to_errno(self.0) }
    }

    /// Whether this is `BLK_STS_OK`.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn as_raw(self) -> bindings::blk_status_t {
        self.0
    }

    pub(crate) fn from_raw(raw: bindings::blk_status_t) -> Status {
        Status(raw)
    }
}

/// A view of a `struct bio`.
///
/// # Invariants
///
/// The wrapped `bio` is valid for the lifetime of the reference through
/// which this is reached, and that reference's holder may read it (and, via
/// `&mut`, change its sector and data pages).
#[repr(transparent)]
pub struct Bio(Opaque<bindings::bio>);

impl Bio {
    /// # Safety
    ///
    /// `ptr` must point to a valid bio that stays valid for `'a` and is not
    /// changed through other references meanwhile.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::bio) -> &'a Bio {
        // SAFETY: `Bio` is a transparent wrapper of `Opaque<bio>`, and the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast::<Bio>() }
    }

    /// # Safety
    ///
    /// `ptr` must point to a valid bio that stays valid and is not accessed
    /// through other Rust references for `'a`.
    pub(crate) unsafe fn from_raw_mut<'a>(ptr: *mut bindings::bio) -> &'a mut Bio {
        // SAFETY: `Bio` is a transparent wrapper of `Opaque<bio>`, and the
        // caller guarantees validity and exclusivity for `'a`.
        unsafe { &mut *ptr.cast::<Bio>() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::bio {
        self.0.get()
    }

    fn opf(&self) -> u32 {
        // SAFETY: by the type invariant the bio is valid.
        unsafe { (*self.as_raw()).bi_opf }
    }

    /// The operation.
    pub fn op(&self) -> Op {
        Op::from_opf(self.opf())
    }

    /// The flags (`REQ_PREFLUSH`, `REQ_FUA`, ...).
    pub fn flags(&self) -> OpFlags {
        OpFlags(self.opf() & !REQ_OP_MASK)
    }

    /// Whether the bio carries `REQ_PREFLUSH`.
    pub fn is_preflush(&self) -> bool {
        self.flags().contains(OpFlags::PREFLUSH)
    }

    /// Whether the bio carries `REQ_FUA`.
    pub fn is_fua(&self) -> bool {
        self.flags().contains(OpFlags::FUA)
    }

    /// First sector addressed, in 512 B sectors (`bi_iter.bi_sector`).
    pub fn sector(&self) -> u64 {
        // SAFETY: by the type invariant the bio is valid.
        unsafe { (*self.as_raw()).bi_iter.bi_sector }
    }

    /// Bytes still to transfer (`bi_iter.bi_size`); 0 for an empty flush.
    pub fn size(&self) -> u32 {
        // SAFETY: by the type invariant the bio is valid.
        unsafe { (*self.as_raw()).bi_iter.bi_size }
    }

    /// Sectors addressed (`bio_sectors()`).
    pub fn sectors(&self) -> u32 {
        self.size() >> SECTOR_SHIFT
    }

    /// Moves the bio to `sector` (512 B units), e.g. to remap it.
    pub fn set_sector(&mut self, sector: u64) {
        // SAFETY: by the type invariant the bio is valid and `&mut` gives
        // the right to change it.
        unsafe { (*self.as_raw()).bi_iter.bi_sector = sector };
    }

    /// The completion status recorded so far (`bi_status`).
    pub fn status(&self) -> Status {
        // SAFETY: by the type invariant the bio is valid.
        Status::from_raw(unsafe { (*self.as_raw()).bi_status })
    }

    /// The data segments, each within one page (`bio_for_each_segment()`),
    /// from the current position (`bi_iter`).
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            bio: self.as_raw(),
            // SAFETY: by the type invariant the bio is valid.
            iter: unsafe { (*self.as_raw()).bi_iter },
            _p: PhantomData,
        }
    }

    /// Like [`Bio::segments`], with segments that can be written, to fill
    /// a read bio. `None` for any other operation: the pages of a write may
    /// be shared (page cache, the zero page) and must not change.
    pub fn segments_mut(&mut self) -> Option<SegmentsMut<'_>> {
        if self.op() != Op::Read {
            return None;
        }
        Some(SegmentsMut(Segments {
            bio: self.as_raw(),
            // SAFETY: by the type invariant the bio is valid.
            iter: unsafe { (*self.as_raw()).bi_iter },
            _p: PhantomData,
        }))
    }
}

/// One data segment of a bio: `len` bytes at `offset` in one page.
///
/// # Invariants
///
/// `page` is a valid page kept alive by the bio borrowed for `'a`, and
/// `offset + len <= PAGE_SIZE`.
pub struct Segment<'a> {
    page: *mut bindings::page,
    offset: u32,
    len: u32,
    _p: PhantomData<&'a Bio>,
}

impl Segment<'_> {
    /// The page (alive while the bio is borrowed).
    pub(crate) fn page(&self) -> *mut bindings::page {
        self.page
    }

    /// Byte offset of the segment in its page.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// Length in bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the first `min(dst.len(), len)` bytes of the segment into
    /// `dst`; returns how many.
    pub fn copy_to_slice(&self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len as usize);
        // SAFETY: by the type invariant `page` is valid and
        // `offset + n <= PAGE_SIZE`; `dst` has room for `n` bytes.
        unsafe {
            bindings::kstor_memcpy_from_page(
                dst.as_mut_ptr().cast(),
                self.page,
                self.offset as usize,
                n,
            )
        };
        n
    }
}

/// A writable segment, see [`Bio::segments_mut`].
pub struct SegmentMut<'a>(Segment<'a>);

impl<'a> Deref for SegmentMut<'a> {
    type Target = Segment<'a>;
    fn deref(&self) -> &Segment<'a> {
        &self.0
    }
}

impl SegmentMut<'_> {
    /// Copies `min(src.len(), len)` bytes from `src` to the start of the
    /// segment; returns how many.
    pub fn copy_from_slice(&mut self, src: &[u8]) -> usize {
        let n = src.len().min(self.0.len as usize);
        // SAFETY: by the type invariant `page` is valid and
        // `offset + n <= PAGE_SIZE`; the read bio was borrowed mutably,
        // which gives the right to fill its data pages; `src` has `n` bytes.
        unsafe {
            bindings::kstor_memcpy_to_page(
                self.0.page,
                self.0.offset as usize,
                src.as_ptr().cast(),
                n,
            )
        };
        n
    }
}

/// Iterator over the segments of a bio.
pub struct Segments<'a> {
    bio: *mut bindings::bio,
    iter: bindings::bvec_iter,
    _p: PhantomData<&'a Bio>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        let mut bv = bindings::bio_vec::default();
        // SAFETY: `bio` is valid for `'a`; `iter` started as its `bi_iter`
        // and has only been advanced by this helper.
        if !unsafe { bindings::kstor_bio_next_segment(self.bio, &mut self.iter, &mut bv) } {
            return None;
        }
        // INVARIANT: `bio_iter_iovec()` returns single-page segments of a
        // valid bio.
        Some(Segment {
            page: bv.bv_page,
            offset: bv.bv_offset,
            len: bv.bv_len,
            _p: PhantomData,
        })
    }
}

/// Iterator over writable segments of a bio.
pub struct SegmentsMut<'a>(Segments<'a>);

impl<'a> Iterator for SegmentsMut<'a> {
    type Item = SegmentMut<'a>;

    fn next(&mut self) -> Option<SegmentMut<'a>> {
        self.0.next().map(SegmentMut)
    }
}

/// The duty to complete a bio exactly once.
///
/// # Invariants
///
/// `ptr` is a valid bio that nobody else completes; it stays valid until
/// this value completes it (by [`OwnedBio::end`], by `Drop`, or by being
/// handed back to device-mapper through `into_raw`). `'a` bounds the life of
/// bios that belong to a [`NewBio`].
pub struct OwnedBio<'a> {
    ptr: NonNull<bindings::bio>,
    _p: PhantomData<&'a mut Bio>,
}

// SAFETY: a bio may be completed from any context and any CPU.
unsafe impl Send for OwnedBio<'_> {}
// SAFETY: `&OwnedBio` only reads the bio.
unsafe impl Sync for OwnedBio<'_> {}

impl OwnedBio<'_> {
    /// # Safety
    ///
    /// `ptr` must be a valid bio whose completion duty passes to the result.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::bio>) -> Self {
        // INVARIANT: guaranteed by the caller.
        OwnedBio {
            ptr,
            _p: PhantomData,
        }
    }

    /// Gives up the completion duty without completing (device-mapper takes
    /// it back, e.g. on `DM_MAPIO_REMAPPED`).
    pub(crate) fn into_raw(self) -> NonNull<bindings::bio> {
        let ptr = self.ptr;
        core::mem::forget(self);
        ptr
    }

    /// Completes the bio with `status` (`bio->bi_status = status;
    /// bio_endio(bio)`).
    pub fn end(self, status: Status) {
        let ptr = self.into_raw();
        // SAFETY: by the type invariant `ptr` is valid and ours to complete;
        // `into_raw` ended our claim so it is completed exactly once.
        unsafe {
            (*ptr.as_ptr()).bi_status = status.as_raw();
            bindings::bio_endio(ptr.as_ptr());
        }
    }
}

impl Deref for OwnedBio<'_> {
    type Target = Bio;
    fn deref(&self) -> &Bio {
        // SAFETY: by the type invariant `ptr` is valid; we hold it, and
        // changes go through `&mut self` only.
        unsafe { Bio::from_raw(self.ptr.as_ptr()) }
    }
}

impl DerefMut for OwnedBio<'_> {
    fn deref_mut(&mut self) -> &mut Bio {
        // SAFETY: by the type invariant `ptr` is valid; we hold it
        // exclusively.
        unsafe { Bio::from_raw_mut(self.ptr.as_ptr()) }
    }
}

impl Drop for OwnedBio<'_> {
    fn drop(&mut self) {
        kernel::pr_warn_once!("bio dropped without completion: failed with BLK_STS_IOERR\n");
        // SAFETY: by the type invariant `ptr` is valid and still ours to
        // complete (methods that complete it forget `self`).
        unsafe {
            (*self.ptr.as_ptr()).bi_status = Status::ioerr().as_raw();
            bindings::bio_endio(self.ptr.as_ptr());
        }
    }
}

/// Completion record of a [`NewBio`], reached from `bi_private`.
struct EndRecord {
    count: Atomic<u32>,
    status: Atomic<u32>,
}

/// A bio allocated by this module (from `fs_bio_set`), with the pages it
/// points to.
///
/// # Invariants
///
/// `ptr` is a valid bio with one reference owned here, `bi_end_io` is
/// [`new_bio_end_io`] and `bi_private` points to `*record`; every page in
/// its vector is one of `pages`.
pub struct NewBio {
    ptr: NonNull<bindings::bio>,
    pages: KVec<Page>,
    record: KBox<EndRecord>,
}

// SAFETY: the bio and pages are owned; completion may run on any CPU and
// only touches the atomics of `record`.
unsafe impl Send for NewBio {}

extern "C" fn new_bio_end_io(bio: *mut bindings::bio) {
    // SAFETY: by the `NewBio` invariant `bi_private` points to its live
    // `EndRecord` (freed only after the bio is put).
    let rec = unsafe { &*(*bio).bi_private.cast::<EndRecord>() };
    // SAFETY: `bio` is the valid bio being completed.
    let status = unsafe { (*bio).bi_status };
    rec.status.store(u32::from(status), Release);
    // Ordered after the status store by the full barrier of the RMW.
    rec.count.fetch_add(1, Full);
}

impl NewBio {
    /// Allocates a bio of `op` with `flags`, room for `nr_vecs` pages (at
    /// most 256, `BIO_MAX_VECS`), no device, sector 0.
    ///
    /// # Context
    ///
    /// Process context: may sleep (`GFP_KERNEL`). Not from `map`/`end_io`.
    ///
    /// # Errors
    ///
    /// `EINVAL` for `nr_vecs` of 0 or above 256, `ENOMEM`.
    pub fn new(nr_vecs: u16, op: Op, flags: OpFlags) -> Result<NewBio> {
        if nr_vecs == 0 || u32::from(nr_vecs) > bindings::BIO_MAX_VECS {
            return Err(EINVAL);
        }
        let record = KBox::new(
            EndRecord {
                count: Atomic::new(0),
                status: Atomic::new(0),
            },
            GFP_KERNEL,
        )?;
        let pages = KVec::with_capacity(nr_vecs as usize, GFP_KERNEL)?;
        // SAFETY: plain allocation with a valid operation; `GFP_KERNEL`
        // may sleep, which the `# Context` section requires callers allow.
        let raw = unsafe {
            bindings::kstor_bio_alloc(nr_vecs, op.as_raw() | flags.bits(), bindings::GFP_KERNEL)
        };
        let ptr = NonNull::new(raw).ok_or(ENOMEM)?;
        // SAFETY: `ptr` is a fresh bio we own; `record` is heap-allocated and
        // outlives the bio (dropped after `bio_put` in `Drop`).
        unsafe {
            (*raw).bi_end_io = Some(new_bio_end_io);
            (*raw).bi_private = (&raw const *record).cast_mut().cast();
        }
        // INVARIANT: set up just above.
        Ok(NewBio { ptr, pages, record })
    }

    /// Appends `len` bytes at `offset` of `page` to the data of the bio,
    /// which keeps the page.
    ///
    /// # Context
    ///
    /// Process context: may sleep.
    ///
    /// # Errors
    ///
    /// `EINVAL` if `len` is 0 or `offset + len` exceeds the page, `ENOSPC`
    /// if the bio has no free vector.
    pub fn add_page(&mut self, page: Page, len: u32, offset: u32) -> Result {
        if len == 0 || offset as usize + len as usize > PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: the bio is valid and owned.
        let (vcnt, max) = unsafe {
            (
                (*self.ptr.as_ptr()).bi_vcnt,
                (*self.ptr.as_ptr()).bi_max_vecs,
            )
        };
        if vcnt >= max {
            return Err(ENOSPC);
        }
        self.pages.push(page, GFP_KERNEL)?;
        let page = match self.pages.last() {
            Some(p) => p.as_ptr(),
            None => return Err(EINVAL),
        };
        // SAFETY: the bio is owned and has a free vector (checked above);
        // `page` stays alive in `self.pages` as long as the bio.
        unsafe { bindings::__bio_add_page(self.ptr.as_ptr(), page, len, offset) };
        Ok(())
    }

    /// The completion duty of this bio, as a device-mapper target would
    /// hold it (used by tests of completion paths). Completing it runs this
    /// bio's end_io, which [`NewBio::completions`] counts; the bio itself
    /// stays allocated until the `NewBio` is dropped.
    pub fn as_owned(&mut self) -> OwnedBio<'_> {
        // The bio is never submitted, chained or attached to a device, so
        // `bio_endio` (any number of times) only calls `new_bio_end_io`,
        // which records the completion; `bio_put` happens in `Drop`, before
        // `pages` and `record` are freed.
        // SAFETY: the bio is valid while `self` is borrowed mutably, and
        // completing it has no other effect (see above).
        unsafe { OwnedBio::from_raw(self.ptr) }
    }

    /// How many times the bio has been completed.
    pub fn completions(&self) -> u32 {
        self.record.count.load(Acquire)
    }

    /// The status of the last completion.
    pub fn completion_status(&self) -> Status {
        Status::from_raw(self.record.status.load(Acquire) as bindings::blk_status_t)
    }
}

impl Deref for NewBio {
    type Target = Bio;
    fn deref(&self) -> &Bio {
        // SAFETY: by the type invariant the bio is valid while `self` lives,
        // and changes go through `&mut self` only.
        unsafe { Bio::from_raw(self.ptr.as_ptr()) }
    }
}

impl DerefMut for NewBio {
    fn deref_mut(&mut self) -> &mut Bio {
        // SAFETY: by the type invariant the bio is valid and owned.
        unsafe { Bio::from_raw_mut(self.ptr.as_ptr()) }
    }
}

impl Drop for NewBio {
    fn drop(&mut self) {
        // SAFETY: we own one reference; after this the bio is not used. The
        // pages and the record are dropped after this body.
        unsafe { bindings::bio_put(self.ptr.as_ptr()) };
    }
}

/// A FIFO of bios whose completion duty it holds (`struct bio_list`,
/// linked through `bi_next`, so pushing never allocates). Bios still in it
/// when it is dropped are failed with `BLK_STS_IOERR`.
///
/// # Invariants
///
/// Every bio in `raw` is one whose completion duty this list owns.
#[derive(Default)]
pub struct BioList {
    raw: bindings::bio_list,
}

// SAFETY: the list owns its bios, which may be completed on any thread.
unsafe impl Send for BioList {}

impl BioList {
    /// An empty list.
    pub const fn new() -> Self {
        BioList {
            raw: bindings::bio_list {
                head: core::ptr::null_mut(),
                tail: core::ptr::null_mut(),
            },
        }
    }

    /// Whether the list holds no bio.
    pub fn is_empty(&self) -> bool {
        self.raw.head.is_null()
    }

    /// Appends `bio` at the tail.
    pub fn push(&mut self, bio: OwnedBio<'static>) {
        let ptr = bio.into_raw();
        // SAFETY: `raw` is a valid list and the bio is ours to link (its
        // `bi_next` is unused while a target holds it).
        // INVARIANT: the duty moves into the list.
        unsafe { bindings::kstor_bio_list_add(&mut self.raw, ptr.as_ptr()) };
    }

    /// Takes the bio at the head.
    pub fn pop(&mut self) -> Option<OwnedBio<'static>> {
        // SAFETY: `raw` is a valid list.
        let ptr = NonNull::new(unsafe { bindings::kstor_bio_list_pop(&mut self.raw) })?;
        // SAFETY: by the type invariant the list owned the bio's completion
        // duty, which passes to the caller.
        Some(unsafe { OwnedBio::from_raw(ptr) })
    }

    /// Moves every bio of `other` to the tail of `self`.
    pub fn append(&mut self, other: &mut BioList) {
        while let Some(b) = other.pop() {
            self.push(b);
        }
    }
}

impl Drop for BioList {
    fn drop(&mut self) {
        while let Some(b) = self.pop() {
            b.end(Status::ioerr());
        }
    }
}
