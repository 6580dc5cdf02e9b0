// SPDX-License-Identifier: GPL-2.0

//! Guest memory and PRPs (pure: compiled into the module and into
//! `tools/pure` for host tests).
//!
//! - [`MemTable`]: the guest's memory as `struct vhost_memory` regions
//!   (guest physical address, size, userspace address), as
//!   `VHOST_SET_MEM_TABLE` passes them (`include/uapi/linux/vhost_types.h`).
//!   Every guest address the controller touches is translated here, and a
//!   range that is not wholly inside one region is refused.
//! - [`walk`]: a command's data pointer as Physical Region Page entries
//!   (NVM Express Base Specification 1.4, §4.3): PRP1 with any dword
//!   aligned offset; PRP2 either the second page or, for more than two
//!   pages, a PRP list, chained through its last entry when it does not
//!   fit a page. Memory page size 4 KiB (`CC.MPS` = 0).

/// Memory page size, bytes (`CC.MPS` = 0).
pub const PAGE: u64 = 4096;
/// PRP entries in one list page.
const PER_PAGE: u64 = PAGE / 8;

/// NVMe status a bad data pointer completes with (Generic Command Status,
/// §4.6.1.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrpError {
    /// 13h, PRP Offset Invalid: a list entry, or PRP2 as page, not page
    /// aligned; an offset that is not dword aligned.
    OffsetInvalid,
    /// 04h, Data Transfer Error: an address outside guest memory.
    DataTransfer,
    /// 02h, Invalid Field in Command: a length of 0 or above the limit.
    InvalidField,
}

impl PrpError {
    /// The status field value (SCT 0).
    pub fn status(self) -> u16 {
        match self {
            PrpError::OffsetInvalid => 0x13,
            PrpError::DataTransfer => 0x04,
            PrpError::InvalidField => 0x02,
        }
    }
}

/// One region of guest memory (`struct vhost_memory_region`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Guest physical address of the first byte.
    pub gpa: u64,
    /// Bytes.
    pub size: u64,
    /// Userspace address of the first byte in the owner's mm.
    pub uaddr: u64,
}

/// Why a memory table was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// More regions than the table holds.
    TooMany,
    /// A region of size 0, or one whose end overflows.
    Empty,
    /// Two regions overlap in guest physical addresses.
    Overlap,
}

/// Guest memory: up to `N` regions, sorted by guest address, disjoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemTable<const N: usize> {
    regions: [Region; N],
    len: usize,
}

impl<const N: usize> MemTable<N> {
    /// A table of `regions`, in any order.
    ///
    /// # Errors
    ///
    /// [`MemError`] for too many, empty or overlapping regions.
    pub fn new(regions: &[Region]) -> Result<Self, MemError> {
        if regions.len() > N {
            return Err(MemError::TooMany);
        }
        let empty = Region {
            gpa: 0,
            size: 0,
            uaddr: 0,
        };
        let mut t = MemTable {
            regions: [empty; N],
            len: 0,
        };
        for r in regions {
            if r.size == 0 || r.gpa.checked_add(r.size).is_none() || r.uaddr.checked_add(r.size).is_none() {
                return Err(MemError::Empty);
            }
            // Insertion sort by guest address.
            let at = t.regions[..t.len].iter().position(|x| x.gpa > r.gpa).unwrap_or(t.len);
            t.regions.copy_within(at..t.len, at + 1);
            t.regions[at] = *r;
            t.len += 1;
        }
        for w in t.regions[..t.len].windows(2) {
            if w[0].gpa + w[0].size > w[1].gpa {
                return Err(MemError::Overlap);
            }
        }
        Ok(t)
    }

    /// The regions, sorted by guest address.
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.len]
    }

    /// The userspace address of `len` bytes at guest address `gpa`, if
    /// they lie wholly inside one region (`len` > 0).
    pub fn translate(&self, gpa: u64, len: u64) -> Option<u64> {
        let end = gpa.checked_add(len)?;
        if len == 0 {
            return None;
        }
        let i = self.regions[..self.len].partition_point(|r| r.gpa <= gpa);
        let r = self.regions[..self.len].get(i.checked_sub(1)?)?;
        (end <= r.gpa + r.size).then(|| r.uaddr + (gpa - r.gpa))
    }
}

/// Walks the data pointer of a command moving `len` bytes (`len` <=
/// `max_len`, the MDTS limit): calls `seg(gpa, bytes)` for each piece of
/// guest memory in order, after checking it against `mem`; list entries
/// are read with `read_entry(gpa)` (a little-endian u64 of guest memory;
/// `None` if it cannot be read). Returns the number of segments.
///
/// # Errors
///
/// [`PrpError`] for a bad pointer; nothing has been transferred then if
/// `seg` only records.
pub fn walk<const N: usize>(
    mem: &MemTable<N>,
    prp1: u64,
    prp2: u64,
    len: u64,
    max_len: u64,
    mut read_entry: impl FnMut(u64) -> Option<u64>,
    mut seg: impl FnMut(u64, u64),
) -> Result<usize, PrpError> {
    if len == 0 || len > max_len {
        return Err(PrpError::InvalidField);
    }
    if prp1 & 3 != 0 {
        return Err(PrpError::OffsetInvalid);
    }
    let mut emit = |gpa: u64, n: u64, count: &mut usize| -> Result<(), PrpError> {
        mem.translate(gpa, n).ok_or(PrpError::DataTransfer)?;
        seg(gpa, n);
        *count += 1;
        Ok(())
    };
    let mut count = 0usize;
    let first = (PAGE - prp1 % PAGE).min(len);
    emit(prp1, first, &mut count)?;
    let mut left = len - first;
    if left == 0 {
        return Ok(count);
    }
    if left <= PAGE {
        // PRP2 is the second (and last) page.
        if prp2 % PAGE != 0 {
            return Err(PrpError::OffsetInvalid);
        }
        emit(prp2, left, &mut count)?;
        return Ok(count);
    }
    // PRP2 points at a list; its offset may be non-zero (dword aligned)
    // for the first list page only.
    if prp2 & 7 != 0 {
        return Err(PrpError::OffsetInvalid);
    }
    let mut entry = prp2;
    let mut in_page = PER_PAGE - (prp2 % PAGE) / 8;
    while left > 0 {
        if in_page == 1 && left > PAGE {
            // Last slot of a list page, more than one page to go: it
            // chains to the next list page.
            let next = read_entry(entry).ok_or(PrpError::DataTransfer)?;
            if next % PAGE != 0 {
                return Err(PrpError::OffsetInvalid);
            }
            mem.translate(next, PAGE).ok_or(PrpError::DataTransfer)?;
            entry = next;
            in_page = PER_PAGE;
            continue;
        }
        mem.translate(entry, 8).ok_or(PrpError::DataTransfer)?;
        let page = read_entry(entry).ok_or(PrpError::DataTransfer)?;
        if page % PAGE != 0 {
            return Err(PrpError::OffsetInvalid);
        }
        let n = left.min(PAGE);
        emit(page, n, &mut count)?;
        left -= n;
        entry += 8;
        in_page -= 1;
    }
    Ok(count)
}
