// SPDX-License-Identifier: GPL-2.0

//! The worker's side: passes over the queues, EventIdx, interrupts, and
//! the busy-poll window.

use super::{Ctrl, Host, QUEUES, VECTORS};
use crate::nvme::{Sqe, SQE_SIZE};
use crate::regs;

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

impl<const M: usize> Ctrl<M> {
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

    /// Fetches and runs up to [`BURST`] commands of SQ `q`, as long as
    /// its CQ has room (and, for an I/O SQ, a command slot is free).
    /// Returns whether it fetched any.
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
}
