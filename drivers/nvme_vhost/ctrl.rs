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

use crate::nvme::{self, admin, io, status, Cqe, Sqe, Win, CQE_SIZE, IDENTIFY_SIZE, SQE_SIZE};
use crate::prp::{self, MemTable, PAGE};
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
/// Commands taken from one SQ before the next SQ gets its turn.
const BURST: u16 = 64;

/// The worker's busy-poll window, adapted to the guest (as QEMU's
/// adaptive `poll-max-ns` of `util/aio-posix.c`): how long to keep polling
/// the queues after the last work before arming EventIdx and sleeping.
/// A sleep that new work ends within [`PollWindow::MAX_NS`] means polling
/// longer would have caught it (and saved the guest a doorbell write): the
/// window doubles. A longer sleep means the guest went idle: it halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollWindow {
    ns: u64,
}

impl Default for PollWindow {
    fn default() -> Self {
        PollWindow { ns: Self::MIN_NS }
    }
}

impl PollWindow {
    /// Smallest window, nanoseconds.
    pub const MIN_NS: u64 = 20_000;
    /// Largest window, nanoseconds.
    pub const MAX_NS: u64 = 1_000_000;

    /// The current window, nanoseconds.
    pub fn ns(&self) -> u64 {
        self.ns
    }

    /// Adapts to a sleep of `slept_ns` that work ended.
    pub fn after_sleep(&mut self, slept_ns: u64) {
        self.ns = if slept_ns <= Self::MAX_NS {
            (self.ns * 2).max(slept_ns).min(Self::MAX_NS)
        } else {
            (self.ns / 2).max(Self::MIN_NS)
        };
    }
}

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

/// Feature identifiers kept as store-and-echo values.
const FEATURES: [u8; 8] = [0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0b];
const FID_VWC: u8 = 0x06;
const FID_QUEUES: u8 = 0x07;

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

/// Reads a little-endian u32 of guest memory.
fn read_u32(host: &mut impl Host, uaddr: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    host.read(uaddr, &mut b).then(|| u32::from_le_bytes(b))
}

/// Walks the PRPs of `sqe` for `len` bytes into `segs` (contiguous
/// userspace pieces merged); returns how many segments.
fn map<const M: usize>(
    mem: &MemTable<M>,
    host: &mut impl Host,
    sqe: &Sqe,
    len: u64,
    segs: &mut [Seg; MAX_SEGS],
) -> Result<usize, u16> {
    let mut n = 0usize;
    let mut fault = false;
    let r = prp::walk(
        mem,
        sqe.prp1,
        sqe.prp2,
        len,
        MAX_XFER,
        |gpa| {
            let ua = mem.translate(gpa, 8)?;
            let mut b = [0u8; 8];
            host.read(ua, &mut b).then(|| u64::from_le_bytes(b))
        },
        |gpa, bytes| {
            let Some(ua) = mem.translate(gpa, bytes) else {
                fault = true;
                return;
            };
            if n > 0 {
                let last = &mut segs[n - 1];
                if last.uaddr + u64::from(last.len) == ua {
                    last.len += bytes as u32;
                    return;
                }
            }
            match segs.get_mut(n) {
                Some(s) => {
                    *s = Seg {
                        uaddr: ua,
                        len: bytes as u32,
                    };
                    n += 1;
                }
                None => fault = true,
            }
        },
    );
    match r {
        Err(e) => Err(e.status() | status::DNR),
        Ok(_) if fault => Err(status::DATA_TRANSFER),
        Ok(_) => Ok(n),
    }
}

/// Copies `len` bytes of a data structure, from offset `offset` of it, to
/// the guest buffer of `sqe`; `render` writes the structure through a
/// [`Win`] (bytes it does not write are zero).
fn to_guest<const M: usize>(
    mem: &MemTable<M>,
    host: &mut impl Host,
    sqe: &Sqe,
    offset: usize,
    len: u64,
    render: impl Fn(&mut Win<'_>),
) -> u16 {
    let mut segs = [Seg::default(); MAX_SEGS];
    let n = match map(mem, host, sqe, len, &mut segs) {
        Ok(n) => n,
        Err(s) => return s,
    };
    let mut chunk = [0u8; 256];
    let mut at = offset;
    for s in &segs[..n] {
        let mut done = 0usize;
        while done < s.len as usize {
            let k = (s.len as usize - done).min(chunk.len());
            chunk.fill(0);
            if at < IDENTIFY_SIZE {
                render(&mut Win {
                    base: at,
                    buf: &mut chunk[..k],
                });
            }
            if !host.write(s.uaddr + done as u64, &chunk[..k]) {
                return status::DATA_TRANSFER;
            }
            done += k;
            at += k;
        }
    }
    status::SUCCESS
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

    fn sq_doorbell(&mut self, host: &mut impl Host, qid: u16, tail: u16) {
        let q = usize::from(qid);
        let Some(sq) = self.sq.get_mut(q) else { return };
        if !sq.on || tail >= sq.size {
            return;
        }
        sq.tail = tail;
        if let (Some(d), true) = (self.db, q > 0) {
            // The shadow slot is the source of truth: mirror the value.
            host.write(d.shadow + regs::shadow_slot(qid, false) as u64, &u32::from(tail).to_le_bytes());
        }
    }

    fn cq_doorbell(&mut self, host: &mut impl Host, qid: u16, head: u16) {
        let q = usize::from(qid);
        let Some(cq) = self.cq.get_mut(q) else { return };
        if !cq.on || !Self::head_ok(cq, head) {
            return;
        }
        cq.head = head;
        if let (Some(d), true) = (self.db, q > 0) {
            host.write(d.shadow + regs::shadow_slot(qid, true) as u64, &u32::from(head).to_le_bytes());
        }
    }

    /// A new CQ head must lie between the old head and the tail.
    fn head_ok(cq: &Cq, head: u16) -> bool {
        head < cq.size && (head + cq.size - cq.head) % cq.size <= cq.used()
    }

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

    /// The end of backend command `tag` with NVMe status `st`.
    pub fn complete(&mut self, host: &mut impl Host, tag: u16, st: u16) {
        let Some(slot) = self.slots.get(usize::from(tag)).copied() else { return };
        if !slot.used {
            return;
        }
        self.slots[usize::from(tag)] = Slot::default();
        self.free[self.nfree] = tag;
        self.nfree += 1;
        if !slot.orphan {
            if st == status::SUCCESS {
                let units = (u64::from(slot.nlb) + 1) << (self.ns.map_or(9, |n| n.lba_shift) - 9);
                match slot.opcode {
                    io::READ => {
                        self.smart.host_reads += 1;
                        self.units[0] += units;
                    }
                    io::WRITE => {
                        self.smart.host_writes += 1;
                        self.units[1] += units;
                    }
                    _ => {}
                }
            } else if st & 0x700 == 0x200 {
                self.smart.media_errors += 1;
            }
            self.post(host, slot.cqid.into(), slot.sqid.into(), slot.cid, st, 0);
        }
        if self.draining && !self.busy() {
            self.draining = false;
            self.regs.set_ready(false);
            if self.enable_pending {
                self.enable_pending = false;
                self.regs.set_ready(true);
                self.enable();
            }
        }
    }

    /// Posts a completion to CQ `cqid` (which owes it a place).
    fn post(&mut self, host: &mut impl Host, cqid: u16, sqid: u16, cid: u16, st: u16, result: u32) {
        if st != status::SUCCESS {
            self.stats.errors += 1;
            if sqid != 0 {
                self.stats.io_errors += 1;
            }
            self.stats.last_error = (u32::from(sqid) << 16) | u32::from(st);
        }
        let sq_head = self.sq.get(usize::from(sqid)).map_or(0, |s| s.head);
        let Some(cq) = self.cq.get_mut(usize::from(cqid)) else { return };
        if !cq.on {
            return;
        }
        cq.owed = cq.owed.saturating_sub(1);
        let cqe = Cqe {
            result,
            sq_head,
            sq_id: sqid,
            cid,
            status: st,
            phase: cq.phase,
        };
        let b = cqe.encode();
        let at = cq.base + u64::from(cq.tail) * CQE_SIZE as u64;
        // The phase tag (last dword) becomes visible last.
        host.write(at, &b[..12]);
        host.mb();
        host.write(at + 12, &b[12..]);
        cq.posted = true;
        cq.tail += 1;
        if cq.tail == cq.size {
            cq.tail = 0;
            cq.phase = !cq.phase;
        }
        if cq.ien && usize::from(cq.iv) < VECTORS {
            self.irq_pending |= 1 << cq.iv;
        }
    }

    /// Signals the vectors with new completions (unless masked in `INTMS`).
    pub fn flush_irqs(&mut self, host: &mut impl Host) {
        let send = self.irq_pending & !self.regs.int_mask();
        self.irq_pending &= !send;
        for v in 0..VECTORS as u16 {
            if send & (1 << v) != 0 {
                self.stats.interrupts += 1;
                host.irq(v);
            }
        }
    }

    fn sq_tail(&mut self, host: &mut impl Host, q: usize) -> u16 {
        if let (Some(d), true) = (self.db, q > 0) {
            self.stats.shadow_reads += 1;
            if let Some(t) = read_u32(host, d.shadow + regs::shadow_slot(q as u16, false) as u64) {
                if t < u32::from(self.sq[q].size) {
                    self.sq[q].tail = t as u16;
                }
            }
        }
        self.sq[q].tail
    }

    /// Whether CQ `q` can take one more completion, reading the shadow head
    /// when it looks full.
    fn cq_room(&mut self, host: &mut impl Host, q: usize) -> bool {
        if self.cq[q].room() {
            return true;
        }
        if let (Some(d), true) = (self.db, q > 0) {
            self.refresh_cq_head(host, q, d);
        }
        let room = self.cq[q].room();
        self.cq[q].stalled = !room;
        room
    }

    /// Reads the shadow head of CQ `q`.
    fn refresh_cq_head(&mut self, host: &mut impl Host, q: usize, d: Dbbuf) {
        self.stats.shadow_reads += 1;
        if let Some(h) = read_u32(host, d.shadow + regs::shadow_slot(q as u16, true) as u64) {
            if h <= 0xffff && Self::head_ok(&self.cq[q], h as u16) {
                self.cq[q].head = h as u16;
            }
        }
    }

    /// One pass over every SQ: fetches and runs commands. Returns whether
    /// it did anything.
    pub fn process(&mut self, host: &mut impl Host) -> bool {
        if !self.running() {
            return false;
        }
        let mut work = false;
        for q in 0..QUEUES {
            work |= self.fetch(host, q);
        }
        self.trail_eventidx(host);
        self.flush_irqs(host);
        work
    }

    /// While the worker is busy it wants no doorbells: every EventIdx sits
    /// one behind the position the controller last saw (the guest reaches
    /// it only after a whole lap of the ring), moved as the queues move.
    /// Without this, the guest would ring once per lap.
    fn trail_eventidx(&mut self, host: &mut impl Host) {
        let Some(d) = self.db else { return };
        for q in 1..QUEUES {
            let sq = self.sq[q];
            if sq.on {
                let e = (sq.tail + sq.size - 1) % sq.size;
                if sq.ei != Some(e) {
                    self.sq[q].ei = Some(e);
                    host.write(d.eventidx + regs::shadow_slot(q as u16, false) as u64, &u32::from(e).to_le_bytes());
                    self.stats.eventidx_writes += 1;
                }
            }
            if self.cq[q].on && self.cq[q].posted && !self.cq[q].stalled {
                self.cq[q].posted = false;
                self.refresh_cq_head(host, q, d);
                let cq = self.cq[q];
                let e = u32::from((cq.head + cq.size - 1) % cq.size);
                host.write(d.eventidx + regs::shadow_slot(q as u16, true) as u64, &e.to_le_bytes());
                self.stats.eventidx_writes += 1;
            }
        }
    }

    fn fetch(&mut self, host: &mut impl Host, q: usize) -> bool {
        if !self.sq[q].on {
            return false;
        }
        let tail = self.sq_tail(host, q);
        let mut n = 0;
        while self.sq[q].on && self.sq[q].head != tail && n < BURST && self.running() {
            if q > 0 && self.nfree == 0 {
                break;
            }
            let cqid = usize::from(self.sq[q].cqid);
            if !self.cq_room(host, cqid) {
                break;
            }
            let sq = self.sq[q];
            let mut b = [0u8; SQE_SIZE];
            if !host.read(sq.base + u64::from(sq.head) * SQE_SIZE as u64, &mut b) {
                // The queue memory went away under us.
                self.regs.set_fatal();
                return true;
            }
            self.sq[q].head = (sq.head + 1) % sq.size;
            self.cq[cqid].owed += 1;
            self.stats.commands += 1;
            self.stats.io_commands += u64::from(q != 0);
            n += 1;
            let sqe = Sqe::decode(&b);
            if q == 0 {
                if let Some((st, result)) = self.admin(host, &sqe) {
                    self.post(host, 0, 0, sqe.cid, st, result);
                }
            } else if let Err(st) = self.io(host, q as u16, &sqe) {
                self.post(host, cqid as u16, q as u16, sqe.cid, st, 0);
            }
        }
        n > 0
    }

    /// Before the worker sleeps: EventIdx = the tail seen, for every I/O
    /// SQ (and the head of every stalled CQ), so the guest's next update
    /// rings; then a full barrier and a last look. Returns whether there is
    /// work after all.
    pub fn arm(&mut self, host: &mut impl Host) -> bool {
        if !self.running() {
            return false;
        }
        if let Some(d) = self.db {
            for q in 1..QUEUES {
                if self.sq[q].on {
                    let t = self.sq[q].tail;
                    self.sq[q].ei = Some(t);
                    host.write(d.eventidx + regs::shadow_slot(q as u16, false) as u64, &u32::from(t).to_le_bytes());
                    self.stats.eventidx_writes += 1;
                }
                if self.cq[q].on {
                    // A full CQ asks for the next head update; any other
                    // sits one behind the head, which the guest reaches
                    // only after a whole lap (no doorbell).
                    self.refresh_cq_head(host, q, d);
                    let cq = self.cq[q];
                    let h = if cq.stalled { cq.head } else { (cq.head + cq.size - 1) % cq.size };
                    host.write(d.eventidx + regs::shadow_slot(q as u16, true) as u64, &u32::from(h).to_le_bytes());
                    self.stats.eventidx_writes += 1;
                }
            }
            host.mb();
        }
        (0..QUEUES).any(|q| {
            if !self.sq[q].on || (q > 0 && self.nfree == 0) {
                return false;
            }
            let t = self.sq_tail(host, q);
            t != self.sq[q].head && self.cq_room(host, usize::from(self.sq[q].cqid))
        })
    }

    fn admin(&mut self, host: &mut impl Host, sqe: &Sqe) -> Option<(u16, u32)> {
        if sqe.flags != 0 {
            // Fused operations and SGLs are not supported.
            return Some((status::INVALID_FIELD, 0));
        }
        let r = match sqe.opcode {
            admin::CREATE_CQ => self.create_cq(sqe),
            admin::CREATE_SQ => self.create_sq(host, sqe),
            admin::DELETE_SQ => self.delete_sq(sqe),
            admin::DELETE_CQ => self.delete_cq(sqe),
            admin::IDENTIFY => self.identify(host, sqe),
            admin::GET_LOG_PAGE => self.get_log(host, sqe),
            admin::SET_FEATURES => self.set_features(sqe),
            admin::GET_FEATURES => self.get_features(sqe),
            admin::ABORT => Ok(1), // not aborted
            admin::DBBUF_CONFIG => self.dbbuf_config(host, sqe),
            admin::ASYNC_EVENT => {
                if self.aers > nvme::AERL {
                    Err(status::AER_LIMIT)
                } else {
                    // Parked: no event ever completes it.
                    self.aers += 1;
                    return None;
                }
            }
            _ => Err(status::INVALID_OPCODE),
        };
        Some(match r {
            Ok(v) => (status::SUCCESS, v),
            Err(s) => (s, 0),
        })
    }

    /// Checks a queue's memory: page aligned, physically contiguous
    /// (`CAP.CQR`), wholly inside one memory region.
    fn queue_mem(&self, sqe: &Sqe, entries: u32, entry: u64) -> Result<u64, u16> {
        if sqe.dw(11) & 1 == 0 || sqe.prp1 % PAGE != 0 || self.regs.io_entry_sizes() != (6, 4) {
            return Err(status::INVALID_FIELD);
        }
        let mem = self.mem.as_ref().ok_or(status::INTERNAL)?;
        mem.translate(sqe.prp1, u64::from(entries) * entry).ok_or(status::INVALID_FIELD)
    }

    fn new_qid(&self, sqe: &Sqe, cq: bool) -> Result<(usize, u32), u16> {
        let qid = (sqe.dw(10) & 0xffff) as usize;
        let size = (sqe.dw(10) >> 16) + 1;
        let taken = if cq { self.cq.get(qid).map(|q| q.on) } else { self.sq.get(qid).map(|q| q.on) };
        if qid == 0 || qid > usize::from(self.nq) + 1 || taken != Some(false) {
            return Err(status::INVALID_QID);
        }
        if !(2..=MAX_ENTRIES).contains(&size) {
            return Err(status::INVALID_QSIZE);
        }
        Ok((qid, size))
    }

    fn create_cq(&mut self, sqe: &Sqe) -> Result<u32, u16> {
        let (qid, size) = self.new_qid(sqe, true)?;
        let iv = (sqe.dw(11) >> 16) as u16;
        if usize::from(iv) >= VECTORS {
            return Err(status::INVALID_VECTOR);
        }
        let base = self.queue_mem(sqe, size, CQE_SIZE as u64)?;
        self.cq[qid] = Cq {
            on: true,
            base,
            size: size as u16,
            phase: true,
            iv,
            ien: sqe.dw(11) & 2 != 0,
            ..Cq::default()
        };
        Ok(0)
    }

    fn create_sq(&mut self, host: &mut impl Host, sqe: &Sqe) -> Result<u32, u16> {
        let (qid, size) = self.new_qid(sqe, false)?;
        let cqid = (sqe.dw(11) >> 16) as usize;
        if cqid == 0 || !self.cq.get(cqid).is_some_and(|c| c.on) {
            return Err(status::CQ_INVALID);
        }
        let base = self.queue_mem(sqe, size, SQE_SIZE as u64)?;
        self.sq[qid] = Sq {
            on: true,
            base,
            size: size as u16,
            cqid: cqid as u16,
            ..Sq::default()
        };
        self.cq[cqid].sqs += 1;
        if let Some(d) = self.db {
            let slot = regs::shadow_slot(qid as u16, false) as u64;
            host.write(d.shadow + slot, &0u32.to_le_bytes());
            host.write(d.eventidx + slot, &0u32.to_le_bytes());
        }
        Ok(0)
    }

    fn delete_sq(&mut self, sqe: &Sqe) -> Result<u32, u16> {
        let qid = (sqe.dw(10) & 0xffff) as usize;
        if qid == 0 || !self.sq.get(qid).is_some_and(|q| q.on) {
            return Err(status::INVALID_QID);
        }
        let cqid = usize::from(self.sq[qid].cqid);
        for s in self.slots.iter_mut().filter(|s| s.used && !s.orphan && usize::from(s.sqid) == qid) {
            s.orphan = true;
            self.cq[cqid].owed = self.cq[cqid].owed.saturating_sub(1);
        }
        self.sq[qid] = Sq::default();
        self.cq[cqid].sqs = self.cq[cqid].sqs.saturating_sub(1);
        Ok(0)
    }

    fn delete_cq(&mut self, sqe: &Sqe) -> Result<u32, u16> {
        let qid = (sqe.dw(10) & 0xffff) as usize;
        if qid == 0 || !self.cq.get(qid).is_some_and(|q| q.on) {
            return Err(status::INVALID_QID);
        }
        if self.cq[qid].sqs > 0 {
            return Err(status::INVALID_DELETE);
        }
        self.cq[qid] = Cq::default();
        Ok(0)
    }

    fn identify(&mut self, host: &mut impl Host, sqe: &Sqe) -> Result<u32, u16> {
        let cns = sqe.dw(10) & 0xff;
        let mem = self.mem.as_ref().ok_or(status::INTERNAL)?;
        let len = IDENTIFY_SIZE as u64;
        let st = match cns {
            0 => {
                let ns = match (sqe.nsid, self.ns) {
                    (1, Some(ns)) => ns,
                    (0xffff_ffff, ns) => Ns {
                        blocks: 0,
                        lba_shift: ns.map_or(9, |n| n.lba_shift),
                    },
                    _ => return Err(status::INVALID_NS),
                };
                to_guest(mem, host, sqe, 0, len, |w| nvme::identify_ns(ns.blocks, ns.lba_shift, w))
            }
            1 => {
                let info = nvme::CtrlInfo {
                    serial: &self.serial,
                    cntlid: self.cntlid,
                    mdts: MDTS,
                    max_cmds: MAX_ENTRIES as u16,
                };
                to_guest(mem, host, sqe, 0, len, |w| nvme::identify_ctrl(&info, w))
            }
            2 => {
                if sqe.nsid >= 0xffff_fffe {
                    return Err(status::INVALID_NS);
                }
                let after = if self.ns.is_some() { sqe.nsid } else { u32::MAX };
                to_guest(mem, host, sqe, 0, len, |w| nvme::identify_ns_list(after, w))
            }
            3 => {
                if sqe.nsid != 1 || self.ns.is_none() {
                    return Err(status::INVALID_NS);
                }
                // An empty Namespace Identification Descriptor list.
                to_guest(mem, host, sqe, 0, len, |_| {})
            }
            _ => return Err(status::INVALID_FIELD),
        };
        match st {
            status::SUCCESS => Ok(0),
            s => Err(s),
        }
    }

    fn get_log(&mut self, host: &mut impl Host, sqe: &Sqe) -> Result<u32, u16> {
        let lid = sqe.dw(10) & 0xff;
        let numd = ((u64::from(sqe.dw(11) & 0xffff) << 16) | u64::from(sqe.dw(10) >> 16)) + 1;
        let len = numd * 4;
        let offset = u64::from(sqe.dw(12)) | (u64::from(sqe.dw(13)) << 32);
        if len > MAX_XFER || offset % 4 != 0 {
            return Err(status::INVALID_FIELD);
        }
        let mut smart = self.smart;
        smart.data_units_read = self.units[0].div_ceil(1000);
        smart.data_units_written = self.units[1].div_ceil(1000);
        let size: u64 = match lid {
            0x00 => 1024,
            0x01 => 64,
            0x02 | 0x03 => nvme::SMART_SIZE as u64,
            0x05 => IDENTIFY_SIZE as u64,
            _ => return Err(status::INVALID_FIELD),
        };
        if lid == 0x02 && !matches!(sqe.nsid, 0 | 1 | 0xffff_ffff) {
            return Err(status::INVALID_NS);
        }
        if offset >= size {
            return Err(status::INVALID_FIELD);
        }
        let mem = self.mem.as_ref().ok_or(status::INTERNAL)?;
        let render = |w: &mut Win<'_>| match lid {
            0x00 => nvme::supported_logs(w),
            0x02 => nvme::smart_log(&smart, w),
            0x03 => nvme::firmware_log(w),
            0x05 => nvme::effects_log(w),
            _ => {}
        };
        match to_guest(mem, host, sqe, offset as usize, len, render) {
            status::SUCCESS => Ok(0),
            s => Err(s),
        }
    }

    fn set_features(&mut self, sqe: &Sqe) -> Result<u32, u16> {
        let fid = (sqe.dw(10) & 0xff) as u8;
        let v = sqe.dw(11);
        if fid == FID_QUEUES {
            let (nsq, ncq) = (v & 0xffff, v >> 16);
            if nsq == 0xffff || ncq == 0xffff {
                return Err(status::INVALID_FIELD);
            }
            // I/O queues are paired: one count for both.
            self.nq = nsq.max(ncq).min(u32::from(self.max_nq)) as u16;
            let n = u32::from(self.nq);
            return Ok(n | (n << 16));
        }
        if !FEATURES.contains(&fid) {
            return Err(status::INVALID_FIELD);
        }
        self.feat[usize::from(fid)] = if fid == FID_VWC { v & 1 } else { v };
        Ok(0)
    }

    fn get_features(&mut self, sqe: &Sqe) -> Result<u32, u16> {
        let fid = (sqe.dw(10) & 0xff) as u8;
        let sel = (sqe.dw(10) >> 8) & 7;
        if fid != FID_QUEUES && !FEATURES.contains(&fid) {
            return Err(status::INVALID_FIELD);
        }
        if sel == 3 {
            // Supported capabilities: changeable, not saveable.
            return Ok(1 << 2);
        }
        if fid == FID_QUEUES {
            let n = u32::from(self.nq);
            return Ok(n | (n << 16));
        }
        if sel == 1 {
            return Ok(if fid == FID_VWC { 1 } else { 0 });
        }
        Ok(self.feat[usize::from(fid)])
    }

    fn dbbuf_config(&mut self, host: &mut impl Host, sqe: &Sqe) -> Result<u32, u16> {
        let mem = self.mem.as_ref().ok_or(status::INTERNAL)?;
        if sqe.prp1 % PAGE != 0 || sqe.prp2 % PAGE != 0 || sqe.prp1 == sqe.prp2 {
            return Err(status::INVALID_FIELD);
        }
        let (Some(shadow), Some(eventidx)) = (mem.translate(sqe.prp1, PAGE), mem.translate(sqe.prp2, PAGE)) else {
            return Err(status::INVALID_FIELD);
        };
        let d = Dbbuf {
            shadow_gpa: sqe.prp1,
            eventidx_gpa: sqe.prp2,
            shadow,
            eventidx,
        };
        self.db = Some(d);
        // The shadow slots start from the controller's view of each queue;
        // a CQ EventIdx one behind the head asks for no doorbell.
        for q in 1..QUEUES {
            let (sq, cq) = (self.sq[q], self.cq[q]);
            let qid = q as u16;
            if sq.on {
                let t = u32::from(sq.tail).to_le_bytes();
                host.write(d.shadow + regs::shadow_slot(qid, false) as u64, &t);
                host.write(d.eventidx + regs::shadow_slot(qid, false) as u64, &t);
            }
            if cq.on {
                let h = u32::from(cq.head);
                host.write(d.shadow + regs::shadow_slot(qid, true) as u64, &h.to_le_bytes());
                let e = u32::from((cq.head + cq.size - 1) % cq.size);
                host.write(d.eventidx + regs::shadow_slot(qid, true) as u64, &e.to_le_bytes());
            }
        }
        Ok(0)
    }

    /// Decodes and starts I/O command `sqe` of SQ `sqid`; `Err(status)`
    /// completes it at once.
    fn io(&mut self, host: &mut impl Host, sqid: u16, sqe: &Sqe) -> Result<(), u16> {
        let ns = self.ns.ok_or(status::INVALID_NS)?;
        if sqe.flags != 0 {
            return Err(status::INVALID_FIELD);
        }
        let broadcast = sqe.opcode == io::FLUSH && sqe.nsid == 0xffff_ffff;
        if sqe.nsid != 1 && !broadcast {
            return Err(status::INVALID_NS);
        }
        let mem = self.mem.as_ref().ok_or(status::INTERNAL)?;
        let slba = u64::from(sqe.dw(10)) | (u64::from(sqe.dw(11)) << 32);
        let nlb = (sqe.dw(12) & 0xffff) + 1;
        let fua = sqe.dw(12) & (1 << 30) != 0 || self.feat[usize::from(FID_VWC)] == 0;
        let in_range = |slba: u64, nlb: u64| slba.checked_add(nlb).is_some_and(|e| e <= ns.blocks);
        let mut segs = [Seg::default(); MAX_SEGS];
        let mut blocks = 0u32;
        match sqe.opcode {
            io::READ | io::WRITE => {
                if !in_range(slba, u64::from(nlb)) {
                    return Err(status::LBA_RANGE);
                }
                let len = u64::from(nlb) << ns.lba_shift;
                if len > MAX_XFER {
                    return Err(status::INVALID_FIELD);
                }
                map(mem, host, sqe, len, &mut segs)?;
                blocks = nlb;
            }
            io::WRITE_ZEROES => {
                if !in_range(slba, u64::from(nlb)) {
                    return Err(status::LBA_RANGE);
                }
            }
            io::DSM => {
                if sqe.dw(11) & (1 << 2) == 0 {
                    // Only deallocation changes anything; hints are ignored.
                    return Err(status::SUCCESS);
                }
                let nr = (sqe.dw(10) & 0xff) as usize + 1;
                let mut n = 0usize;
                let len = (nr * 16) as u64;
                let cnt = map(mem, host, sqe, len, &mut segs)?;
                let mut raw = [0u8; 16];
                let mut fill = 0usize;
                for s in &segs[..cnt] {
                    let mut off = 0u64;
                    while off < u64::from(s.len) {
                        let k = (16 - fill).min((u64::from(s.len) - off) as usize);
                        if !host.read(s.uaddr + off, &mut raw[fill..fill + k]) {
                            host.clear_ranges();
                            return Err(status::DATA_TRANSFER);
                        }
                        fill += k;
                        off += k as u64;
                        if fill == 16 {
                            fill = 0;
                            let r = nvme::DsmRange::decode(&raw);
                            if r.nlb == 0 {
                                continue;
                            }
                            if !in_range(r.slba, u64::from(r.nlb)) {
                                host.clear_ranges();
                                return Err(status::LBA_RANGE);
                            }
                            if !host.push_range(r.slba << ns.lba_shift, u64::from(r.nlb) << ns.lba_shift) {
                                host.clear_ranges();
                                return Err(status::INTERNAL);
                            }
                            n += 1;
                        }
                    }
                }
                if n == 0 {
                    return Err(status::SUCCESS);
                }
            }
            io::FLUSH => {}
            _ => return Err(status::INVALID_OPCODE),
        }
        let nsegs = segs.iter().take_while(|s| s.len > 0).count();
        let pos = slba << ns.lba_shift;
        let op = match sqe.opcode {
            io::READ => Io::Read {
                pos,
                len: u64::from(nlb) << ns.lba_shift,
                segs: &segs[..nsegs],
            },
            io::WRITE => Io::Write {
                pos,
                len: u64::from(nlb) << ns.lba_shift,
                segs: &segs[..nsegs],
                fua,
            },
            io::WRITE_ZEROES => Io::WriteZeroes {
                pos,
                len: u64::from(nlb) << ns.lba_shift,
                fua,
                dealloc: sqe.dw(12) & (1 << 25) != 0,
            },
            io::DSM => Io::Discard,
            _ => Io::Flush,
        };
        let tag = match self.nfree.checked_sub(1) {
            Some(i) => self.free[i],
            None => return Err(status::INTERNAL),
        };
        if let Err(st) = host.submit(tag, &op) {
            if sqe.opcode == io::DSM {
                host.clear_ranges();
            }
            return Err(st);
        }
        self.nfree -= 1;
        self.slots[usize::from(tag)] = Slot {
            used: true,
            orphan: false,
            sqid: sqid as u8,
            cqid: self.sq[usize::from(sqid)].cqid as u8,
            cid: sqe.cid,
            opcode: sqe.opcode,
            nlb: blocks.saturating_sub(1) as u8,
        };
        Ok(())
    }
}
