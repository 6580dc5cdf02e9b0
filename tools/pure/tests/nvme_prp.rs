// SPDX-License-Identifier: GPL-2.0
//! Host tests of drivers/nvme_vhost/prp.rs: the guest memory table and the
//! PRP walker against a model of guest memory.

use proptest::prelude::*;
use std::collections::HashMap;
use vq_pure::nvme_prp::*;

const RAM: Region = Region { gpa: 0, size: 64 << 20, uaddr: 0x7f00_0000_0000 };

/// Guest memory for list pages: entries written at guest addresses.
#[derive(Default)]
struct Guest(HashMap<u64, u64>);

impl Guest {
    fn list(&mut self, at: u64, entries: &[u64]) {
        for (i, e) in entries.iter().enumerate() {
            self.0.insert(at + 8 * i as u64, *e);
        }
    }
    fn walk(&self, mem: &MemTable<4>, prp1: u64, prp2: u64, len: u64) -> Result<Vec<(u64, u64)>, PrpError> {
        let mut v = Vec::new();
        walk(mem, prp1, prp2, len, 4 << 20, |a| self.0.get(&a).copied(), |a, n| v.push((a, n)))?;
        Ok(v)
    }
}

fn ram() -> MemTable<4> {
    MemTable::new(&[RAM]).unwrap()
}

#[test]
fn memory_table() {
    let a = Region { gpa: 0x10_0000, size: 0x10_0000, uaddr: 0x1000_0000 };
    let b = Region { gpa: 0, size: 0xa_0000, uaddr: 0x2000_0000 };
    let t = MemTable::<4>::new(&[a, b]).unwrap();
    assert_eq!(t.regions(), &[b, a], "sorted");
    assert_eq!(t.translate(0x10_0010, 16), Some(0x1000_0010));
    assert_eq!(t.translate(0x9_fff0, 16), Some(0x2009_fff0));
    assert_eq!(t.translate(0x9_fff8, 16), None, "crosses the end of a region");
    assert_eq!(t.translate(0xa_0000, 1), None, "in the hole");
    assert_eq!(t.translate(0x1f_ffff, 2), None);
    assert_eq!(t.translate(u64::MAX, 2), None, "overflow");
    assert_eq!(t.translate(0, 0), None);
    let c = Region { gpa: 0x9_0000, size: 0x2_0000, uaddr: 0 };
    assert_eq!(MemTable::<4>::new(&[a, b, c]), Err(MemError::Overlap));
    assert_eq!(MemTable::<1>::new(&[a, b]), Err(MemError::TooMany));
    let e = Region { gpa: 5, size: 0, uaddr: 0 };
    assert_eq!(MemTable::<4>::new(&[e]), Err(MemError::Empty));
    let o = Region { gpa: u64::MAX - 4, size: 8, uaddr: 0 };
    assert_eq!(MemTable::<4>::new(&[o]), Err(MemError::Empty));
}

#[test]
fn one_and_two_pages() {
    let g = Guest::default();
    let m = ram();
    assert_eq!(g.walk(&m, 0x5000, 0, 4096), Ok(vec![(0x5000, 4096)]));
    assert_eq!(g.walk(&m, 0x5200, 0, 512), Ok(vec![(0x5200, 512)]));
    // An offset in PRP1 spills into PRP2.
    assert_eq!(g.walk(&m, 0x5200, 0x9000, 4096), Ok(vec![(0x5200, 3584), (0x9000, 512)]));
    assert_eq!(g.walk(&m, 0x5000, 0x9000, 8192), Ok(vec![(0x5000, 4096), (0x9000, 4096)]));
    assert_eq!(g.walk(&m, 0x5000, 0x9100, 8192), Err(PrpError::OffsetInvalid));
    assert_eq!(g.walk(&m, 0x5002, 0, 512), Err(PrpError::OffsetInvalid));
    assert_eq!(g.walk(&m, 0x5000, 0, 0), Err(PrpError::InvalidField));
    assert_eq!(g.walk(&m, 0x5000, 0, (4 << 20) + 1), Err(PrpError::InvalidField), "over MDTS");
    assert_eq!(g.walk(&m, 64 << 20, 0, 512), Err(PrpError::DataTransfer));
    assert_eq!(g.walk(&m, (64 << 20) - 4096, 64 << 20, 8192), Err(PrpError::DataTransfer));
}

#[test]
fn lists_with_offsets_and_chaining() {
    let m = ram();
    let mut g = Guest::default();
    // 4 pages: PRP1 with an offset, a list of 4 entries (the last partial).
    g.list(0x20_0000, &[0x31000, 0x32000, 0x33000, 0x34000]);
    assert_eq!(
        g.walk(&m, 0x30800, 0x20_0000, 4 * 4096),
        Ok(vec![(0x30800, 2048), (0x31000, 4096), (0x32000, 4096), (0x33000, 4096), (0x34000, 2048)])
    );
    // A list that starts at an offset in its page.
    g.list(0x20_0ff0, &[0x41000, 0x42000]);
    assert_eq!(
        g.walk(&m, 0x40000, 0x20_0ff0, 3 * 4096),
        Ok(vec![(0x40000, 4096), (0x41000, 4096), (0x42000, 4096)])
    );
    // 600 pages: the first list page holds 511 data entries and a chain
    // pointer in its last slot.
    let n = 600u64;
    let data: Vec<u64> = (0..n).map(|i| 0x100_0000 + i * 4096).collect();
    let mut first: Vec<u64> = data[1..512].to_vec();
    first.push(0x30_0000);
    g.list(0x21_0000, &first);
    g.list(0x30_0000, &data[512..]);
    let v = g.walk(&m, data[0], 0x21_0000, n * 4096).unwrap();
    assert_eq!(v.len() as u64, n);
    assert!(v.iter().zip(&data).all(|(&(a, l), &d)| a == d && l == 4096));
    // Exactly 513 pages: the last slot of the first list page is data.
    let mut g2 = Guest::default();
    g2.list(0x21_0000, &data[1..513]);
    assert_eq!(g2.walk(&m, data[0], 0x21_0000, 513 * 4096).unwrap().len(), 513);
    // Bad entries.
    let mut b = Guest::default();
    b.list(0x22_0000, &[0x51000, 0x52010]);
    assert_eq!(b.walk(&m, 0x50000, 0x22_0000, 3 * 4096), Err(PrpError::OffsetInvalid));
    b.list(0x23_0000, &[0x51000, 1 << 40]);
    assert_eq!(b.walk(&m, 0x50000, 0x23_0000, 3 * 4096), Err(PrpError::DataTransfer));
    assert_eq!(b.walk(&m, 0x50000, 0x24_0000, 3 * 4096), Err(PrpError::DataTransfer), "unreadable list");
    assert_eq!(b.walk(&m, 0x50000, 0x23_0004, 3 * 4096), Err(PrpError::OffsetInvalid));
    assert_eq!(PrpError::OffsetInvalid.status(), 0x13);
}

proptest! {
    /// Whatever the guest puts in its PRPs and lists, the walk never
    /// panics, every segment is inside guest memory, and on success the
    /// segments add up to the length.
    #[test]
    fn walk_is_safe(prp1: u64, prp2: u64, len in 0u64..(1 << 21), entries in proptest::collection::vec(any::<u64>(), 0..16), small: bool) {
        let m = MemTable::<4>::new(&[Region { gpa: 0x1000, size: 1 << 20, uaddr: 0 }]).unwrap();
        let (p1, p2) = if small { (prp1 % (2 << 20), prp2 % (2 << 20)) } else { (prp1, prp2) };
        let mut g = Guest::default();
        g.list(p2 & !7, &entries);
        let mut total = 0u64;
        let mut segs = Vec::new();
        let r = walk(&m, p1, p2, len, 1 << 20, |a| g.0.get(&a).copied(), |a, n| { total += n; segs.push((a, n)); });
        for (a, n) in segs {
            prop_assert!(m.translate(a, n).is_some());
        }
        if r.is_ok() {
            prop_assert_eq!(total, len);
        }
    }
}
