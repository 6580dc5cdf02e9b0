// SPDX-License-Identifier: GPL-2.0

//! CRC-32 as gzip (RFC 1952 §8) and Ethernet use it: the reflected IEEE
//! polynomial, through the kernel's `crc32_le()` (`lib/crc32.c`, which uses
//! the CPU's CRC instructions where it can).

use crate::bindings;

/// A running CRC-32.
///
/// # Invariants
///
/// `state` is the inverted CRC of the bytes fed so far (`!0` for none).
#[derive(Clone, Copy, Debug)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// The CRC of no bytes.
    pub const fn new() -> Self {
        Crc32 { state: !0 }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        // SAFETY: `data` is valid for `data.len()` bytes; `crc32_le` only
        // reads them.
        self.state = unsafe { bindings::crc32_le(self.state, data.as_ptr().cast(), data.len()) };
    }

    /// The CRC-32 of everything fed, as the gzip trailer stores it.
    pub fn finish(&self) -> u32 {
        !self.state
    }
}

/// The CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(data);
    c.finish()
}
