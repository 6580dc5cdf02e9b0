// SPDX-License-Identifier: GPL-2.0

//! The dedup index: SHA-256 digest of a 4 KiB block → where a copy is
//! stored (pure: compiled into the module and into `tools/pure`).
//!
//! A fixed-size, set-associative table in memory: memory is bounded by the
//! `index_memory` table argument and never grows. A full set evicts one of
//! its entries (round robin), so the index is a cache of recent content:
//! losing an entry only loses a dedup opportunity.
//!
//! The index is advice, never trusted alone. SHA-256 is collision
//! resistant (no collision is known; a random one needs about 2^128
//! blocks), but an entry can outlive what it names (a transaction aborted
//! after a metadata error frees the blocks it allocated). So the owner
//! (1) removes an entry when its item dies ([`Index::remove_loc`]), (2)
//! empties the whole index when a transaction is aborted and whenever the
//! metadata is loaded from another commit than the one the index was built
//! against ([`Index::clear`]), and (3) checks every hit against the item
//! record on disk, which keeps a fingerprint of the stored content
//! (`format::Item::share`), before sharing. The index is not persistent:
//! after the volume is loaded again it starts empty and learns new writes.

/// Bytes of a digest.
pub const DIGEST_LEN: usize = 32;
/// Entries per set.
pub const WAYS: usize = 8;

/// One entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// SHA-256 of the block.
    pub digest: [u8; DIGEST_LEN],
    /// Encoded `Loc` of the stored copy.
    pub loc: u64,
    /// Whether the entry holds anything.
    pub used: bool,
}

/// Bytes of memory one slot takes.
pub const SLOT_BYTES: usize = core::mem::size_of::<Slot>();

/// Slots for an index of `mib` MiB (a multiple of [`WAYS`], at least one
/// set).
pub const fn slots_for_mib(mib: u64) -> usize {
    let n = (mib as usize).saturating_mul(1 << 20) / SLOT_BYTES;
    let n = n - n % WAYS;
    if n < WAYS {
        WAYS
    } else {
        n
    }
}

/// The index over caller-allocated storage (`KVVec` in the kernel, `Vec`
/// on the host).
pub struct Index<S> {
    slots: S,
    clock: usize,
}

impl<S: core::ops::DerefMut<Target = [Slot]>> Index<S> {
    /// An index over `slots`, which must be all unused; its length is
    /// rounded down to whole sets.
    pub fn new(slots: S) -> Self {
        Index { slots, clock: 0 }
    }

    fn sets(&self) -> usize {
        (self.slots.len() / WAYS).max(1)
    }

    /// First slot of the set of digests with fingerprint `fp` (the first 8
    /// bytes of the digest, little-endian, as `format::fingerprint`).
    fn set_of_fp(&self, fp: u64) -> usize {
        (fp % self.sets() as u64) as usize * WAYS
    }

    fn set_of(&self, digest: &[u8; DIGEST_LEN]) -> usize {
        let mut x = [0u8; 8];
        x.copy_from_slice(&digest[..8]);
        self.set_of_fp(u64::from_le_bytes(x))
    }

    /// Slots in the index.
    pub fn capacity(&self) -> usize {
        self.sets() * WAYS
    }

    /// The slot number and location stored for `digest`.
    pub fn lookup(&self, digest: &[u8; DIGEST_LEN]) -> Option<(u32, u64)> {
        let base = self.set_of(digest);
        let s = self.slots.get(base..base + WAYS)?;
        s.iter()
            .position(|e| e.used && e.digest == *digest)
            .map(|i| ((base + i) as u32, s[i].loc))
    }

    /// Records `digest` → `loc`, replacing an entry of the same digest, or
    /// a free one, or else evicting one of the set. Returns the slot
    /// number, or `None` if the storage is smaller than one set.
    pub fn insert(&mut self, digest: &[u8; DIGEST_LEN], loc: u64) -> Option<u32> {
        let base = self.set_of(digest);
        let clock = self.clock;
        let set = self.slots.get_mut(base..base + WAYS)?;
        let i = set
            .iter()
            .position(|e| e.used && e.digest == *digest)
            .or_else(|| set.iter().position(|e| !e.used))
            .unwrap_or(clock % WAYS);
        set[i] = Slot {
            digest: *digest,
            loc,
            used: true,
        };
        self.clock = self.clock.wrapping_add(1);
        Some((base + i) as u32)
    }

    /// Empties slot `slot` if it still holds `loc` (the item stored there
    /// died). A slot number out of range is ignored.
    pub fn remove_if(&mut self, slot: u32, loc: u64) {
        if let Some(e) = self.slots.get_mut(slot as usize) {
            if e.used && e.loc == loc {
                e.used = false;
            }
        }
    }

    /// Empties the entry of the digest with fingerprint `fp` that names
    /// `loc` (the item stored there died), if there is one.
    pub fn remove_loc(&mut self, fp: u64, loc: u64) {
        let base = self.set_of_fp(fp);
        if let Some(set) = self.slots.get_mut(base..base + WAYS) {
            for e in set.iter_mut() {
                if e.used && e.loc == loc {
                    e.used = false;
                }
            }
        }
    }

    /// Empties every entry (the metadata they were built against is gone).
    pub fn clear(&mut self) {
        for e in self.slots.iter_mut() {
            e.used = false;
        }
        self.clock = 0;
    }

    /// Slots in use (linear scan; for statistics).
    pub fn used(&self) -> usize {
        self.slots.iter().filter(|e| e.used).count()
    }
}
