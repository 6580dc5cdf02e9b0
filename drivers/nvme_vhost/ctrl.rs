// SPDX-License-Identifier: GPL-2.0

//! The NVMe controller core (pure: compiled into the module and into
//! `tools/pure`, where host tests drive it over a fake guest).
//!
//! [`Ctrl`] holds everything a controller is besides its transport: the
//! register file, the queues, the Doorbell Buffer Config state, admin
//! command handling, I/O command decoding and completion posting. It
//! reaches guest memory, interrupts and the backend only through [`Host`],
//! so the same code runs in the kernel worker (user copies in the owner's
//! mm, eventfds, kiocbs) and in host tests.
//!
//! Sources: NVM Express Base Specification 1.4 (queues §4.1, shadow
//! doorbells §5.8 and §7.13, admin commands §5, controller reset §7.3);
//! the guest side of shadow doorbells is Linux `drivers/nvme/host/pci.c`
//! (`nvme_dbbuf_update_and_check_event()`), whose rule is
//! [`crate::regs::need_event`].
//!
//! This file holds the types, [`Host`], [`Ctrl`] and the controller's
//! life cycle (configuration, register writes, enable, reset); the rest
//! is in submodules, each adding methods to [`Ctrl`]:
//!
//! - `queues`: queue creation and deletion, doorbells (MMIO and shadow)
//!   and completion posting;
//! - `admin`: admin commands;
//! - `io`: I/O commands and the end of backend operations;
//! - `poll`: the worker's pass over the queues, EventIdx, interrupts and
//!   [`PollWindow`].

// Explicit paths: this file is also included through `#[path]` by
// `tools/pure`, where a plain `mod` would look beside it, not in `ctrl/`.
#[path = "ctrl/admin.rs"]
mod admin;
#[path = "ctrl/io.rs"]
mod io;
#[path = "ctrl/poll.rs"]
mod poll;
#[path = "ctrl/queues.rs"]
mod queues;

pub use poll::PollWindow;

use crate::nvme::{self, CQE_SIZE, SQE_SIZE};
use crate::prp::{MemTable, PAGE};
use crate::regs::{self, Effect, RegError, Regs};

/// Queue pairs, the admin queue included (queue ids 0..=16).
pub const QUEUES: usize = 17;
/// Interrupt vectors (one per queue pair).
pub const VECTORS: usize = QUEUES;
/// Entries per queue the controller supports (`CAP.MQES` + 1).
pub const MAX_ENTRIES: u32 = 1024;
/// I/O commands in flight at once, all queues together.
pub const SLOTS: usize = 256;
/// Maximum Data Transfer Size, log2 of 4 KiB pages: 128 KiB.
pub const MDTS: u8 = 5;
/// Bytes one command may move.
pub const MAX_XFER: u64 = PAGE << MDTS;
/// Memory segments of one transfer at most (a PRP1 offset adds one).
pub const MAX_SEGS: usize = (MAX_XFER / PAGE) as usize + 1;
/// Ranges one Dataset Management command may carry.
pub const MAX_DSM_RANGES: usize = 256;

/// Contiguous guest memory in the owner's address space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seg {
    /// Userspace address.
    pub uaddr: u64,
    /// Bytes.
    pub len: u32,
}

/// A backend operation; positions and lengths in bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Io<'a> {
    /// Read `len` bytes at `pos` into `segs`.
    Read {
        /// Backend offset.
        pos: u64,
        /// Bytes.
        len: u64,
        /// Guest buffers, in order.
        segs: &'a [Seg],
    },
    /// Write `len` bytes at `pos` from `segs`; `fua`: durable on completion.
    Write {
        /// Backend offset.
        pos: u64,
        /// Bytes.
        len: u64,
        /// Guest buffers, in order.
        segs: &'a [Seg],
        /// Force Unit Access.
        fua: bool,
    },
    /// Make completed writes durable.
    Flush,
    /// Zero `len` bytes at `pos` (`dealloc`: may deallocate them).
    WriteZeroes {
        /// Backend offset.
        pos: u64,
        /// Bytes.
        len: u64,
        /// Force Unit Access.
        fua: bool,
        /// Deallocate (DEAC).
        dealloc: bool,
    },
    /// Deallocate the ranges given by [`Host::push_range`] since the last
    /// submission; they read back as zeroes.
    Discard,
}

/// What the controller needs from its environment.
pub trait Host {
    /// Copies guest memory at userspace address `uaddr` into `buf`;
    /// false if it cannot be read.
    fn read(&mut self, uaddr: u64, buf: &mut [u8]) -> bool;
    /// Copies `buf` to guest memory at `uaddr`; false if it cannot be
    /// written.
    fn write(&mut self, uaddr: u64, buf: &[u8]) -> bool;
    /// A full memory barrier (`smp_mb()`), between writing an EventIdx and
    /// re-reading a shadow doorbell.
    fn mb(&mut self);
    /// Signals interrupt vector `vector`.
    fn irq(&mut self, vector: u16);
    /// Adds a range (bytes) for the next [`Io::Discard`]; false if the
    /// host cannot hold more (at most [`MAX_DSM_RANGES`] are pushed).
    fn push_range(&mut self, pos: u64, len: u64) -> bool;
    /// Forgets the ranges pushed (a Dataset Management command failed).
    fn clear_ranges(&mut self);
    /// Starts `op` as command slot `tag`; its end is reported later
    /// through [`Ctrl::complete`]. `Err(status)` if it could not start.
    fn submit(&mut self, tag: u16, op: &Io<'_>) -> Result<(), u16>;
}

/// The namespace (NSID 1) over the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ns {
    /// Logical blocks.
    pub blocks: u64,
    /// log2 of the logical block size: 9 or 12.
    pub lba_shift: u8,
}

/// Counters (exact; read with `VHOST_NVME_GET_STATS` and in debugfs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Commands fetched from all SQs.
    pub commands: u64,
    /// Doorbell writes through the register interface (MMIO), any queue.
    pub mmio_doorbells: u64,
    /// Of those, doorbells of I/O queues (SQ or CQ id above 0).
    pub io_mmio_doorbells: u64,
    /// Commands fetched from I/O SQs.
    pub io_commands: u64,
    /// Doorbell writes signalled through a doorbell eventfd.
    pub kick_doorbells: u64,
    /// Shadow doorbell reads.
    pub shadow_reads: u64,
    /// EventIdx writes.
    pub eventidx_writes: u64,
    /// Interrupts signalled.
    pub interrupts: u64,
    /// Commands completed with an error status.
    pub errors: u64,
    /// Of those, commands of I/O queues.
    pub io_errors: u64,
    /// The last error: SQ id (bits 31:16) and status (15:0; SC, SCT, DNR
    /// as in the CQE's bits 31:17).
    pub last_error: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Sq {
    on: bool,
    base: u64,
    size: u16,
    head: u16,
    tail: u16,
    cqid: u16,
    /// The EventIdx last written, if any.
    ei: Option<u16>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Cq {
    on: bool,
    base: u64,
    size: u16,
    head: u16,
    tail: u16,
    phase: bool,
    iv: u16,
    ien: bool,
    /// Completions owed to this CQ by fetched commands: the SQs stop
    /// fetching when it has no room for one more.
    owed: u16,
    /// SQs that post to this CQ.
    sqs: u16,
    /// Full with work waiting: ask for a CQ head doorbell.
    stalled: bool,
    /// Completions were posted since the EventIdx was last moved.
    posted: bool,
}

impl Cq {
    fn used(&self) -> u16 {
        (self.tail + self.size - self.head) % self.size.max(1)
    }
    fn room(&self) -> bool {
        self.size >= 2 && self.size - 1 - self.used() > self.owed
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    used: bool,
    /// The SQ was deleted or the controller reset: drop the completion.
    orphan: bool,
    sqid: u8,
    cqid: u8,
    cid: u16,
    opcode: u8,
    /// Logical blocks of a Read or Write, minus one (at most MDTS).
    nlb: u8,
}

/// Doorbell Buffer Config state: userspace addresses of the two pages.
#[derive(Clone, Copy, Debug)]
struct Dbbuf {
    shadow_gpa: u64,
    eventidx_gpa: u64,
    shadow: u64,
    eventidx: u64,
}

/// The Doorbell Buffer Config state, as `VHOST_NVME_GET_DBBUF` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbbufState {
    /// Whether shadow doorbells are on.
    pub enabled: bool,
    /// Guest address of the shadow doorbell page.
    pub shadow: u64,
    /// Guest address of the EventIdx page.
    pub eventidx: u64,
}

/// Feature identifier of Volatile Write Cache (Set Features 06h).
const FID_VWC: u8 = 0x06;

/// The controller.
pub struct Ctrl<const M: usize> {
    /// BAR0 registers.
    pub regs: Regs,
    mem: Option<MemTable<M>>,
    ns: Option<Ns>,
    sq: [Sq; QUEUES],
    cq: [Cq; QUEUES],
    db: Option<Dbbuf>,
    slots: [Slot; SLOTS],
    free: [u16; SLOTS],
    nfree: usize,
    /// Reset asked while commands were in flight: `CSTS.RDY` stays 1 until
    /// they end.
    draining: bool,
    /// `CC.EN` set again while draining.
    enable_pending: bool,
    /// Allocated I/O queues, 0-based (Set Features 07h).
    nq: u16,
    /// Most I/O queue pairs Set Features 07h grants, 0-based.
    max_nq: u16,
    feat: [u32; 16],
    aers: u8,
    clean_shutdown: bool,
    irq_pending: u32,
    serial: [u8; 20],
    cntlid: u16,
    /// Counters.
    pub stats: Stats,
    /// SMART counters.
    pub smart: nvme::Smart,
    /// 512-byte units moved, for the SMART data unit counters.
    units: [u64; 2],
}

impl<const M: usize> Ctrl<M> {
    /// A controller in reset state with serial number `serial` (ASCII)
    /// and controller id `cntlid`.
    pub fn new(serial: &[u8], cntlid: u16) -> Self {
        let mut sn = [b' '; 20];
        for (d, s) in sn.iter_mut().zip(serial) {
            *d = *s;
        }
        let mut free = [0u16; SLOTS];
        for (i, f) in free.iter_mut().enumerate() {
            *f = (SLOTS - 1 - i) as u16;
        }
        let mut c = Ctrl {
            regs: Regs::new(QUEUES as u16, MAX_ENTRIES),
            mem: None,
            ns: None,
            sq: [Sq::default(); QUEUES],
            cq: [Cq::default(); QUEUES],
            db: None,
            slots: [Slot::default(); SLOTS],
            free,
            nfree: SLOTS,
            draining: false,
            enable_pending: false,
            nq: (QUEUES - 2) as u16,
            max_nq: (QUEUES - 2) as u16,
            feat: [0; 16],
            aers: 0,
            clean_shutdown: true,
            irq_pending: 0,
            serial: sn,
            cntlid,
            stats: Stats::default(),
            smart: nvme::Smart::default(),
            units: [0; 2],
        };
        c.feat[usize::from(FID_VWC)] = 1;
        c
    }

    /// Sets the guest memory table. Refused (false) while enabled: queue
    /// addresses were translated with the old one.
    pub fn set_mem(&mut self, mem: &MemTable<M>) -> bool {
        if self.regs.enabled() || self.busy() {
            return false;
        }
        self.mem = Some(mem.clone());
        true
    }

    /// Sets or removes the namespace. Refused (false) while enabled or
    /// with commands in flight.
    pub fn set_ns(&mut self, ns: Option<Ns>) -> bool {
        if self.regs.enabled() || self.busy() {
            return false;
        }
        self.ns = ns;
        true
    }

    /// Sets the serial number (`SN` of Identify Controller: printable
    /// ASCII, at most 20 bytes, padded with spaces; empty keeps the one
    /// the controller has, which also names its subsystem NQN) and the
    /// most I/O queue pairs the guest may allocate (1..=16; 0 means 16).
    ///
    /// # Errors
    /// `Err(())` for a bad serial or count, or while enabled or busy (the
    /// caller maps them to `EINVAL` and `EBUSY`; check [`Self::busy`]).
    pub fn configure(&mut self, serial: &[u8], queues: u32) -> Result<(), ()> {
        let max = (QUEUES - 1) as u32;
        if serial.len() > 20 || !serial.iter().all(|c| (0x20..0x7f).contains(c)) || queues > max {
            return Err(());
        }
        if self.regs.enabled() || self.busy() {
            return Err(());
        }
        if !serial.is_empty() {
            self.serial = [b' '; 20];
            self.serial[..serial.len()].copy_from_slice(serial);
        }
        let q = if queues == 0 { max } else { queues };
        self.max_nq = (q - 1) as u16;
        self.nq = self.max_nq;
        Ok(())
    }

    /// The guest memory table.
    pub fn mem(&self) -> Option<&MemTable<M>> {
        self.mem.as_ref()
    }

    /// The namespace.
    pub fn ns(&self) -> Option<Ns> {
        self.ns
    }

    /// Commands in flight in the backend.
    pub fn inflight(&self) -> usize {
        SLOTS - self.nfree
    }

    /// Whether backend commands are in flight.
    pub fn busy(&self) -> bool {
        self.nfree != SLOTS
    }

    /// Whether the controller processes its queues.
    pub fn running(&self) -> bool {
        self.regs.ready() && self.regs.enabled() && !self.draining
    }

    /// The Doorbell Buffer Config state.
    pub fn dbbuf(&self) -> DbbufState {
        match self.db {
            Some(d) => DbbufState {
                enabled: true,
                shadow: d.shadow_gpa,
                eventidx: d.eventidx_gpa,
            },
            None => DbbufState::default(),
        }
    }

    /// A register write (BAR0, MMIO). Returns what it was.
    ///
    /// # Errors
    ///
    /// [`RegError`] for a bad offset or width.
    pub fn reg_write(&mut self, host: &mut impl Host, offset: u32, width: u32, value: u64) -> Result<Effect, RegError> {
        let e = self.regs.write(offset, width, value)?;
        match e {
            Effect::Enable => self.enable(),
            Effect::Reset => self.reset(),
            Effect::Shutdown => self.clean_shutdown = true,
            Effect::SqTail { qid, tail } => {
                self.stats.mmio_doorbells += 1;
                self.stats.io_mmio_doorbells += u64::from(qid != 0);
                self.sq_doorbell(host, qid, tail);
            }
            Effect::CqHead { qid, head } => {
                self.stats.mmio_doorbells += 1;
                self.stats.io_mmio_doorbells += u64::from(qid != 0);
                self.cq_doorbell(host, qid, head);
            }
            Effect::None | Effect::EnableFailed | Effect::Mask => {}
        }
        Ok(e)
    }

    /// `CC.EN` 0 -> 1: the admin queues from `AQA`, `ASQ` and `ACQ`
    /// (controller fatal status if they are not in guest memory); deferred
    /// while a reset drains.
    fn enable(&mut self) {
        if self.draining {
            self.enable_pending = true;
            return;
        }
        let (asq, asqs, acq, acqs) = self.regs.admin_queues();
        let Some(mem) = &self.mem else {
            self.regs.set_fatal();
            return;
        };
        let (Some(sb), Some(cb)) = (
            mem.translate(asq, u64::from(asqs) * SQE_SIZE as u64),
            mem.translate(acq, u64::from(acqs) * CQE_SIZE as u64),
        ) else {
            self.regs.set_fatal();
            return;
        };
        self.sq[0] = Sq {
            on: true,
            base: sb,
            size: asqs as u16,
            ..Sq::default()
        };
        self.cq[0] = Cq {
            on: true,
            base: cb,
            size: acqs as u16,
            phase: true,
            ien: true,
            sqs: 1,
            ..Cq::default()
        };
        self.smart.power_cycles += 1;
        self.clean_shutdown = false;
    }

    /// Controller reset (`CC.EN` 1 -> 0, or `VHOST_NVME_RESET`): every
    /// queue and the doorbell buffer go; commands in flight are orphaned
    /// and `CSTS.RDY` stays 1 until they end.
    pub fn reset(&mut self) {
        if self.regs.enabled() {
            // VHOST_NVME_RESET with CC.EN = 1: as if the host cleared it.
            let cc = self.regs.read(regs::CC, 4).unwrap_or(0) as u32;
            let _ = self.regs.write(regs::CC, 4, u64::from(cc & !1));
        }
        if !self.clean_shutdown && self.sq[0].on {
            self.smart.unsafe_shutdowns += 1;
        }
        self.clean_shutdown = true;
        self.sq = [Sq::default(); QUEUES];
        self.cq = [Cq::default(); QUEUES];
        self.db = None;
        self.aers = 0;
        self.irq_pending = 0;
        self.nq = self.max_nq;
        self.feat = [0; 16];
        self.feat[usize::from(FID_VWC)] = 1;
        self.enable_pending = false;
        for s in self.slots.iter_mut().filter(|s| s.used) {
            s.orphan = true;
        }
        self.draining = self.busy();
        self.regs.set_ready(self.draining);
    }
}
