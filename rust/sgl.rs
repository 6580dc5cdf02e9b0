// SPDX-License-Identifier: GPL-2.0

//! Scatterlists over kernel buffers, page by page, for the crypto acomp API
//! (`include/crypto/acompress.h`), whose drivers DMA-map each entry
//! themselves (QAT: `dma_map_single(sg_virt(sg), len)` per entry in
//! `drivers/crypto/intel/qat/qat_common/qat_bl.c`).
//!
//! Every entry stays within one page, so it is physically contiguous
//! whatever the buffer: pages of vmalloc'd buffers come from
//! `vmalloc_to_page()`, those of kmalloc'd (linear-map) buffers from
//! `virt_to_page()`. A buffer of `len` bytes at any offset needs at most
//! `(len >> PAGE_SHIFT) + 2` entries (QZFS; OpenZFS `qat_compress.c`).

use crate::bindings;
use crate::bio::Bio;
use core::marker::PhantomData;
use kernel::alloc::Flags;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// The most entries a buffer of `len` bytes needs: `(len >> PAGE_SHIFT) + 2`.
pub const fn max_entries(len: usize) -> usize {
    len / PAGE_SIZE + 2
}

/// A scatterlist describing one buffer borrowed for `'a`.
///
/// # Invariants
///
/// `table[..nents]` are initialised entries (the last one marked as the
/// end) that cover the borrowed buffer in order, each within one page; the
/// buffer stays borrowed (shared for [`Sgl::from_slice`], exclusive for
/// [`Sgl::from_mut_slice`]) for `'a`, so its pages stay allocated.
pub struct Sgl<'a> {
    table: KVec<bindings::scatterlist>,
    nents: usize,
    len: usize,
    /// Built from an exclusive borrow: a device may write the buffer.
    writable: bool,
    _p: PhantomData<&'a [u8]>,
}

// SAFETY: the table is owned; the pages it names belong to a buffer
// borrowed for `'a`, which any thread may read (or, for `from_mut_slice`,
// write through the device) while the borrow lasts.
unsafe impl Send for Sgl<'_> {}

impl<'a> Sgl<'a> {
    /// A scatterlist for a source buffer (the device reads it).
    ///
    /// # Errors
    ///
    /// `EINVAL` for an empty buffer, a buffer on the stack (the DMA API
    /// forbids it), or one that is neither vmalloc'd nor in the linear map;
    /// `ENOMEM`.
    pub fn from_slice(buf: &'a [u8], flags: Flags) -> Result<Self> {
        // SAFETY: `buf` is borrowed for `'a`.
        unsafe { Self::from_raw(buf.as_ptr(), buf.len(), false, flags) }
    }

    /// A scatterlist for a destination buffer (the device writes it); the
    /// buffer stays exclusively borrowed while the scatterlist lives.
    ///
    /// # Errors
    ///
    /// As for [`Sgl::from_slice`].
    pub fn from_mut_slice(buf: &'a mut [u8], flags: Flags) -> Result<Self> {
        // SAFETY: `buf` is borrowed exclusively for `'a`.
        unsafe { Self::from_raw(buf.as_mut_ptr(), buf.len(), true, flags) }
    }

    /// A scatterlist over the data segments of `bio` (its pages, without
    /// copying), from its current position: one entry per segment, each
    /// within one page. The device reads them.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a bio without data; `ENOMEM`.
    pub fn from_bio(bio: &'a Bio, flags: Flags) -> Result<Self> {
        let max = bio.segments().count();
        if max == 0 {
            return Err(EINVAL);
        }
        let mut table = Self::table(max, flags)?;
        let mut len = 0usize;
        for (entry, seg) in table.iter_mut().zip(bio.segments()) {
            // SAFETY: `entry` is an initialised entry; the segment's page
            // holds `len` bytes at `offset` (`offset + len <= PAGE_SIZE`)
            // and the bio, borrowed for `'a`, keeps it alive.
            unsafe { bindings::kstor_sg_set_page(entry, seg.page(), seg.len(), seg.offset()) };
            len += seg.len() as usize;
        }
        // INVARIANT: `max` entries cover the segments in order; the last
        // one was marked by `sg_init_table`.
        Ok(Sgl {
            table,
            nents: max,
            len,
            writable: false,
            _p: PhantomData,
        })
    }

    /// `n` initialised entries, the last one marked as the end.
    fn table(n: usize, flags: Flags) -> Result<KVec<bindings::scatterlist>> {
        let mut table = KVec::with_capacity(n, flags)?;
        for _ in 0..n {
            table.push(bindings::scatterlist::default(), flags)?;
        }
        let n32 = u32::try_from(n).map_err(|_| EINVAL)?;
        // SAFETY: `table` holds `n` entries.
        unsafe { bindings::sg_init_table(table.as_mut_ptr(), n32) };
        Ok(table)
    }

    /// A scatterlist over `len` bytes at `start`.
    ///
    /// # Safety
    ///
    /// The bytes stay allocated for `'a` and are not accessed by anyone
    /// else while the device may write them (`writable`).
    pub(crate) unsafe fn from_raw(
        start: *const u8,
        len: usize,
        writable: bool,
        flags: Flags,
    ) -> Result<Self> {
        if len == 0 {
            return Err(EINVAL);
        }
        let mut table = Self::table(max_entries(len), flags)?;
        // SAFETY: the caller keeps the bytes allocated for `'a`.
        let nents = unsafe { Self::fill(&mut table, start, len)? };
        // INVARIANT: `fill` made `nents` entries cover the buffer in order,
        // the last one marked.
        Ok(Sgl {
            table,
            nents,
            len,
            writable,
            _p: PhantomData,
        })
    }

    /// Describes the `len` bytes at `start` in `table`, which is
    /// initialised again: one entry per page touched, the last one marked
    /// as the end. Returns the number of entries used.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an empty buffer or table, a buffer that needs more
    /// entries than `table` has, or one that is on the stack or neither
    /// vmalloc'd nor in the linear map.
    ///
    /// # Safety
    ///
    /// The `len` bytes at `start` are one live allocation, and stay
    /// allocated while a device may use the entries.
    pub(crate) unsafe fn fill(
        table: &mut [bindings::scatterlist],
        start: *const u8,
        len: usize,
    ) -> Result<usize> {
        let max = max_entries(len).min(table.len());
        if len == 0 || max == 0 {
            return Err(EINVAL);
        }
        // SAFETY: `table` holds at least `max` entries.
        unsafe { bindings::sg_init_table(table.as_mut_ptr(), max as u32) };
        let mut done = 0usize;
        let mut nents = 0usize;
        while done < len {
            let addr = start.wrapping_add(done);
            let offset = addr as usize % PAGE_SIZE;
            let chunk = (PAGE_SIZE - offset).min(len - done);
            // SAFETY: `addr` lies inside the live buffer; the helper only
            // classifies it and looks its page up.
            let page = unsafe { bindings::kstor_virt_to_page(addr.cast()) };
            if page.is_null() {
                return Err(EINVAL);
            }
            let entry = table.get_mut(nents).filter(|_| nents < max).ok_or(EINVAL)?;
            // SAFETY: `entry` is an initialised entry of `table`; `page`
            // holds `chunk` bytes at `offset` (`offset + chunk <= PAGE_SIZE`).
            unsafe { bindings::kstor_sg_set_page(entry, page, chunk as u32, offset as u32) };
            nents += 1;
            done += chunk;
        }
        if nents < max {
            // SAFETY: `nents >= 1` (len > 0) entries were set.
            unsafe { bindings::kstor_sg_mark_end(&mut table[nents - 1]) };
        }
        Ok(nents)
    }

    /// Number of entries used.
    pub fn nents(&self) -> usize {
        self.nents
    }

    /// Bytes described.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the scatterlist is empty (never: empty buffers are refused).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a device may write the buffer (built by
    /// [`Sgl::from_mut_slice`]).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The entry array for a crypto request; `&mut` since requests take a
    /// mutable pointer (drivers may update entries' DMA fields).
    pub(crate) fn as_mut_ptr(&mut self) -> *mut bindings::scatterlist {
        self.table.as_mut_ptr()
    }

    /// `(offset in page, length)` of each entry, in order.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.table[..self.nents]
            .iter()
            .map(|e| (e.offset, e.length))
    }

    /// Copies the bytes entry `i` describes into `dst` (up to its length),
    /// reading them through the entry's page; returns how many. For tests
    /// that check an SGL against its buffer.
    pub fn copy_entry(&self, i: usize, dst: &mut [u8]) -> usize {
        let Some(e) = self.table[..self.nents].get(i) else {
            return 0;
        };
        let n = dst.len().min(e.length as usize);
        let entry: *const bindings::scatterlist = e;
        // SAFETY: by the type invariant the entry names a live page of the
        // borrowed buffer with `offset + length <= PAGE_SIZE`.
        unsafe {
            let page = bindings::kstor_sg_page(entry.cast_mut());
            bindings::kstor_memcpy_from_page(dst.as_mut_ptr().cast(), page, e.offset as usize, n);
        }
        n
    }
}
