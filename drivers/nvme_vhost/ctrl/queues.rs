// SPDX-License-Identifier: GPL-2.0

//! Queues: creation and deletion (admin commands), doorbells (MMIO and
//! shadow) and completion posting.

use super::{Cq, Ctrl, Dbbuf, Host, Sq, MAX_ENTRIES, QUEUES, VECTORS};
use crate::nvme::{status, Cqe, Sqe, CQE_SIZE, SQE_SIZE};
use crate::prp::PAGE;
use crate::regs;

/// Reads a little-endian u32 of guest memory.
fn read_u32(host: &mut impl Host, uaddr: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    host.read(uaddr, &mut b).then(|| u32::from_le_bytes(b))
}

impl<const M: usize> Ctrl<M> {
    /// An SQ tail doorbell write (MMIO): a tail out of range is ignored;
    /// with shadow doorbells on, the shadow slot of an I/O SQ gets it too.
    pub(super) fn sq_doorbell(&mut self, host: &mut impl Host, qid: u16, tail: u16) {
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

    /// A CQ head doorbell write (MMIO): a head outside the posted entries
    /// is ignored; with shadow doorbells on, the shadow slot of an I/O CQ
    /// gets it too.
    pub(super) fn cq_doorbell(&mut self, host: &mut impl Host, qid: u16, head: u16) {
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

    /// The tail of SQ `q`, read from its shadow slot when shadow doorbells
    /// are on (an I/O SQ; a tail out of range keeps the last one).
    pub(super) fn sq_tail(&mut self, host: &mut impl Host, q: usize) -> u16 {
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
    pub(super) fn cq_room(&mut self, host: &mut impl Host, q: usize) -> bool {
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
    pub(super) fn refresh_cq_head(&mut self, host: &mut impl Host, q: usize, d: Dbbuf) {
        self.stats.shadow_reads += 1;
        if let Some(h) = read_u32(host, d.shadow + regs::shadow_slot(q as u16, true) as u64) {
            if h <= 0xffff && Self::head_ok(&self.cq[q], h as u16) {
                self.cq[q].head = h as u16;
            }
        }
    }

    /// Posts a completion to CQ `cqid` (which owes it a place).
    pub(super) fn post(&mut self, host: &mut impl Host, cqid: u16, sqid: u16, cid: u16, st: u16, result: u32) {
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

    /// Checks a queue's memory: page aligned, physically contiguous
    /// (`CAP.CQR`), wholly inside one memory region.
    fn queue_mem(&self, sqe: &Sqe, entries: u32, entry: u64) -> Result<u64, u16> {
        if sqe.dw(11) & 1 == 0 || sqe.prp1 % PAGE != 0 || self.regs.io_entry_sizes() != (6, 4) {
            return Err(status::INVALID_FIELD);
        }
        let mem = self.mem.as_ref().ok_or(status::INTERNAL)?;
        mem.translate(sqe.prp1, u64::from(entries) * entry).ok_or(status::INVALID_FIELD)
    }

    /// Queue id and size of a Create I/O CQ (`cq`) or SQ command.
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

    /// Create I/O Completion Queue.
    pub(super) fn create_cq(&mut self, sqe: &Sqe) -> Result<u32, u16> {
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

    /// Create I/O Submission Queue; with shadow doorbells on, its shadow
    /// and EventIdx slots start at 0.
    pub(super) fn create_sq(&mut self, host: &mut impl Host, sqe: &Sqe) -> Result<u32, u16> {
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

    /// Delete I/O Submission Queue: its commands in flight are orphaned.
    pub(super) fn delete_sq(&mut self, sqe: &Sqe) -> Result<u32, u16> {
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

    /// Delete I/O Completion Queue, refused while an SQ posts to it.
    pub(super) fn delete_cq(&mut self, sqe: &Sqe) -> Result<u32, u16> {
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

    /// Doorbell Buffer Config: turns shadow doorbells on, with the slots
    /// of the existing queues set from the controller's view of them.
    pub(super) fn dbbuf_config(&mut self, host: &mut impl Host, sqe: &Sqe) -> Result<u32, u16> {
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
}
