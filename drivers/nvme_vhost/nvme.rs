// SPDX-License-Identifier: GPL-2.0

//! NVMe wire formats (pure: compiled into the module and into `tools/pure`
//! for host tests): submission and completion queue entries, status codes
//! and the data structures the controller returns (Identify, log pages).
//!
//! Source: NVM Express Base Specification 1.4 (§4.2 SQE, §4.6 CQE and
//! status, §5.15 Identify, §5.14 Get Log Page) and NVM Command Set
//! (§6 I/O commands). All fields are little endian.

/// Bytes of a submission queue entry (`CC.IOSQES` = 6).
pub const SQE_SIZE: usize = 64;
/// Bytes of a completion queue entry (`CC.IOCQES` = 4).
pub const CQE_SIZE: usize = 16;
/// Bytes of an Identify data structure.
pub const IDENTIFY_SIZE: usize = 4096;

/// Admin opcodes (§5).
pub mod admin {
    /// Delete I/O Submission Queue.
    pub const DELETE_SQ: u8 = 0x00;
    /// Create I/O Submission Queue.
    pub const CREATE_SQ: u8 = 0x01;
    /// Get Log Page.
    pub const GET_LOG_PAGE: u8 = 0x02;
    /// Delete I/O Completion Queue.
    pub const DELETE_CQ: u8 = 0x04;
    /// Create I/O Completion Queue.
    pub const CREATE_CQ: u8 = 0x05;
    /// Identify.
    pub const IDENTIFY: u8 = 0x06;
    /// Abort.
    pub const ABORT: u8 = 0x08;
    /// Set Features.
    pub const SET_FEATURES: u8 = 0x09;
    /// Get Features.
    pub const GET_FEATURES: u8 = 0x0a;
    /// Asynchronous Event Request.
    pub const ASYNC_EVENT: u8 = 0x0c;
    /// Doorbell Buffer Config (§5.8, NVMe 1.3).
    pub const DBBUF_CONFIG: u8 = 0x7c;
}

/// NVM command set I/O opcodes.
pub mod io {
    /// Flush.
    pub const FLUSH: u8 = 0x00;
    /// Write.
    pub const WRITE: u8 = 0x01;
    /// Read.
    pub const READ: u8 = 0x02;
    /// Write Zeroes.
    pub const WRITE_ZEROES: u8 = 0x08;
    /// Dataset Management.
    pub const DSM: u8 = 0x09;
}

/// Status field values: `SCT << 8 | SC`, with Do Not Retry (bit 14) set
/// where a retry cannot succeed (§4.6.1).
pub mod status {
    /// Do Not Retry.
    pub const DNR: u16 = 1 << 14;
    /// Successful Completion.
    pub const SUCCESS: u16 = 0;
    /// Invalid Command Opcode.
    pub const INVALID_OPCODE: u16 = 0x01 | DNR;
    /// Invalid Field in Command.
    pub const INVALID_FIELD: u16 = 0x02 | DNR;
    /// Data Transfer Error.
    pub const DATA_TRANSFER: u16 = 0x04 | DNR;
    /// Internal Error (retryable).
    pub const INTERNAL: u16 = 0x06;
    /// Invalid Namespace or Format.
    pub const INVALID_NS: u16 = 0x0b | DNR;
    /// PRP Offset Invalid.
    pub const PRP_OFFSET: u16 = 0x13 | DNR;
    /// LBA Out of Range.
    pub const LBA_RANGE: u16 = 0x80 | DNR;
    /// Completion Queue Invalid (command specific).
    pub const CQ_INVALID: u16 = 0x100 | DNR;
    /// Invalid Queue Identifier.
    pub const INVALID_QID: u16 = 0x101 | DNR;
    /// Invalid Queue Size.
    pub const INVALID_QSIZE: u16 = 0x102 | DNR;
    /// Asynchronous Event Request Limit Exceeded.
    pub const AER_LIMIT: u16 = 0x105 | DNR;
    /// Invalid Interrupt Vector.
    pub const INVALID_VECTOR: u16 = 0x108 | DNR;
    /// Invalid Queue Deletion.
    pub const INVALID_DELETE: u16 = 0x10c | DNR;
    /// Write Fault (media error).
    pub const WRITE_FAULT: u16 = 0x280 | DNR;
    /// Unrecovered Read Error (media error).
    pub const READ_ERROR: u16 = 0x281 | DNR;
}

/// A submission queue entry, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sqe {
    /// Opcode (CDW0 bits 7:0).
    pub opcode: u8,
    /// Fused operation and PRP/SGL selection (CDW0 bits 15:8).
    pub flags: u8,
    /// Command identifier (CDW0 bits 31:16).
    pub cid: u16,
    /// Namespace identifier.
    pub nsid: u32,
    /// PRP entry 1.
    pub prp1: u64,
    /// PRP entry 2.
    pub prp2: u64,
    /// Command dwords 10..=15.
    pub cdw: [u32; 6],
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from(u32_at(b, i)) | (u64::from(u32_at(b, i + 4)) << 32)
}

impl Sqe {
    /// Decodes 64 bytes.
    pub fn decode(b: &[u8; SQE_SIZE]) -> Self {
        let mut cdw = [0u32; 6];
        for (i, d) in cdw.iter_mut().enumerate() {
            *d = u32_at(b, 40 + 4 * i);
        }
        Sqe {
            opcode: b[0],
            flags: b[1],
            cid: u16::from_le_bytes([b[2], b[3]]),
            nsid: u32_at(b, 4),
            prp1: u64_at(b, 24),
            prp2: u64_at(b, 32),
            cdw,
        }
    }

    /// Encodes into 64 bytes (metadata pointer and reserved dwords zero).
    pub fn encode(&self) -> [u8; SQE_SIZE] {
        let mut b = [0u8; SQE_SIZE];
        b[0] = self.opcode;
        b[1] = self.flags;
        b[2..4].copy_from_slice(&self.cid.to_le_bytes());
        b[4..8].copy_from_slice(&self.nsid.to_le_bytes());
        b[24..32].copy_from_slice(&self.prp1.to_le_bytes());
        b[32..40].copy_from_slice(&self.prp2.to_le_bytes());
        for (i, d) in self.cdw.iter().enumerate() {
            b[40 + 4 * i..44 + 4 * i].copy_from_slice(&d.to_le_bytes());
        }
        b
    }

    /// Command dword `n` (10..=15); 0 for other `n`.
    pub fn dw(&self, n: usize) -> u32 {
        n.checked_sub(10).and_then(|i| self.cdw.get(i)).copied().unwrap_or(0)
    }
}

/// A completion queue entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe {
    /// Command specific result (DW0).
    pub result: u32,
    /// SQ head pointer.
    pub sq_head: u16,
    /// SQ identifier.
    pub sq_id: u16,
    /// Command identifier.
    pub cid: u16,
    /// Status field (without the phase tag).
    pub status: u16,
    /// Phase tag.
    pub phase: bool,
}

impl Cqe {
    /// Encodes into 16 bytes.
    pub fn encode(&self) -> [u8; CQE_SIZE] {
        let mut b = [0u8; CQE_SIZE];
        b[0..4].copy_from_slice(&self.result.to_le_bytes());
        b[8..10].copy_from_slice(&self.sq_head.to_le_bytes());
        b[10..12].copy_from_slice(&self.sq_id.to_le_bytes());
        b[12..14].copy_from_slice(&self.cid.to_le_bytes());
        let sf = (self.status << 1) | u16::from(self.phase);
        b[14..16].copy_from_slice(&sf.to_le_bytes());
        b
    }

    /// Decodes 16 bytes.
    pub fn decode(b: &[u8; CQE_SIZE]) -> Self {
        let sf = u16::from_le_bytes([b[14], b[15]]);
        Cqe {
            result: u32_at(b, 0),
            sq_head: u16::from_le_bytes([b[8], b[9]]),
            sq_id: u16::from_le_bytes([b[10], b[11]]),
            cid: u16::from_le_bytes([b[12], b[13]]),
            status: sf >> 1,
            phase: sf & 1 != 0,
        }
    }
}

/// A Dataset Management range (§6.7, 16 bytes): `nlb` is a count of
/// logical blocks (not 0-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DsmRange {
    /// Context attributes.
    pub attributes: u32,
    /// Logical blocks.
    pub nlb: u32,
    /// Starting LBA.
    pub slba: u64,
}

impl DsmRange {
    /// Decodes 16 bytes.
    pub fn decode(b: &[u8; 16]) -> Self {
        DsmRange {
            attributes: u32_at(b, 0),
            nlb: u32_at(b, 4),
            slba: u64_at(b, 8),
        }
    }

    /// Encodes into 16 bytes.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.attributes.to_le_bytes());
        b[4..8].copy_from_slice(&self.nlb.to_le_bytes());
        b[8..16].copy_from_slice(&self.slba.to_le_bytes());
        b
    }
}

/// A window on a data structure being rendered: the bytes at offsets
/// `base..base + buf.len()` of it. The builders below write whole
/// structures through a window, so a 4 KiB structure goes to the guest in
/// small pieces without ever being whole in memory.
pub struct Win<'a> {
    /// Offset of `buf[0]` in the structure.
    pub base: usize,
    /// The bytes of the window (zeroed by the caller).
    pub buf: &'a mut [u8],
}

impl Win<'_> {
    /// Writes `v` at offset `at` of the structure (the part in the window).
    pub fn put(&mut self, at: usize, v: &[u8]) {
        for (i, &x) in v.iter().enumerate() {
            if let Some(d) = (at + i).checked_sub(self.base).and_then(|j| self.buf.get_mut(j)) {
                *d = x;
            }
        }
    }

    /// Writes one byte.
    pub fn byte(&mut self, at: usize, v: u8) {
        self.put(at, &[v]);
    }

    /// ASCII `s` into `n` bytes at `at`, space padded (Identify strings).
    fn put_str(&mut self, at: usize, n: usize, s: &[u8]) {
        for i in 0..n {
            self.byte(at + i, s.get(i).copied().unwrap_or(b' '));
        }
    }
}

/// What the controller says about itself in Identify Controller.
#[derive(Clone, Copy, Debug)]
pub struct CtrlInfo<'a> {
    /// Serial number (ASCII, up to 20 bytes).
    pub serial: &'a [u8],
    /// Controller id.
    pub cntlid: u16,
    /// Maximum data transfer size: 2^`mdts` pages of 4 KiB.
    pub mdts: u8,
    /// Entries per queue.
    pub max_cmds: u16,
}

/// PCI vendor id reported (Red Hat's, as QEMU's emulated NVMe).
pub const VENDOR_ID: u16 = 0x1b36;
/// Asynchronous Event Request Limit (0-based).
pub const AERL: u8 = 3;

/// Identify Controller (CNS 01h, §5.15.2.2): VS 1.4, OACS bit 8 (Doorbell
/// Buffer Config), ONCS DSM and Write Zeroes, a volatile write cache, one
/// namespace, SGLs not supported.
pub fn identify_ctrl(info: &CtrlInfo<'_>, b: &mut Win<'_>) {
    b.put(0, &VENDOR_ID.to_le_bytes());
    b.put(2, &VENDOR_ID.to_le_bytes());
    b.put_str(4, 20, info.serial);
    b.put_str(24, 40, b"vhost-nvme (vdo_qat nvme_vhost)");
    b.put_str(64, 8, b"1.0");
    b.byte(72, 6); // RAB
    b.byte(77, info.mdts);
    b.put(78, &info.cntlid.to_le_bytes());
    b.put(80, &crate::regs::VERSION.to_le_bytes());
    b.byte(111, 1); // CNTRLTYPE: I/O controller
    b.put(256, &(1u16 << 8).to_le_bytes()); // OACS: Doorbell Buffer Config
    b.byte(258, 3); // ACL
    b.byte(259, AERL);
    b.byte(260, 0x3); // FRMW: slot 1 read only, one slot
    b.byte(261, 0x3); // LPA: SMART per namespace, Command Effects log
    b.byte(262, 0); // ELPE: one error log entry
    b.put(266, &343u16.to_le_bytes()); // WCTEMP (K)
    b.put(268, &373u16.to_le_bytes()); // CCTEMP (K)
    b.byte(512, 0x66); // SQES
    b.byte(513, 0x44); // CQES
    b.put(514, &info.max_cmds.to_le_bytes()); // MAXCMD
    b.put(516, &1u32.to_le_bytes()); // NN
    b.put(520, &((1u16 << 2) | (1u16 << 3)).to_le_bytes()); // ONCS: DSM, Write Zeroes
    b.byte(525, 1); // VWC present
    b.put(536, &0u32.to_le_bytes()); // SGLS: none
    let prefix = b"nqn.2026-11.io.vdo-qat:nvme-vhost:";
    b.put(768, prefix);
    let sn = &info.serial[..info.serial.len().min(20)];
    let sn_len = sn.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    b.put(768 + prefix.len(), &sn[..sn_len]);
}

/// Identify Namespace (CNS 00h, §5.15.2.1) of a namespace of `nsze`
/// logical blocks of 2^`lba_shift` bytes; thin provisioned, deallocated
/// blocks read as zeroes (DLFEAT 01h) and Write Zeroes may deallocate
/// (DLFEAT bit 3).
pub fn identify_ns(nsze: u64, lba_shift: u8, b: &mut Win<'_>) {
    b.put(0, &nsze.to_le_bytes());
    b.put(8, &nsze.to_le_bytes());
    b.put(16, &nsze.to_le_bytes());
    b.byte(24, 1); // NSFEAT: thin provisioning
    b.byte(25, 0); // NLBAF: one format
    b.byte(26, 0); // FLBAS: format 0
    b.byte(33, 0x09); // DLFEAT
    b.put(128, &(u32::from(lba_shift) << 16).to_le_bytes()); // LBAF0
}

/// Identify Active Namespace ID list (CNS 02h): namespace 1 if it is
/// above `after`.
pub fn identify_ns_list(after: u32, b: &mut Win<'_>) {
    if after < 1 {
        b.put(0, &1u32.to_le_bytes());
    }
}

/// Bytes of the SMART / Health Information log page.
pub const SMART_SIZE: usize = 512;

/// The counters of the SMART / Health Information log (§5.14.1.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Smart {
    /// 512-byte units read, in thousands (rounded up).
    pub data_units_read: u64,
    /// 512-byte units written, in thousands (rounded up).
    pub data_units_written: u64,
    /// Read commands completed.
    pub host_reads: u64,
    /// Write commands completed.
    pub host_writes: u64,
    /// Controller busy time, minutes.
    pub busy_minutes: u64,
    /// Controller enables.
    pub power_cycles: u64,
    /// Power on hours.
    pub power_on_hours: u64,
    /// Resets without a shutdown first.
    pub unsafe_shutdowns: u64,
    /// Commands that ended with a media or backend error.
    pub media_errors: u64,
}

/// SMART / Health Information log page: temperature 300 K, 100% spare,
/// no warning.
pub fn smart_log(s: &Smart, b: &mut Win<'_>) {
    b.put(1, &300u16.to_le_bytes());
    b.byte(3, 100); // available spare
    b.byte(4, 10); // spare threshold
    let fields = [
        (32, s.data_units_read),
        (48, s.data_units_written),
        (64, s.host_reads),
        (80, s.host_writes),
        (96, s.busy_minutes),
        (112, s.power_cycles),
        (128, s.power_on_hours),
        (144, s.unsafe_shutdowns),
        (160, s.media_errors),
    ];
    for (at, v) in fields {
        b.put(at, &v.to_le_bytes());
    }
}

/// Command Effects log (§5.14.1.5, 4096 bytes): the commands supported,
/// with Logical Block Content Change for Write, Write Zeroes and DSM.
pub fn effects_log(b: &mut Win<'_>) {
    let csupp = 1u32;
    let lbcc = 1u32 << 1;
    for op in [
        admin::DELETE_SQ,
        admin::CREATE_SQ,
        admin::GET_LOG_PAGE,
        admin::DELETE_CQ,
        admin::CREATE_CQ,
        admin::IDENTIFY,
        admin::ABORT,
        admin::SET_FEATURES,
        admin::GET_FEATURES,
        admin::ASYNC_EVENT,
        admin::DBBUF_CONFIG,
    ] {
        b.put(4 * usize::from(op), &csupp.to_le_bytes());
    }
    for (op, e) in [
        (io::FLUSH, csupp),
        (io::WRITE, csupp | lbcc),
        (io::READ, csupp),
        (io::WRITE_ZEROES, csupp | lbcc),
        (io::DSM, csupp | lbcc),
    ] {
        b.put(1024 + 4 * usize::from(op), &e.to_le_bytes());
    }
}

/// Firmware Slot Information log (§5.14.1.3): slot 1 active, "1.0".
pub fn firmware_log(b: &mut Win<'_>) {
    b.byte(0, 1);
    b.put_str(8, 8, b"1.0");
}

/// Supported Log Pages (LID 00h): 00h, 01h, 02h, 03h and 05h.
pub fn supported_logs(b: &mut Win<'_>) {
    for lid in [0usize, 1, 2, 3, 5] {
        b.put(4 * lid, &1u32.to_le_bytes());
    }
}
