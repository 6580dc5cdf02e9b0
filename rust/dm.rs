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
pub struct TargetConfig<'a>(&'a Target);

impl<'a> TargetConfig<'a> {
    /// The target being constructed.
    pub fn target(&self) -> &'a Target {
        self.0
    }

    /// How many empty PREFLUSH bios device-mapper sends to `map` per flush
    /// of the mapped device (`ti->num_flush_bios`).
    pub fn set_num_flush_bios(&self, n: u32) {
        // SAFETY: device-mapper does not read `ti` concurrently with `ctr`.
        unsafe { (*self.0.as_raw()).num_flush_bios = n };
    }

    /// How many bios a discard is split into (`ti->num_discard_bios`); 0
    /// disables discards.
    pub fn set_num_discard_bios(&self, n: u32) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { (*self.0.as_raw()).num_discard_bios = n };
    }

    /// `ti->num_write_zeroes_bios`; 0 disables REQ_OP_WRITE_ZEROES.
    pub fn set_num_write_zeroes_bios(&self, n: u32) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { (*self.0.as_raw()).num_write_zeroes_bios = n };
    }

    /// `ti->discards_supported`: the target handles discards itself even if
    /// its devices do not.
    pub fn set_discards_supported(&self, on: bool) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { bindings::kstor_dm_target_set_discards_supported(self.0.as_raw(), on) };
    }

    /// `ti->flush_supported`: the target handles PREFLUSH/FUA itself.
    pub fn set_flush_supported(&self, on: bool) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { bindings::kstor_dm_target_set_flush_supported(self.0.as_raw(), on) };
    }

    /// `ti->max_io_len`: bios are split so none crosses a multiple of this
    /// many sectors (0: no limit).
    pub fn set_max_io_len(&self, sectors: u32) {
        // SAFETY: as for `set_num_flush_bios`.
        unsafe { (*self.0.as_raw()).max_io_len = sectors };
    }

    /// Opens the block device at `path` (a path or `major:minor`) with the
    /// table's mode (`dm_get_device()`); it is released when the returned
    /// [`DmDev`] is dropped.
    ///
    /// # Errors
    ///
    /// What `dm_get_device()` returns: `ENODEV`/`ENOENT` for no such
    /// device, `EBUSY` if it is held exclusively elsewhere, `ENOMEM`.
    pub fn get_device(&self, path: &CStr) -> Result<DmDev> {
        let ti = self.0.as_raw();
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
        let dev = NonNull::new(dev).ok_or(ENODEV)?;
        // INVARIANT: `dm_get_device` succeeded, so `dev` is held for `ti`.
        Ok(DmDev { ti, dev })
    }
}

/// A block device held by a target (`struct dm_dev`), released with
/// `dm_put_device()` on drop.
///
/// # Invariants
///
/// `dev` was returned by `dm_get_device(ti, ...)` and has not been put.
/// A `DmDev` is created in `ctr` and must be owned by the target instance
/// (dropped at the latest in `dtr`, before device-mapper frees `ti`).
pub struct DmDev {
    ti: *mut bindings::dm_target,
    dev: NonNull<bindings::dm_dev>,
}

// SAFETY: `dm_dev` is reference-counted by device-mapper and its fields are
// read-only after `dm_get_device`; I/O to it may come from any CPU.
unsafe impl Send for DmDev {}
// SAFETY: as above; `&DmDev` only reads.
unsafe impl Sync for DmDev {}

impl DmDev {
    fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: by the type invariant `dev` is valid.
        unsafe { (*self.dev.as_ptr()).bdev }
    }

    /// Size of the device in 512 B sectors.
    pub fn size_sectors(&self) -> u64 {
        // SAFETY: `bdev` is valid while the device is held.
        unsafe { bindings::kstor_bdev_nr_sectors(self.bdev()) }
    }

    /// Logical block size of the device in bytes.
    pub fn logical_block_size(&self) -> u32 {
        // SAFETY: `bdev` is valid while the device is held.
        unsafe { bindings::kstor_bdev_logical_block_size(self.bdev()) }
    }

    /// The device's `major:minor` name, as table lines print it.
    pub fn name(&self) -> &CStr {
        // SAFETY: `dev->name` is a NUL-terminated array filled by
        // `dm_get_device` and constant while the device is held.
        unsafe { CStr::from_char_ptr((*self.dev.as_ptr()).name.as_ptr()) }
    }
}

impl Drop for DmDev {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `dev` is held for `ti`, which is
        // still valid (the device is dropped no later than `dtr`).
        unsafe { bindings::dm_put_device(self.ti, self.dev.as_ptr()) };
    }
}

/// What `map` did with a bio.
pub enum Mapping {
    /// Remapped to another device and sector: device-mapper submits it
    /// (`DM_MAPIO_REMAPPED`). Build it with [`Mapping::remap`].
    Remapped(OwnedBio<'static>),
    /// The target took the bio and completes it, now or later
    /// (`DM_MAPIO_SUBMITTED`).
    Submitted,
    /// Fail the bio with `BLK_STS_IOERR` (`DM_MAPIO_KILL`).
    Kill(OwnedBio<'static>),
    /// Hand the bio back for resubmission (`DM_MAPIO_REQUEUE`).
    Requeue(OwnedBio<'static>),
}

impl Mapping {
    /// Sends `bio` to `dev`, moved to `sector` (512 B units) unless it
    /// carries no data (an empty flush keeps its sector).
    pub fn remap(mut bio: OwnedBio<'static>, dev: &DmDev, sector: u64) -> Mapping {
        // SAFETY: `bio` is owned and valid; `dev.bdev()` is held.
        unsafe { bindings::kstor_bio_set_dev(bio.as_raw(), dev.bdev()) };
        if bio.size() != 0 {
            bio.set_sector(sector);
        }
        Mapping::Remapped(bio)
    }
}

/// What `end_io` decided (`DM_ENDIO_*`).
pub enum EndIo {
    /// Complete the bio (`DM_ENDIO_DONE`).
    Done,
    /// The target keeps the bio and completes it later
    /// (`DM_ENDIO_INCOMPLETE`).
    Incomplete,
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
    _p: PhantomData<&'a ()>,
}

impl DeviceVisitor<'_> {
    /// Reports that the target uses `len` sectors of `dev` from `start`
    /// (512 B sectors). Returns the callout's result; a non-zero value ends
    /// the iteration and must be returned from `iterate_devices`.
    pub fn visit(&mut self, dev: &DmDev, start: u64, len: u64) -> i32 {
        // SAFETY: `callout` and `data` come from device-mapper for this
        // call; `dev` is held for `ti`.
        unsafe { (self.callout)(self.ti, dev.dev.as_ptr(), start, len, self.data) }
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
    fn ctr(cfg: &TargetConfig<'_>, args: Args<'_>) -> Result<Pin<KBox<Self>>, CtrError>;

    /// Maps one bio (`dm_map_fn`).
    fn map(&self, ti: &Target, bio: OwnedBio<'static>) -> Mapping;

    /// Sees a bio the target remapped when it completes (`dm_endio_fn`);
    /// may change its status.
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
}

/// # Safety
///
/// `ti` must be a target constructed by `ctr_callback::<T>` and not yet
/// destroyed.
unsafe fn instance<'a, T: TargetOps>(ti: *mut bindings::dm_target) -> &'a T {
    // SAFETY: `ctr_callback` stored a pinned `KBox<T>` in `ti->private`; it
    // is freed only by `dtr_callback`.
    unsafe { &*(*ti).private.cast::<T>() }
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
    let cfg = TargetConfig(unsafe { Target::from_raw(ti) });
    match T::ctr(&cfg, Args::new(&words)) {
        Ok(inst) => {
            // SAFETY: the instance is never moved out of the box: it is
            // only borrowed until `dtr_callback` rebuilds the pinned box.
            let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(inst) });
            // SAFETY: `ti` is valid; `private` is ours.
            unsafe { (*ti).private = raw.cast() };
            0
        }
        Err(e) => {
            if let Some(arg) = e.arg {
                // SAFETY: `ti` is valid during `ctr`.
                let target = unsafe { Target::from_raw(ti) };
                pr_err!(
                    "{}: table line: {}\n",
                    target.device_name().to_str().unwrap_or("?"),
                    format_args!("{}", arg)
                );
            }
            // SAFETY: `ti` is valid; `e.msg` is static.
            unsafe { (*ti).error = e.msg.as_char_ptr().cast_mut() };
            e.err.to_errno()
        }
    }
}

unsafe extern "C" fn dtr_callback<T: TargetOps>(ti: *mut bindings::dm_target) {
    // SAFETY: `private` holds the box made by `ctr_callback`; `dtr` runs
    // once, after all other callbacks for this target have returned.
    let inst = unsafe { Pin::new_unchecked(KBox::from_raw((*ti).private.cast::<T>())) };
    drop(inst);
}

unsafe extern "C" fn map_callback<T: TargetOps>(
    ti: *mut bindings::dm_target,
    bio: *mut bindings::bio,
) -> c_int {
    let Some(bio) = NonNull::new(bio) else {
        return bindings::DM_MAPIO_KILL as c_int;
    };
    // SAFETY: device-mapper hands the bio to the target; completing it is
    // now the target's duty (or device-mapper's again on REMAPPED/KILL/
    // REQUEUE, see below).
    let bio = unsafe { OwnedBio::from_raw(bio) };
    // SAFETY: `ti` was constructed by `ctr_callback::<T>` and is live.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    match inst.map(target, bio) {
        Mapping::Remapped(b) => {
            b.into_raw();
            bindings::DM_MAPIO_REMAPPED as c_int
        }
        Mapping::Submitted => bindings::DM_MAPIO_SUBMITTED as c_int,
        Mapping::Kill(b) => {
            b.into_raw();
            bindings::DM_MAPIO_KILL as c_int
        }
        Mapping::Requeue(b) => {
            b.into_raw();
            bindings::DM_MAPIO_REQUEUE as c_int
        }
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
        EndIo::Incomplete => bindings::DM_ENDIO_INCOMPLETE,
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
    let mut empty = [0u8; 1];
    let buf: &mut [u8] = if result.is_null() || maxlen == 0 {
        &mut empty
    } else {
        // SAFETY: `result` has room for `maxlen` bytes during the call.
        unsafe { core::slice::from_raw_parts_mut(result.cast::<u8>(), maxlen as usize) }
    };
    let mut out = BufWriter::new(buf);
    // SAFETY: `ti` is a live target of ours.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    match inst.message(target, Args::new(&words), &mut out) {
        // 1 tells dm-ioctl that `result` holds text for the caller
        // (`target_message()` in drivers/md/dm-ioctl.c).
        Ok(()) if !out.is_empty() => 1,
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
    let mut visitor = DeviceVisitor {
        ti,
        callout,
        data,
        _p: PhantomData,
    };
    // SAFETY: `ti` is a live target of ours.
    let (inst, target) = unsafe { (instance::<T>(ti), Target::from_raw(ti)) };
    inst.iterate_devices(target, &mut visitor)
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

/// A registered target type (`dm_register_target()`), unregistered on
/// drop. Hold it pinned in the module (see `kernel::InPlaceModule`).
///
/// # Invariants
///
/// `tt` is registered with device-mapper from construction until drop.
#[pin_data(PinnedDrop)]
pub struct Registration<T: TargetOps> {
    #[pin]
    tt: Opaque<bindings::target_type>,
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
    /// `EEXIST` if a target type of that name exists.
    pub fn new(
        name: &'static CStr,
        version: [u32; 3],
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            tt <- Opaque::try_ffi_init(move |slot: *mut bindings::target_type| {
                let tt = bindings::target_type {
                    name: name.as_char_ptr(),
                    module: module.as_ptr(),
                    version,
                    ctr: Some(ctr_callback::<T>),
                    dtr: Some(dtr_callback::<T>),
                    map: Some(map_callback::<T>),
                    end_io: if T::HAS_END_IO { Some(end_io_callback::<T>) } else { None },
                    status: if T::HAS_STATUS { Some(status_callback::<T>) } else { None },
                    message: if T::HAS_MESSAGE { Some(message_callback::<T>) } else { None },
                    iterate_devices: if T::HAS_ITERATE_DEVICES { Some(iterate_devices_callback::<T>) } else { None },
                    io_hints: if T::HAS_IO_HINTS { Some(io_hints_callback::<T>) } else { None },
                    presuspend: if T::HAS_PRESUSPEND { Some(presuspend_callback::<T>) } else { None },
                    resume: if T::HAS_RESUME { Some(resume_callback::<T>) } else { None },
                    ..Default::default()
                };
                // SAFETY: `slot` is valid for writes and pinned for the life
                // of the registration; `dm_register_target` links it into
                // device-mapper's list until `dm_unregister_target`.
                unsafe {
                    slot.write(tt);
                    to_result(bindings::dm_register_target(slot))
                }
            }),
            _p: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T: TargetOps> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant `tt` is registered.
        unsafe { bindings::dm_unregister_target(self.tt.get()) };
    }
}
