// SPDX-License-Identifier: GPL-2.0

//! The controller's BAR0 register file (pure: compiled into the module and
//! into `tools/pure` for host tests).
//!
//! NVM Express Base Specification 1.4, §3.1 (controller registers) and
//! §7.6 (controller initialisation, reset and shutdown); doorbell stride 0
//! (`CAP.DSTRD`), so the doorbell of SQ `y` is at `0x1000 + 8 * y` and that
//! of CQ `y` at `0x1000 + 8 * y + 4`. Linux (`drivers/nvme/host/pci.c`)
//! accesses the 64-bit registers as two 32-bit halves; both widths are
//! served. Offsets are bytes into BAR0.
//!
//! The register file only decides what a write means ([`Effect`]); queues,
//! memory and interrupts belong to the controller that owns it.

/// `CAP`, 64 bits.
pub const CAP: u32 = 0x00;
/// `VS`, 32 bits.
pub const VS: u32 = 0x08;
/// `INTMS`, 32 bits: interrupt mask set.
pub const INTMS: u32 = 0x0c;
/// `INTMC`, 32 bits: interrupt mask clear.
pub const INTMC: u32 = 0x10;
/// `CC`, 32 bits.
pub const CC: u32 = 0x14;
/// `CSTS`, 32 bits.
pub const CSTS: u32 = 0x1c;
/// `NSSR`, 32 bits (subsystem reset: not supported, reads 0).
pub const NSSR: u32 = 0x20;
/// `AQA`, 32 bits.
pub const AQA: u32 = 0x24;
/// `ASQ`, 64 bits.
pub const ASQ: u32 = 0x28;
/// `ACQ`, 64 bits.
pub const ACQ: u32 = 0x30;
/// First doorbell.
pub const DOORBELLS: u32 = 0x1000;

/// `VS` value: NVMe 1.4.0.
pub const VERSION: u32 = 0x0001_0400;

/// `CSTS.RDY`.
pub const CSTS_RDY: u32 = 1;
/// `CSTS.CFS`: controller fatal status.
pub const CSTS_CFS: u32 = 1 << 1;
/// `CSTS.SHST` = 10b: shutdown processing complete.
pub const CSTS_SHST_COMPLETE: u32 = 2 << 2;

const CC_EN: u32 = 1;
const CC_SHN_MASK: u32 = 3 << 14;
/// Bits of `CC` a host may set: EN, CSS, MPS, AMS, SHN, IOSQES, IOCQES.
const CC_WRITABLE: u32 = 0x00ff_fff1;

/// Why a register access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegError {
    /// No register at this offset or for this width.
    BadOffset,
    /// Access width other than 4 or 8 bytes, or misaligned.
    BadWidth,
}

/// What a register write asks of the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the stored value.
    None,
    /// `CC.EN` 0 -> 1 with a valid configuration: the admin queue is
    /// `AQA`/`ASQ`/`ACQ` and `CSTS.RDY` is now 1.
    Enable,
    /// `CC.EN` 0 -> 1 with an invalid configuration: `CSTS.CFS` is set.
    EnableFailed,
    /// `CC.EN` 1 -> 0: reset every queue (and the doorbell buffer);
    /// `CSTS.RDY` is now 0.
    Reset,
    /// `CC.SHN` set: stop, flush the backend; `CSTS.SHST` reports done.
    Shutdown,
    /// The interrupt mask changed (`INTMS`/`INTMC`).
    Mask,
    /// A doorbell: new tail of submission queue `qid`.
    SqTail {
        /// Queue id.
        qid: u16,
        /// The value written.
        tail: u16,
    },
    /// A doorbell: new head of completion queue `qid`.
    CqHead {
        /// Queue id.
        qid: u16,
        /// The value written.
        head: u16,
    },
}

/// The register file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regs {
    /// Entries per queue the controller supports (`CAP.MQES` + 1), 2..=65536.
    max_entries: u32,
    /// Queue ids 0..`queues` have doorbells.
    queues: u16,
    cc: u32,
    csts: u32,
    aqa: u32,
    asq: u64,
    acq: u64,
    intms: u32,
}

impl Regs {
    /// A reset register file for a controller of `queues` queue pairs
    /// (admin included, 1..=65535) of up to `max_entries` entries each
    /// (clamped to 2..=65536).
    pub fn new(queues: u16, max_entries: u32) -> Self {
        Regs {
            max_entries: max_entries.clamp(2, 65536),
            queues: queues.max(1),
            cc: 0,
            csts: 0,
            aqa: 0,
            asq: 0,
            acq: 0,
            intms: 0,
        }
    }

    /// `CAP`: MQES, CQR = 1 (contiguous queues required), TO = 10
    /// (5 s), DSTRD = 0, CSS = NVM command set, MPSMIN = MPSMAX = 0
    /// (4 KiB pages).
    pub fn cap(&self) -> u64 {
        let mqes = u64::from(self.max_entries - 1);
        let cqr = 1u64 << 16;
        let to = 10u64 << 24;
        let css_nvm = 1u64 << 37;
        mqes | cqr | to | css_nvm
    }

    /// `CSTS`.
    pub fn csts(&self) -> u32 {
        self.csts
    }

    /// Whether the controller is enabled and ready.
    pub fn ready(&self) -> bool {
        self.csts & CSTS_RDY != 0
    }

    /// Overrides `CSTS.RDY`: a reset keeps it at 1 until commands in
    /// flight have drained.
    pub fn set_ready(&mut self, on: bool) {
        if on {
            self.csts |= CSTS_RDY;
        } else {
            self.csts &= !CSTS_RDY;
        }
    }

    /// A fatal controller error: `CSTS.CFS` = 1, `CSTS.RDY` = 0.
    pub fn set_fatal(&mut self) {
        self.csts = (self.csts | CSTS_CFS) & !CSTS_RDY;
    }

    /// Whether `CC.EN` is 1.
    pub fn enabled(&self) -> bool {
        self.cc & CC_EN != 0
    }

    /// The interrupt mask (`INTMS`), one bit per vector.
    pub fn int_mask(&self) -> u32 {
        self.intms
    }

    /// The admin queues: (SQ base, SQ entries, CQ base, CQ entries).
    pub fn admin_queues(&self) -> (u64, u32, u64, u32) {
        let asqs = (self.aqa & 0xfff) + 1;
        let acqs = ((self.aqa >> 16) & 0xfff) + 1;
        (self.asq, asqs, self.acq, acqs)
    }

    /// I/O submission and completion queue entry sizes from `CC`, log2
    /// bytes (`IOSQES`, `IOCQES`).
    pub fn io_entry_sizes(&self) -> (u32, u32) {
        ((self.cc >> 16) & 0xf, (self.cc >> 20) & 0xf)
    }

    /// Reads `width` (4 or 8) bytes at `offset`.
    ///
    /// # Errors
    ///
    /// [`RegError::BadWidth`] for another width or a misaligned offset;
    /// [`RegError::BadOffset`] outside the registers (doorbells read 0).
    pub fn read(&self, offset: u32, width: u32) -> Result<u64, RegError> {
        check_width(offset, width)?;
        if offset >= DOORBELLS {
            return self.doorbell(offset).map(|_| 0);
        }
        let r64 = |v: u64, base: u32| -> Result<u64, RegError> {
            match (width, offset - base) {
                (8, 0) => Ok(v),
                (4, 0) => Ok(v & 0xffff_ffff),
                (4, 4) => Ok(v >> 32),
                _ => Err(RegError::BadOffset),
            }
        };
        match offset {
            CAP | 0x04 => r64(self.cap(), CAP),
            ASQ | 0x2c => r64(self.asq, ASQ),
            ACQ | 0x34 => r64(self.acq, ACQ),
            _ if width == 8 => Err(RegError::BadOffset),
            VS => Ok(u64::from(VERSION)),
            INTMS | INTMC => Ok(u64::from(self.intms)),
            CC => Ok(u64::from(self.cc)),
            CSTS => Ok(u64::from(self.csts)),
            NSSR => Ok(0),
            AQA => Ok(u64::from(self.aqa)),
            _ => Err(RegError::BadOffset),
        }
    }

    /// Writes `width` (4 or 8) bytes of `value` at `offset`; returns what
    /// the controller must do. Read-only registers ignore writes.
    ///
    /// # Errors
    ///
    /// As for [`Regs::read`]; a doorbell of a queue id the controller does
    /// not have is [`RegError::BadOffset`].
    pub fn write(&mut self, offset: u32, width: u32, value: u64) -> Result<Effect, RegError> {
        check_width(offset, width)?;
        if offset >= DOORBELLS {
            if width != 4 {
                return Err(RegError::BadWidth);
            }
            let (qid, cq) = self.doorbell(offset)?;
            let v = value as u16;
            return Ok(if cq {
                Effect::CqHead { qid, head: v }
            } else {
                Effect::SqTail { qid, tail: v }
            });
        }
        let w64 = |reg: &mut u64, base: u32| -> Result<Effect, RegError> {
            match (width, offset - base) {
                (8, 0) => *reg = value,
                (4, 0) => *reg = (*reg & !0xffff_ffff) | (value & 0xffff_ffff),
                (4, 4) => *reg = (*reg & 0xffff_ffff) | (value << 32),
                _ => return Err(RegError::BadOffset),
            }
            Ok(Effect::None)
        };
        let v32 = value as u32;
        match offset {
            ASQ | 0x2c => w64(&mut self.asq, ASQ),
            ACQ | 0x34 => w64(&mut self.acq, ACQ),
            CAP | 0x04 => Ok(Effect::None),
            _ if width == 8 => Err(RegError::BadOffset),
            VS | CSTS | NSSR => Ok(Effect::None),
            INTMS => {
                self.intms |= v32;
                Ok(Effect::Mask)
            }
            INTMC => {
                self.intms &= !v32;
                Ok(Effect::Mask)
            }
            AQA => {
                self.aqa = v32 & 0x0fff_0fff;
                Ok(Effect::None)
            }
            CC => Ok(self.write_cc(v32)),
            _ => Err(RegError::BadOffset),
        }
    }

    fn write_cc(&mut self, v: u32) -> Effect {
        let old = self.cc;
        self.cc = v & CC_WRITABLE;
        let (was, now) = (old & CC_EN != 0, v & CC_EN != 0);
        if was && !now {
            // Reset: registers other than AQA/ASQ/ACQ go back to their
            // reset values (§7.6.2).
            self.csts = 0;
            self.intms = 0;
            return Effect::Reset;
        }
        if v & CC_SHN_MASK != 0 && old & CC_SHN_MASK == 0 {
            self.csts = (self.csts & !(3 << 2)) | CSTS_SHST_COMPLETE;
            return Effect::Shutdown;
        }
        if !was && now {
            if self.config_valid() {
                self.csts = (self.csts & !CSTS_CFS) | CSTS_RDY;
                return Effect::Enable;
            }
            self.csts |= CSTS_CFS;
            return Effect::EnableFailed;
        }
        Effect::None
    }

    /// What enabling requires: NVM command set, 4 KiB pages, round-robin
    /// arbitration, admin queues of at least 2 entries within MQES, at
    /// 4 KiB-aligned non-zero addresses.
    fn config_valid(&self) -> bool {
        let css = (self.cc >> 4) & 7;
        let mps = (self.cc >> 7) & 0xf;
        let ams = (self.cc >> 11) & 7;
        let (asq, asqs, acq, acqs) = self.admin_queues();
        let aligned = |a: u64| a != 0 && a & 0xfff == 0;
        css == 0
            && mps == 0
            && ams == 0
            && (2..=self.max_entries).contains(&asqs)
            && (2..=self.max_entries).contains(&acqs)
            && aligned(asq)
            && aligned(acq)
    }

    /// The queue of doorbell `offset`: (queue id, is the CQ head doorbell).
    fn doorbell(&self, offset: u32) -> Result<(u16, bool), RegError> {
        let i = (offset - DOORBELLS) / 4;
        let qid = i / 2;
        if qid >= u32::from(self.queues) {
            return Err(RegError::BadOffset);
        }
        Ok((qid as u16, i % 2 == 1))
    }
}

fn check_width(offset: u32, width: u32) -> Result<(), RegError> {
    if (width != 4 && width != 8) || offset % width != 0 {
        return Err(RegError::BadWidth);
    }
    Ok(())
}

/// Shadow doorbells: whether a host that moved a doorbell from `old` to
/// `new` must also write it over MMIO, given the controller's EventIdx
/// `event_idx` (Linux `nvme_dbbuf_need_event()`, drivers/nvme/host/pci.c;
/// the virtio `vring_need_event()` rule): true when `event_idx` lies in
/// `[old, new)`, modulo 2^16.
pub fn need_event(event_idx: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event_idx).wrapping_sub(1) < new.wrapping_sub(old)
}

/// Byte offset of the shadow doorbell (and EventIdx) slot of a queue in
/// the Doorbell Buffer Config pages: SQ `y` at `8 * y`, CQ `y` at
/// `8 * y + 4` (stride 0).
pub fn shadow_slot(qid: u16, cq: bool) -> usize {
    8 * usize::from(qid) + if cq { 4 } else { 0 }
}
