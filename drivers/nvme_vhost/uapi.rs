// SPDX-License-Identifier: GPL-2.0

//! The `/dev/vhost-nvme` ioctls (pure: compiled into the module and into
//! `tools/pure` for host tests); the C view is
//! `include/uapi/linux/vhost_nvme.h`. Numbers are `_IOC(dir, 0xAF, nr,
//! size)` (`include/uapi/asm-generic/ioctl.h`) in the range 0xE0..0xEF of
//! the vhost ioctl type.

use crate::prp::Region;

/// Most memory regions a table may have.
pub const MAX_REGIONS: usize = 64;
/// Bytes of `struct vhost_memory` before its regions.
pub const MEMORY_HEADER: usize = 8;
/// Bytes of one `struct vhost_memory_region`.
pub const REGION_SIZE: usize = 32;
/// Bytes of `struct vhost_nvme_reg`.
pub const REG_SIZE: usize = 16;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (0xAF << 8) | nr
}
const NONE: u32 = 0;
const WRITE: u32 = 1;
const READ: u32 = 2;

/// `VHOST_NVME_SET_OWNER`.
pub const SET_OWNER: u32 = ioc(NONE, 0xE0, 0);
/// `VHOST_NVME_SET_MEM_TABLE` (`struct vhost_memory`).
pub const SET_MEM_TABLE: u32 = ioc(WRITE, 0xE1, MEMORY_HEADER);
/// `VHOST_NVME_REG_READ` (`struct vhost_nvme_reg`, value written back).
pub const REG_READ: u32 = ioc(READ | WRITE, 0xE3, REG_SIZE);
/// `VHOST_NVME_REG_WRITE` (`struct vhost_nvme_reg`).
pub const REG_WRITE: u32 = ioc(WRITE, 0xE4, REG_SIZE);
/// `VHOST_NVME_SET_BACKEND` (`struct vhost_nvme_backend`).
pub const SET_BACKEND: u32 = ioc(WRITE, 0xE2, BACKEND_SIZE);
/// `VHOST_NVME_SET_IRQ_FD` (`struct vhost_nvme_fd`: vector, eventfd).
pub const SET_IRQ_FD: u32 = ioc(WRITE, 0xE5, FD_SIZE);
/// `VHOST_NVME_SET_DB_FD` (`struct vhost_nvme_fd`: queue id, eventfd).
pub const SET_DB_FD: u32 = ioc(WRITE, 0xE6, FD_SIZE);
/// `VHOST_NVME_GET_DBBUF` (`struct vhost_nvme_dbbuf`).
pub const GET_DBBUF: u32 = ioc(READ, 0xE7, DBBUF_SIZE);
/// `VHOST_NVME_RESET`.
pub const RESET: u32 = ioc(NONE, 0xE8, 0);
/// `VHOST_NVME_GET_STATS` (`struct vhost_nvme_stats`).
pub const GET_STATS: u32 = ioc(READ, 0xE9, STATS_SIZE);
/// `VHOST_NVME_SET_CONFIG` (`struct vhost_nvme_config`).
pub const SET_CONFIG: u32 = ioc(WRITE, 0xEA, CONFIG_SIZE);

/// Bytes of `struct vhost_nvme_backend`.
pub const BACKEND_SIZE: usize = 16;
/// Bytes of `struct vhost_nvme_fd`.
pub const FD_SIZE: usize = 8;
/// Bytes of `struct vhost_nvme_dbbuf`.
pub const DBBUF_SIZE: usize = 24;
/// Counters in `struct vhost_nvme_stats`.
pub const STATS_FIELDS: usize = 8;
/// Bytes of `struct vhost_nvme_stats`.
pub const STATS_SIZE: usize = 8 * STATS_FIELDS;

/// `struct vhost_nvme_backend`: (fd, LBA size in bytes, namespace size in
/// bytes, 0 for the whole backend).
pub fn decode_backend(b: &[u8; BACKEND_SIZE]) -> (i32, u32, u64) {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[8..16]);
    (
        i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        u64::from_le_bytes(v),
    )
}

/// Bytes of `struct vhost_nvme_config`.
pub const CONFIG_SIZE: usize = 24;

/// `struct vhost_nvme_config`: (serial number up to its first NUL, I/O
/// queue pairs).
pub fn decode_config(b: &[u8; CONFIG_SIZE]) -> (&[u8], u32) {
    let sn = &b[..20];
    let n = sn.iter().position(|&c| c == 0).unwrap_or(20);
    (&sn[..n], u32::from_le_bytes([b[20], b[21], b[22], b[23]]))
}

/// `struct vhost_nvme_fd`: (index, fd).
pub fn decode_fd(b: &[u8; FD_SIZE]) -> (u32, i32) {
    (
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// `struct vhost_nvme_dbbuf`.
pub fn encode_dbbuf(shadow: u64, eventidx: u64, enabled: bool) -> [u8; DBBUF_SIZE] {
    let mut b = [0u8; DBBUF_SIZE];
    b[..8].copy_from_slice(&shadow.to_le_bytes());
    b[8..16].copy_from_slice(&eventidx.to_le_bytes());
    b[16] = u8::from(enabled);
    b
}

/// `struct vhost_nvme_stats`, fields in order.
pub fn encode_stats(v: &[u64; STATS_FIELDS]) -> [u8; STATS_SIZE] {
    let mut b = [0u8; STATS_SIZE];
    for (i, x) in v.iter().enumerate() {
        b[8 * i..8 * i + 8].copy_from_slice(&x.to_le_bytes());
    }
    b
}

/// `struct vhost_nvme_reg`: (offset, width, value).
pub fn decode_reg(b: &[u8; REG_SIZE]) -> (u32, u32, u64) {
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[8..16]);
    (u32_at(0), u32_at(4), u64::from_le_bytes(v))
}

/// `struct vhost_nvme_reg` with `value`.
pub fn encode_reg(offset: u32, width: u32, value: u64) -> [u8; REG_SIZE] {
    let mut b = [0u8; REG_SIZE];
    b[..4].copy_from_slice(&offset.to_le_bytes());
    b[4..8].copy_from_slice(&width.to_le_bytes());
    b[8..].copy_from_slice(&value.to_le_bytes());
    b
}

/// The region count of a `struct vhost_memory` header.
pub fn decode_memory_header(b: &[u8; MEMORY_HEADER]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// One `struct vhost_memory_region` (`flags_padding` ignored).
pub fn decode_region(b: &[u8; REGION_SIZE]) -> Region {
    let u64_at = |i: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(v)
    };
    Region {
        gpa: u64_at(0),
        size: u64_at(8),
        uaddr: u64_at(16),
    }
}
