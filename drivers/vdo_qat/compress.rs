// SPDX-License-Identifier: GPL-2.0

//! The compression engine (after QZFS, USENIX ATC'19): gzip member framing
//! ([`gzip`]), the compressibility checker run before any compressor
//! ([`heuristic`]), and the algorithm checker with accelerator health
//! ([`engine`]).

pub mod engine;
pub mod gzip;
pub mod heuristic;

use crate::pack::Frag;
use crate::volume::{Digest, Volume};
use crate::format::BLOCK;
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;
use kstor::acomp::{Acomp, Job};
use kstor::crc32::crc32;

impl Volume {
    /// Compresses job's source in software into a gzip member at the start
    /// of its destination; `None` if it does not fit the 90% rule or the
    /// compressor failed.
    pub(crate) fn compress_sw(
        &self,
        sw: &mut Option<Acomp>,
        job: &mut Job,
        lbn: u64,
        digest: Option<Digest>,
    ) -> Option<Frag> {
        let ac = sw.as_mut()?;
        let budget = gzip::deflate_budget(BLOCK);
        let r = job.run_with(ac, true, BLOCK, gzip::HEADER_LEN..gzip::HEADER_LEN + budget);
        let dlen = match r {
            Ok(n) => n,
            Err(e) if e == ENOSPC || e == E2BIG => return None,
            Err(_) => {
                self.stats.compress_errors.add(1, Relaxed);
                return None;
            }
        };
        self.engine.stats.sw_compressed.add(1, Relaxed);
        Self::frame(job, dlen, lbn, digest)
    }

    /// Frames the `dlen` deflate bytes in job's destination as a gzip
    /// member; `None` if it breaks the 90% rule.
    pub(crate) fn frame(job: &mut Job, dlen: usize, lbn: u64, digest: Option<Digest>) -> Option<Frag> {
        let (src, dst) = job.buffers().ok()?;
        let n = gzip::frame_in_place(&mut dst[..], dlen, crc32(&src[..]), BLOCK as u32).ok()?;
        (n <= gzip::max_member(BLOCK)).then(|| Frag::new(lbn, n as u16, digest))
    }
}
