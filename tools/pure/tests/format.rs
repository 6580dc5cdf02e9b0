// SPDX-License-Identifier: GPL-2.0
//! Host tests of drivers/vdo_qat/format.rs and drivers/vdo_qat/dedup.rs.

use proptest::prelude::*;
use vq_pure::vdo_qat_dedup::{slots_for_mib, Index, Slot, WAYS};
use vq_pure::vdo_qat_format::{
    fingerprint, has_magic, Item, Loc, SbError, Share, Superblock, BLOCK, FLAG_NEEDS_CHECK,
    ITEM_HAS_FP, MAX_PBN, VERSION,
};

fn sb() -> Superblock {
    Superblock {
        flags: 0,
        data_start: 512,
        data_blocks: 15872,
        logical_blocks: 65536,
        map_root: 3,
        item_root: 4,
        mapped: 28,
        items: 18,
        phys_used: 7,
        generation: 9,
    }
}

#[test]
fn superblock_round_trip_and_layout() {
    let mut b = [0u8; BLOCK];
    sb().encode(&mut b);
    assert!(has_magic(&b));
    assert_eq!(&b[16..24], b"vdoqat\x00\x01");
    assert_eq!(&b[0..16], &[0u8; 16], "bytes 0..16 belong to the checksum");
    assert_eq!(Superblock::decode(&b, 16384), Ok(sb()));
    let (m, d) = ([1u8; 128], [2u8; 128]);
    Superblock::encode_roots(&mut b, &m, &d);
    assert_eq!(Superblock::roots(&b), (m, d));
    assert_eq!(Superblock::decode(&b, 16384), Ok(sb()));
}

#[test]
fn superblock_rejections() {
    let mut b = [0u8; BLOCK];
    assert_eq!(Superblock::decode(&b, 16384), Err(SbError::BadMagic));
    sb().encode(&mut b);
    assert_eq!(VERSION, 2);
    // Version 1 (items without fingerprints) is refused, as is a newer one.
    b[24] = 1;
    assert_eq!(Superblock::decode(&b, 16384), Err(SbError::BadVersion(1)));
    b[24] = 3;
    assert_eq!(Superblock::decode(&b, 16384), Err(SbError::BadVersion(3)));
    let cases: [(fn(&mut Superblock), &str); 6] = [
        (|s| s.data_start = 1, "data region"),
        (|s| s.data_blocks = 0, "data region"),
        (|s| s.data_blocks = 15873, "data region beyond the device end"),
        (|s| s.map_root = 600, "btree root outside the metadata region"),
        (|s| s.items = 29, "counters"),
        (|s| s.flags = 4, "unknown flags"),
    ];
    for (f, why) in cases {
        let mut s = sb();
        f(&mut s);
        let mut b = [0u8; BLOCK];
        s.encode(&mut b);
        assert_eq!(Superblock::decode(&b, 16384), Err(SbError::Inconsistent(why)));
    }
    // A device that shrank below the data region.
    let mut b = [0u8; BLOCK];
    sb().encode(&mut b);
    assert!(Superblock::decode(&b, 16383).is_err());
}

#[test]
fn needs_check_flag_survives_encoding() {
    let mut s = sb();
    s.flags = FLAG_NEEDS_CHECK;
    let mut b = [0u8; BLOCK];
    s.encode(&mut b);
    assert_eq!(Superblock::decode(&b, 16384).map(|x| x.flags), Ok(FLAG_NEEDS_CHECK));
}

/// The item record layout (16 bytes, little-endian) and the fingerprint.
#[test]
fn item_layout_and_share() {
    let d: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
    assert_eq!(fingerprint(&d), u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
    let it = Item::new(Some(&d));
    assert_eq!((it.refs, it.flags, it.fp), (1, ITEM_HAS_FP, fingerprint(&d)));
    let mut e = [0u8; 16];
    e[0] = 1;
    e[4] = 1;
    e[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(it.encode(), e);
    // refs == max: a new copy is stored (max_refs, issue 13 defect 5).
    let full = Item { refs: 3, ..it };
    assert_eq!(full.share(&d, 3), Share::Full);
    assert_eq!(full.share(&d, 4), Share::Yes);
    assert_eq!(Item { refs: u32::MAX, ..it }.share(&d, u32::MAX), Share::Full);
    // Another block's record at the location the index names: stale.
    let mut other = d;
    other[0] ^= 1;
    assert_eq!(Item::new(Some(&other)).share(&d, 10), Share::Stale);
}

/// The index drops an entry by fingerprint and location, and empties
/// completely (issue 13 defect 2: the index never outlives its metadata).
#[test]
fn dedup_index_remove_loc_and_clear() {
    let mut idx = Index::new(vec![Slot::default(); WAYS * 4]);
    let d = |x: u8| -> [u8; 32] { core::array::from_fn(|i| x.wrapping_add(i as u8)) };
    idx.insert(&d(1), 100).unwrap();
    idx.insert(&d(2), 200).unwrap();
    idx.remove_loc(fingerprint(&d(1)), 999);
    assert_eq!(idx.lookup(&d(1)).map(|x| x.1), Some(100));
    idx.remove_loc(fingerprint(&d(1)), 100);
    assert_eq!(idx.lookup(&d(1)), None);
    assert_eq!(idx.lookup(&d(2)).map(|x| x.1), Some(200));
    idx.clear();
    assert_eq!((idx.used(), idx.lookup(&d(2))), (0, None));
}

#[test]
fn dedup_index_basics() {
    let mut idx = Index::new(vec![Slot::default(); WAYS * 4]);
    let d = |x: u8| [x; 32];
    assert_eq!(idx.lookup(&d(1)), None);
    let s1 = idx.insert(&d(1), 100).unwrap();
    assert_eq!(idx.lookup(&d(1)), Some((s1, 100)));
    // Same digest: replaced in place.
    assert_eq!(idx.insert(&d(1), 200), Some(s1));
    assert_eq!(idx.lookup(&d(1)), Some((s1, 200)));
    // remove_if only removes the location it names.
    idx.remove_if(s1, 100);
    assert_eq!(idx.lookup(&d(1)), Some((s1, 200)));
    idx.remove_if(s1, 200);
    assert_eq!(idx.lookup(&d(1)), None);
    idx.remove_if(u32::MAX, 0);
    assert_eq!(idx.used(), 0);
    assert_eq!(slots_for_mib(16) % WAYS, 0);
    assert_eq!(slots_for_mib(16), (16 << 20) / 48 / WAYS * WAYS);
    assert_eq!(slots_for_mib(0), WAYS);
}

proptest! {
    /// Loc encoding round-trips for every valid location.
    #[test]
    fn loc_round_trip(pbn in 0u64..=MAX_PBN, off in 0u16..4096, len in 0u16..4096) {
        let l = if len == 0 { Loc::raw(pbn) } else { Loc { pbn, offset: off.min(4096 - len), len } };
        prop_assert_eq!(Loc::decode(l.encode(), MAX_PBN + 1), Ok(l));
    }

    /// Any 64-bit value decodes to a Loc inside the data region or is
    /// refused; never panics.
    #[test]
    fn loc_decode_total(v in any::<u64>(), blocks in 1u64..1 << 41) {
        if let Ok(l) = Loc::decode(v, blocks) {
            prop_assert!(l.pbn < blocks);
            prop_assert!(usize::from(l.offset) + usize::from(l.len) <= BLOCK);
        }
    }

    #[test]
    fn item_round_trip(refs in any::<u32>(), flags in any::<u32>(), fp in any::<u64>()) {
        let i = Item { refs, flags, fp };
        prop_assert_eq!(Item::decode(&i.encode()), i);
    }

    /// A hit is shared only if the record's fingerprint is the digest's and
    /// there is room for a reference; never for other content.
    #[test]
    fn item_share_model(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), refs in 1u32..10, max in 1u32..10) {
        let mut it = Item::new(Some(&a));
        it.refs = refs;
        let want = if refs >= max { Share::Full } else { Share::Yes };
        prop_assert_eq!(it.share(&a, max), want);
        if fingerprint(&a) != fingerprint(&b) {
            prop_assert_eq!(it.share(&b, max), Share::Stale);
        }
        // A copy stored without a digest is never shared.
        let mut nofp = Item::new(None);
        nofp.refs = refs;
        prop_assert_eq!(nofp.share(&a, max), Share::Stale);
    }

    /// Superblock decoding of arbitrary bytes never panics.
    #[test]
    fn superblock_decode_total(bytes in proptest::collection::vec(any::<u8>(), BLOCK), dev in any::<u64>()) {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(&bytes);
        b[16..24].copy_from_slice(b"vdoqat\x00\x01");
        let _ = Superblock::decode(&b, dev);
    }

    /// The index never holds more than its capacity, and what it returns
    /// for a digest is the last location inserted for it, unless evicted.
    #[test]
    fn index_model(ops in proptest::collection::vec((0u8..40, 0u64..1000, any::<bool>()), 1..300)) {
        let mut idx = Index::new(vec![Slot::default(); WAYS * 2]);
        let mut model = std::collections::HashMap::new();
        for (k, loc, remove) in ops {
            let d = [k; 32];
            if remove {
                if let Some((s, l)) = idx.lookup(&d) {
                    idx.remove_if(s, l);
                }
                model.remove(&k);
            } else {
                idx.insert(&d, loc).unwrap();
                model.insert(k, loc);
            }
            prop_assert!(idx.used() <= idx.capacity());
            for (k2, l2) in &model {
                if let Some((_, l)) = idx.lookup(&[*k2; 32]) {
                    prop_assert_eq!(l, *l2);
                }
            }
        }
    }
}
