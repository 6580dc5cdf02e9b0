// SPDX-License-Identifier: GPL-2.0

//! The packer: gzip members of compressed blocks gathered into 4 KiB
//! packed blocks.
//!
//! Space first, acknowledgement after (issue 13, defect 4). When a bin
//! opens, two data blocks are reserved for it ([`Volume::reserve`]): one
//! for its packed block, one to write it again elsewhere if the first write
//! fails. A write whose member joins a bin with its reservation is
//! acknowledged at once, as a disk acknowledges a write into its volatile
//! cache (a FUA write waits for its packed block and a commit); a write for
//! which no reservation can be made fails with `ENOSPC` and is never
//! acknowledged. So the packed block of an acknowledged write always has a
//! place, and only a second failed write of it (the data device failing)
//! loses it: that makes the volume read-only (the transaction is aborted,
//! as after a crash, and the next flush fails).
//!
//! The open bin is sealed and written when the next member does not fit
//! or it holds [`format::MAX_FRAGMENTS`], for a FUA write, before a flush
//! completes, by the commit timer (every commit period), and at suspend.
//!
//! A sealed bin is written without any lock held. Until its LBNs are
//! mapped it stays on the `writing` list: reads (and the read half of a
//! partial write) find its members there. A newer write of one of its
//! LBNs that gets mapped first (raw, deduplicated, zero, discarded, or in a
//! bin sealed later) marks that fragment superseded in the same step, so
//! it is not mapped over the newer data. Mapping takes the bin lock, then
//! the metadata lock (the lock order everywhere), so it is atomic with
//! respect to superseding.

use crate::volume::{Digest, Volume};
use crate::format::{self, Loc, BLOCK};
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kernel::sync::{Arc, UniqueArc};
use kstor::bio::{OwnedBio, Status};
use kstor::blkdev::{BlockBuf, SECTORS_PER_BLOCK};
use kstor::zlib::Inflater;

/// Blocks reserved per bin: its packed block, and one for a second try.
const RESERVE: u64 = 2;
/// Most sealed bins being written at once: each sealer writes what it
/// sealed before it seals again, and there are at most 32 lanes (2 bins
/// each: a full one and a FUA one), the commit timer and suspend.
const MAX_WRITING: usize = 72;

/// A fragment: one write's gzip member in a bin.
pub(crate) struct Frag {
    pub(crate) lbn: u64,
    pub(crate) offset: u16,
    pub(crate) len: u16,
    pub(crate) digest: Option<Digest>,
    /// Same content as the earlier fragment at this index of the bin:
    /// shares its item instead of storing the bytes again (in-flight
    /// dedup, as dm-vdo's hash locks).
    pub(crate) dup_of: Option<usize>,
    /// The LBN was written or discarded again after this fragment joined
    /// the bin: do not map it.
    pub(crate) superseded: bool,
    /// A FUA write, ended when the packed block is mapped and committed
    /// (other writes are acknowledged when they join the bin).
    pub(crate) bio: Option<OwnedBio<'static>>,
}

impl Frag {
    /// A fragment of `len` bytes for `lbn` (placed by [`Volume::add_to_bin`]).
    pub(crate) fn new(lbn: u64, len: u16, digest: Option<Digest>) -> Frag {
        Frag {
            lbn,
            offset: 0,
            len,
            digest,
            dup_of: None,
            superseded: false,
            bio: None,
        }
    }
}

/// A sealed bin being written.
struct Writing {
    id: u64,
    block: Arc<BlockBuf>,
    frags: KVec<Frag>,
}

impl Writing {
    /// Ends the held (FUA) bios with `st`.
    fn end_held(frags: &mut [Frag], st: Status) {
        for f in frags.iter_mut() {
            if let Some(b) = f.bio.take() {
                b.end(st);
            }
        }
    }
}

/// What a sealer must write: [`Volume::write_out`].
pub(crate) struct Sealed {
    id: u64,
    block: Arc<BlockBuf>,
}

/// The packer's state, under `Volume::bin`.
pub(crate) struct Bin {
    /// The open bin's block (allocated when its first member arrives).
    buf: Option<UniqueArc<BlockBuf>>,
    used: usize,
    frags: KVec<Frag>,
    writing: KVec<Writing>,
    next_id: u64,
}

impl Bin {
    /// An empty packer.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub(crate) fn new() -> Result<Bin> {
        Ok(Bin {
            buf: None,
            used: 0,
            frags: KVec::new(),
            writing: KVec::with_capacity(MAX_WRITING, GFP_KERNEL)?,
            next_id: 0,
        })
    }

    /// Marks the fragments of LBNs `[b0, b1)`, open or being written,
    /// superseded.
    pub(crate) fn supersede(&mut self, b0: u64, b1: u64) {
        let all = Iterator::chain(
            self.frags.iter_mut(),
            self.writing.iter_mut().flat_map(|w| w.frags.iter_mut()),
        );
        for f in all {
            if f.lbn >= b0 && f.lbn < b1 {
                f.superseded = true;
            }
        }
    }

    /// Marks the open bin's fragments of `lbn` superseded (a newer
    /// fragment of it joins the same bin).
    fn supersede_open(&mut self, lbn: u64) {
        for f in self.frags.iter_mut().filter(|f| f.lbn == lbn) {
            f.superseded = true;
        }
    }

    /// Marks the fragments of `lbn` in bins sealed before bin `id`
    /// superseded (bin `id` just mapped it).
    fn supersede_older(&mut self, id: u64, lbn: u64) {
        for w in self.writing.iter_mut().filter(|w| w.id < id) {
            for f in w.frags.iter_mut().filter(|f| f.lbn == lbn) {
                f.superseded = true;
            }
        }
    }

    /// Copies the member of the newest live fragment of `lbn` (open bin
    /// first, then the bins being written, newest first) to the start of
    /// `out`; returns its length.
    fn copy_member(&self, lbn: u64, out: &mut BlockBuf) -> Option<usize> {
        let find = |frags: &KVec<Frag>| -> Option<(usize, usize)> {
            let f = frags.iter().rev().find(|f| f.lbn == lbn && !f.superseded)?;
            let src = f.dup_of.and_then(|i| frags.get(i)).unwrap_or(f);
            Some((usize::from(src.offset), usize::from(src.len)))
        };
        let (buf, (off, len)) = match (self.buf.as_ref(), find(&self.frags)) {
            (Some(b), Some(r)) => (&***b, r),
            _ => self
                .writing
                .iter()
                .rev()
                .find_map(|w| find(&w.frags).map(|r| (&**w.block, r)))?,
        };
        let src = buf.get(off..off + len)?;
        out.get_mut(..len)?.copy_from_slice(src);
        Some(len)
    }

}

impl Volume {
    /// Reads LBN `lbn` from the packer into `out`, using `scratch`, if a
    /// live fragment of it is there. The member is copied under the lock
    /// and inflated after it.
    pub(crate) fn read_from_bin(
        &self,
        lbn: u64,
        out: &mut BlockBuf,
        scratch: &mut BlockBuf,
        inf: &mut Inflater,
    ) -> Option<Result> {
        let len = self.bin.lock().copy_member(lbn, scratch)?;
        let loc = Loc {
            pbn: 0,
            offset: 0,
            len: len as u16,
        };
        Some(self.decode_fragment(scratch, loc, out, inf))
    }

    /// Adds `frag`, whose member is `member`, to the open bin (sealing and
    /// writing the bin first if it does not fit, opening a bin with its
    /// reservation if there is none), and acknowledges `bio`; a FUA `bio`
    /// waits in the bin, which is sealed and written at once.
    ///
    /// # Errors
    ///
    /// The bio back, never acknowledged: `ENOSPC` if no bin could reserve
    /// its blocks (after a commit to reclaim freed ones), `ENOMEM`, `EIO`
    /// in read-only mode.
    pub(crate) fn add_to_bin(
        &self,
        member: &[u8],
        frag: Frag,
        bio: OwnedBio<'static>,
    ) -> Result<(), (OwnedBio<'static>, Error)> {
        let len = usize::from(frag.len);
        let Some(member) = member.get(..len).filter(|_| len <= BLOCK) else {
            return Err((bio, EIO));
        };
        let mut frag = Some(frag);
        let mut bio = Some(bio);
        let mut retried = false;
        loop {
            let mut sealed: [Option<Sealed>; 2] = [None, None];
            let r = self.join_bin(member, &mut frag, &mut bio, &mut sealed);
            for s in sealed.into_iter().flatten() {
                self.write_out(s);
            }
            match r {
                Ok(()) => return Ok(()),
                Err(e) if e == ENOSPC && !retried && self.reclaimable() => {
                    // Blocks freed since the last commit come back with one
                    // (not under the bin lock: a commit waits for writers
                    // that need it).
                    retried = true;
                    if let Err(e) = self.commit() {
                        return match bio.take() {
                            Some(b) => Err((b, e)),
                            None => Ok(()),
                        };
                    }
                }
                Err(e) => {
                    if e == ENOSPC {
                        self.stats.enospc.add(1, Relaxed);
                    }
                    return match bio.take() {
                        Some(b) => Err((b, e)),
                        None => Ok(()),
                    };
                }
            }
        }
    }

    /// One attempt of [`Volume::add_to_bin`] under the bin lock; bins to
    /// write go to `sealed`. On success `frag` and `bio` are taken (the bio
    /// ended or held).
    fn join_bin(
        &self,
        member: &[u8],
        frag: &mut Option<Frag>,
        bio: &mut Option<OwnedBio<'static>>,
        sealed: &mut [Option<Sealed>; 2],
    ) -> Result {
        let len = member.len();
        let mut bin = self.bin.lock();
        let (lbn, digest) = match frag.as_ref() {
            Some(f) => (f.lbn, f.digest),
            None => return Err(EIO),
        };
        // A bin being written keeps its fragment of this LBN until this
        // one is mapped.
        bin.supersede_open(lbn);
        let mut dup = digest.and_then(|d| {
            bin.frags
                .iter()
                .position(|f| f.dup_of.is_none() && f.digest == Some(d))
        });
        if bin.frags.len() >= format::MAX_FRAGMENTS || (dup.is_none() && bin.used + len > BLOCK) {
            sealed[0] = self.seal(&mut bin);
            dup = None;
        }
        self.open_bin(&mut bin)?;
        let (Some(mut f), Some(b)) = (frag.take(), bio.take()) else {
            return Err(EIO);
        };
        if let Some(i) = dup {
            f.dup_of = Some(i);
        } else {
            let at = bin.used;
            if let Some(buf) = bin.buf.as_mut() {
                buf[at..at + len].copy_from_slice(member);
            }
            f.offset = at as u16;
            bin.used += len;
        }
        let fua = b.is_fua();
        let ack = if fua {
            f.bio = Some(b);
            None
        } else {
            Some(b)
        };
        // The capacity for MAX_FRAGMENTS was reserved at open.
        if let Err(e) = bin.frags.push_within_capacity(f) {
            let mut f = e.0;
            *bio = f.bio.take().or(ack);
            return Err(ENOMEM);
        }
        if dup.is_some() {
            self.stats.dedup_hits.add(1, Relaxed);
        } else {
            self.stats.compressed.add(1, Relaxed);
        }
        if fua {
            sealed[1] = self.seal(&mut bin);
        }
        drop(bin);
        if let Some(b) = ack {
            b.end(Status::OK);
        }
        Ok(())
    }

    /// Gives the bin a block, room for its fragments and its reserved
    /// data blocks, if it has none.
    fn open_bin(&self, bin: &mut Bin) -> Result {
        if bin.buf.is_some() {
            return Ok(());
        }
        let buf = UniqueArc::new(BlockBuf::new_zeroed(GFP_KERNEL)?, GFP_KERNEL)?;
        let frags = KVec::with_capacity(format::MAX_FRAGMENTS, GFP_KERNEL)?;
        self.reserve(RESERVE)?;
        bin.frags = frags;
        bin.buf = Some(buf);
        bin.used = 0;
        Ok(())
    }

    /// Seals the open bin, if it holds anything: it moves to the `writing`
    /// list and the caller must pass the result to [`Volume::write_out`]
    /// after dropping the lock.
    fn seal(&self, bin: &mut Bin) -> Option<Sealed> {
        if bin.frags.is_empty() {
            return None;
        }
        let buf = bin.buf.take()?;
        let frags = core::mem::replace(&mut bin.frags, KVec::new());
        bin.used = 0;
        let block: Arc<BlockBuf> = buf.into();
        let id = bin.next_id;
        bin.next_id += 1;
        let w = Writing {
            id,
            block: block.clone(),
            frags,
        };
        match bin.writing.push_within_capacity(w) {
            Ok(()) => Some(Sealed { id, block }),
            Err(mut e) => {
                // Cannot happen (see MAX_WRITING): the writes fail, never
                // acknowledged.
                pr_err!("vdo_qat: too many packed blocks in flight\n");
                Writing::end_held(&mut e.0.frags, Status::from_error(ENOMEM));
                self.unreserve(RESERVE);
                None
            }
        }
    }

    /// Seals the open bin and writes it, if it holds anything.
    pub(crate) fn write_bin(&self) {
        let s = self.seal(&mut self.bin.lock());
        if let Some(s) = s {
            self.write_out(s);
        }
    }

    /// Writes a sealed bin to a new data block (from its reservation),
    /// maps its live fragments and ends its held FUA bios (after a commit).
    /// A write error is retried once in another block; a second one, or a
    /// metadata error, makes the volume read-only (its acknowledged writes
    /// are lost with the aborted transaction, and the next flush fails).
    fn write_out(&self, s: Sealed) {
        let (stored, unused) = self.store_packed(&s.block);
        self.unreserve(unused);
        let mut bin = self.bin.lock();
        let Some(pos) = bin.writing.iter().position(|w| w.id == s.id) else {
            return;
        };
        let Ok(w) = bin.writing.remove(pos) else {
            return;
        };
        let mut frags = w.frags;
        let r = stored.and_then(|pbn| {
            let mut m = self.meta.lock();
            let r = self.map_packed(&mut m, pbn, &frags);
            if let Err(e) = r {
                // A half-made update is never committed.
                self.fail_locked(&mut m, e);
            }
            self.alloc_done(&mut m);
            r
        });
        if r.is_ok() {
            for f in frags.iter().filter(|f| !f.superseded) {
                bin.supersede_older(s.id, f.lbn);
            }
        }
        drop(bin);
        let fua = frags.iter().any(|f| f.bio.is_some());
        let r = match r {
            Ok(()) if fua => self.commit(),
            r => r,
        };
        if r.is_ok() {
            self.stats.packed_blocks.add(1, Relaxed);
        } else {
            self.stats.packed_failed.add(1, Relaxed);
        }
        Writing::end_held(
            &mut frags,
            match r {
                Ok(()) => Status::OK,
                Err(e) => Status::from_error(e),
            },
        );
    }

    /// Writes `block` to a block of the bin's reservation, and on a write
    /// error once more to the other one. Returns the PBN, counted in
    /// flight (the caller ends that with [`Volume::alloc_done`]), and the
    /// reserved blocks left unused.
    fn store_packed(&self, block: &BlockBuf) -> (Result<u64>, u64) {
        let mut left = RESERVE;
        loop {
            let pbn = match self.alloc(true) {
                Ok(p) => p,
                Err(e) => return (Err(e), left),
            };
            left -= 1;
            let ds = self.data_start.load(Relaxed);
            let w = self
                .data
                .write_block((ds + pbn) * SECTORS_PER_BLOCK, block, Default::default());
            let Err(e) = w else {
                return (Ok(pbn), left);
            };
            self.stats.write_errors.add(1, Relaxed);
            pr_err!(
                "vdo_qat: writing a packed block at PBN {} failed (error {}){}\n",
                pbn,
                e.to_errno(),
                if left > 0 { ": writing it elsewhere" } else { "" }
            );
            let mut m = self.meta.lock();
            let _ = self.release_block_locked(&mut m, pbn);
            if left == 0 {
                // Acknowledged data cannot be stored: abort (read-only).
                self.fail_locked(&mut m, e);
            }
            self.alloc_done(&mut m);
            drop(m);
            if left == 0 {
                return (Err(e), 0);
            }
        }
    }

    /// Creates the items of the stored fragments of a packed block at
    /// `pbn` and maps their live LBNs.
    fn map_packed(&self, m: &mut crate::meta::Meta, pbn: u64, frags: &[Frag]) -> Result {
        // References each stored fragment gets: its own LBN unless
        // superseded, plus live duplicates.
        let mut users = [0u32; format::MAX_FRAGMENTS];
        for (i, f) in frags.iter().enumerate() {
            if !f.superseded {
                if let Some(u) = users.get_mut(f.dup_of.unwrap_or(i)) {
                    *u += 1;
                }
            }
        }
        if users.iter().all(|&u| u == 0) {
            // Nothing left to map: give the block back.
            return self.release_block_locked(m, pbn);
        }
        let mut first = true;
        for (i, f) in frags.iter().enumerate() {
            let n = users.get(i).copied().unwrap_or(0);
            if f.dup_of.is_some() || n == 0 {
                continue;
            }
            let loc = Loc {
                pbn,
                offset: f.offset,
                len: f.len,
            };
            self.new_item_locked(m, loc, f.digest.as_ref(), !first, n)?;
            first = false;
            for g in frags.iter() {
                if !g.superseded && (core::ptr::eq(g, f) || g.dup_of == Some(i)) {
                    self.map_locked(m, g.lbn, Some(loc))?;
                }
            }
        }
        Ok(())
    }
}
