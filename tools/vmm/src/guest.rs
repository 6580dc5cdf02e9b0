// SPDX-License-Identifier: GPL-2.0

//! Guest RAM: one memfd mapping laid out as region A (guest physical
//! 0..8 MiB: queues, PRP lists, admin buffers), a 64 KiB hole that is
//! mapped but not in the memory table (filled with a canary the controller
//! must never touch), and region B (guest physical 1 GiB..+8 MiB: data).
//! A guest address just past region A lands, in the VMM's address space,
//! in the hole: an off-by-something translation would show.

use std::ptr;
use std::sync::atomic::{fence, Ordering};

/// Memory page size.
pub const PAGE: u64 = 4096;
/// Region A: guest physical base and size.
pub const A_GPA: u64 = 0;
/// Bytes of region A.
pub const A_SIZE: u64 = 8 << 20;
/// Bytes of the hole between the regions in the mapping.
pub const HOLE: u64 = 64 << 10;
/// Region B: guest physical base.
pub const B_GPA: u64 = 1 << 30;
/// Bytes of region B.
pub const B_SIZE: u64 = 8 << 20;
/// The canary byte of the hole.
pub const CANARY: u8 = 0xa5;

/// Guest RAM.
pub struct Guest {
    base: *mut u8,
    next_a: u64,
    next_b: u64,
}

impl Guest {
    /// Maps fresh guest RAM.
    pub fn new() -> Self {
        let len = (A_SIZE + HOLE + B_SIZE) as usize;
        // SAFETY: plain syscalls; the mapping is checked below.
        let base = unsafe {
            let fd = libc::memfd_create(c"nvme-vmm-guest".as_ptr(), 0);
            assert!(fd >= 0, "memfd_create failed");
            assert!(libc::ftruncate(fd, len as libc::off_t) == 0, "ftruncate failed");
            let p = libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
            assert!(p != libc::MAP_FAILED, "mmap failed");
            libc::close(fd);
            p as *mut u8
        };
        let g = Guest {
            base,
            next_a: PAGE,
            next_b: 0,
        };
        // SAFETY: inside the mapping.
        unsafe { ptr::write_bytes(base.add(A_SIZE as usize), CANARY, HOLE as usize) };
        g
    }

    /// The `struct vhost_memory` of regions A and B.
    pub fn vhost_memory(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for (gpa, size, off) in [(A_GPA, A_SIZE, 0), (B_GPA, B_SIZE, A_SIZE + HOLE)] {
            b.extend_from_slice(&gpa.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&(self.base as u64 + off).to_le_bytes());
            b.extend_from_slice(&0u64.to_le_bytes());
        }
        b
    }

    /// Offset in the mapping of `len` bytes at `gpa`, if inside a region.
    fn off(&self, gpa: u64, len: usize) -> Option<usize> {
        let end = gpa.checked_add(len as u64)?;
        if end <= A_GPA + A_SIZE {
            return Some((gpa - A_GPA) as usize);
        }
        if gpa >= B_GPA && end <= B_GPA + B_SIZE {
            return Some((gpa - B_GPA + A_SIZE + HOLE) as usize);
        }
        None
    }

    /// Whether the hole still holds only the canary.
    pub fn hole_intact(&self) -> bool {
        // SAFETY: inside the mapping.
        let hole = unsafe { std::slice::from_raw_parts(self.base.add(A_SIZE as usize), HOLE as usize) };
        hole.iter().all(|&b| b == CANARY)
    }

    /// Copies `data` to guest address `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) {
        let o = self.off(gpa, data.len()).expect("guest write outside RAM");
        // SAFETY: `o..o + len` is inside the mapping (checked by `off`).
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(o), data.len()) };
        fence(Ordering::SeqCst);
    }

    /// Copies guest memory at `gpa` into `data`.
    pub fn read(&self, gpa: u64, data: &mut [u8]) {
        fence(Ordering::SeqCst);
        let o = self.off(gpa, data.len()).expect("guest read outside RAM");
        // SAFETY: as in `write`.
        unsafe { ptr::copy_nonoverlapping(self.base.add(o), data.as_mut_ptr(), data.len()) };
    }

    /// A little-endian u32 at `gpa` (volatile: the controller writes it).
    pub fn r32(&self, gpa: u64) -> u32 {
        let o = self.off(gpa, 4).expect("guest read outside RAM");
        // SAFETY: inside the mapping, 4-byte aligned by all callers.
        unsafe { ptr::read_volatile(self.base.add(o) as *const u32) }
    }

    /// Stores a u32 at `gpa` (volatile).
    pub fn w32(&self, gpa: u64, v: u32) {
        let o = self.off(gpa, 4).expect("guest write outside RAM");
        // SAFETY: as in `r32`.
        unsafe { ptr::write_volatile(self.base.add(o) as *mut u32, v) };
    }

    /// `pages` zeroed pages of region A.
    pub fn alloc_a(&mut self, pages: u64) -> u64 {
        let gpa = A_GPA + self.next_a;
        self.next_a += pages * PAGE;
        assert!(self.next_a <= A_SIZE, "region A exhausted");
        self.write(gpa, &vec![0u8; (pages * PAGE) as usize]);
        gpa
    }

    /// Forgets every allocation of region A (a new bring-up). Page 0 is
    /// never handed out: controllers refuse an admin queue at address 0.
    pub fn reset_a(&mut self) {
        self.next_a = PAGE;
    }

    /// `pages` pages of region B (data buffers).
    pub fn alloc_b(&mut self, pages: u64) -> u64 {
        let gpa = B_GPA + self.next_b;
        self.next_b += pages * PAGE;
        assert!(self.next_b <= B_SIZE, "region B exhausted");
        gpa
    }
}
