// SPDX-License-Identifier: GPL-2.0

//! Admin commands (the queue commands are in `queues`).

use super::io::map;
use super::{Ctrl, Host, Ns, Seg, FID_VWC, MAX_ENTRIES, MAX_SEGS, MAX_XFER, MDTS};
use crate::nvme::{self, admin, status, Sqe, Win, IDENTIFY_SIZE};
use crate::prp::MemTable;

/// Feature identifiers kept as store-and-echo values.
const FEATURES: [u8; 8] = [0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0b];
/// Feature identifier of Number of Queues (Set Features 07h).
const FID_QUEUES: u8 = 0x07;

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
    /// Runs admin command `sqe`: `Some((status, result))` to post, `None`
    /// for an Asynchronous Event Request, which stays parked.
    pub(super) fn admin(&mut self, host: &mut impl Host, sqe: &Sqe) -> Option<(u16, u32)> {
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

    /// Identify: namespace (CNS 0), controller (1), active namespace list
    /// (2), namespace identification descriptors (3).
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

    /// Get Log Page: supported logs, error, SMART, firmware slot and
    /// command effects logs.
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

    /// Set Features: Number of Queues sets the I/O queue count; the others
    /// of [`FEATURES`] are stored.
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

    /// Get Features: current, default (`SEL` 1) or supported capabilities
    /// (`SEL` 3).
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
}
