// SPDX-License-Identifier: GPL-2.0

//! kstor: safe Rust abstractions over the kernel C APIs that the
//! `kernel` crate of Linux 7.3 lacks and our drivers need.
//!
//! This is the only crate of the project that contains `unsafe` code. Each
//! module that uses it compiles its own copy (one object may not be linked
//! into two modules), see `Kbuild`.
//!
//! - [`dm`]: device-mapper target registration (`#[vtable]` trait), target
//!   settings, `dm_get_device()`/`dm_put_device()`;
//! - [`bio`]: bio view, completion duty, module-owned bios;
//! - [`crc32`]: CRC-32 (gzip's) over the kernel's `crc32_le()`;
//! - [`acomp`]: crypto acomp (de)compression over scatterlists;
//! - [`args`]: table-line and message argument parser (pure);
//! - [`fmtbuf`]: bounded status/message output (pure);
//! - [`sgl`]: scatterlists over kmalloc'd and vmalloc'd buffers;
//! - [`zlib`]: raw inflate with a 32 KiB window;
//! - [`blkdev`]: held block devices, synchronous 4 KiB block I/O;
//! - [`pdata`]: persistent-data btrees and space maps, crash-consistent
//!   commits;
//! - [`hash`]: SHA-256;
//! - [`wq`]: reclaim-safe workqueues owned by a target;
//! - [`vhost`]: worker task in a VMM's thread group, eventfds and
//!   asynchronous file I/O, for in-kernel device emulation.

pub mod acomp;
pub mod aio;
pub mod args;
pub mod bindings;
pub mod bio;
pub mod blkdev;
pub mod crc32;
pub mod dm;
pub mod fmtbuf;
pub mod hash;
mod layout;
pub mod pdata;
pub mod sgl;
pub mod vhost;
pub mod wq;
pub mod zlib;

#[cfg(kstor_kunit)]
mod kunit;

/// Prefix of this crate's log lines (`pr_*!` macros read
/// `crate::__LOG_PREFIX`): the name of the module this copy is built into.
const __LOG_PREFIX: &[u8] = concat!(env!("KSTOR_MODNAME"), "\0").as_bytes();
