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
//! Two ways to use it:
//! - [`Acomp`]: one transform and one request, run synchronously (waiting
//!   with `crypto_wait_req()`, like `mm/zswap.c`); for software and tests.
//! - [`Tfm`] shared by many [`Job`]s: asynchronous submission with
//!   `CRYPTO_TFM_REQ_MAY_BACKLOG`. The completion callback (a C function
//!   in `shim.c`, run by drivers such as QAT in softirq) only records the
//!   result and signals a completion; it never sleeps. A job owns its two
//!   4 KiB buffers, its scatterlist tables (at most [`MAX_SG`] entries per
//!   direction, so QAT never allocates: `qat_bl.c`; allocated once with
//!   the job) and its request while in flight (the only allocation per
//!   submission), so nothing the device may touch is freed early, even when
//!   the caller gives up waiting.

use crate::bindings;
use crate::blkdev::BlockBuf;
use crate::sgl::Sgl;
use core::mem::ManuallyDrop;
use core::ops::Range;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::Arc;

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
        Self::alloc(alg, false)
    }

    /// Like [`Acomp::new`], restricted to synchronous (software)
    /// implementations, e.g. `deflate-generic` (mask `CRYPTO_ALG_ASYNC`).
    ///
    /// # Errors
    ///
    /// As for [`Acomp::new`].
    pub fn new_software(alg: &CStr) -> Result<Self> {
        Self::alloc(alg, true)
    }

    fn alloc(alg: &CStr, sync_only: bool) -> Result<Self> {
        let mut err = 0;
        // SAFETY: `alg` is NUL-terminated; `err` is a valid out-pointer.
        let tfm = unsafe { bindings::kstor_acomp_alloc(alg.as_char_ptr(), sync_only, &mut err) };
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
        // SAFETY: by the type invariant both are allocated, and `run`
        // waited for every completion; a driver that reads the request
        // just after calling back is covered by the RCU-deferred free.
        unsafe {
            bindings::kstor_acomp_request_free_deferred(self.req.as_ptr());
            bindings::kstor_acomp_free(self.tfm.as_ptr());
        }
    }
}

/// The most scatterlist entries a [`Job`] passes per direction: QAT keeps
/// up to 4 inline and allocates (`GFP_ATOMIC`) beyond (`qat_bl.c`).
pub const MAX_SG: usize = 4;

/// How long [`Job`]'s `Drop` waits for a request still in flight before it
/// leaks the job's memory rather than free what a device may still use
/// (and pins this module, whose code the request's callback is).
const DROP_WAIT_MS: u32 = 10_000;

/// A transform that many [`Job`]s share.
///
/// # Invariants
///
/// `tfm` is an allocated acomp transform, freed only in `Drop`.
pub struct Tfm {
    tfm: NonNull<bindings::crypto_acomp>,
}

// SAFETY: a transform may be used from any thread, by many requests at
// once (its per-request state lives in the requests).
unsafe impl Send for Tfm {}
// SAFETY: as above; `&Tfm` only reads immutable properties.
unsafe impl Sync for Tfm {}

impl Tfm {
    /// The best implementation of `alg` (e.g. `c"deflate"`): an
    /// accelerator such as `qat_deflate` if one is registered; with
    /// `sync_only`, software only.
    ///
    /// # Errors
    ///
    /// `ENOENT` if no implementation exists; `ENOMEM`.
    ///
    /// # Context
    ///
    /// Process context (may sleep).
    pub fn new(alg: &CStr, sync_only: bool) -> Result<Arc<Self>> {
        let mut err = 0;
        // SAFETY: `alg` is NUL-terminated; `err` is a valid out-pointer.
        let tfm = unsafe { bindings::kstor_acomp_alloc(alg.as_char_ptr(), sync_only, &mut err) };
        let tfm = NonNull::new(tfm).ok_or_else(|| Error::from_errno(err))?;
        // INVARIANT: allocated above.
        Ok(Arc::new(Tfm { tfm }, GFP_KERNEL)?)
    }

    /// The implementation, e.g. `qat_deflate`.
    pub fn driver_name(&self) -> &CStr {
        // SAFETY: the transform is valid (type invariant); the name is an
        // array in its algorithm, which the transform keeps alive.
        unsafe { CStr::from_char_ptr(bindings::kstor_acomp_driver_name(self.tfm.as_ptr())) }
    }

    /// Whether the implementation is asynchronous (`CRYPTO_ALG_ASYNC`):
    /// hardware offload such as QAT, IAA or HiSilicon.
    pub fn is_async(&self) -> bool {
        // SAFETY: the transform is valid (type invariant).
        unsafe { bindings::kstor_acomp_is_async(self.tfm.as_ptr()) }
    }
}

impl Drop for Tfm {
    fn drop(&mut self) {
        // SAFETY: valid by the type invariant; every request on it holds
        // an `Arc<Tfm>`, so none is left.
        unsafe { bindings::kstor_acomp_free(self.tfm.as_ptr()) };
    }
}

/// A request handed to a driver.
///
/// # Invariants
///
/// `req` was allocated on `tfm`; it uses the scatterlists, buffers and
/// completion of the owning [`Job`].
struct Flight {
    tfm: Arc<Tfm>,
    req: NonNull<bindings::acomp_req>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        // A driver may still read the request right after calling back
        // (QAT does), inside its softirq or BH-disabled section: the free
        // waits for an RCU grace period.
        // SAFETY: the request is valid (type invariant); `Job` only drops a
        // flight once its callback fired (or it never started).
        unsafe { bindings::kstor_acomp_request_free_deferred(self.req.as_ptr()) };
    }
}

enum State {
    Idle,
    InFlight(Flight),
    Finished(Result<usize>),
}

/// An asynchronous (de)compression of up to 4 KiB into a 4 KiB buffer.
///
/// Fill [`Job::src_mut`], [`Job::submit`], then [`Job::wait`]. While a
/// request is in flight the source stays readable ([`Job::src`]: the
/// device only reads it) and the destination is unreachable.
///
/// # Invariants
///
/// `wait` is a live `kstor_acomp_wait`, owned; `src_sg` and `dst_sg` hold
/// [`MAX_SG`] entries each. While `state` is `InFlight`, a driver may read
/// `src` (through `src_sg`) and write `dst` (through `dst_sg`) and will
/// call the callback on `wait`; so `dst` is not handed out, the tables are
/// not rewritten, and none of them, nor `wait`, is freed before the
/// callback fired.
pub struct Job {
    src: ManuallyDrop<BlockBuf>,
    dst: ManuallyDrop<BlockBuf>,
    src_sg: ManuallyDrop<KVec<bindings::scatterlist>>,
    dst_sg: ManuallyDrop<KVec<bindings::scatterlist>>,
    wait: NonNull<bindings::kstor_acomp_wait>,
    state: State,
}

// SAFETY: every field is owned; the driver's callback only touches `wait`
// through its own synchronisation (a completion).
unsafe impl Send for Job {}

impl Job {
    /// A job with zeroed buffers.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    ///
    /// # Context
    ///
    /// Process context (`GFP_KERNEL`).
    pub fn new() -> Result<Self> {
        let src = BlockBuf::new_zeroed(GFP_KERNEL)?;
        let dst = BlockBuf::new_zeroed(GFP_KERNEL)?;
        let table = || -> Result<KVec<bindings::scatterlist>> {
            let mut t = KVec::with_capacity(MAX_SG, GFP_KERNEL)?;
            for _ in 0..MAX_SG {
                t.push(bindings::scatterlist::default(), GFP_KERNEL)?;
            }
            Ok(t)
        };
        let (src_sg, dst_sg) = (table()?, table()?);
        // SAFETY: plain allocation.
        let wait = unsafe { bindings::kstor_acomp_wait_alloc(bindings::GFP_KERNEL) };
        let wait = NonNull::new(wait).ok_or(ENOMEM)?;
        // INVARIANT: `wait` allocated above; nothing in flight.
        Ok(Job {
            src: ManuallyDrop::new(src),
            dst: ManuallyDrop::new(dst),
            src_sg: ManuallyDrop::new(src_sg),
            dst_sg: ManuallyDrop::new(dst_sg),
            wait,
            state: State::Idle,
        })
    }

    /// The source buffer (readable even while in flight).
    pub fn src(&self) -> &BlockBuf {
        &self.src
    }

    /// The source buffer, to fill.
    ///
    /// # Errors
    ///
    /// `EBUSY` while a request is in flight.
    pub fn src_mut(&mut self) -> Result<&mut BlockBuf> {
        match self.state {
            State::InFlight(_) => Err(EBUSY),
            _ => Ok(&mut *self.src),
        }
    }

    /// The destination buffer.
    ///
    /// # Errors
    ///
    /// `EBUSY` while a request is in flight.
    pub fn dst_mut(&mut self) -> Result<&mut BlockBuf> {
        match self.state {
            State::InFlight(_) => Err(EBUSY),
            _ => Ok(&mut *self.dst),
        }
    }

    /// Both buffers, for software work between requests.
    ///
    /// # Errors
    ///
    /// `EBUSY` while a request is in flight.
    pub fn buffers(&mut self) -> Result<(&BlockBuf, &mut BlockBuf)> {
        match self.state {
            State::InFlight(_) => Err(EBUSY),
            _ => Ok((&*self.src, &mut *self.dst)),
        }
    }

    /// Whether a request is in flight (submitted, callback not seen).
    pub fn in_flight(&self) -> bool {
        matches!(self.state, State::InFlight(_))
    }

    /// Submits a compression (`compress`) or decompression of the first
    /// `slen` bytes of the source into `dst_range` of the destination, on
    /// `tfm`, with `CRYPTO_TFM_REQ_MAY_BACKLOG`. Returns once the driver
    /// accepted (or backlogged) the request, or finished it; the result
    /// comes from [`Job::wait`].
    ///
    /// # Errors
    ///
    /// `EBUSY` if a request is in flight or a result was not collected;
    /// `EINVAL` for an empty or out-of-bounds range, or one that needs
    /// more than [`MAX_SG`] entries; `ENOMEM`. Nothing was submitted then.
    ///
    /// # Context
    ///
    /// Process context (allocates with `GFP_KERNEL`; use a NOIO scope in
    /// the I/O path). [`Job::wait`] and `Drop` may sleep too (the request
    /// is freed after an RCU grace period).
    pub fn submit(
        &mut self,
        tfm: &Arc<Tfm>,
        compress: bool,
        slen: usize,
        dst_range: Range<usize>,
    ) -> Result {
        self.check(slen, &dst_range)?;
        let dlen = dst_range.end - dst_range.start;
        let dst_ptr = self.dst.as_mut_ptr().wrapping_add(dst_range.start);
        // A table of `MAX_SG` entries refuses buffers that need more.
        // SAFETY: the buffers are heap allocations owned by `self` that
        // outlive the flight (freed after it, see `Drop`); `dst` is not
        // handed out while the flight exists (type invariant).
        unsafe {
            Sgl::fill(&mut self.src_sg, self.src.as_ptr(), slen)?;
            Sgl::fill(&mut self.dst_sg, dst_ptr, dlen)?;
        }
        // SAFETY: `tfm` is a valid transform.
        let req =
            unsafe { bindings::kstor_acomp_request_alloc(tfm.tfm.as_ptr(), bindings::GFP_KERNEL) };
        let req = NonNull::new(req).ok_or(ENOMEM)?;
        // SAFETY: `req` is a fresh request on `tfm`; the scatterlists,
        // buffers and `wait` stay alive and unchanged until the callback
        // fired (type invariant); lengths fit in u32 (<= 4 KiB).
        let err = unsafe {
            bindings::kstor_acomp_submit(
                req.as_ptr(),
                compress,
                self.src_sg.as_mut_ptr(),
                slen as u32,
                self.dst_sg.as_mut_ptr(),
                dlen as u32,
                self.wait.as_ptr(),
            )
        };
        // INVARIANT: the flight owns the request.
        let flight = Flight {
            tfm: tfm.clone(),
            req,
        };
        self.state = if err == EINPROGRESS.to_errno() {
            State::InFlight(flight)
        } else {
            // Finished synchronously (or refused): no callback will come.
            let r = to_result(err).map(|()| Self::dlen(&flight));
            drop(flight);
            State::Finished(r)
        };
        Ok(())
    }

    /// Compresses (`compress`) or decompresses the first `slen` bytes of
    /// the source into `dst_range` of the destination synchronously with
    /// `ac` (software), over the job's own scatterlist tables: nothing is
    /// allocated. Returns the output length.
    ///
    /// # Errors
    ///
    /// `EBUSY` if a request is in flight; `EINVAL` for an empty or
    /// out-of-bounds range; [`Acomp::compress`]'s errors.
    ///
    /// # Context
    ///
    /// Process context (may sleep).
    pub fn run_with(
        &mut self,
        ac: &mut Acomp,
        compress: bool,
        slen: usize,
        dst_range: Range<usize>,
    ) -> Result<usize> {
        self.check(slen, &dst_range)?;
        let dst_ptr = self.dst.as_mut_ptr().wrapping_add(dst_range.start);
        let mut dlen = (dst_range.end - dst_range.start) as u32;
        // SAFETY: the buffers are owned by `self` and borrowed (`&mut`) for
        // the whole call, which waits for completion.
        unsafe {
            Sgl::fill(&mut self.src_sg, self.src.as_ptr(), slen)?;
            Sgl::fill(&mut self.dst_sg, dst_ptr, dlen as usize)?;
        }
        // SAFETY: `ac`'s request is valid and ours (`&mut`); the tables
        // describe live buffers of `self`, unused by anyone else, and the
        // call waits for completion; lengths fit in u32 (<= 4 KiB).
        to_result(unsafe {
            bindings::kstor_acomp_run_sync(
                ac.req.as_ptr(),
                compress,
                self.src_sg.as_mut_ptr(),
                slen as u32,
                self.dst_sg.as_mut_ptr(),
                &mut dlen,
            )
        })?;
        Ok(dlen as usize)
    }

    /// `EBUSY` unless idle; `EINVAL` unless `slen` and `dst_range` are
    /// non-empty and inside the buffers.
    fn check(&self, slen: usize, dst_range: &Range<usize>) -> Result {
        if !matches!(self.state, State::Idle) {
            return Err(EBUSY);
        }
        if slen == 0
            || slen > self.src.len()
            || dst_range.start >= dst_range.end
            || dst_range.end > self.dst.len()
        {
            return Err(EINVAL);
        }
        Ok(())
    }

    fn dlen(flight: &Flight) -> usize {
        // SAFETY: the request is valid and finished.
        unsafe { bindings::kstor_acomp_req_dlen(flight.req.as_ptr()) as usize }
    }

    /// Waits up to `ms` milliseconds (0: only checks) for the result of
    /// the last [`Job::submit`]: the output length, or the driver's error.
    /// The job is idle again afterwards, except on `ETIMEDOUT`.
    ///
    /// # Errors
    ///
    /// `ETIMEDOUT`: still in flight (wait again, or give the job up: its
    /// `Drop` keeps the buffers safe). `EINVAL`: nothing was submitted.
    /// Driver errors: `E2BIG` or `ENOSPC` (output too large), `EBADMSG`,
    /// `EIO`, `EINVAL`, `ENOMEM`, `ENODEV`, ...
    pub fn wait(&mut self, ms: u32) -> Result<usize> {
        match core::mem::replace(&mut self.state, State::Idle) {
            State::Idle => Err(EINVAL),
            State::Finished(r) => r,
            State::InFlight(flight) => {
                // SAFETY: `wait` is live (type invariant).
                if !unsafe { bindings::kstor_acomp_wait_timeout(self.wait.as_ptr(), ms) } {
                    self.state = State::InFlight(flight);
                    return Err(ETIMEDOUT);
                }
                // SAFETY: as above; the callback fired.
                let err = unsafe { bindings::kstor_acomp_wait_err(self.wait.as_ptr()) };
                let r = to_result(err).map(|()| Self::dlen(&flight));
                // The callback fired: the driver is done with everything.
                drop(flight);
                r
            }
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let State::InFlight(_) = self.state {
            // SAFETY: `wait` is live (type invariant).
            if !unsafe { bindings::kstor_acomp_wait_timeout(self.wait.as_ptr(), DROP_WAIT_MS) } {
                pr_err!(
                    "kstor: acomp request on {:?} never completed; leaking its buffers\n",
                    match &self.state {
                        State::InFlight(f) => f.tfm.driver_name(),
                        _ => c"?",
                    }
                );
                // A device may still write them: leak the request, its
                // transform, the buffers and the completion.
                // (buffers and tables are `ManuallyDrop`; `wait` is a
                // pointer.)
                if let State::InFlight(f) = core::mem::replace(&mut self.state, State::Idle) {
                    core::mem::forget(f);
                }
                // The request's callback is code of this module.
                // SAFETY: takes a module reference, nothing else.
                unsafe { bindings::kstor_module_pin() };
                return;
            }
        }
        // Frees the request, if any, before the buffers it used.
        self.state = State::Idle;
        // SAFETY: no callback is pending (it fired, or nothing was in
        // flight), so no driver uses the buffers or `wait` any more; they
        // are dropped exactly once, here.
        unsafe {
            ManuallyDrop::drop(&mut self.src);
            ManuallyDrop::drop(&mut self.dst);
            ManuallyDrop::drop(&mut self.src_sg);
            ManuallyDrop::drop(&mut self.dst_sg);
            bindings::kstor_acomp_wait_free(self.wait.as_ptr());
        }
    }
}
