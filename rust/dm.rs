// SPDX-License-Identifier: GPL-2.0

//! Device-mapper targets (`include/linux/device-mapper.h`,
//! `Documentation/admin-guide/device-mapper/`).
//!
//! A target implements [`TargetOps`] (a `#[vtable]` trait: `ctr`, `map`
//! and, optionally, `end_io`, `status`, `message`, `iterate_devices`,
//! `io_hints`, `presuspend`, `resume`); a module registers it with
//! [`Registration`]. Each table line creates one target instance: `ctr`
//! returns it pinned on the heap, device-mapper keeps it in `ti->private`,
//! and it is dropped by `dtr`.
//!
//! Prior art: Qingsong Chen's RFC "rust: add basic abstractions for
//! device-mapper" (2023).

use crate::args::{ArgError, ArgErrorKind, Args};
use crate::bindings;
use crate::bio::{Bio, OwnedBio, Status};
use crate::fmtbuf::BufWriter;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::alloc::flags::GFP_KERNEL;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed, Release};
use kernel::sync::{rcu, Arc};
use kernel::types::Opaque;

/// Why a constructor failed: the static text device-mapper logs and returns
/// as `ti->error`, the error code, and optionally the argument at fault
/// (logged in full by the abstraction).
#[derive(Debug)]
pub struct CtrError {
    /// Static message for `ti->error`.
    pub msg: &'static CStr,
    /// Error code returned to device-mapper (and to `dmsetup`).
    pub err: Error,
    /// The argument that was rejected, if any.
    pub arg: Option<ArgError>,
}

impl CtrError {
    /// An error with message `msg` and code `err`.
    pub fn new(msg: &'static CStr, err: Error) -> Self {
        CtrError {
            msg,
            err,
            arg: None,
        }
    }
}

impl From<ArgError> for CtrError {
    fn from(arg: ArgError) -> Self {
        let msg = match arg.kind {
            ArgErrorKind::Missing => c"Missing argument",
            ArgErrorKind::Invalid => c"Invalid argument",
            ArgErrorKind::OutOfRange => c"Argument out of range",
            ArgErrorKind::TooMany => c"Too many arguments",
            ArgErrorKind::Unknown => c"Unknown optional argument",
            ArgErrorKind::Duplicate => c"Duplicate optional argument",
        };
        CtrError {
            msg,
            err: EINVAL,
            arg: Some(arg),
        }
    }
}

/// A target instance (`struct dm_target`): one line of a table.
///
/// # Invariants
///
/// The wrapped `dm_target` is valid for the lifetime of the reference.
#[repr(transparent)]
pub struct Target(Opaque<bindings::dm_target>);

impl Target {
    /// # Safety
    ///
    /// `ptr` must be a valid `dm_target` for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::dm_target) -> &'a Target {
        // SAFETY: `Target` is a transparent wrapper of `Opaque<dm_target>`;
        // the caller guarantees validity.
        unsafe { &*ptr.cast::<Target>() }
    }

    fn as_raw(&self) -> *mut bindings::dm_target {
        self.0.get()
    }

    /// First sector of the target in the mapped device (512 B sectors).
    pub fn begin(&self) -> u64 {
        // SAFETY: by the type invariant `ti` is valid; `begin` is set before
        // the constructor runs and never changes.
        unsafe { (*self.as_raw()).begin }
    }

    /// Length of the target (512 B sectors), from the table line.
    pub fn len(&self) -> u64 {
        // SAFETY: as for `begin`.
        unsafe { (*self.as_raw()).len }
    }

    /// Offset of `sector` (of the mapped device) inside this target
    /// (`dm_target_offset()`), or `None` if the sector lies outside it.
    pub fn offset_of(&self, sector: u64) -> Option<u64> {
        sector.checked_sub(self.begin()).filter(|&o| o < self.len())
    }

    /// Whether the target is empty (never, for a valid table).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The mapped device's name as device-mapper reports it (`major:minor`).
    pub fn device_name(&self) -> &CStr {
        // SAFETY: by the type invariant `ti` and its table are valid;
        // `dm_table_device_name` returns a NUL-terminated string owned by
        // the mapped device, which outlives the target.
        unsafe { CStr::from_char_ptr(bindings::dm_table_device_name((*self.as_raw()).table)) }
    }
}

/// Settings a constructor may make on its target, and its device lookups.
pub struct TargetConfig<'a> {
    ti: &'a Target,
    /// Devices opened so far; handed to the instance, or released if `ctr`
    /// fails.
    devs: KVec<HeldDev>,
    /// Event notifiers handed out; revoked when the target goes.
    events: KVec<Arc<EventInner>>,
}

/// A `dm_target` pointer that is only used under [`EventInner::ti`].
struct TiPtr(NonNull<bindings::dm_target>);
// SAFETY: only dereferenced under the mutex while the target is alive.
unsafe impl Send for TiPtr {}

/// # Invariants
///
/// While `ti` holds `Some`, the target is alive: it is set to `None` by the
/// `dtr` callback before the target is freed.
#[pin_data]
struct EventInner {
    #[pin]
    ti: kernel::sync::Mutex<Option<TiPtr>>,
}

/// Raises the table event of a target, see
/// [`TargetConfig::event_notifier`].
#[derive(Clone)]
pub struct EventNotifier(Arc<EventInner>);

impl EventNotifier {
    /// Raises the event (`dm_table_event()`); a no-op once the target has
    /// been destroyed.
    ///
    /// # Context
    ///
    /// Process context: may sleep.
    pub fn raise(&self) {
        let guard = self.0.ti.lock();
        if let Some(ti) = guard.as_ref() {
            // SAFETY: by the `EventInner` invariant the target is alive
            // while we hold the lock and see `Some`.
            unsafe { bindings::dm_table_event((*ti.0.as_ptr()).table) };
        }
    }
}

fn revoke_events(events: KVec<Arc<EventInner>>) {
    for e in events {
        *e.ti.lock() = None;
    }
}

impl<'a> TargetConfig<'a> {
    /// The target being constructed.
    pub fn target(&self) -> &'a Target {
        self.ti
    }

    /// How many empty PREFLUSH bios device-mapper sends to `map` per flush
    /// of the mapped device (`ti->num_flush_bios`).
    pub fn set_num_flush_bios(&self, n: u32) {
        // SAFETY: device-mapper does not read `ti` concurrently with `ctr`.
        unsafe { (*self.ti.as_raw()).num_flush_bios = n };
    }

    /// How many bios a discard is split into (`ti->num_discard_bios`); 0
    /// disables discards.
    pub fn set_num_discard_bios(&self, n: u32) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { (*self.ti.as_raw()).num_discard_bios = n };
    }

    /// `ti->num_write_zeroes_bios`; 0 disables REQ_OP_WRITE_ZEROES.
    pub fn set_num_write_zeroes_bios(&self, n: u32) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { (*self.ti.as_raw()).num_write_zeroes_bios = n };
    }

    /// `ti->discards_supported`: the target handles discards itself even if
    /// its devices do not.
    pub fn set_discards_supported(&self, on: bool) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { bindings::kstor_dm_target_set_discards_supported(self.ti.as_raw(), on) };
    }

    /// `ti->flush_supported`: the target handles PREFLUSH/FUA itself.
    pub fn set_flush_supported(&self, on: bool) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { bindings::kstor_dm_target_set_flush_supported(self.ti.as_raw(), on) };
    }

    /// `ti->max_io_len`: bios are split so none crosses a multiple of this
    /// many sectors (0: no limit).
    pub fn set_max_io_len(&self, sectors: u32) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { (*self.ti.as_raw()).max_io_len = sectors };
    }

    /// `ti->max_discard_granularity`: discards are split only at the
    /// queue's `max_discard_sectors`, not at [`Self::set_max_io_len`]
    /// boundaries, so a target sees whole ranges.
    pub fn set_max_discard_granularity(&self, on: bool) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { bindings::kstor_dm_target_set_max_discard_granularity(self.ti.as_raw(), on) };
    }

    /// A handle that raises this target's table event (`dm_table_event()`,
    /// what `dmsetup wait` and dmeventd see) from any process context, until
    /// the target is destroyed; then it does nothing.
    ///
    /// # Errors
    ///
    /// `ENOMEM`.
    pub fn event_notifier(&mut self) -> Result<EventNotifier> {
        let ti = TiPtr(NonNull::from(self.ti).cast());
        let inner = Arc::pin_init(
            pin_init!(EventInner {
                ti <- kernel::new_mutex!(Some(ti)),
            }),
            GFP_KERNEL,
        )?;
        self.events.push(inner.clone(), GFP_KERNEL)?;
        Ok(EventNotifier(inner))
    }

    /// Opens the block device at `path` (a path or `major:minor`) with the
    /// table's mode (`dm_get_device()`). The device stays held until the
    /// target is destroyed (or `ctr` fails); the returned handle may be
    /// cloned and kept anywhere, and stops working then.
    ///
    /// # Errors
    ///
    /// What `dm_get_device()` returns: `ENODEV`/`ENOENT` for no such
    /// device, `EBUSY` if it is held exclusively elsewhere; `ENOMEM`.
    pub fn get_device(&mut self, path: &CStr) -> Result<DmDev> {
        self.devs.reserve(1, GFP_KERNEL)?;
        let ti = self.ti.as_raw();
        let mut dev: *mut bindings::dm_dev = core::ptr::null_mut();
        // SAFETY: `ti` is valid during `ctr`; `path` is NUL-terminated;
        // `dev` is a valid out-pointer.
        to_result(unsafe {
            bindings::dm_get_device(
                ti,
                path.as_char_ptr(),
                bindings::dm_table_get_mode((*ti).table),
                &mut dev,
            )
        })?;
        let raw = NonNull::new(dev).ok_or(ENODEV)?;
        let mut name = [0u8; 16];
        // SAFETY: `dev->name` is a NUL-terminated `char[16]` filled by
        // `dm_get_device`.
        let src = unsafe { &(*raw.as_ptr()).name };
        for (d, s) in name.iter_mut().zip(src.iter()) {
            *d = *s as u8;
        }
        let handle = match Arc::new(
            DevInner {
                live: Atomic::new(true),
                raw,
                name,
            },
            GFP_KERNEL,
        ) {
            Ok(h) => h,
            Err(e) => {
                // SAFETY: `raw` was just obtained for `ti` and nothing else
                // refers to it.
                unsafe { bindings::dm_put_device(ti, raw.as_ptr()) };
                return Err(e.into());
            }
        };
        // Capacity was reserved above, so this cannot fail.
        let _ = self.devs.push(
            HeldDev {
                handle: handle.clone(),
            },
            GFP_NOWAIT,
        );
        Ok(DmDev(handle))
    }
}

/// Exclusive use of a data device by one mapped device, from
/// [`TargetConfig::claim_exclusive`]; released when dropped.
///
/// `dm_get_device()` lets any number of targets open the same device (all
/// of device-mapper shares one holder), which is right for dm-linear but
/// fatal for a target that keeps metadata on the device. Claims are kept
/// per module copy of this crate, so they exclude the targets of one
/// module (as dm-thin's pool table does for pools).
///
/// # Invariants
///
/// `raw` was returned by `kstor_claim_dev` and is released once, by `Drop`.
pub struct DevClaim {
    raw: NonNull<bindings::kstor_claim>,
}

// SAFETY: the claim list is protected by a mutex in C; the entry may be
// released from any thread.
unsafe impl Send for DevClaim {}
// SAFETY: no method reads through `&self`.
unsafe impl Sync for DevClaim {}

impl Drop for DevClaim {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `raw` is a live claim, released once.
        unsafe { bindings::kstor_claim_release(self.raw.as_ptr()) };
    }
}

/// Why [`TargetConfig::claim_exclusive`] failed.
pub struct ClaimError {
    /// `EBUSY` (held by another user) or `ENOMEM`/`ENODEV`.
    pub err: Error,
    /// For `EBUSY`: the holder, `"<name> (dm-N)"`, NUL-terminated.
    pub holder: [u8; 160],
}

impl ClaimError {
    /// The holder's name (empty unless `err` is `EBUSY`).
    pub fn holder(&self) -> &str {
        let n = self.holder.iter().position(|&b| b == 0).unwrap_or(self.holder.len());
        core::str::from_utf8(&self.holder[..n]).unwrap_or("?")
    }
}

impl<'a> TargetConfig<'a> {
    /// Claims `dev` for this target's mapped device, so that no other
    /// target of this module, in another mapped device or in the same
    /// table, can use it at the same time. A table reload of the same
    /// mapped device (the new table constructed while the old one is
    /// live) may claim it again.
    ///
    /// # Errors
    ///
    /// [`ClaimError`] with `EBUSY` and the holder's name, or `ENOMEM`;
    /// `ENODEV` if `dev` was released.
    pub fn claim_exclusive(&mut self, dev: &DmDev) -> Result<DevClaim, ClaimError> {
        let mut e = ClaimError {
            err: ENODEV,
            holder: [0u8; 160],
        };
        let ti = self.ti.as_raw();
        let mut err = 0;
        let holder = e.holder.as_mut_ptr();
        let len = e.holder.len();
        let Ok(devt) = dev.with_raw(|raw| {
            // SAFETY: `raw` is held inside `with_raw` (an RCU read-side
            // section: the helper does not sleep).
            unsafe { bindings::kstor_dm_dev_devt(raw) }
        }) else {
            return Err(e);
        };
        // SAFETY: `ti` is valid during `ctr`; `holder` is writable for `len`
        // bytes; may sleep (process context, no lock held).
        let raw = unsafe { bindings::kstor_claim_dev(ti, devt, holder.cast(), len, &mut err) };
        match NonNull::new(raw) {
            // INVARIANT: a live claim from `kstor_claim_dev`.
            Some(raw) => Ok(DevClaim { raw }),
            None => {
                e.err = Error::from_errno(err);
                Err(e)
            }
        }
    }
}

/// Shared part of a [`DmDev`].
///
/// # Invariants
///
/// While `live` is true, `raw` was returned by `dm_get_device` for the
/// owning target and has not been put; it is put only after `live` was
/// cleared and an RCU grace period passed. So `raw` may be used inside an
/// RCU read-side section that saw `live` true.
struct DevInner {
    live: Atomic<bool>,
    raw: NonNull<bindings::dm_dev>,
    /// Copy of `dev->name` (`major:minor`, NUL-terminated).
    name: [u8; 16],
}

// SAFETY: `raw` is only dereferenced under the invariant above, and the
// `dm_dev` is read-only after `dm_get_device`.
unsafe impl Send for DevInner {}
// SAFETY: as above; `live` is atomic.
unsafe impl Sync for DevInner {}

/// A device held for a target instance; released by [`release_devices`].
struct HeldDev {
    handle: Arc<DevInner>,
}

impl HeldDev {
    fn raw(&self) -> *mut bindings::dm_dev {
        self.handle.raw.as_ptr()
    }
}

/// Releases the devices of a target: marks every handle dead, waits for
/// one RCU grace period (so no reader is left inside an access), then puts
/// the devices with `dm_put_device()`.
///
/// # Safety
///
/// `ti` must be the valid target the devices were obtained for; must be
/// called in process context, once per device.
unsafe fn release_devices(ti: *mut bindings::dm_target, devs: KVec<HeldDev>) {
    if devs.is_empty() {
        return;
    }
    for d in devs.iter() {
        d.handle.live.store(false, Release);
    }
    rcu::synchronize_rcu();
    for d in devs {
        // SAFETY: the caller guarantees `ti`; the device was obtained for
        // it, and after the grace period no handle can reach the pointer.
        unsafe { bindings::dm_put_device(ti, d.raw()) };
    }
}

/// A block device held by a target (`struct dm_dev`), from
/// [`TargetConfig::get_device`].
///
/// The handle is cheap to clone and may be kept anywhere. When the target
/// is destroyed the abstraction revokes it and releases the device; from
/// then on accessors fail with `ENODEV`. [`Mapping::remap`] only sends bios
/// to devices of the target that maps them: any other device kills the bio.
#[derive(Clone)]
pub struct DmDev(Arc<DevInner>);

impl DmDev {
    fn with_bdev<R>(&self, f: impl FnOnce(*mut bindings::block_device) -> R) -> Result<R> {
        let _rcu = rcu::read_lock();
        if !self.0.live.load(Relaxed) {
            return Err(ENODEV);
        }
        // SAFETY: `live` was seen true inside this RCU section, so by the
        // `DevInner` invariant the `dm_dev` is held until `f` returns.
        Ok(f(unsafe { (*self.0.raw.as_ptr()).bdev }))
    }

    /// Runs `f` on the raw `dm_dev` inside an RCU read-side section (`f`
    /// must not sleep).
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(*mut bindings::dm_dev) -> R) -> Result<R> {
        let _rcu = rcu::read_lock();
        if !self.0.live.load(Relaxed) {
            return Err(ENODEV);
        }
        // By the `DevInner` invariant the `dm_dev` is held until `f` returns.
        Ok(f(self.0.raw.as_ptr()))
    }

    /// Size of the device in 512 B sectors.
    ///
    /// # Errors
    ///
    /// `ENODEV` once the target has been destroyed.
    pub fn size_sectors(&self) -> Result<u64> {
        // SAFETY: `bdev` is valid inside `with_bdev`.
        self.with_bdev(|bdev| unsafe { bindings::kstor_bdev_nr_sectors(bdev) })
    }

    /// Logical block size of the device in bytes.
    ///
    /// # Errors
    ///
    /// `ENODEV` once the target has been destroyed.
    pub fn logical_block_size(&self) -> Result<u32> {
        // SAFETY: `bdev` is valid inside `with_bdev`.
        self.with_bdev(|bdev| unsafe { bindings::kstor_bdev_logical_block_size(bdev) })
    }

    /// The device's `major:minor` name, as table lines print it.
    pub fn name(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.0.name).unwrap_or(c"?")
    }
}

/// What `map` did with a bio: build it with [`Mapping::remap`],
/// [`Mapping::submitted`], [`Mapping::kill`] or [`Mapping::requeue`].
///
/// The bio handed back must be the one `map` received; if it is not, the
/// abstraction fails the returned bio and reports the received one as
/// submitted (the target holds or has completed it).
pub struct Mapping(MapKind);

enum MapKind {
    /// The device is resolved in `map_callback` against the mapping
    /// target's own devices (compared by address, never dereferenced).
    Remapped(OwnedBio<'static>, *const DevInner),
    Submitted,
    Kill(OwnedBio<'static>),
    Requeue(OwnedBio<'static>),
}

impl Mapping {
    /// Sends `bio` to `dev`, moved to `sector` (512 B units) unless it
    /// carries no data (an empty flush keeps its sector)
    /// (`DM_MAPIO_REMAPPED`). `dev` must be a device of the target whose
    /// `map` returns this; any other device kills the bio.
    pub fn remap(mut bio: OwnedBio<'static>, dev: &DmDev, sector: u64) -> Mapping {
        if bio.size() != 0 {
            bio.set_sector(sector);
        }
        Mapping(MapKind::Remapped(bio, Arc::as_ptr(&dev.0)))
    }

    /// The target took the bio and completes it, now or later
    /// (`DM_MAPIO_SUBMITTED`).
    pub fn submitted() -> Mapping {
        Mapping(MapKind::Submitted)
    }

    /// Fail the bio with `BLK_STS_IOERR` (`DM_MAPIO_KILL`).
    pub fn kill(bio: OwnedBio<'static>) -> Mapping {
        Mapping(MapKind::Kill(bio))
    }

    /// Hand the bio back for resubmission (`DM_MAPIO_REQUEUE`).
    pub fn requeue(bio: OwnedBio<'static>) -> Mapping {
        Mapping(MapKind::Requeue(bio))
    }
}

/// What `end_io` decided (`DM_ENDIO_*`).
pub enum EndIo {
    /// Complete the bio (`DM_ENDIO_DONE`).
    Done,
    /// Requeue the bio (`DM_ENDIO_REQUEUE`).
    Requeue,
}

/// Which status `status` must print (`status_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusType {
    /// `dmsetup status`: runtime state.
    Info,
    /// `dmsetup table`: the constructor arguments, so that the line can be
    /// loaded again.
    Table,
    /// Measurement for IMA.
    Ima,
}

/// Calls device-mapper's callout for each device of a target
/// (`iterate_devices`).
pub struct DeviceVisitor<'a> {
    ti: *mut bindings::dm_target,
    callout: unsafe extern "C" fn(
        *mut bindings::dm_target,
        *mut bindings::dm_dev,
        bindings::sector_t,
        bindings::sector_t,
        *mut c_void,
    ) -> c_int,
    data: *mut c_void,
    /// The devices of the target being iterated.
    devs: &'a [HeldDev],
}

impl DeviceVisitor<'_> {
    /// Reports that the target uses `len` sectors of `dev` from `start`
    /// (512 B sectors). Returns the callout's result; a non-zero value ends
    /// the iteration and must be returned from `iterate_devices`.
    /// A device that is not one of this target's is skipped (returns 0).
    ///
    /// The callout may sleep (`dm_set_device_limits()` takes a mutex), so
    /// it runs outside any RCU section: the device is looked up in the
    /// target's own list, which is only released in `dtr`, never while a
    /// callback of the same target runs.
    pub fn visit(&mut self, dev: &DmDev, start: u64, len: u64) -> i32 {
        let Some(held) = self.devs.iter().find(|d| Arc::ptr_eq(&d.handle, &dev.0)) else {
            return 0;
        };
        // SAFETY: `callout` and `data` come from device-mapper for this
        // call; `held.raw` is held for `ti` until its `dtr`, which cannot
        // run during this callback.
        unsafe { (self.callout)(self.ti, held.raw(), start, len, self.data) }
    }
}

/// The queue limits of the mapped device, for `io_hints`.
pub struct QueueLimits<'a>(&'a mut bindings::queue_limits);

impl QueueLimits<'_> {
    /// Logical block size in bytes.
    pub fn logical_block_size(&self) -> u32 {
        self.0.logical_block_size
    }

    /// Sets the logical block size (bytes, a power of two from 512 to
    /// `PAGE_SIZE`).
    pub fn set_logical_block_size(&mut self, bytes: u32) {
        self.0.logical_block_size = bytes;
    }

    /// Sets the physical block size (bytes).
    pub fn set_physical_block_size(&mut self, bytes: u32) {
        self.0.physical_block_size = bytes;
    }

    /// Sets the minimum preferred I/O size (bytes).
    pub fn set_io_min(&mut self, bytes: u32) {
        self.0.io_min = bytes;
    }

    /// Sets the discard granularity (bytes) and the largest discard (512 B
    /// sectors) the device accepts.
    pub fn set_discard(&mut self, granularity_bytes: u32, max_sectors: u32) {
        // SAFETY: the limits are ours to change during `io_hints`.
        unsafe { bindings::kstor_limits_set_discard(self.0, granularity_bytes, max_sectors) };
    }

    /// Sets the optimal I/O size (bytes).
    pub fn set_io_opt(&mut self, bytes: u32) {
        self.0.io_opt = bytes;
    }
}

/// The operations of a device-mapper target type.
///
/// Only `ctr` and `map` are required. Callbacks run in process context
/// except `map` and `end_io`, which may run in any context that submits or
/// completes bios: they must not sleep.
#[vtable]
pub trait TargetOps: Sized + Send + Sync + 'static {
    /// Builds a target instance from its table line arguments (the words
    /// after the target name). On error the table load fails with
    /// `err.msg` in `ti->error` and the rejected argument logged.
    fn ctr(cfg: &mut TargetConfig<'_>, args: Args<'_>) -> Result<Pin<KBox<Self>>, CtrError>;

    /// Destroys the instance when its table is unloaded (`dm_dtr_fn`). The
    /// default drops it; override to tear down with access to `ti`.
    fn dtr(this: Pin<KBox<Self>>, _ti: &Target) {
        drop(this);
    }

    /// Maps one bio (`dm_map_fn`).
    fn map(&self, ti: &Target, bio: OwnedBio<'static>) -> Mapping;

    /// Sees a bio when it completes (`dm_endio_fn`): one the target
    /// remapped, or one it completed itself after [`Mapping::submitted`].
    /// Its data has usually been consumed by then (`segments()` is empty).
    /// May change its status.
    fn end_io(&self, _ti: &Target, _bio: &mut Bio, _status: &mut Status) -> EndIo {
        EndIo::Done
    }

    /// Writes the status line of `kind` into `out` (`dm_status_fn`).
    fn status(&self, _ti: &Target, _kind: StatusType, _out: &mut BufWriter<'_>) {}

    /// Handles `dmsetup message` (`dm_message_fn`); text written to `out`
    /// is returned to the caller (the abstraction returns 1 to dm-ioctl
    /// when there is any).
    ///
    /// # Errors
    ///
    /// `EINVAL` for an unknown or malformed message (the default).
    fn message(&self, _ti: &Target, _args: Args<'_>, _out: &mut BufWriter<'_>) -> Result {
        Err(EINVAL)
    }

    /// Reports each device the target uses through `visitor`
    /// (`dm_iterate_devices_fn`); returns the first non-zero callout result.
    fn iterate_devices(&self, _ti: &Target, _visitor: &mut DeviceVisitor<'_>) -> i32 {
        0
    }

    /// Adjusts the queue limits of the mapped device (`dm_io_hints_fn`).
    fn io_hints(&self, _ti: &Target, _limits: &mut QueueLimits<'_>) {}

    /// Called before the device suspends (`dm_presuspend_fn`).
    fn presuspend(&self, _ti: &Target) {}

    /// Called when the device resumes (`dm_resume_fn`).
    fn resume(&self, _ti: &Target) {}

    /// Called once the device is suspended and its I/O has drained
    /// (`dm_postsuspend_fn`).
    fn postsuspend(&self, _ti: &Target) {}

    /// Called before the device resumes (`dm_preresume_fn`); an error
    /// fails the resume.
    ///
    /// # Errors
    ///
    /// Whatever the target reports.
    fn preresume(&self, _ti: &Target) -> Result {
        Ok(())
    }
}

/// What `ti->private` points to: the target's instance and the devices
/// the abstraction releases after it.
struct Instance<T: TargetOps> {
    inner: Pin<KBox<T>>,
    devs: KVec<HeldDev>,
    events: KVec<Arc<EventInner>>,
}

/// # Safety
///
/// `ti` must be a target constructed by `ctr_callback::<T>` and not yet
/// destroyed.
unsafe fn instance<'a, T: TargetOps>(ti: *mut bindings::dm_target) -> &'a T {
    // SAFETY: guaranteed by the caller.
    unsafe { &instance_full::<T>(ti).inner }
}

/// # Safety
///
/// As for [`instance`].
unsafe fn instance_full<'a, T: TargetOps>(ti: *mut bindings::dm_target) -> &'a Instance<T> {
    // SAFETY: `ctr_callback` stored a `KBox<Instance<T>>` in `ti->private`;
    // it is freed only by `dtr_callback`.
    unsafe { &*(*ti).private.cast::<Instance<T>>() }
}

/// Collects `argv` into a vector of C strings.
///
/// # Safety
///
/// `argv` must point to `argc` valid NUL-terminated strings.
unsafe fn collect_args<'a>(argc: c_uint, argv: *mut *mut c_char) -> Result<KVec<&'a CStr>> {
    let mut v = KVec::with_capacity(argc as usize, GFP_KERNEL)?;
    for i in 0..argc as usize {
        // SAFETY: the caller guarantees `argc` valid strings at `argv`.
        v.push(unsafe { CStr::from_char_ptr(*argv.add(i)) }, GFP_KERNEL)?;
    }
    Ok(v)
}

unsafe extern "C" fn ctr_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    argc: c_uint,
    argv: *mut *mut c_char,
) -> c_int {
    // SAFETY: device-mapper passes `argc` valid strings, alive during `ctr`.
    let words = match unsafe { collect_args(argc, argv) } {
        Ok(w) => w,
        Err(e) => {
            // SAFETY: `ti` is valid; the message is static.
            unsafe { (*ti).error = c"Cannot allocate memory".as_char_ptr().cast_mut() };
            return e.to_errno();
        }
    };
    // SAFETY: `ti` is valid during `ctr`.
    let target = unsafe { Target::from_raw(ti) };
    // Allocated first so that nothing can fail after a successful `ctr`.
    let slot = match KBox::<Instance<T>>::new_uninit(GFP_KERNEL) {
        Ok(slot) => slot,
        Err(_) => {
            // SAFETY: `ti` is valid; the message is static.
            unsafe { (*ti).error = c"Cannot allocate memory".as_char_ptr().cast_mut() };
            return ENOMEM.to_errno();
        }
    };
    let mut cfg = TargetConfig {
        ti: target,
        devs: KVec::new(),
        events: KVec::new(),
    };
    let err = match T::ctr(&mut cfg, Args::new(&words)) {
        Ok(inner) => {
            let inst = KBox::write(
                slot,
                Instance {
                    inner,
                    devs: cfg.devs,
                    events: cfg.events,
                },
            );
            // SAFETY: `ti` is valid; `private` is ours until `dtr`.
            unsafe { (*ti).private = KBox::into_raw(inst).cast() };
            return 0;
        }
        Err(e) => {
            revoke_events(cfg.events);
            // SAFETY: `ti` is valid and the devices were obtained for it.
            unsafe { release_devices(ti, cfg.devs) };
            e
        }
    };
    if let Some(arg) = err.arg {
        pr_err!(
            "{}: table line: {}\n",
            target.device_name().to_str().unwrap_or("?"),
            format_args!("{}", arg)
        );
    }
    // SAFETY: `ti` is valid; `err.msg` is static.
    unsafe { (*ti).error = err.msg.as_char_ptr().cast_mut() };
    err.err.to_errno()
}

unsafe extern "C" fn dtr_callback<T: TargetOps>(ti: *mut bindings::dm_target) {
    // SAFETY: `private` holds the box made by `ctr_callback`; `dtr` runs
    // once, after all other callbacks for this target have returned.
    let inst = KBox::into_inner(unsafe { KBox::from_raw((*ti).private.cast::<Instance<T>>()) });
    // SAFETY: `ti` is valid until `dtr` returns.
    T::dtr(inst.inner, unsafe { Target::from_raw(ti) });
    revoke_events(inst.events);
    // SAFETY: `ti` is valid and the devices were obtained for it.
    unsafe { release_devices(ti, inst.devs) };
}

unsafe extern "C" fn map_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    bio: *mut bindings::bio,
) -> c_int {
    let Some(given) = NonNull::new(bio) else {
        return bindings::DM_MAPIO_KILL as c_int;
    };
    // SAFETY: device-mapper hands the bio to the target; completing it is
    // now the target's duty (or device-mapper's again on REMAPPED/KILL/
    // REQUEUE, see below).
    let bio = unsafe { OwnedBio::from_raw(given) };
    // SAFETY: `ti` was constructed by `ctr_callback::<T>` and is live.
    let (inst, target) = unsafe { (instance_full::<T>(ti), Target::from_raw(ti)) };
    // Gives the duty back to device-mapper if `b` is the bio it handed us.
    // Otherwise `b` is another bio the target held: it is failed (Drop),
    // and the given one is the target's to complete: SUBMITTED.
    let hand_back = |b: OwnedBio<'static>, code: u32| -> c_int {
        if b.as_raw() == given.as_ptr() {
            b.into_raw();
            code as c_int
        } else {
            drop(b);
            bindings::DM_MAPIO_SUBMITTED as c_int
        }
    };
    match inst.inner.map(target, bio).0 {
        MapKind::Remapped(b, dev) => {
            if b.as_raw() != given.as_ptr() {
                return hand_back(b, bindings::DM_MAPIO_REMAPPED);
            }
            match inst
                .devs
                .iter()
                .find(|d| core::ptr::eq(Arc::as_ptr(&d.handle), dev))
            {
                Some(held) => {
                    // `held` is a device of this target, held until its
                    // `dtr`, which cannot run during `map` nor while the bio
                    // is in flight (a table is destroyed once its I/O drains).
                    // SAFETY: `b` is the bio being mapped; `held` is live.
                    unsafe { bindings::kstor_bio_set_dev(b.as_raw(), (*held.raw()).bdev) };
                    hand_back(b, bindings::DM_MAPIO_REMAPPED)
                }
                None => {
                    kernel::pr_warn_once!("remap to a device of another target: bio failed\n");
                    hand_back(b, bindings::DM_MAPIO_KILL)
                }
            }
        }
        MapKind::Submitted => bindings::DM_MAPIO_SUBMITTED as c_int,
        MapKind::Kill(b) => hand_back(b, bindings::DM_MAPIO_KILL),
        MapKind::Requeue(b) => hand_back(b, bindings::DM_MAPIO_REQUEUE),
    }
}

unsafe extern "C" fn end_io_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    bio: *mut bindings::bio,
    error: *mut bindings::blk_status_t,
) -> c_int {
    // SAFETY: device-mapper passes a live target, the bio being completed
    // (ours for the call) and a valid status pointer.
    let (inst, target, bio, err) = unsafe {
        (
            instance::<T>(ti),
            Target::from_raw(ti),
            Bio::from_raw_mut(bio),
            &mut *error,
        )
    };
    let mut status = Status::from_raw(*err);
    let r = inst.end_io(target, bio, &mut status);
    *err = status.as_raw();
    (match r {
        EndIo::Done => bindings::DM_ENDIO_DONE,
        EndIo::Requeue => bindings::DM_ENDIO_REQUEUE,
    }) as c_int
}

unsafe extern "C" fn status_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    kind: bindings::status_type_t,
    _flags: c_uint,
    result: *mut c_char,
    maxlen: c_uint,
) {
    let kind = match kind {
        bindings::status_type_t_STATUSTYPE_INFO => StatusType::Info,
        bindings::status_type_t_STATUSTYPE_TABLE => StatusType::Table,
        _ => StatusType::Ima,
    };
    if result.is_null() || maxlen == 0 {
        return;
    }
    // SAFETY: device-mapper passes a buffer of `maxlen` bytes that we may
    // fill during the call, and a live target.
    let (buf, inst, target) = unsafe {
        (
            core::slice::from_raw_parts_mut(result.cast::<u8>(), maxlen as usize),
            instance::<T>(ti),
            Target::from_raw(ti),
        )
    };
    let mut out = BufWriter::new(buf);
    inst.status(target, kind, &mut out);
}

unsafe extern "C" fn message_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    argc: c_uint,
    argv: *mut *mut c_char,
    result: *mut c_char,
    maxlen: c_uint,
) -> c_int {
    // SAFETY: device-mapper passes `argc` valid strings.
    let words = match unsafe { collect_args(argc, argv) } {
        Ok(w) => w,
        Err(e) => return e.to_errno(),
    };
    if result.is_null() || maxlen == 0 {
        return ENOSPC.to_errno();
    }
    // The words in `argv` were split in place inside the very buffer that
    // `result` points to (dm-ioctl `target_message()`): collect the output
    // separately and copy it once the words are no longer needed.
    let mut tmp = match KVec::from_elem(0u8, maxlen as usize, GFP_KERNEL) {
        Ok(t) => t,
        Err(_) => return ENOMEM.to_errno(),
    };
    let mut out = BufWriter::new(&mut tmp);
    // SAFETY: `ti` is a live target of ours.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    let r = inst.message(target, Args::new(&words), &mut out);
    let (n, full) = (out.len(), out.truncated());
    drop(words);
    match r {
        Ok(()) if n > 0 || full => {
            // SAFETY: `result` has room for `maxlen` bytes and `n < maxlen`
            // (the writer keeps room for the NUL, copied too).
            unsafe { core::ptr::copy_nonoverlapping(tmp.as_ptr(), result.cast::<u8>(), n + 1) };
            // 1 tells dm-ioctl that `result` holds text for the caller
            // (`target_message()` in drivers/md/dm-ioctl.c); a full buffer
            // makes dmsetup retry with a larger one.
            1
        }
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn iterate_devices_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    callout: bindings::iterate_devices_callout_fn,
    data: *mut c_void,
) -> c_int {
    let Some(callout) = callout else {
        return 0;
    };
    // SAFETY: `ti` is a live target of ours: `private` holds its
    // `Instance`, freed only by `dtr`.
    let (inst, target) = unsafe { (instance_full::<T>(ti), Target::from_raw(ti)) };
    let mut visitor = DeviceVisitor {
        ti,
        callout,
        data,
        devs: &inst.devs,
    };
    inst.inner.iterate_devices(target, &mut visitor)
}

unsafe extern "C" fn io_hints_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    limits: *mut bindings::queue_limits,
) {
    // SAFETY: `ti` is a live target of ours; `limits` is valid and ours to
    // change during the call.
    let (inst, target, limits) = unsafe { (instance::<T>(ti), Target::from_raw(ti), &mut *limits) };
    inst.io_hints(target, &mut QueueLimits(limits));
}

unsafe extern "C" fn presuspend_callback<T: TargetOps>(ti: *mut bindings::dm_target) {
    // SAFETY: `ti` is a live target of ours.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    inst.presuspend(target);
}

unsafe extern "C" fn resume_callback<T: TargetOps>(ti: *mut bindings::dm_target) {
    // SAFETY: `ti` is a live target of ours.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    inst.resume(target);
}

unsafe extern "C" fn postsuspend_callback<T: TargetOps>(ti: *mut bindings::dm_target) {
    // SAFETY: `ti` is a live target of ours.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    inst.postsuspend(target);
}

unsafe extern "C" fn preresume_callback<T: TargetOps>(ti: *mut bindings::dm_target) -> c_int {
    // SAFETY: `ti` is a live target of ours.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    match inst.preresume(target) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A registered target type (`dm_register_target()`), unregistered on
/// drop. Keep it in the module's state so that it is dropped at module
/// exit.
///
/// Dropped earlier while table lines still use the type (they hold
/// references on the module), it is unregistered and its `target_type` is
/// leaked rather than freed, since live targets still point to it.
///
/// # Invariants
///
/// `tt` is a heap-allocated `target_type` registered with device-mapper
/// from construction until drop; `module` is its owner.
pub struct Registration<T: TargetOps> {
    tt: NonNull<bindings::target_type>,
    module: &'static ThisModule,
    _p: PhantomData<T>,
}

// SAFETY: after registration `tt` is only read by device-mapper (under its
// own locks); registration and unregistration may happen on any thread.
unsafe impl<T: TargetOps> Send for Registration<T> {}
// SAFETY: `&Registration` gives no access to `tt`.
unsafe impl<T: TargetOps> Sync for Registration<T> {}

impl<T: TargetOps> Registration<T> {
    /// Registers target type `name` (what table lines name) at `version`
    /// (major, minor, patch), owned by `module`.
    ///
    /// # Errors
    ///
    /// `EBUSY` if a target type of that name exists, `ENOMEM`.
    pub fn new(
        name: &'static CStr,
        version: [u32; 3],
        module: &'static ThisModule,
    ) -> Result<Self> {
        let tt = KBox::new(
            bindings::target_type {
                name: name.as_char_ptr(),
                module: module.as_ptr(),
                version,
                ctr: Some(ctr_callback::<T>),
                dtr: Some(dtr_callback::<T>),
                map: Some(map_callback::<T>),
                end_io: T::HAS_END_IO.then_some(end_io_callback::<T> as _),
                status: T::HAS_STATUS.then_some(status_callback::<T> as _),
                message: T::HAS_MESSAGE.then_some(message_callback::<T> as _),
                iterate_devices: T::HAS_ITERATE_DEVICES
                    .then_some(iterate_devices_callback::<T> as _),
                io_hints: T::HAS_IO_HINTS.then_some(io_hints_callback::<T> as _),
                presuspend: T::HAS_PRESUSPEND.then_some(presuspend_callback::<T> as _),
                resume: T::HAS_RESUME.then_some(resume_callback::<T> as _),
                postsuspend: T::HAS_POSTSUSPEND.then_some(postsuspend_callback::<T> as _),
                preresume: T::HAS_PRERESUME.then_some(preresume_callback::<T> as _),
                ..Default::default()
            },
            GFP_KERNEL,
        )?;
        let tt = KBox::into_raw(tt);
        // SAFETY: `tt` is a valid, fully initialised `target_type` that
        // stays allocated until unregistered (see `Drop`).
        if let Err(e) = to_result(unsafe { bindings::dm_register_target(tt) }) {
            // SAFETY: not registered, so nothing else refers to it.
            drop(unsafe { KBox::from_raw(tt) });
            return Err(e);
        }
        // INVARIANT: registered just above; `into_raw` never returns null.
        Ok(Registration {
            tt: NonNull::new(tt).ok_or(EINVAL)?,
            module,
            _p: PhantomData,
        })
    }
}

impl<T: TargetOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `tt` is registered.
        unsafe { bindings::dm_unregister_target(self.tt.as_ptr()) };
        // Every live target of this type holds a module reference (taken
        // under device-mapper's lock by `dm_get_target_type()`); none can
        // be created after unregistration. At module exit the count is -1.
        // SAFETY: `module` is this module's `THIS_MODULE`.
        #[cfg(CONFIG_MODULE_UNLOAD)]
        let unused = unsafe { bindings::module_refcount(self.module.as_ptr()) } <= 0;
        // Without module unloading nothing tracks users: never free.
        #[cfg(not(CONFIG_MODULE_UNLOAD))]
        let unused = false;
        if unused {
            // SAFETY: unregistered and unused: nothing refers to `tt`.
            drop(unsafe { KBox::from_raw(self.tt.as_ptr()) });
        }
    }
}
