// SPDX-License-Identifier: GPL-2.0

//! Device-mapper table and message argument parsing.
//!
//! Pure code (depends only on `core`): it is compiled into the kernel modules
//! and into the host crate `tools/pure`, where `cargo test` and proptest reach
//! it.
//!
//! The model is `drivers/md/dm-table.c`'s `dm_read_arg()`,
//! `dm_read_arg_group()` and `dm_shift_arg()`: a cursor over the words of a
//! table line (or a message) that hands them out one at a time, with the
//! optional-argument convention `<#args> <arg>...` used by dm-thin, dm-cache
//! and dm-vdo. Every failure is an [`ArgError`] naming the word (1-based
//! position) and what was expected, so a constructor can log a precise
//! message and set a static `ti->error`.

use core::ffi::CStr;
use core::fmt;

/// Why an argument was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgErrorKind {
    /// The line ended before this argument.
    Missing,
    /// The word is not valid UTF-8 or not of the expected form.
    Invalid,
    /// A number that does not fit in 64 bits or lies outside the allowed range.
    OutOfRange,
    /// Words remain after the last expected argument.
    TooMany,
    /// An optional argument (feature) this target does not know.
    Unknown,
    /// An optional argument given twice.
    Duplicate,
}

impl ArgErrorKind {
    /// A short, static description, suitable for `ti->error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ArgErrorKind::Missing => "missing argument",
            ArgErrorKind::Invalid => "invalid argument",
            ArgErrorKind::OutOfRange => "argument out of range",
            ArgErrorKind::TooMany => "too many arguments",
            ArgErrorKind::Unknown => "unknown optional argument",
            ArgErrorKind::Duplicate => "duplicate optional argument",
        }
    }
}

/// A rejected argument: its 1-based position in the line, what was expected
/// there and why it was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgError {
    /// 1-based position of the offending word (for [`ArgErrorKind::Missing`]:
    /// the position the word should have had).
    pub position: usize,
    /// What the argument is, e.g. `"offset (512 B sectors)"`.
    pub what: &'static str,
    /// Why it was rejected.
    pub kind: ArgErrorKind,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind.as_str(), self.position, self.what)
    }
}

/// Parses a decimal unsigned integer: ASCII digits only, no sign, no spaces,
/// at most 64 bits.
///
/// # Errors
///
/// [`ArgErrorKind::Invalid`] for an empty word or a non-digit,
/// [`ArgErrorKind::OutOfRange`] for a value above `u64::MAX`.
pub fn parse_u64(word: &[u8]) -> Result<u64, ArgErrorKind> {
    if word.is_empty() {
        return Err(ArgErrorKind::Invalid);
    }
    let mut v: u64 = 0;
    for &c in word {
        if !c.is_ascii_digit() {
            return Err(ArgErrorKind::Invalid);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(ArgErrorKind::OutOfRange)?;
    }
    Ok(v)
}

/// A cursor over the words of a table line or message.
///
/// Lifetimes: the words are borrowed from `argv`, which device-mapper keeps
/// alive for the duration of the constructor or message call.
#[derive(Clone, Debug)]
pub struct Args<'a> {
    words: &'a [&'a CStr],
    /// Index of the next word in `words`.
    next: usize,
    /// Position of `words[0]` in the whole line (1-based), for messages.
    base: usize,
}

impl<'a> Args<'a> {
    /// A cursor over `words`; positions in errors count from 1.
    pub fn new(words: &'a [&'a CStr]) -> Self {
        Args {
            words,
            next: 0,
            base: 1,
        }
    }

    /// Number of words not consumed yet.
    pub fn remaining(&self) -> usize {
        self.words.len() - self.next
    }

    /// Whether every word has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn position(&self) -> usize {
        self.base + self.next
    }

    fn err(&self, what: &'static str, kind: ArgErrorKind) -> ArgError {
        ArgError {
            position: self.position(),
            what,
            kind,
        }
    }

    /// Returns the next word without consuming it.
    pub fn peek(&self) -> Option<&'a CStr> {
        self.words.get(self.next).copied()
    }

    /// Consumes the next word as a C string (e.g. a device path for
    /// `dm_get_device()`).
    ///
    /// # Errors
    ///
    /// [`ArgErrorKind::Missing`] at the end of the line.
    pub fn next_cstr(&mut self, what: &'static str) -> Result<&'a CStr, ArgError> {
        let w = self
            .peek()
            .ok_or_else(|| self.err(what, ArgErrorKind::Missing))?;
        self.next += 1;
        Ok(w)
    }

    /// Consumes the next word as UTF-8 text.
    ///
    /// # Errors
    ///
    /// [`ArgErrorKind::Missing`] at the end of the line,
    /// [`ArgErrorKind::Invalid`] if the word is not UTF-8 (nothing consumed).
    pub fn next_str(&mut self, what: &'static str) -> Result<&'a str, ArgError> {
        let w = self
            .peek()
            .ok_or_else(|| self.err(what, ArgErrorKind::Missing))?;
        let s = core::str::from_utf8(w.to_bytes())
            .map_err(|_| self.err(what, ArgErrorKind::Invalid))?;
        self.next += 1;
        Ok(s)
    }

    /// Consumes the next word as a decimal `u64` within `min..=max`.
    ///
    /// # Errors
    ///
    /// [`ArgErrorKind::Missing`], [`ArgErrorKind::Invalid`] (not a plain
    /// decimal number) or [`ArgErrorKind::OutOfRange`]; nothing is consumed on
    /// error.
    pub fn next_u64(&mut self, what: &'static str, min: u64, max: u64) -> Result<u64, ArgError> {
        let w = self
            .peek()
            .ok_or_else(|| self.err(what, ArgErrorKind::Missing))?;
        let v = parse_u64(w.to_bytes()).map_err(|k| self.err(what, k))?;
        if v < min || v > max {
            return Err(self.err(what, ArgErrorKind::OutOfRange));
        }
        self.next += 1;
        Ok(v)
    }

    /// Consumes an optional-argument group `<#args> <arg>...` if one is
    /// present, and returns a cursor over its `#args` words (empty when the
    /// line has ended). `max` bounds `#args`.
    ///
    /// # Errors
    ///
    /// [`ArgErrorKind::Invalid`] or [`ArgErrorKind::OutOfRange`] for a bad
    /// count, [`ArgErrorKind::Missing`] if fewer than `#args` words follow.
    pub fn group(&mut self, what: &'static str, max: u64) -> Result<Args<'a>, ArgError> {
        if self.is_empty() {
            return Ok(Args {
                words: &[],
                next: 0,
                base: self.position(),
            });
        }
        let n = self.next_u64(what, 0, max)?;
        // `n <= max` fits in usize on every target the kernel supports;
        // saturate anyway instead of truncating.
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > self.remaining() {
            return Err(ArgError {
                position: self.base + self.words.len(),
                what,
                kind: ArgErrorKind::Missing,
            });
        }
        let start = self.next;
        self.next += n;
        Ok(Args {
            words: &self.words[start..start + n],
            next: 0,
            base: self.base + start,
        })
    }

    /// Checks that every word has been consumed.
    ///
    /// # Errors
    ///
    /// [`ArgErrorKind::TooMany`] naming the first word left over.
    pub fn finish(&self, what: &'static str) -> Result<(), ArgError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(what, ArgErrorKind::TooMany))
        }
    }

    /// An error of `kind` for the word just consumed (e.g. a feature name the
    /// caller does not know).
    pub fn error_at_previous(&self, what: &'static str, kind: ArgErrorKind) -> ArgError {
        ArgError {
            position: self.position().saturating_sub(1).max(self.base),
            what,
            kind,
        }
    }
}
