// SPDX-License-Identifier: GPL-2.0

// Unsafe code belongs in kstor (rust/), never in a driver.
#![forbid(unsafe_code)]

//! nvme_vhost: an NVMe controller emulated in the host kernel for QEMU
//! guests (and any VMM), with shadow doorbells (Doorbell Buffer Config,
//! EventIdx).
//!
//! Each open file of `/dev/vhost-nvme` is one controller, driven through
//! the ioctls of `include/uapi/linux/vhost_nvme.h` ([`uapi`]). The
//! controller itself ([`ctrl`]: registers, queues, admin and I/O commands)
//! is pure and host-tested; this file gives it its transport:
//!
//! - a worker thread in the owner's thread group (`vhost_task`), which
//!   reaches guest memory with user copies in the owner's mm, polls the
//!   queues for a bounded, adaptive time after the last work
//!   ([`ctrl::PollWindow`]), then arms EventIdx
//!   and sleeps until a doorbell, a doorbell eventfd or finished I/O kicks
//!   it;
//! - interrupts as eventfd signals, one eventfd per vector;
//! - the backend (block device or regular file) through asynchronous
//!   kiocbs, up to [`ctrl::SLOTS`] commands in flight.
//!
//! Documentation: `Documentation/admin-guide/nvme_vhost.rst`.

pub mod ctrl;
pub mod nvme;
pub mod prp;
pub mod regs;
pub mod uapi;

use ctrl::{Ctrl, Host, Io};
use core::fmt;
use kernel::debugfs;
use kernel::fs::File;
use kernel::str::CString;
use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{ordering, Atomic};
use kernel::sync::barrier::{smp_mb, Full};
use kernel::sync::{Arc, Mutex, MutexGuard};
use kernel::time::{Instant, Monotonic};
use kernel::uaccess::{UserPtr, UserSlice};
use kstor::vhost::{self, Backend, EventFd, KickFd, KioPool, Owner, Task, Waker, Worker};
use nvme::status;

module! {
    type: NvmeVhostModule,
    name: "nvme_vhost",
    authors: ["vdo_qat developers"],
    description: "In-kernel NVMe controller for QEMU guests (vhost-nvme)",
    license: "GPL",
}

#[pin_data]
struct NvmeVhostModule {
    #[pin]
    _miscdev: MiscDeviceRegistration<Controller>,
}

impl kernel::InPlaceModule for NvmeVhostModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"vhost-nvme" }),
        })
    }
}

/// How long `VHOST_NVME_RESET` waits for commands in flight, milliseconds.
const RESET_WAIT_MS: u32 = 30_000;

/// Controllers opened so far: serial numbers and controller ids.
static OPENED: Atomic<u32> = Atomic::new(0);

/// What a backend operation was, to map its result to a status.
#[derive(Clone, Copy, Default)]
struct Pending {
    read: bool,
    /// Bytes a read or write must move (0: other operations).
    len: u64,
}

/// The state of one controller, under its lock.
struct State {
    /// The owner's address space, once `SET_OWNER` ran: the worker's, and
    /// the one every guest address is in (as `vhost_dev_check_owner()`).
    owner: Option<Owner>,
    ctrl: KBox<Ctrl<{ uapi::MAX_REGIONS }>>,
    backend: Option<Backend>,
    pool: KioPool,
    pending: KVec<Pending>,
    /// Ranges of the Dataset Management command being decoded.
    ranges: KVec<(u64, u64)>,
    irqs: KVec<Option<EventFd>>,
    kicks: KVec<Option<KickFd>>,
    /// When the worker last ran out of work (polling since).
    idle: Option<Instant<Monotonic>>,
    /// When the worker went to sleep.
    slept: Option<Instant<Monotonic>>,
    /// How long the worker polls before it sleeps.
    poll: ctrl::PollWindow,
}

/// What the worker and the ioctls share.
#[pin_data]
struct Shared {
    waker: Arc<Waker>,
    #[pin]
    state: Mutex<State>,
}

/// One emulated controller: one open `/dev/vhost-nvme`.
#[pin_data]
struct Controller {
    /// The worker; dropped (stopped and joined) before `shared`.
    #[pin]
    task: Mutex<Option<Task<Shared>>>,
    /// `/sys/kernel/debug/nvme_vhost.<n>/stats`.
    #[pin]
    stats: debugfs::File<Arc<Shared>>,
    _dir: debugfs::Dir,
    shared: Arc<Shared>,
}

/// The debugfs counters file: one `name value` line per counter.
fn stats_fmt(s: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = s.state.lock();
    let c = &st.ctrl.stats;
    writeln!(f, "commands {}", c.commands)?;
    writeln!(f, "mmio_doorbells {}", c.mmio_doorbells)?;
    writeln!(f, "kick_doorbells {}", c.kick_doorbells)?;
    writeln!(f, "io_commands {}", c.io_commands)?;
    writeln!(f, "io_mmio_doorbells {}", c.io_mmio_doorbells)?;
    writeln!(f, "shadow_doorbell_reads {}", c.shadow_reads)?;
    writeln!(f, "eventidx_writes {}", c.eventidx_writes)?;
    writeln!(f, "interrupts {}", c.interrupts)?;
    writeln!(f, "errors {}", c.errors)?;
    writeln!(f, "io_errors {}", c.io_errors)?;
    writeln!(f, "last_error sq {} status {:#x}", c.last_error >> 16, c.last_error & 0xffff)?;
    writeln!(f, "inflight {}", st.ctrl.inflight())?;
    writeln!(f, "dbbuf {}", u8::from(st.ctrl.dbbuf().enabled))
}

/// [`Host`] over the kernel: user copies in the current mm (the owner's),
/// eventfds and the kio pool.
struct KHost<'a> {
    pool: &'a mut KioPool,
    pending: &'a mut KVec<Pending>,
    ranges: &'a mut KVec<(u64, u64)>,
    backend: Option<&'a Backend>,
    irqs: &'a [Option<EventFd>],
}

impl Host for KHost<'_> {
    fn read(&mut self, uaddr: u64, buf: &mut [u8]) -> bool {
        let Ok(a) = usize::try_from(uaddr) else { return false };
        UserSlice::new(UserPtr::from_addr(a), buf.len()).reader().read_slice(buf).is_ok()
    }

    fn write(&mut self, uaddr: u64, buf: &[u8]) -> bool {
        let Ok(a) = usize::try_from(uaddr) else { return false };
        UserSlice::new(UserPtr::from_addr(a), buf.len()).writer().write_slice(buf).is_ok()
    }

    fn mb(&mut self) {
        smp_mb(Full);
    }

    fn irq(&mut self, vector: u16) {
        if let Some(Some(e)) = self.irqs.get(usize::from(vector)) {
            e.signal();
        }
    }

    fn push_range(&mut self, pos: u64, len: u64) -> bool {
        self.ranges.len() < ctrl::MAX_DSM_RANGES && self.ranges.push((pos, len), GFP_KERNEL).is_ok()
    }

    fn clear_ranges(&mut self) {
        self.ranges.clear();
    }

    fn submit(&mut self, tag: u16, op: &Io<'_>) -> Result<(), u16> {
        let b = self.backend.ok_or(status::INVALID_NS)?;
        let mut p = Pending::default();
        let r = match *op {
            Io::Read { pos, len, segs } => {
                p = Pending { read: true, len };
                self.pool.rw(tag, b, false, pos, len, segs.iter().map(|s| (s.uaddr, s.len)), false, true)
            }
            Io::Write { pos, len, segs, fua } => {
                p.len = len;
                self.pool.rw(tag, b, true, pos, len, segs.iter().map(|s| (s.uaddr, s.len)), fua, true)
            }
            Io::Flush => self.pool.flush(tag, b),
            Io::WriteZeroes { pos, len, fua, dealloc } => self.pool.zero(tag, b, pos, len, dealloc, fua),
            Io::Discard => {
                let r = self.pool.discard(tag, b, self.ranges);
                self.ranges.clear();
                r
            }
        };
        r.map_err(|_| status::INTERNAL)?;
        if let Some(slot) = self.pending.get_mut(usize::from(tag)) {
            *slot = p;
        }
        Ok(())
    }
}

impl State {
    /// Splits the state into the controller and its host.
    fn parts(&mut self) -> (&mut Ctrl<{ uapi::MAX_REGIONS }>, KHost<'_>) {
        let State {
            ctrl,
            backend,
            pool,
            pending,
            ranges,
            irqs,
            ..
        } = self;
        (
            ctrl,
            KHost {
                pool,
                pending,
                ranges,
                backend: backend.as_ref(),
                irqs,
            },
        )
    }

    /// Completes every finished backend operation; returns whether there
    /// was one.
    fn drain(&mut self) -> bool {
        let (ctrl, mut host) = self.parts();
        let mut any = false;
        while let Some((tag, res)) = host.pool.pop() {
            let p = host.pending.get(usize::from(tag)).copied().unwrap_or_default();
            let st = match res {
                r if r >= 0 && (p.len == 0 || r as u64 == p.len) => status::SUCCESS,
                r if r == ENOSPC.to_errno() as isize => 0x81 | status::DNR, // Capacity Exceeded
                _ if p.len == 0 => status::INTERNAL,
                _ if p.read => status::READ_ERROR,
                _ => status::WRITE_FAULT,
            };
            ctrl.complete(&mut host, tag, st);
            any = true;
        }
        ctrl.flush_irqs(&mut host);
        any
    }
}

impl Worker for Shared {
    fn run(&self) -> bool {
        vhost::set_current_running();
        let mut g = self.state.lock();
        let st = &mut *g;
        let now = Instant::<Monotonic>::now();
        if let Some(t) = st.slept.take() {
            st.poll.after_sleep((now - t).as_nanos().max(0) as u64);
        }
        let fd_kicks = self.waker.take_fd_kicks();
        st.ctrl.stats.kick_doorbells += fd_kicks;
        let mut work = st.drain();
        {
            let (ctrl, mut host) = st.parts();
            work |= ctrl.process(&mut host);
        }
        if work {
            st.idle = None;
        } else {
            let since = *st.idle.get_or_insert(now);
            if (now - since).as_nanos().max(0) as u64 >= st.poll.ns() {
                // Done polling: ask for doorbells, look a last time.
                st.idle = None;
                let (ctrl, mut host) = st.parts();
                if !ctrl.arm(&mut host) {
                    st.slept = Some(now);
                    drop(g);
                    vhost::set_current_interruptible();
                    if !self.waker.take_kick() {
                        return false;
                    }
                    vhost::set_current_running();
                    return true;
                }
            }
        }
        drop(g);
        vhost::cond_resched();
        true
    }

    fn killed(&self) {
        pr_info!("owner killed; controller stopped\n");
    }
}

fn read_user<const N: usize>(arg: usize) -> Result<[u8; N]> {
    let mut b = [0u8; N];
    UserSlice::new(UserPtr::from_addr(arg), N).reader().read_slice(&mut b)?;
    Ok(b)
}

fn write_user(arg: usize, b: &[u8]) -> Result {
    UserSlice::new(UserPtr::from_addr(arg), b.len()).writer().write_slice(b)
}

/// A serial number "VHN" + 8 decimal digits of `n`.
fn serial(n: u32) -> [u8; 11] {
    let mut s = *b"VHN00000000";
    let mut v = n;
    for d in s[3..].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    s
}

#[vtable]
impl MiscDevice for Controller {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        let waker = Waker::new()?;
        let n = OPENED.fetch_add(1, ordering::Relaxed).wrapping_add(1);
        let mut pending = KVec::with_capacity(ctrl::SLOTS, GFP_KERNEL)?;
        let mut irqs = KVec::with_capacity(ctrl::VECTORS, GFP_KERNEL)?;
        let mut kicks = KVec::with_capacity(ctrl::QUEUES, GFP_KERNEL)?;
        for _ in 0..ctrl::SLOTS {
            pending.push(Pending::default(), GFP_KERNEL)?;
        }
        for _ in 0..ctrl::VECTORS {
            irqs.push(None, GFP_KERNEL)?;
        }
        for _ in 0..ctrl::QUEUES {
            kicks.push(None, GFP_KERNEL)?;
        }
        let state = State {
            owner: None,
            ctrl: KBox::new(Ctrl::new(&serial(n), n as u16), GFP_KERNEL)?,
            backend: None,
            pool: KioPool::new(&waker, ctrl::SLOTS as u16)?,
            pending,
            ranges: KVec::with_capacity(ctrl::MAX_DSM_RANGES, GFP_KERNEL)?,
            irqs,
            kicks,
            idle: None,
            slept: None,
            poll: ctrl::PollWindow::default(),
        };
        let shared = Arc::pin_init(
            pin_init!(Shared {
                waker,
                state <- new_mutex!(state),
            }),
            GFP_KERNEL,
        )?;
        let name = CString::try_from_fmt(fmt!("nvme_vhost.{n}"))?;
        let dir = debugfs::Dir::new(&name);
        let keep = dir.clone();
        let stats = dir.read_callback_file(c"stats", shared.clone(), &stats_fmt);
        KBox::try_pin_init(
            try_pin_init!(Controller {
                task <- new_mutex!(None),
                stats <- stats,
                _dir: keep,
                shared,
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&Controller>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        if cmd == uapi::SET_OWNER {
            me.set_owner()?;
            return Ok(0);
        }
        if !OWNER_IOCTLS.contains(&cmd) {
            return Err(ENOTTY);
        }
        let mut g = me.shared.state.lock();
        if !g.owner.as_ref().is_some_and(|o| o.is_current()) {
            return Err(EPERM);
        }
        let st = &mut *g;
        match cmd {
            uapi::SET_MEM_TABLE => {
                let table = read_mem_table(arg)?;
                if !st.ctrl.set_mem(&table) {
                    return Err(EBUSY);
                }
            }
            uapi::SET_BACKEND => set_backend(st, arg)?,
            uapi::SET_CONFIG => set_config(st, arg)?,
            uapi::REG_READ => reg_read(st, arg)?,
            uapi::REG_WRITE => reg_write(st, &me.shared.waker, arg)?,
            uapi::SET_IRQ_FD | uapi::SET_DB_FD => set_fd(st, &me.shared.waker, cmd, arg)?,
            uapi::GET_DBBUF => {
                let d = st.ctrl.dbbuf();
                write_user(arg, &uapi::encode_dbbuf(d.shadow, d.eventidx, d.enabled))?;
            }
            uapi::GET_STATS => get_stats(st, arg)?,
            _ => reset(&me.shared, g)?,
        }
        Ok(0)
    }
}

/// The ioctls only the owner may call: all but `VHOST_NVME_SET_OWNER`.
const OWNER_IOCTLS: [u32; 10] = [
    uapi::SET_MEM_TABLE,
    uapi::SET_BACKEND,
    uapi::REG_READ,
    uapi::REG_WRITE,
    uapi::SET_IRQ_FD,
    uapi::SET_DB_FD,
    uapi::GET_DBBUF,
    uapi::RESET,
    uapi::GET_STATS,
    uapi::SET_CONFIG,
];

impl Controller {
    /// `VHOST_NVME_SET_OWNER`: the caller becomes the owner, and the worker
    /// starts in its thread group (and mm). `EBUSY` if there is an owner.
    fn set_owner(&self) -> Result {
        let mut task = self.task.lock();
        {
            let mut st = self.shared.state.lock();
            if st.owner.is_some() {
                return Err(EBUSY);
            }
            st.owner = Some(Owner::current().ok_or(EINVAL)?);
        }
        // The worker joins the caller's thread group (and mm).
        match self.shared.waker.start(self.shared.clone(), c"vhost-nvme") {
            Ok(t) => *task = Some(t),
            Err(e) => {
                self.shared.state.lock().owner = None;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// `VHOST_NVME_SET_CONFIG`: serial number and most I/O queue pairs
/// (`EBUSY` while enabled or busy, `EINVAL` for bad values).
fn set_config(st: &mut State, arg: usize) -> Result {
    let b = read_user::<{ uapi::CONFIG_SIZE }>(arg)?;
    let (serial, queues) = uapi::decode_config(&b);
    if st.ctrl.regs.enabled() || st.ctrl.busy() {
        return Err(EBUSY);
    }
    st.ctrl.configure(serial, queues).map_err(|_| EINVAL)
}

/// `VHOST_NVME_REG_READ`: reads the register named in the user's
/// structure into its value field.
fn reg_read(st: &mut State, arg: usize) -> Result {
    let (mut r, mut w) = UserSlice::new(UserPtr::from_addr(arg), uapi::REG_SIZE).reader_writer();
    let mut b = [0u8; uapi::REG_SIZE];
    r.read_slice(&mut b)?;
    let (offset, width, _) = uapi::decode_reg(&b);
    let v = st.ctrl.regs.read(offset, width).map_err(|_| EINVAL)?;
    w.write_slice(&uapi::encode_reg(offset, width, v))
}

/// `VHOST_NVME_REG_WRITE`: a register write; a shutdown syncs the
/// backend, and any effect kicks the worker.
fn reg_write(st: &mut State, waker: &Waker, arg: usize) -> Result {
    let (offset, width, value) = uapi::decode_reg(&read_user::<{ uapi::REG_SIZE }>(arg)?);
    let (ctrl, mut host) = st.parts();
    let e = ctrl.reg_write(&mut host, offset, width, value).map_err(|_| EINVAL)?;
    if e == regs::Effect::Shutdown {
        if let Some(b) = &st.backend {
            b.sync()?;
        }
    }
    // Doorbells, enable, mask changes; after a reset, the completions of
    // the orphaned commands end it.
    if e != regs::Effect::None {
        waker.kick();
    }
    Ok(())
}

/// `VHOST_NVME_SET_IRQ_FD` (`cmd`) or `VHOST_NVME_SET_DB_FD`: sets or
/// (fd -1) removes the eventfd of an interrupt vector or of a doorbell.
fn set_fd(st: &mut State, waker: &Arc<Waker>, cmd: u32, arg: usize) -> Result {
    let (index, fd) = uapi::decode_fd(&read_user::<{ uapi::FD_SIZE }>(arg)?);
    let i = usize::try_from(index).map_err(|_| EINVAL)?;
    if cmd == uapi::SET_IRQ_FD {
        let e = if fd < 0 { None } else { Some(EventFd::get(fd)?) };
        *st.irqs.get_mut(i).ok_or(EINVAL)? = e;
    } else {
        let k = if fd < 0 { None } else { Some(KickFd::new(fd, waker)?) };
        *st.kicks.get_mut(i).ok_or(EINVAL)? = k;
    }
    Ok(())
}

/// `VHOST_NVME_GET_STATS`: the counters, in the uapi's order.
fn get_stats(st: &State, arg: usize) -> Result {
    let s = st.ctrl.stats;
    let v = [
        s.commands,
        s.mmio_doorbells,
        s.kick_doorbells,
        s.shadow_reads,
        s.eventidx_writes,
        s.interrupts,
        s.errors,
        st.ctrl.inflight() as u64,
    ];
    write_user(arg, &uapi::encode_stats(&v))
}

/// `VHOST_NVME_RESET`: as `CC.EN` 1 -> 0, and waits (the lock dropped
/// while it sleeps) until the commands in flight have ended; `ETIMEDOUT`
/// after [`RESET_WAIT_MS`].
fn reset<'a>(shared: &'a Shared, mut g: MutexGuard<'a, State>) -> Result {
    g.ctrl.reset();
    let mut waited = 0;
    loop {
        g.drain();
        if !g.ctrl.busy() {
            break;
        }
        if waited >= RESET_WAIT_MS {
            return Err(ETIMEDOUT);
        }
        drop(g);
        vhost::msleep(1);
        waited += 1;
        g = shared.state.lock();
    }
    Ok(())
}

/// `VHOST_NVME_SET_BACKEND`: fd (-1 removes), LBA size (512 or 4096, at
/// least the backend's logical block size), namespace size in bytes (0:
/// the whole backend, rounded down to the LBA size).
fn set_backend(st: &mut State, arg: usize) -> Result {
    let (fd, lba, size) = uapi::decode_backend(&read_user::<{ uapi::BACKEND_SIZE }>(arg)?);
    if st.ctrl.regs.enabled() || st.ctrl.busy() {
        return Err(EBUSY);
    }
    if fd < 0 {
        st.ctrl.set_ns(None);
        st.backend = None;
        return Ok(());
    }
    let shift = match lba {
        512 => 9,
        4096 => 12,
        _ => return Err(EINVAL),
    };
    let b = Backend::from_fd(fd)?;
    if b.logical_block_size() > lba {
        return Err(EINVAL);
    }
    let avail = b.size() >> shift << shift;
    let size = if size == 0 { avail } else { size };
    if size == 0 || size % u64::from(lba) != 0 || size > avail {
        return Err(EINVAL);
    }
    st.ctrl.set_ns(Some(ctrl::Ns {
        blocks: size >> shift,
        lba_shift: shift,
    }));
    st.backend = Some(b);
    Ok(())
}

/// Reads a `struct vhost_memory` at user address `arg`.
fn read_mem_table(arg: usize) -> Result<KBox<prp::MemTable<{ uapi::MAX_REGIONS }>>> {
    let hdr = read_user::<{ uapi::MEMORY_HEADER }>(arg)?;
    let n = uapi::decode_memory_header(&hdr) as usize;
    if n > uapi::MAX_REGIONS {
        return Err(E2BIG);
    }
    let mut regions = KVec::with_capacity(n, GFP_KERNEL)?;
    let mut r = UserSlice::new(
        UserPtr::from_addr(arg.checked_add(uapi::MEMORY_HEADER).ok_or(EFAULT)?),
        n * uapi::REGION_SIZE,
    )
    .reader();
    for _ in 0..n {
        let mut b = [0u8; uapi::REGION_SIZE];
        r.read_slice(&mut b)?;
        regions.push(uapi::decode_region(&b), GFP_KERNEL)?;
    }
    let table = prp::MemTable::new(&regions).map_err(|_| EINVAL)?;
    Ok(KBox::new(table, GFP_KERNEL)?)
}
