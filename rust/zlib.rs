// SPDX-License-Identifier: GPL-2.0

//! Raw inflate (RFC 1951) through the kernel's zlib (`lib/zlib_inflate/`,
//! `include/linux/zlib.h`), always with a 32 KiB window
//! (`windowBits = -MAX_WBITS`).
//!
//! The window matters: QAT compresses with a 32 KiB history, while
//! `deflate-generic` (de)compresses with an 11-bit, 2 KiB one. Inflating
//! QAT output with 2 KiB fails ("invalid distance too far back") as soon as
//! the output is produced in pieces and a match reaches further back than
//! 2 KiB plus the current piece. `drivers/block/zram/backend_deflate.c`
//! uses the same call.

use crate::bindings;
use kernel::alloc::Flags;
use kernel::prelude::*;

/// An inflate stream and its workspace, reusable for any number of inputs.
///
/// # Invariants
///
/// `strm.workspace` points to `_workspace`, which holds
/// `zlib_inflate_workspacesize()` bytes and lives as long as `strm`.
pub struct Inflater {
    strm: KBox<bindings::z_stream_s>,
    _workspace: KVVec<u8>,
}

// SAFETY: the stream and workspace are owned; zlib keeps no global state.
unsafe impl Send for Inflater {}

impl Inflater {
    /// Allocates an inflater (about 44 KiB of workspace, vmalloc'd if need
    /// be).
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new(flags: Flags) -> Result<Self> {
        // SAFETY: pure computation.
        let size = unsafe { bindings::zlib_inflate_workspacesize() };
        let size = usize::try_from(size).map_err(|_| EINVAL)?;
        let mut workspace = KVVec::from_elem(0u8, size, flags)?;
        let mut strm = KBox::new(bindings::z_stream_s::default(), flags)?;
        strm.workspace = workspace.as_mut_ptr().cast();
        // INVARIANT: set just above; moving `workspace` into the struct
        // does not move its heap buffer.
        Ok(Inflater {
            strm,
            _workspace: workspace,
        })
    }

    /// Inflates the raw deflate stream `input` into `out`; returns the
    /// number of bytes written. Bytes after the end of the stream are
    /// ignored (a gzip member's deflate data is delimited by its framing).
    ///
    /// # Errors
    ///
    /// `ENOSPC` if `out` is too small, `EBADMSG` if `input` is not a
    /// complete, valid deflate stream.
    pub fn inflate_raw(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let step = out.len().max(1);
        self.inflate_raw_steps(input, out, step)
    }

    /// As [`Inflater::inflate_raw`], producing at most `step` bytes per
    /// zlib call, as a caller filling one page at a time would; the 32 KiB
    /// window keeps long back-references valid across steps.
    ///
    /// # Errors
    ///
    /// As for [`Inflater::inflate_raw`]; `EINVAL` for a `step` of 0.
    pub fn inflate_raw_steps(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        step: usize,
    ) -> Result<usize> {
        // The kernel's zlib keeps lengths in 32-bit variables.
        const MAX_CHUNK: usize = u32::MAX as usize;
        if step == 0 || input.len() > MAX_CHUNK {
            return Err(EINVAL);
        }
        // One borrow for the whole call; every pointer given to zlib is
        // derived from it.
        let s: &mut bindings::z_stream_s = &mut self.strm;
        let wbits = -(bindings::MAX_WBITS as c_int);
        // SAFETY: `s` is a valid stream with its workspace (type
        // invariant); `zlib_inflateInit2` resets its state in place.
        if unsafe { bindings::zlib_inflateInit2(&raw mut *s, wbits) } != bindings::Z_OK as c_int {
            return Err(EINVAL);
        }
        s.next_in = input.as_ptr();
        s.avail_in = input.len();
        let mut done = 0usize;
        let result = loop {
            let n = step.min(out.len() - done).min(MAX_CHUNK);
            let before_in = s.avail_in;
            s.next_out = out[done..].as_mut_ptr();
            s.avail_out = n;
            // SAFETY: `next_in`/`avail_in` describe the rest of `input`,
            // `next_out`/`avail_out` `n` bytes of `out`; both are borrowed
            // for this call and zlib writes only within them.
            let r = unsafe { bindings::zlib_inflate(&raw mut *s, bindings::Z_NO_FLUSH as c_int) };
            let produced = n.saturating_sub(s.avail_out);
            done += produced;
            match r {
                x if x == bindings::Z_STREAM_END as c_int => break Ok(done),
                x if x == bindings::Z_OK as c_int || x == bindings::Z_BUF_ERROR => {
                    if produced == 0 && s.avail_in == before_in {
                        // No progress: out of room, or out of input.
                        break Err(if done == out.len() { ENOSPC } else { EBADMSG });
                    }
                }
                _ => break Err(EBADMSG),
            }
        };
        // SAFETY: valid stream; ends the inflate state set up above.
        unsafe { bindings::zlib_inflateEnd(&raw mut *s) };
        s.next_in = core::ptr::null();
        s.next_out = core::ptr::null_mut();
        result
    }
}
