// SPDX-License-Identifier: GPL-2.0

//! nvme_vhost: an NVMe controller emulated in the host kernel for QEMU
//! guests, with shadow doorbells (Doorbell Buffer Config, EventIdx).
//!
//! Stage 1 (this file): registers the `/dev/vhost-nvme` misc device. Each
//! open file will be one controller; no ioctl is defined yet, so every
//! ioctl fails with `ENOTTY`. The controller's register file ([`regs`],
//! pure and host-tested) and the guest memory table and PRP walker
//! ([`prp`]) are the first pieces of the controller.

pub mod prp;
pub mod regs;

use kernel::fs::File;
use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use kernel::prelude::*;

module! {
    type: NvmeVhostModule,
    name: "nvme_vhost",
    authors: ["vdo_qat developers"],
    description: "In-kernel NVMe controller for QEMU guests (vhost-nvme)",
    license: "GPL",
}

#[pin_data]
struct NvmeVhostModule {
    #[pin]
    _miscdev: MiscDeviceRegistration<Controller>,
}

impl kernel::InPlaceModule for NvmeVhostModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"vhost-nvme" }),
        })
    }
}

/// One emulated controller: the state behind one open `/dev/vhost-nvme`.
struct Controller;

#[vtable]
impl MiscDevice for Controller {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(Controller, GFP_KERNEL)?)
    }

    fn ioctl(_me: &Controller, _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
        Err(ENOTTY)
    }
}
