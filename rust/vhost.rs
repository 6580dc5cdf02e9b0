// SPDX-License-Identifier: GPL-2.0

//! What an in-kernel device emulator for a VMM needs (`nvme_vhost`):
//!
//! - [`Waker`] and [`Task`]: a worker thread in the owner's thread group
//!   (`vhost_task`, `kernel/vhost_task.c`), so it runs in the VMM's mm and
//!   reaches guest memory with user copies, and the wakeups that reach it
//!   from any context;
//! - [`EventFd`]: an interrupt eventfd (`eventfd_signal()`);
//! - [`KickFd`]: a doorbell eventfd whose signals kick a [`Waker`] (a wait
//!   queue entry on the eventfd, as KVM's irqfd);
//! - [`Backend`] and [`KioPool`]: asynchronous reads and writes of guest
//!   memory from and to a block device or regular file through a `kiocb`
//!   (`->read_iter`/`->write_iter`, direct I/O when the file supports it,
//!   as `fs/aio.c`), and flush, write zeroes and discard on a workqueue
//!   (`vfs_fsync()`, `vfs_fallocate()`).
//!
//! The C side is in `shim.c` (lifetimes described there).

use crate::bindings;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Segments one I/O carries at most (`KSTOR_KIO_SEGS`).
pub const KIO_SEGS: usize = bindings::KSTOR_KIO_SEGS as usize;

/// Sets the current task `TASK_INTERRUPTIBLE` before a last check for work
/// (a wakeup after this makes the coming `schedule()` return at once).
pub fn set_current_interruptible() {
    // SAFETY: changes the state of the current task only.
    unsafe { bindings::kstor_set_current_interruptible() }
}

/// Sets the current task `TASK_RUNNING`.
pub fn set_current_running() {
    // SAFETY: changes the state of the current task only.
    unsafe { bindings::kstor_set_current_running() }
}

/// `cond_resched()`.
pub fn cond_resched() {
    // SAFETY: may sleep; callers are in process context (no lock held
    // that forbids it is the caller's duty, as for any sleeping call).
    unsafe { bindings::kstor_cond_resched() }
}

/// `msleep()`.
pub fn msleep(ms: u32) {
    // SAFETY: sleeps in process context.
    unsafe { bindings::kstor_msleep(ms) }
}

/// The meeting point of a worker and what wakes it: a kick flag, the
/// task, and the list of finished I/O.
///
/// # Invariants
///
/// `ptr` is a `kstor_waker` from `kstor_waker_alloc`, owned here.
pub struct Waker {
    ptr: NonNull<bindings::kstor_waker>,
}

// SAFETY: the waker's kick paths are atomic and RCU protected, callable
// from any context; `pop` requires `&mut` of the pool that owns the kios.
unsafe impl Send for Waker {}
// SAFETY: as above.
unsafe impl Sync for Waker {}

impl Waker {
    /// A waker with no task yet.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn new() -> Result<Arc<Self>> {
        // SAFETY: allocation; NULL on failure.
        let ptr = unsafe { bindings::kstor_waker_alloc() };
        Ok(Arc::new(Waker { ptr: NonNull::new(ptr).ok_or(ENOMEM)? }, GFP_KERNEL)?)
    }

    /// Sets the kick flag and wakes the task; any context.
    pub fn kick(&self) {
        // SAFETY: valid (type invariant).
        unsafe { bindings::kstor_waker_kick(self.ptr.as_ptr()) }
    }

    /// Reads and clears the kick flag.
    pub fn take_kick(&self) -> bool {
        // SAFETY: valid (type invariant).
        unsafe { bindings::kstor_waker_take(self.ptr.as_ptr()) }
    }

    /// Doorbell eventfd signals since the last call.
    pub fn take_fd_kicks(&self) -> u64 {
        // SAFETY: valid (type invariant).
        unsafe { bindings::kstor_waker_fd_kicks(self.ptr.as_ptr()) }
    }

    /// Starts a worker thread named `name` in the current thread group
    /// (it shares the caller's mm) that calls `data.run()` until stopped;
    /// when `run` returns false the thread sleeps until [`Waker::kick`].
    /// `run` is entered in `TASK_INTERRUPTIBLE` state (see
    /// `vhost_task_fn()`).
    ///
    /// # Errors
    ///
    /// `EBUSY` if a task runs already; `vhost_task_create()`'s errors.
    pub fn start<T: Worker>(self: &Arc<Self>, data: Arc<T>, name: &CStr) -> Result<Task<T>> {
        let arg = Arc::into_raw(data);
        // SAFETY: `arg` stays valid until `Task::drop` reclaims it, which
        // happens after `kstor_waker_stop` has joined the thread; the
        // trampolines match the `vhost_task` callback types.
        let r = unsafe {
            bindings::kstor_waker_start(
                self.ptr.as_ptr(),
                Some(run_trampoline::<T>),
                Some(kill_trampoline::<T>),
                arg as *mut c_void,
                name.as_char_ptr(),
            )
        };
        if r < 0 {
            // SAFETY: from `Arc::into_raw` above; the task was not created.
            drop(unsafe { Arc::from_raw(arg) });
            return Err(Error::from_errno(r));
        }
        Ok(Task {
            waker: self.clone(),
            arg,
        })
    }

    fn pop(&self) -> Option<(u32, isize)> {
        let mut tag = 0u32;
        let mut res: isize = 0;
        // SAFETY: valid (type invariant); only `KioPool` (through `&mut`)
        // calls this, so the list has one consumer.
        let some = unsafe { bindings::kstor_waker_pop(self.ptr.as_ptr(), &mut tag, &mut res) };
        some.then_some((tag, res))
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        // A completion that already published its kio may still be
        // kicking us under RCU: `kstor_waker_free` waits a grace period.
        // SAFETY: owned (type invariant); no task, kio pool or kickfd is
        // left (each holds an `Arc` of us; a pool outlives its kios).
        unsafe { bindings::kstor_waker_free(self.ptr.as_ptr()) }
    }
}

/// The work of a [`Task`].
pub trait Worker: Send + Sync {
    /// One round: returns whether to run again at once (true) or sleep
    /// until kicked (false). Called in `TASK_INTERRUPTIBLE` state: set
    /// [`set_current_running`] before anything that may sleep.
    fn run(&self) -> bool;
    /// The owner was killed (`SIGKILL`); the thread ends after this.
    fn killed(&self);
}

unsafe extern "C" fn run_trampoline<T: Worker>(arg: *mut c_void) -> bool {
    // SAFETY: `arg` is the `Arc<T>` pointer `Waker::start` passed, alive
    // until the task is stopped.
    let data = unsafe { &*(arg as *const T) };
    data.run()
}

unsafe extern "C" fn kill_trampoline<T: Worker>(arg: *mut c_void) {
    // SAFETY: as in `run_trampoline`.
    let data = unsafe { &*(arg as *const T) };
    data.killed()
}

/// A running worker thread; dropping it stops and joins the thread.
///
/// # Invariants
///
/// `arg` is from `Arc::into_raw` and the thread started on `waker` uses
/// it until `Drop` stops the thread.
pub struct Task<T: Worker> {
    waker: Arc<Waker>,
    arg: *const T,
}

// SAFETY: `T: Send + Sync`; stopping may happen from any process context.
unsafe impl<T: Worker> Send for Task<T> {}
// SAFETY: no `&self` methods touch the pointer.
unsafe impl<T: Worker> Sync for Task<T> {}

impl<T: Worker> Drop for Task<T> {
    fn drop(&mut self) {
        // SAFETY: the waker is valid (we hold an `Arc`); stops and joins
        // the thread, after which nothing uses `arg`.
        unsafe { bindings::kstor_waker_stop(self.waker.ptr.as_ptr()) };
        // SAFETY: type invariant; the thread is gone.
        drop(unsafe { Arc::from_raw(self.arg) });
    }
}

/// The address space (`mm_struct`) of the process that made it: the
/// owner of a device, as `vhost_dev_check_owner()` (`drivers/vhost/vhost.c`)
/// compares `current->mm`. Every thread of that process matches.
///
/// # Invariants
///
/// `mm` is an `mm_struct` this holds an `mmgrab()` reference on, so its
/// address is not reused while this lives.
pub struct Owner {
    mm: NonNull<bindings::mm_struct>,
}

// SAFETY: `mmdrop()` may run on any thread; the pointer is only compared.
unsafe impl Send for Owner {}
// SAFETY: as above.
unsafe impl Sync for Owner {}

impl Owner {
    /// The current process's address space; `None` for a kernel thread.
    pub fn current() -> Option<Self> {
        // SAFETY: reads `current->mm` and grabs it; no other precondition.
        let mm = unsafe { bindings::kstor_current_mm_grab() };
        NonNull::new(mm).map(|mm| Owner { mm })
    }

    /// Whether the current task runs in this address space.
    pub fn is_current(&self) -> bool {
        // SAFETY: only compares `current->mm` with our pointer.
        unsafe { bindings::kstor_current_mm_is(self.mm.as_ptr()) }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // SAFETY: drops the reference `current()` took (type invariant).
        unsafe { bindings::kstor_mm_drop(self.mm.as_ptr()) }
    }
}

/// An eventfd to signal (an interrupt vector).
///
/// # Invariants
///
/// `ptr` is an eventfd context reference owned here.
pub struct EventFd {
    ptr: NonNull<bindings::eventfd_ctx>,
}

// SAFETY: `eventfd_signal()` may be called from any context and thread.
unsafe impl Send for EventFd {}
// SAFETY: as above.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// The eventfd of descriptor `fd` of the current process.
    ///
    /// # Errors
    ///
    /// `EBADF` (not an open file), `EINVAL` (not an eventfd).
    pub fn get(fd: i32) -> Result<Self> {
        let mut err = 0;
        // SAFETY: looks `fd` up in the current task's table.
        let ptr = unsafe { bindings::kstor_eventfd_get(fd, &mut err) };
        NonNull::new(ptr).map(|ptr| EventFd { ptr }).ok_or_else(|| Error::from_errno(err))
    }

    /// Adds 1 to the counter and wakes its readers.
    pub fn signal(&self) {
        // SAFETY: a live context reference (type invariant).
        unsafe { bindings::kstor_eventfd_signal(self.ptr.as_ptr()) }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: drops our reference (type invariant).
        unsafe { bindings::kstor_eventfd_put(self.ptr.as_ptr()) }
    }
}

/// A doorbell eventfd: each signal kicks a [`Waker`] and counts in
/// [`Waker::take_fd_kicks`]; the counter is consumed.
///
/// # Invariants
///
/// `ptr` is a registered `kstor_kickfd` of `waker`, owned here.
pub struct KickFd {
    ptr: NonNull<bindings::kstor_kickfd>,
    _waker: Arc<Waker>,
}

// SAFETY: registration and removal are thread-safe.
unsafe impl Send for KickFd {}
// SAFETY: no `&self` methods.
unsafe impl Sync for KickFd {}

impl KickFd {
    /// Watches eventfd `fd` of the current process.
    ///
    /// # Errors
    ///
    /// `EBADF`, `EINVAL` (not an eventfd), `ENOMEM`.
    pub fn new(fd: i32, waker: &Arc<Waker>) -> Result<Self> {
        let mut err = 0;
        // SAFETY: the waker outlives the registration (we hold an `Arc`).
        let ptr = unsafe { bindings::kstor_kickfd_new(fd, waker.ptr.as_ptr(), &mut err) };
        Ok(KickFd {
            ptr: NonNull::new(ptr).ok_or_else(|| Error::from_errno(err))?,
            _waker: waker.clone(),
        })
    }
}

impl Drop for KickFd {
    fn drop(&mut self) {
        // SAFETY: owned (type invariant); removes the wait queue entry
        // under the eventfd's lock, so no wakeup runs after this.
        unsafe { bindings::kstor_kickfd_free(self.ptr.as_ptr()) }
    }
}

/// A backend: an open block device or regular file, readable and
/// writable.
///
/// # Invariants
///
/// `file` is a file reference owned here.
pub struct Backend {
    file: NonNull<bindings::file>,
}

// SAFETY: file references may be used and dropped from any thread.
unsafe impl Send for Backend {}
// SAFETY: the methods only read immutable properties.
unsafe impl Sync for Backend {}

impl Backend {
    /// The file of descriptor `fd` of the current process.
    ///
    /// # Errors
    ///
    /// `EBADF` for a bad descriptor, one not open for reading and writing,
    /// one open with `O_APPEND`, or a file that is neither a block device
    /// nor a regular file.
    pub fn from_fd(fd: i32) -> Result<Self> {
        // SAFETY: takes a reference from the current task's table.
        let file = NonNull::new(unsafe { bindings::kstor_fget(fd) }).ok_or(EBADF)?;
        let b = Backend { file };
        // SAFETY: a live reference.
        if !unsafe { bindings::kstor_file_rw(b.file.as_ptr()) } {
            return Err(EBADF);
        }
        Ok(b)
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: a live reference (type invariant).
        unsafe { bindings::kstor_file_size(self.file.as_ptr()) }
    }

    /// Writes back and flushes everything written so far (`vfs_fsync()`).
    ///
    /// # Errors
    ///
    /// The file system's or device's error.
    pub fn sync(&self) -> Result {
        // SAFETY: a live reference (type invariant); process context.
        let r = unsafe { bindings::kstor_file_fsync(self.file.as_ptr()) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(())
    }

    /// Logical block size in bytes (512 for regular files).
    pub fn logical_block_size(&self) -> u32 {
        // SAFETY: a live reference (type invariant).
        unsafe { bindings::kstor_file_lbs(self.file.as_ptr()) }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // SAFETY: drops our reference (type invariant).
        unsafe { bindings::kstor_fput(self.file.as_ptr()) }
    }
}

/// A fixed set of I/O slots (tags `0..n`), each one backend operation at a
/// time, finished ones reported by [`KioPool::pop`]. Dropping the pool
/// waits for every operation in flight.
///
/// Reads and writes use user addresses of the current mm: submit them
/// from the owner's thread group (a [`Task`]).
///
/// # Invariants
///
/// `kios[i]` is a `kstor_kio` with tag `i` on `waker`, owned here;
/// `busy[i]` is true while it is in flight (submitted and not popped).
pub struct KioPool {
    waker: Arc<Waker>,
    kios: KVec<NonNull<bindings::kstor_kio>>,
    busy: KVec<bool>,
    inflight: usize,
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: all operations take `&mut self`; kios may be submitted and freed
// from any thread.
unsafe impl Send for KioPool {}

impl KioPool {
    /// A pool of `n` slots reporting to `waker`.
    ///
    /// # Errors
    ///
    /// `ENOMEM`;
    /// `EBUSY` if `waker` has a pool already (finished I/O of two pools
    /// would mix).
    pub fn new(waker: &Arc<Waker>, n: u16) -> Result<Self> {
        // SAFETY: valid (type invariant of `Waker`); an atomic claim.
        if !unsafe { bindings::kstor_waker_claim_pool(waker.ptr.as_ptr()) } {
            return Err(EBUSY);
        }
        let mut pool = KioPool {
            waker: waker.clone(),
            kios: KVec::with_capacity(n.into(), GFP_KERNEL)?,
            busy: KVec::with_capacity(n.into(), GFP_KERNEL)?,
            inflight: 0,
            _not_sync: PhantomData,
        };
        for tag in 0..u32::from(n) {
            // SAFETY: the waker outlives the kio (the pool holds an `Arc`
            // and frees its kios first).
            let k = unsafe { bindings::kstor_kio_alloc(waker.ptr.as_ptr(), tag) };
            pool.kios.push(NonNull::new(k).ok_or(ENOMEM)?, GFP_KERNEL)?;
            pool.busy.push(false, GFP_KERNEL)?;
        }
        Ok(pool)
    }

    /// Operations in flight.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    fn slot(&self, tag: u16) -> Result<*mut bindings::kstor_kio> {
        let i = usize::from(tag);
        match (self.kios.get(i), self.busy.get(i)) {
            (Some(k), Some(false)) => Ok(k.as_ptr()),
            _ => Err(EINVAL),
        }
    }

    fn started(&mut self, tag: u16, r: i32) -> Result {
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        if let Some(b) = self.busy.get_mut(usize::from(tag)) {
            *b = true;
        }
        self.inflight += 1;
        Ok(())
    }

    /// Reads (`write` false) or writes `len` bytes at byte `pos` of
    /// `backend` into or from `segs`, `(user address, bytes)` pieces of
    /// the current mm in order; `fua` makes a write durable before it
    /// ends; `direct` asks for direct I/O (unaligned buffers fall back to
    /// the page cache).
    ///
    /// # Errors
    ///
    /// `EINVAL` for a busy or unknown tag, no pieces or more than
    /// [`KIO_SEGS`], or a `len` other than the pieces' total; `EBADF`.
    /// Nothing was started then.
    #[allow(clippy::too_many_arguments)]
    pub fn rw(
        &mut self,
        tag: u16,
        backend: &Backend,
        write: bool,
        pos: u64,
        len: u64,
        segs: impl IntoIterator<Item = (u64, u32)>,
        fua: bool,
        direct: bool,
    ) -> Result {
        let k = self.slot(tag)?;
        let mut n = 0u32;
        for (uaddr, bytes) in segs {
            // SAFETY: `k` is ours and idle (checked by `slot`).
            let r = unsafe { bindings::kstor_kio_set_seg(k, n, uaddr, bytes) };
            if r < 0 {
                return Err(EINVAL);
            }
            n += 1;
        }
        let pos = i64::try_from(pos).map_err(|_| EINVAL)?;
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `k` is idle; the backend file is a live reference (the
        // kio takes its own for the flight).
        let r = unsafe { bindings::kstor_kio_rw(k, backend.file.as_ptr(), write, pos, len, n, fua, direct) };
        self.started(tag, r)
    }

    /// Makes completed writes of `backend` durable (`vfs_fsync()`).
    ///
    /// # Errors
    ///
    /// As for [`KioPool::rw`].
    pub fn flush(&mut self, tag: u16, backend: &Backend) -> Result {
        let k = self.slot(tag)?;
        // SAFETY: as in `rw`.
        let r = unsafe { bindings::kstor_kio_flush(k, backend.file.as_ptr()) };
        self.started(tag, r)
    }

    /// Zeroes `len` bytes at `pos` (`dealloc`: punching a hole is fine).
    ///
    /// # Errors
    ///
    /// As for [`KioPool::rw`].
    pub fn zero(&mut self, tag: u16, backend: &Backend, pos: u64, len: u64, dealloc: bool, fua: bool) -> Result {
        let k = self.slot(tag)?;
        let pos = i64::try_from(pos).map_err(|_| EINVAL)?;
        // SAFETY: as in `rw`.
        let r = unsafe { bindings::kstor_kio_zero(k, backend.file.as_ptr(), pos, len, dealloc, fua) };
        self.started(tag, r)
    }

    /// Deallocates `ranges` (byte offset, length): they read back as
    /// zeroes (a hole, or written zeroes where holes are not supported).
    ///
    /// # Errors
    ///
    /// As for [`KioPool::rw`]; `ENOMEM`.
    pub fn discard(&mut self, tag: u16, backend: &Backend, ranges: &[(u64, u64)]) -> Result {
        let k = self.slot(tag)?;
        let mut flat = KVec::with_capacity(2 * ranges.len(), GFP_KERNEL)?;
        for &(p, l) in ranges {
            flat.push(p, GFP_KERNEL)?;
            flat.push(l, GFP_KERNEL)?;
        }
        let nr = u32::try_from(ranges.len()).map_err(|_| EINVAL)?;
        // SAFETY: as in `rw`; `flat` holds `2 * nr` values, copied.
        let r = unsafe { bindings::kstor_kio_discard(k, backend.file.as_ptr(), flat.as_ptr(), nr) };
        self.started(tag, r)
    }

    /// The next finished operation: (tag, bytes moved or `-errno`).
    pub fn pop(&mut self) -> Option<(u16, isize)> {
        let (tag, res) = self.waker.pop()?;
        let tag = tag as u16;
        if let Some(b) = self.busy.get_mut(usize::from(tag)) {
            if *b {
                *b = false;
                self.inflight -= 1;
            }
        }
        Some((tag, res))
    }
}

impl Drop for KioPool {
    fn drop(&mut self) {
        // Operations cannot be cancelled: wait for every one.
        while self.inflight > 0 {
            if self.pop().is_none() {
                msleep(1);
            }
        }
        for k in self.kios.iter() {
            // SAFETY: owned and idle (type invariant, nothing in flight).
            unsafe { bindings::kstor_kio_free(k.as_ptr()) };
        }
    }
}
