// SPDX-License-Identifier: GPL-2.0

//! The read path: the packer's bins, then the block map, the data block
//! and, for a fragment, inflation (no lock held while reading or
//! inflating).

use crate::compress::gzip;
use crate::format::{Loc, BLOCK};
use crate::lane::LaneRes;
use crate::volume::Volume;
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kstor::bio::OwnedBio;
use kstor::blkdev::{BlockBuf, SECTORS_PER_BLOCK};
use kstor::crc32::crc32;
use kstor::zlib::Inflater;

impl Volume {
    pub(crate) fn read_bio(&self, res: &mut LaneRes, bio: &mut OwnedBio<'static>) -> Result {
        let (lbn, off, len) = self.lbn_of(bio, self.logical())?;
        let LaneRes {
            data,
            rbuf,
            inflater,
            ..
        } = res;
        self.read_lbn(lbn, data, rbuf, inflater)?;
        // Copy the bio's part of the block into its pages.
        let mut at = off;
        if let Some(segs) = bio.segments_mut() {
            for mut seg in segs {
                let n = seg.len() as usize;
                if at + n > off + len {
                    return Err(EIO);
                }
                seg.copy_from_slice(&data[at..at + n]);
                at += n;
            }
        }
        Ok(())
    }

    /// Reads LBN `lbn` into `out` (zeros if unmapped), using `rbuf` for the
    /// stored block.
    pub(crate) fn read_lbn(&self, lbn: u64, out: &mut BlockBuf, rbuf: &mut BlockBuf, inf: &mut Inflater) -> Result {
        if let Some(r) = self.read_from_bin(lbn, out, rbuf, inf) {
            return r;
        }
        for _ in 0..8 {
            let Some(loc) = self.lookup_map(lbn)? else {
                out.fill(0);
                return Ok(());
            };
            let ds = self.data_start.load(Relaxed);
            self.data.read_block((ds + loc.pbn) * SECTORS_PER_BLOCK, rbuf)?;
            let r = if loc.is_fragment() {
                self.decode_fragment(rbuf, loc, out, inf).inspect_err(|_| {
                    // Never share a copy that no longer reads back.
                    self.forget_digest(loc);
                })
            } else {
                out.copy_from_slice(&rbuf[..]);
                Ok(())
            };
            // The block may have been freed and reused while we read it
            // (the LBN remapped by a discard, or by a packed block written
            // from another lane): then read again. A freed block is
            // unmapped first and not reused before a commit.
            if self.lookup_map(lbn)? == Some(loc) {
                return r;
            }
            self.stats.read_retries.add(1, Relaxed);
        }
        Err(EIO)
    }

    pub(crate) fn decode_fragment(&self, blk: &BlockBuf, loc: Loc, out: &mut BlockBuf, inf: &mut Inflater) -> Result {
        let start = usize::from(loc.offset);
        let end = start + usize::from(loc.len);
        let bad = || {
            self.stats.crc_errors.add(1, Relaxed);
            EIO
        };
        let m = gzip::parse(blk.get(start..end).ok_or(EIO)?).map_err(|_| bad())?;
        let n = inf.inflate_raw(m.deflate, &mut out[..]).map_err(|_| bad())?;
        if n != BLOCK || m.isize != BLOCK as u32 || crc32(&out[..]) != m.crc32 {
            return Err(bad());
        }
        Ok(())
    }
}
