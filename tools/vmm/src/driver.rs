// SPDX-License-Identifier: GPL-2.0

//! The guest's side: an NVMe driver that brings the controller up the way
//! Linux's `drivers/nvme/host/pci.c` does (registers as 32-bit halves,
//! Identify, Set Features Number of Queues, I/O queue pairs, then Doorbell
//! Buffer Config 0x7C) and rings doorbells as it does
//! (`nvme_dbbuf_update_and_check_event()`: shadow first, MMIO only when
//! EventIdx asks).

use crate::dev::Dev;
use crate::guest::{Guest, PAGE};
use std::sync::atomic::{fence, Ordering};
use vq_pure::nvme::{admin, Cqe, Sqe};
use vq_pure::regs::{self, need_event, shadow_slot};

/// One submission/completion queue pair, guest side.
#[derive(Clone, Debug)]
pub struct Queue {
    /// Queue id.
    pub qid: u16,
    sq: u64,
    cq: u64,
    /// Entries.
    pub size: u16,
    tail: u16,
    head: u16,
    phase: bool,
    /// Commands submitted and not completed.
    pub outstanding: usize,
}

impl Queue {
    fn new(qid: u16, sq: u64, cq: u64, size: u16) -> Self {
        Queue {
            qid,
            sq,
            cq,
            size,
            tail: 0,
            head: 0,
            phase: true,
            outstanding: 0,
        }
    }

    /// Whether one more command fits.
    pub fn room(&self) -> bool {
        self.outstanding + 1 < usize::from(self.size)
    }
}

/// What bring-up found.
#[derive(Clone, Debug, Default)]
pub struct Info {
    /// Identify Controller.
    pub id_ctrl: Vec<u8>,
    /// Identify Namespace 1.
    pub id_ns: Vec<u8>,
    /// Active namespace list.
    pub ns_list: Vec<u8>,
    /// Status of Identify CNS 03h.
    pub desc_status: u16,
    /// Result of Set Features Number of Queues.
    pub nq_result: u32,
    /// Namespace size in logical blocks.
    pub nsze: u64,
    /// log2 of the LBA size.
    pub lba_shift: u8,
    /// Status of Doorbell Buffer Config (None: not sent).
    pub dbbuf_status: Option<u16>,
}

/// The driver.
pub struct Nvme<D: Dev> {
    /// The controller.
    pub dev: D,
    /// Guest RAM.
    pub g: Guest,
    admin: Queue,
    /// I/O queues (qid = index + 1).
    pub io: Vec<Queue>,
    db: Option<(u64, u64)>,
    cid: u16,
    /// MMIO doorbell writes this driver made.
    pub mmio: u64,
    /// Doorbell eventfds by queue id: rung instead of MMIO once shadow
    /// doorbells are on (as QEMU's ioeventfds).
    pub kicks: Vec<Option<i32>>,
    /// Doorbell eventfd signals this driver made.
    pub kicked: u64,
}

/// Whether a status is success.
pub fn ok(c: &Cqe) -> bool {
    c.status == 0
}

impl<D: Dev> Nvme<D> {
    /// A driver over `dev` and `g` (not brought up).
    pub fn new(dev: D, g: Guest) -> Self {
        Nvme {
            dev,
            g,
            admin: Queue::new(0, 0, 0, 32),
            io: Vec::new(),
            db: None,
            cid: 0,
            mmio: 0,
            kicks: Vec::new(),
            kicked: 0,
        }
    }

    fn wait_csts(&mut self, mask: u32, want: u32) -> Result<(), String> {
        for _ in 0..20000 {
            let c = self.dev.rd(regs::CSTS, 4) as u32;
            if c & regs::CSTS_CFS != 0 {
                return Err(format!("CSTS.CFS set (CSTS {c:#x})"));
            }
            if c & mask == want {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        Err(format!("CSTS timeout waiting for {want:#x}"))
    }

    /// Clears `CC.EN` and waits for `CSTS.RDY` = 0.
    pub fn disable(&mut self) -> Result<(), String> {
        let cc = self.dev.rd(regs::CC, 4);
        self.dev.wr(regs::CC, 4, cc & !1);
        self.db = None;
        self.io.clear();
        self.wait_csts(regs::CSTS_RDY, 0)
    }

    /// Brings the controller up with `nq` I/O queue pairs of `qsize`
    /// entries, and shadow doorbells if `dbbuf`.
    pub fn bring_up(&mut self, nq: u16, qsize: u16, dbbuf: bool) -> Result<Info, String> {
        if self.dev.rd(regs::CC, 4) & 1 != 0 {
            self.disable()?;
        }
        self.g.reset_a();
        self.db = None;
        self.io.clear();
        let cap = self.dev.rd(regs::CAP, 4) | (self.dev.rd(regs::CAP + 4, 4) << 32);
        let mqes = (cap & 0xffff) as u16 + 1;
        let asq = self.g.alloc_a(1);
        let acq = self.g.alloc_a(1);
        self.admin = Queue::new(0, asq, acq, 32);
        self.dev.wr(regs::AQA, 4, (31 << 16) | 31);
        self.dev.wr(regs::ASQ, 4, asq & 0xffff_ffff);
        self.dev.wr(regs::ASQ + 4, 4, asq >> 32);
        self.dev.wr(regs::ACQ, 4, acq & 0xffff_ffff);
        self.dev.wr(regs::ACQ + 4, 4, acq >> 32);
        self.dev.wr(regs::CC, 4, 1 | (6 << 16) | (4 << 20));
        self.wait_csts(regs::CSTS_RDY, regs::CSTS_RDY)?;
        let mut info = Info::default();
        let buf = self.g.alloc_a(1);
        let id = |n: &mut Self, cns: u32, nsid: u32| -> Result<(u16, Vec<u8>), String> {
            let mut s = Sqe {
                opcode: admin::IDENTIFY,
                nsid,
                prp1: buf,
                ..Sqe::default()
            };
            s.cdw[0] = cns;
            let c = n.admin_cmd(s)?;
            let mut b = vec![0u8; 4096];
            n.g.read(buf, &mut b);
            Ok((c.status, b))
        };
        let (st, b) = id(self, 1, 0)?;
        if st != 0 {
            return Err(format!("Identify Controller status {st:#x}"));
        }
        info.id_ctrl = b;
        let (_, b) = id(self, 2, 0)?;
        info.ns_list = b;
        let (st, b) = id(self, 0, 1)?;
        if st != 0 {
            return Err(format!("Identify Namespace status {st:#x}"));
        }
        info.nsze = u64::from_le_bytes(b[0..8].try_into().unwrap_or([0; 8]));
        info.lba_shift = b[128 + 2];
        info.id_ns = b;
        info.desc_status = id(self, 3, 1)?.0;
        let mut s = Sqe {
            opcode: admin::SET_FEATURES,
            ..Sqe::default()
        };
        // Ask for two more queue pairs than are created (as Linux asks for
        // one per CPU plus extra), so queue ids above nq stay allocatable.
        s.cdw[0] = 0x07;
        s.cdw[1] = u32::from(nq + 1) | (u32::from(nq + 1) << 16);
        let c = self.admin_cmd(s)?;
        if !ok(&c) {
            return Err(format!("Set Features 07h status {:#x}", c.status));
        }
        info.nq_result = c.result;
        let qsize = qsize.min(mqes);
        for q in 1..=nq {
            let sq = self.g.alloc_a((u64::from(qsize) * 64).div_ceil(PAGE));
            let cq = self.g.alloc_a((u64::from(qsize) * 16).div_ceil(PAGE));
            let mut s = Sqe {
                opcode: admin::CREATE_CQ,
                prp1: cq,
                ..Sqe::default()
            };
            s.cdw[0] = u32::from(q) | (u32::from(qsize - 1) << 16);
            s.cdw[1] = 0b11 | (u32::from(q) << 16);
            let c = self.admin_cmd(s)?;
            if !ok(&c) {
                return Err(format!("Create I/O CQ {q} status {:#x}", c.status));
            }
            let mut s = Sqe {
                opcode: admin::CREATE_SQ,
                prp1: sq,
                ..Sqe::default()
            };
            s.cdw[0] = u32::from(q) | (u32::from(qsize - 1) << 16);
            s.cdw[1] = 1 | (u32::from(q) << 16);
            let c = self.admin_cmd(s)?;
            if !ok(&c) {
                return Err(format!("Create I/O SQ {q} status {:#x}", c.status));
            }
            self.io.push(Queue::new(q, sq, cq, qsize));
        }
        let oacs = u16::from_le_bytes([info.id_ctrl[256], info.id_ctrl[257]]);
        if dbbuf && oacs & (1 << 8) != 0 {
            let shadow = self.g.alloc_a(1);
            let ei = self.g.alloc_a(1);
            let s = Sqe {
                opcode: admin::DBBUF_CONFIG,
                prp1: shadow,
                prp2: ei,
                ..Sqe::default()
            };
            let c = self.admin_cmd(s)?;
            info.dbbuf_status = Some(c.status);
            if ok(&c) {
                self.db = Some((shadow, ei));
            }
        }
        Ok(info)
    }

    fn next_cid(&mut self) -> u16 {
        self.cid = self.cid.wrapping_add(1);
        self.cid
    }

    /// Runs an admin command and waits for its completion (`cid` is set
    /// here).
    pub fn admin_cmd(&mut self, mut s: Sqe) -> Result<Cqe, String> {
        s.cid = self.next_cid();
        let mut q = self.admin.clone();
        self.push(&mut q, &s);
        self.admin = q;
        for _ in 0..2000 {
            let mut found = None;
            let mut q = self.admin.clone();
            for c in self.reap(&mut q) {
                if c.cid == s.cid {
                    found = Some(c);
                }
            }
            self.admin = q;
            if let Some(c) = found {
                return Ok(c);
            }
            self.dev.wait(10);
        }
        Err(format!("admin command {:#x} timed out", s.opcode))
    }

    /// Submits an admin command without waiting; returns its cid.
    pub fn admin_submit(&mut self, mut s: Sqe) -> u16 {
        s.cid = self.next_cid();
        let mut q = self.admin.clone();
        self.push(&mut q, &s);
        self.admin = q;
        s.cid
    }

    /// New admin completions.
    pub fn admin_poll(&mut self) -> Vec<Cqe> {
        let mut q = self.admin.clone();
        let r = self.reap(&mut q);
        self.admin = q;
        r
    }

    /// Writes `s` into queue `q` and rings its doorbell.
    fn push(&mut self, q: &mut Queue, s: &Sqe) {
        self.g.write(q.sq + u64::from(q.tail) * 64, &s.encode());
        let old = q.tail;
        q.tail = (q.tail + 1) % q.size;
        q.outstanding += 1;
        self.ring(q.qid, false, old, q.tail);
    }

    /// A doorbell update: through the shadow buffer (I/O queues, dbbuf on)
    /// with an MMIO write only when EventIdx asks, else MMIO.
    fn ring(&mut self, qid: u16, cq: bool, old: u16, new: u16) {
        if let (Some((shadow, ei)), true) = (self.db, qid > 0) {
            let slot = shadow_slot(qid, cq) as u64;
            let prev = self.g.r32(shadow + slot) as u16;
            let _ = old;
            fence(Ordering::SeqCst);
            self.g.w32(shadow + slot, u32::from(new));
            fence(Ordering::SeqCst);
            let e = self.g.r32(ei + slot) as u16;
            if !need_event(e, new, prev) {
                return;
            }
            if let Some(Some(fd)) = self.kicks.get(usize::from(qid)) {
                let one = 1u64;
                // SAFETY: writes 8 bytes to an eventfd.
                unsafe { libc::write(*fd, &one as *const u64 as *const _, 8) };
                self.kicked += 1;
                return;
            }
        }
        self.mmio += 1;
        let off = regs::DOORBELLS + 4 * (2 * u32::from(qid) + u32::from(cq));
        self.dev.wr(off, 4, u64::from(new));
    }

    /// Takes the new completions of `q` and moves its CQ head.
    fn reap(&mut self, q: &mut Queue) -> Vec<Cqe> {
        let mut out = Vec::new();
        loop {
            let at = q.cq + u64::from(q.head) * 16;
            let dw3 = self.g.r32(at + 12);
            if (dw3 >> 16) & 1 != u32::from(q.phase) {
                break;
            }
            fence(Ordering::SeqCst);
            let mut b = [0u8; 16];
            self.g.read(at, &mut b);
            out.push(Cqe::decode(&b));
            q.head += 1;
            if q.head == q.size {
                q.head = 0;
                q.phase = !q.phase;
            }
        }
        if !out.is_empty() {
            q.outstanding = q.outstanding.saturating_sub(out.len());
            let h = q.head;
            self.ring(q.qid, true, h, h);
        }
        out
    }

    /// Submits `s` on I/O queue `i` (index into `io`); returns its cid.
    pub fn submit(&mut self, i: usize, mut s: Sqe) -> u16 {
        s.cid = self.next_cid();
        let mut q = self.io[i].clone();
        self.push(&mut q, &s);
        self.io[i] = q;
        s.cid
    }

    /// New completions of I/O queue `i`.
    pub fn poll(&mut self, i: usize) -> Vec<Cqe> {
        let mut q = self.io[i].clone();
        let r = self.reap(&mut q);
        self.io[i] = q;
        r
    }

    /// Runs one I/O command on queue `i` and waits for it.
    pub fn io_cmd(&mut self, i: usize, s: Sqe) -> Result<Cqe, String> {
        let cid = self.submit(i, s);
        for _ in 0..2000 {
            if let Some(c) = self.poll(i).into_iter().find(|c| c.cid == cid) {
                return Ok(c);
            }
            self.dev.wait(10);
        }
        Err(format!("I/O command {:#x} timed out", s.opcode))
    }

}
