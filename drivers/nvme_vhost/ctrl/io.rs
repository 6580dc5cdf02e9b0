// SPDX-License-Identifier: GPL-2.0

//! I/O commands: decoding, the backend operation, and its end.

use super::{Ctrl, Host, Io, Ns, Seg, Slot, FID_VWC, MAX_SEGS, MAX_XFER};
use crate::nvme::{self, io, status, Sqe};
use crate::prp::{self, MemTable};

/// Walks the PRPs of `sqe` for `len` bytes into `segs` (contiguous
/// userspace pieces merged); returns how many segments.
pub(super) fn map<const M: usize>(
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

/// Whether `nlb` logical blocks from `slba` lie inside namespace `ns`.
fn in_range(ns: Ns, slba: u64, nlb: u64) -> bool {
    slba.checked_add(nlb).is_some_and(|e| e <= ns.blocks)
}

/// Dataset Management: reads the command's ranges (through `segs`) and
/// pushes the nonempty ones to the host for [`Io::Discard`].
/// `Err(status::SUCCESS)` completes the command at once: hints only, or
/// no nonempty range. On an error, the ranges pushed are cleared.
fn dsm_ranges<const M: usize>(
    mem: &MemTable<M>,
    host: &mut impl Host,
    ns: Ns,
    sqe: &Sqe,
    segs: &mut [Seg; MAX_SEGS],
) -> Result<(), u16> {
    if sqe.dw(11) & (1 << 2) == 0 {
        // Only deallocation changes anything; hints are ignored.
        return Err(status::SUCCESS);
    }
    let nr = (sqe.dw(10) & 0xff) as usize + 1;
    let mut n = 0usize;
    let len = (nr * 16) as u64;
    let cnt = map(mem, host, sqe, len, segs)?;
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
                if !in_range(ns, r.slba, u64::from(r.nlb)) {
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
    Ok(())
}

/// The backend operation of a checked I/O command `sqe`: `nlb` logical
/// blocks from `slba` of `ns`, guest buffers `segs` (Read, Write).
fn backend_op<'a>(sqe: &Sqe, ns: Ns, slba: u64, nlb: u32, fua: bool, segs: &'a [Seg]) -> Io<'a> {
    let pos = slba << ns.lba_shift;
    match sqe.opcode {
        io::READ => Io::Read {
            pos,
            len: u64::from(nlb) << ns.lba_shift,
            segs,
        },
        io::WRITE => Io::Write {
            pos,
            len: u64::from(nlb) << ns.lba_shift,
            segs,
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
    }
}

impl<const M: usize> Ctrl<M> {
    /// Decodes and starts I/O command `sqe` of SQ `sqid`; `Err(status)`
    /// completes it at once.
    pub(super) fn io(&mut self, host: &mut impl Host, sqid: u16, sqe: &Sqe) -> Result<(), u16> {
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
        let mut segs = [Seg::default(); MAX_SEGS];
        let mut blocks = 0u32;
        match sqe.opcode {
            io::READ | io::WRITE => {
                if !in_range(ns, slba, u64::from(nlb)) {
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
                if !in_range(ns, slba, u64::from(nlb)) {
                    return Err(status::LBA_RANGE);
                }
            }
            io::DSM => dsm_ranges(mem, host, ns, sqe, &mut segs)?,
            io::FLUSH => {}
            _ => return Err(status::INVALID_OPCODE),
        }
        let nsegs = segs.iter().take_while(|s| s.len > 0).count();
        let op = backend_op(sqe, ns, slba, nlb, fua, &segs[..nsegs]);
        self.start(host, sqid, sqe, &op, blocks)
    }

    /// Starts `op`, the backend operation of I/O command `sqe` of SQ
    /// `sqid`, in a free command slot; `blocks`: logical blocks of a Read
    /// or Write (0 for other commands).
    fn start(&mut self, host: &mut impl Host, sqid: u16, sqe: &Sqe, op: &Io<'_>, blocks: u32) -> Result<(), u16> {
        let tag = match self.nfree.checked_sub(1) {
            Some(i) => self.free[i],
            None => return Err(status::INTERNAL),
        };
        if let Err(st) = host.submit(tag, op) {
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
}
