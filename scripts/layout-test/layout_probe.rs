// SPDX-License-Identifier: GPL-2.0

//! Probe of the layout check (`rust/layout_check.rs`), built only by
//! `scripts/layout-test.sh`; the C side of each list is `layout_probe.h`.

#![forbid(unsafe_code)]

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: LayoutProbe,
    name: "layout_probe",
    authors: ["vdo_qat developers"],
    description: "Layout check probe (test only)",
    license: "GPL",
}

struct LayoutProbe;

impl kernel::Module for LayoutProbe {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(LayoutProbe)
    }
}

include!(concat!(env!("KSTOR_SRC"), "/layout_check.rs"));

#[cfg(probe = "good")]
layout_check! {
    bindings, c;
    bio { bi_opf, bi_iter }
    bvec_iter { bi_sector }
}

#[cfg(probe = "task")]
layout_check! {
    bindings, c;
    bio { bi_opf }
    task_struct { __state, mm, pid }
}

#[cfg(probe = "count")]
layout_check! {
    bindings, c;
    bio { bi_opf, bi_iter }
    bvec_iter { bi_sector }
}
