// SPDX-License-Identifier: GPL-2.0

//! Compression through the crypto acomp API (`include/crypto/acompress.h`,
//! `crypto/acompress.c`).
//!
//! `crypto_alloc_acomp("deflate", 0, 0)` returns the highest-priority
//! provider: `qat_deflate` (priority 4001, asynchronous) when a QAT device
//! with the `dc` service is up, `deflate-generic` (software, raw deflate
//! with a 2 KiB window) otherwise. A transform allocated before QAT came up
//! stays on software: allocate again to pick the device up
//! (`shared/reference/qat-acomp.md`).
//!
//! This first version runs each request synchronously (waiting with
//! `crypto_wait_req()`, like `mm/zswap.c`), so it must be called from a
//! context that may sleep.

use crate::bindings;
use crate::sgl::Sgl;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;

/// A transform and one request on it.
///
/// # Invariants
///
/// `tfm` is an allocated acomp transform and `req` a request allocated on
/// it; both are freed only in `Drop` (request first).
pub struct Acomp {
    tfm: NonNull<bindings::crypto_acomp>,
    req: NonNull<bindings::acomp_req>,
}

// SAFETY: the transform and request are owned; `&mut self` serialises use
// of the request, and transforms may be used from any thread.
unsafe impl Send for Acomp {}

impl Acomp {
    /// Allocates the best implementation of algorithm `alg` (e.g.
    /// `c"deflate"`) and a request for it.
    ///
    /// # Errors
    ///
    /// `ENOENT` if no implementation exists; `ENOMEM`.
    ///
    /// # Context
    ///
    /// Process context (may sleep: `GFP_KERNEL`).
    pub fn new(alg: &CStr) -> Result<Self> {
        let mut err = 0;
        // SAFETY: `alg` is NUL-terminated; `err` is a valid out-pointer.
        let tfm = unsafe { bindings::kstor_acomp_alloc(alg.as_char_ptr(), 0, 0, &mut err) };
        let tfm = NonNull::new(tfm).ok_or_else(|| Error::from_errno(err))?;
        // SAFETY: `tfm` is a valid transform.
        let req =
            unsafe { bindings::kstor_acomp_request_alloc(tfm.as_ptr(), bindings::GFP_KERNEL) };
        let Some(req) = NonNull::new(req) else {
            // SAFETY: `tfm` was allocated above and nothing else uses it.
            unsafe { bindings::kstor_acomp_free(tfm.as_ptr()) };
            return Err(ENOMEM);
        };
        // INVARIANT: both allocated above.
        Ok(Acomp { tfm, req })
    }

    /// The implementation in use, e.g. `qat_deflate` or `deflate-generic`.
    pub fn driver_name(&self) -> &CStr {
        // SAFETY: the transform is valid (type invariant); the name is an
        // array in its algorithm, which the transform keeps alive.
        unsafe { CStr::from_char_ptr(bindings::kstor_acomp_driver_name(self.tfm.as_ptr())) }
    }

    fn run(&mut self, compress: bool, src: &mut Sgl<'_>, dst: &mut Sgl<'_>) -> Result<usize> {
        if !dst.is_writable() {
            return Err(EINVAL);
        }
        let slen = u32::try_from(src.len()).map_err(|_| EINVAL)?;
        let mut dlen = u32::try_from(dst.len()).map_err(|_| EINVAL)?;
        // `src` and `dst` describe `slen` and `dlen` bytes of buffers
        // borrowed for the call, `dst` exclusively; the call waits for
        // completion, so nothing uses them afterwards.
        // SAFETY: the request is valid (type invariant) and ours (`&mut`).
        to_result(unsafe {
            bindings::kstor_acomp_run_sync(
                self.req.as_ptr(),
                compress,
                src.as_mut_ptr(),
                slen,
                dst.as_mut_ptr(),
                &mut dlen,
            )
        })?;
        Ok(dlen as usize)
    }

    /// Compresses the bytes of `src` into `dst`; returns the output length.
    ///
    /// # Errors
    ///
    /// `ENOSPC` (`deflate-generic`) or `E2BIG` (QAT) when the output does
    /// not fit in `dst`: store the data raw. `EINVAL` if `dst` was not built
    /// from an exclusive borrow. Other errors are accelerator or driver
    /// failures (`EBADMSG`, `ENOMEM`, ...).
    ///
    /// # Context
    ///
    /// Process context (may sleep).
    pub fn compress(&mut self, src: &mut Sgl<'_>, dst: &mut Sgl<'_>) -> Result<usize> {
        self.run(true, src, dst)
    }

    /// Decompresses `src` into `dst`; returns the output length.
    ///
    /// # Errors
    ///
    /// As for [`Acomp::compress`]; `EINVAL`/`EBADMSG` for invalid input.
    ///
    /// # Context
    ///
    /// Process context (may sleep).
    pub fn decompress(&mut self, src: &mut Sgl<'_>, dst: &mut Sgl<'_>) -> Result<usize> {
        self.run(false, src, dst)
    }
}

impl Drop for Acomp {
    fn drop(&mut self) {
        // SAFETY: by the type invariant both are allocated and unused now
        // (`run` waits for completion).
        unsafe {
            bindings::kstor_acomp_request_free(self.req.as_ptr());
            bindings::kstor_acomp_free(self.tfm.as_ptr());
        }
    }
}
