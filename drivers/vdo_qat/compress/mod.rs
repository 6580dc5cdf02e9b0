// SPDX-License-Identifier: GPL-2.0

//! The compression engine (after QZFS, USENIX ATC'19): gzip member framing
//! ([`gzip`]), the compressibility checker run before any compressor
//! ([`heuristic`]), and the algorithm checker with accelerator health
//! ([`engine`]).

pub mod engine;
pub mod gzip;
pub mod heuristic;
