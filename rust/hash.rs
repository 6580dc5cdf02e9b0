// SPDX-License-Identifier: GPL-2.0

//! SHA-256 through the kernel's crypto library (`sha256()` of
//! `include/crypto/sha2.h`, `lib/crypto/sha256.c`).

use crate::bindings;

/// Bytes in a SHA-256 digest.
pub const SHA256_LEN: usize = 32;

/// The SHA-256 digest of `data` (FIPS 180-4).
pub fn sha256(data: &[u8]) -> [u8; SHA256_LEN] {
    let mut out = [0u8; SHA256_LEN];
    // SAFETY: `data` is valid for its length; `out` has room for a digest.
    unsafe { bindings::kstor_sha256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
    out
}
