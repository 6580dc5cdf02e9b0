// SPDX-License-Identifier: GPL-2.0

//! A `core::fmt::Write` sink over a fixed byte buffer that always leaves room
//! for a terminating NUL, as device-mapper's `DMEMIT()` does for status and
//! message results (`include/linux/device-mapper.h`).
//!
//! Pure code: compiled into the modules and into `tools/pure`.

use core::fmt;

/// Writes formatted text into `buf`, truncating (never overflowing) and
/// keeping `buf` NUL-terminated after every write.
///
/// # Invariants
///
/// `len < buf.len()` whenever `buf` is not empty, and `buf[len] == 0`.
pub struct BufWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    truncated: bool,
}

impl<'a> BufWriter<'a> {
    /// A writer over `buf`, which it clears to the empty string.
    pub fn new(buf: &'a mut [u8]) -> Self {
        if let Some(b) = buf.first_mut() {
            *b = 0;
        }
        // INVARIANT: `len == 0` and `buf[0] == 0` (or `buf` is empty).
        BufWriter {
            buf,
            len: 0,
            truncated: false,
        }
    }

    /// Bytes written so far, excluding the NUL.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some output was dropped for lack of room.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The text written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(self.len + 1);
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = 0;
        }
        if n < s.len() {
            self.truncated = true;
        }
        // Truncation is reported through `truncated()`, not as an error, so
        // that one long field does not hide the ones before it.
        Ok(())
    }
}
