// SPDX-License-Identifier: GPL-2.0

//! The pure modules of the kernel crates, compiled for the host.
//!
//! Each module here is the very file the kernel modules compile (`#[path]`),
//! so host tests exercise the shipped code. Pure modules use only `core`
//! and reach each other through the same `crate::` paths in both builds.

#![no_std]

#[path = "../../../rust/args.rs"]
pub mod args;

#[path = "../../../rust/fmtbuf.rs"]
pub mod fmtbuf;

/// `drivers/vdo_qat/compress/gzip.rs`: gzip member framing.
#[path = "../../../drivers/vdo_qat/compress/gzip.rs"]
pub mod gzip;

/// `drivers/vdo_qat/compress/heuristic.rs`: the compressibility checker.
#[path = "../../../drivers/vdo_qat/compress/heuristic.rs"]
pub mod heuristic;

/// `drivers/vdo_qat/config.rs`: the `vdo_qat` table line.
#[path = "../../../drivers/vdo_qat/config.rs"]
pub mod vdo_qat_config;

/// `drivers/vdo_qat/format.rs`: superblock, `Loc` and `Item` encodings.
#[path = "../../../drivers/vdo_qat/format.rs"]
pub mod vdo_qat_format;

/// `drivers/vdo_qat/dedup.rs`: the bounded dedup index.
#[path = "../../../drivers/vdo_qat/dedup.rs"]
pub mod vdo_qat_dedup;

/// `drivers/nvme_vhost/regs.rs`: the NVMe controller's register file.
#[path = "../../../drivers/nvme_vhost/regs.rs"]
pub mod nvme_regs;

/// `drivers/nvme_vhost/prp.rs`: guest memory table and PRP walker.
#[path = "../../../drivers/nvme_vhost/prp.rs"]
pub mod nvme_prp;

/// `drivers/nvme_vhost/nvme.rs`: NVMe wire formats.
#[path = "../../../drivers/nvme_vhost/nvme.rs"]
pub mod nvme;

/// `drivers/nvme_vhost/ctrl.rs` and its submodules in `ctrl/` (by explicit
/// `#[path]`, which resolves the same in both builds): the NVMe controller
/// core.
#[path = "../../../drivers/nvme_vhost/ctrl.rs"]
pub mod nvme_ctrl;

// The nvme_vhost modules reach each other as `crate::regs`, `crate::prp`.
pub use nvme_prp as prp;
pub use nvme_regs as regs;
