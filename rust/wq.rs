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
