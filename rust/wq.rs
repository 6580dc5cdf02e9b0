// SPDX-License-Identifier: GPL-2.0

//! Workqueues owned by a driver instance (`alloc_workqueue()` with
//! `WQ_MEM_RECLAIM | WQ_UNBOUND`): storage targets need a rescuer thread so
//! that I/O progresses under memory pressure (see
//! `Documentation/core-api/workqueue.rst`).

use crate::bindings;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::workqueue::Queue;

/// An owned workqueue; dropping it drains and destroys it
/// (`destroy_workqueue()`), so work that is queued or running finishes
/// first.
///
/// # Invariants
///
/// `ptr` is a workqueue allocated by `alloc_workqueue` and owned here.
pub struct OwnedQueue {
    ptr: NonNull<bindings::workqueue_struct>,
}

// SAFETY: workqueues may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}
// SAFETY: queueing is thread-safe.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// Allocates a reclaim-safe unbound workqueue named `name` (visible in
    /// `ps` as `kworker` rescuer `name`).
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; the format is "%s".
        let ptr = unsafe { bindings::kstor_alloc_wq(name.as_char_ptr()) };
        // INVARIANT: a fresh allocation that we own.
        Ok(OwnedQueue {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }
}

impl OwnedQueue {
    /// Waits until the queue is empty and no work item of it runs, work
    /// items that queue themselves again included (`drain_workqueue()`).
    /// Queueing from elsewhere meanwhile is a bug the kernel warns about.
    ///
    /// # Context
    ///
    /// Process context, not from a work item of this queue: sleeps.
    pub fn drain(&self) {
        // SAFETY: the queue is valid (type invariant).
        unsafe { bindings::drain_workqueue(self.ptr.as_ptr()) };
    }
}

impl Deref for OwnedQueue {
    type Target = Queue;
    fn deref(&self) -> &Queue {
        // SAFETY: the queue is valid until `self` is dropped, which the
        // returned borrow cannot outlive.
        unsafe { Queue::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant); nobody can queue on it any more,
        // as every borrow has ended.
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) };
    }
}

/// Runs `f` with `memalloc_noio` set: allocations inside it (including
/// `GFP_KERNEL` ones in callees) do not start I/O for reclaim, which could
/// come back to the device a storage worker serves.
pub fn noio<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: sets a flag of the current task; restored below.
    let flags = unsafe { bindings::kstor_noio_save() };
    let r = f();
    // SAFETY: restores what `kstor_noio_save` returned, in the same task.
    unsafe { bindings::kstor_noio_restore(flags) };
    r
}

/// What a [`Periodic`] calls.
pub trait Tick: Send + Sync + 'static {
    /// Called every period on the workqueue, in process context (may
    /// sleep), never twice at once.
    fn tick(&self);
}

/// Calls [`Tick::tick`] of a handler every period on an [`OwnedQueue`],
/// while started: a self-rearming `delayed_work` with a cancel that waits
/// (`cancel_delayed_work_sync()`), as a commit timer needs (dm-thin's
/// `waker` work, `drivers/md/dm-thin.c`).
///
/// # Invariants
///
/// `raw` was returned by `kstor_periodic_alloc` for `queue` with data
/// `Arc::as_ptr(&handler)` and callback [`Self::trampoline`], and is freed
/// once, by `Drop`, which stops it first: the handler and the queue outlive
/// every call.
pub struct Periodic<T: Tick> {
    raw: NonNull<bindings::kstor_periodic>,
    handler: kernel::sync::Arc<T>,
    _queue: kernel::sync::Arc<OwnedQueue>,
}

// SAFETY: the C object is used through start/stop, which are thread-safe
// (workqueue API); the handler is `Send + Sync`.
unsafe impl<T: Tick> Send for Periodic<T> {}
// SAFETY: as above.
unsafe impl<T: Tick> Sync for Periodic<T> {}

impl<T: Tick> Periodic<T> {
    /// A stopped periodic call of `handler` on `queue`.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new(queue: kernel::sync::Arc<OwnedQueue>, handler: kernel::sync::Arc<T>) -> Result<Self> {
        let data = kernel::sync::Arc::as_ptr(&handler).cast::<core::ffi::c_void>();
        // SAFETY: `queue` is a live workqueue kept alive by `_queue`; `data`
        // points to the handler kept alive by `handler`, both until `Drop`
        // has stopped the work.
        let raw = unsafe { bindings::kstor_periodic_alloc(queue.ptr.as_ptr(), Some(Self::trampoline), data) };
        // INVARIANT: allocated above with this handler and queue.
        Ok(Periodic {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
            handler,
            _queue: queue,
        })
    }

    /// # Safety
    ///
    /// `data` must point to a live `T` (the handler of a [`Periodic`]).
    unsafe extern "C" fn trampoline(data: *const core::ffi::c_void) {
        // SAFETY: by the type invariant `data` is the handler, alive until
        // the work is stopped, which waits for this call.
        let t = unsafe { &*data.cast::<T>() };
        noio(|| t.tick());
    }

    /// The handler.
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// Starts (or restarts) calling the handler every `period_ms`
    /// milliseconds (at least one jiffy), the first call one period from
    /// now.
    pub fn start(&self, period_ms: u32) {
        // SAFETY: `raw` is live (type invariant).
        unsafe { bindings::kstor_periodic_start(self.raw.as_ptr(), period_ms) };
    }

    /// Stops the calls and waits for one in progress. Must not be called
    /// from [`Tick::tick`] (it would wait for itself).
    pub fn stop(&self) {
        // SAFETY: `raw` is live (type invariant).
        unsafe { bindings::kstor_periodic_stop(self.raw.as_ptr()) };
    }
}

impl<T: Tick> Drop for Periodic<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is live and freed once here; `kstor_periodic_free`
        // stops the work (waiting for a running call) before freeing, so
        // the handler and queue, dropped after this, outlive every call.
        unsafe { bindings::kstor_periodic_free(self.raw.as_ptr()) };
    }
}
