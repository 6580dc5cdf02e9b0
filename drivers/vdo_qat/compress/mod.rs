// SPDX-License-Identifier: GPL-2.0

//! The compression engine (in progress): gzip member framing so far.

pub mod gzip;
