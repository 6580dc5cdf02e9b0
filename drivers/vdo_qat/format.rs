// SPDX-License-Identifier: GPL-2.0

//! On-disk format of a vdo_qat volume (pure: compiled into the module and
//! into `tools/pure`).
//!
//! The device is cut into 4 KiB blocks:
//!
//! ```text
//! block 0                  superblock (this file; bytes 0..16 are the
//!                          crc32c and block number of kstor::pdata)
//! blocks 1..data_start     metadata: persistent-data btrees and space maps
//! blocks data_start..      data blocks; PBN p is device block data_start + p
//! ```
//!
//! Metadata (all in persistent-data btrees, 64-bit keys and values):
//!
//! - the block map: LBN → [`Loc`] (absent: never written, discarded or
//!   all zeros; reads return zeros);
//! - the item map: [`Loc`] → [`Item`] (16-byte values): how many LBNs
//!   share that stored block or fragment (dedup), and the fingerprint of
//!   its content (the first 8 bytes of its SHA-256), which every dedup hit
//!   is checked against before sharing: the in-memory index is advice, the
//!   item record is the truth;
//! - the data space map counts, per PBN, the live items in it (1 for a raw
//!   block, up to [`MAX_FRAGMENTS`] for a packed block).

/// Bytes per block.
pub const BLOCK: usize = 4096;
/// Superblock magic, at byte 16.
pub const MAGIC: [u8; 8] = *b"vdoqat\x00\x01";
/// Current format version. Version 1 (items without fingerprints) is
/// refused.
pub const VERSION: u32 = 2;
/// Most gzip fragments one packed block can hold (each is at least 19
/// bytes; in practice a handful).
pub const MAX_FRAGMENTS: usize = 64;
/// Largest PBN a [`Loc`] can name (40 bits).
pub const MAX_PBN: u64 = (1 << 40) - 1;

const O_MAGIC: usize = 16;
const O_VERSION: usize = 24;
const O_FLAGS: usize = 28;
const O_DATA_START: usize = 32;
const O_DATA_BLOCKS: usize = 40;
const O_LOGICAL: usize = 48;
const O_MAP_ROOT: usize = 56;
const O_ITEM_ROOT: usize = 64;
const O_MAPPED: usize = 72;
const O_ITEMS: usize = 80;
const O_PHYS_USED: usize = 88;
const O_GENERATION: usize = 96;
/// Offset of the metadata space map root (128 bytes).
pub const O_MSM_ROOT: usize = 128;
/// Offset of the data space map root (128 bytes).
pub const O_DSM_ROOT: usize = 256;
const ROOT_LEN: usize = 128;

/// Flag: a metadata error aborted a transaction; the volume loads
/// read-only until the flag is cleared on purpose (the `clear_needs_check`
/// message), as dm-thin's `needs_check`.
pub const FLAG_NEEDS_CHECK: u32 = 1;

/// Why a superblock was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbError {
    /// Not a vdo_qat superblock.
    BadMagic,
    /// A format version this code does not read.
    BadVersion(u32),
    /// Fields that contradict each other (or the device size).
    Inconsistent(&'static str),
}

/// The superblock fields vdo_qat owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Superblock {
    /// [`FLAG_NEEDS_CHECK`].
    pub flags: u32,
    /// First data block on the device (4 KiB blocks).
    pub data_start: u64,
    /// Data blocks (PBNs) in the data space map.
    pub data_blocks: u64,
    /// Logical size, 4 KiB blocks.
    pub logical_blocks: u64,
    /// Root of the block map btree.
    pub map_root: u64,
    /// Root of the item btree.
    pub item_root: u64,
    /// LBNs mapped.
    pub mapped: u64,
    /// Live items (stored blocks or fragments).
    pub items: u64,
    /// Data blocks in use.
    pub phys_used: u64,
    /// Commits since format.
    pub generation: u64,
}

fn get64(b: &[u8; BLOCK], o: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(x)
}

fn get32(b: &[u8; BLOCK], o: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(x)
}

/// Whether block 0 holds a vdo_qat superblock magic (before any checksum
/// check).
pub fn has_magic(b: &[u8; BLOCK]) -> bool {
    b[O_MAGIC..O_MAGIC + 8] == MAGIC
}

impl Superblock {
    /// Writes the fields (and magic, version) into `b`; bytes 0..16 and
    /// the space map roots are left alone.
    pub fn encode(&self, b: &mut [u8; BLOCK]) {
        b[O_MAGIC..O_MAGIC + 8].copy_from_slice(&MAGIC);
        b[O_VERSION..O_VERSION + 4].copy_from_slice(&VERSION.to_le_bytes());
        b[O_FLAGS..O_FLAGS + 4].copy_from_slice(&self.flags.to_le_bytes());
        for (o, v) in [
            (O_DATA_START, self.data_start),
            (O_DATA_BLOCKS, self.data_blocks),
            (O_LOGICAL, self.logical_blocks),
            (O_MAP_ROOT, self.map_root),
            (O_ITEM_ROOT, self.item_root),
            (O_MAPPED, self.mapped),
            (O_ITEMS, self.items),
            (O_PHYS_USED, self.phys_used),
            (O_GENERATION, self.generation),
        ] {
            b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Stores the two space map roots.
    pub fn encode_roots(b: &mut [u8; BLOCK], msm: &[u8; ROOT_LEN], dsm: &[u8; ROOT_LEN]) {
        b[O_MSM_ROOT..O_MSM_ROOT + ROOT_LEN].copy_from_slice(msm);
        b[O_DSM_ROOT..O_DSM_ROOT + ROOT_LEN].copy_from_slice(dsm);
    }

    /// The two space map roots.
    pub fn roots(b: &[u8; BLOCK]) -> ([u8; ROOT_LEN], [u8; ROOT_LEN]) {
        let mut m = [0u8; ROOT_LEN];
        let mut d = [0u8; ROOT_LEN];
        m.copy_from_slice(&b[O_MSM_ROOT..O_MSM_ROOT + ROOT_LEN]);
        d.copy_from_slice(&b[O_DSM_ROOT..O_DSM_ROOT + ROOT_LEN]);
        (m, d)
    }

    /// Reads and checks a superblock of a device of `dev_blocks` blocks
    /// (its checksum was checked by the caller).
    ///
    /// # Errors
    ///
    /// [`SbError`].
    pub fn decode(b: &[u8; BLOCK], dev_blocks: u64) -> Result<Self, SbError> {
        if !has_magic(b) {
            return Err(SbError::BadMagic);
        }
        let v = get32(b, O_VERSION);
        if v != VERSION {
            return Err(SbError::BadVersion(v));
        }
        let sb = Superblock {
            flags: get32(b, O_FLAGS),
            data_start: get64(b, O_DATA_START),
            data_blocks: get64(b, O_DATA_BLOCKS),
            logical_blocks: get64(b, O_LOGICAL),
            map_root: get64(b, O_MAP_ROOT),
            item_root: get64(b, O_ITEM_ROOT),
            mapped: get64(b, O_MAPPED),
            items: get64(b, O_ITEMS),
            phys_used: get64(b, O_PHYS_USED),
            generation: get64(b, O_GENERATION),
        };
        sb.check(dev_blocks)?;
        Ok(sb)
    }

    /// Checks the fields against each other and the device size.
    ///
    /// # Errors
    ///
    /// [`SbError::Inconsistent`] naming the broken rule.
    pub fn check(&self, dev_blocks: u64) -> Result<(), SbError> {
        if self.flags & !FLAG_NEEDS_CHECK != 0 {
            return Err(SbError::Inconsistent("unknown flags"));
        }
        if self.data_start < 2 || self.data_blocks == 0 || self.data_blocks > MAX_PBN {
            return Err(SbError::Inconsistent("data region"));
        }
        match self.data_start.checked_add(self.data_blocks) {
            Some(end) if end <= dev_blocks => {}
            _ => return Err(SbError::Inconsistent("data region beyond the device end")),
        }
        if self.map_root == 0
            || self.item_root == 0
            || self.map_root >= self.data_start
            || self.item_root >= self.data_start
        {
            return Err(SbError::Inconsistent("btree root outside the metadata region"));
        }
        if self.mapped > self.logical_blocks
            || self.items > self.mapped
            || self.phys_used > self.items
            || self.phys_used > self.data_blocks
        {
            return Err(SbError::Inconsistent("counters"));
        }
        Ok(())
    }
}

/// Where an LBN's data lives: a whole raw block, or a gzip member inside a
/// packed block.
///
/// Encoded in 64 bits: `pbn << 24 | offset << 12 | len`; `len` 0 means a
/// raw 4 KiB block (offset 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// Data block.
    pub pbn: u64,
    /// Byte offset of the fragment in the block.
    pub offset: u16,
    /// Fragment length in bytes; 0 for a raw block.
    pub len: u16,
}

impl Loc {
    /// A raw block.
    pub const fn raw(pbn: u64) -> Loc {
        Loc {
            pbn,
            offset: 0,
            len: 0,
        }
    }

    /// Whether this is a compressed fragment.
    pub const fn is_fragment(&self) -> bool {
        self.len != 0
    }

    /// The 64-bit encoding.
    pub const fn encode(&self) -> u64 {
        (self.pbn << 24) | ((self.offset as u64) << 12) | self.len as u64
    }

    /// Decodes and checks a value read from disk against `data_blocks`.
    ///
    /// # Errors
    ///
    /// `Err(())` if the PBN is beyond the data region or the fragment
    /// leaves the block.
    #[allow(clippy::result_unit_err)]
    pub fn decode(v: u64, data_blocks: u64) -> Result<Loc, ()> {
        let l = Loc {
            pbn: v >> 24,
            offset: ((v >> 12) & 0xfff) as u16,
            len: (v & 0xfff) as u16,
        };
        if l.pbn >= data_blocks
            || (l.len == 0 && l.offset != 0)
            || usize::from(l.offset) + usize::from(l.len) > BLOCK
        {
            return Err(());
        }
        Ok(l)
    }
}

/// Bytes of an item record.
pub const ITEM_LEN: usize = 16;
/// Item flag: `fp` holds the fingerprint of the stored content (the block
/// was hashed when it was stored).
pub const ITEM_HAS_FP: u32 = 1;

/// The fingerprint of a block with SHA-256 digest `digest`: its first 8
/// bytes, little-endian. The dedup index places a digest by it too.
pub fn fingerprint(digest: &[u8; 32]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(x)
}

/// An item record: reference count and content fingerprint.
///
/// Encoded in 16 bytes: `refs` (u32), `flags` (u32), `fp` (u64), all
/// little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    /// LBNs that map to the item (at least 1 while it exists).
    pub refs: u32,
    /// [`ITEM_HAS_FP`].
    pub flags: u32,
    /// [`fingerprint`] of the stored content (0 without `ITEM_HAS_FP`).
    pub fp: u64,
}

/// Whether a dedup candidate may be shared, see [`Item::share`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    /// Same fingerprint, room for one more reference.
    Yes,
    /// The item holds other content (or none known): the index entry is
    /// stale and must be dropped.
    Stale,
    /// Same content, but the item has `max_refs` references already:
    /// store a new copy (dm-vdo does the same at its 254 limit).
    Full,
}

impl Item {
    /// A new item of one reference, with the fingerprint of `digest` if
    /// the block was hashed.
    pub fn new(digest: Option<&[u8; 32]>) -> Item {
        match digest {
            Some(d) => Item {
                refs: 1,
                flags: ITEM_HAS_FP,
                fp: fingerprint(d),
            },
            None => Item {
                refs: 1,
                flags: 0,
                fp: 0,
            },
        }
    }

    /// The 16-byte encoding.
    pub fn encode(&self) -> [u8; ITEM_LEN] {
        let mut b = [0u8; ITEM_LEN];
        b[0..4].copy_from_slice(&self.refs.to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.fp.to_le_bytes());
        b
    }

    /// Decodes a record read from disk.
    pub fn decode(b: &[u8; ITEM_LEN]) -> Item {
        let mut r = [0u8; 4];
        let mut f = [0u8; 4];
        let mut p = [0u8; 8];
        r.copy_from_slice(&b[0..4]);
        f.copy_from_slice(&b[4..8]);
        p.copy_from_slice(&b[8..16]);
        Item {
            refs: u32::from_le_bytes(r),
            flags: u32::from_le_bytes(f),
            fp: u64::from_le_bytes(p),
        }
    }

    /// Whether a write of content with SHA-256 `digest` may share this
    /// item, which may take at most `max_refs` references.
    pub fn share(&self, digest: &[u8; 32], max_refs: u32) -> Share {
        if self.flags & ITEM_HAS_FP == 0 || self.fp != fingerprint(digest) {
            Share::Stale
        } else if self.refs >= max_refs {
            Share::Full
        } else {
            Share::Yes
        }
    }
}
