// SPDX-License-Identifier: GPL-2.0

//! nvme_vhost: an NVMe controller emulated in the host kernel for QEMU
//! guests, with shadow doorbells (Doorbell Buffer Config, EventIdx).
//!
//! Stage 2: each open file of `/dev/vhost-nvme` is one controller with an
//! owner, a guest memory table and its BAR0 registers, reached through
//! the ioctls of `include/uapi/linux/vhost_nvme.h` ([`uapi`]). The register
//! file ([`regs`]) and the guest memory table and PRP walker ([`prp`]) are
//! pure and host-tested. Queues, the backend and the worker come next.

pub mod prp;
pub mod regs;
pub mod uapi;

use kernel::fs::File;
use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::task::Pid;
use kernel::uaccess::{UserPtr, UserSlice};

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

/// Queue pairs (admin included) a controller offers.
const QUEUES: u16 = 17;
/// Entries per queue (`CAP.MQES` + 1).
const MAX_ENTRIES: u32 = 1024;

/// The state of one controller.
struct State {
    /// The owner's thread group, once `SET_OWNER` ran.
    owner: Option<Pid>,
    mem: Option<KBox<prp::MemTable<{ uapi::MAX_REGIONS }>>>,
    regs: regs::Regs,
}

/// One emulated controller: the state behind one open `/dev/vhost-nvme`.
#[pin_data]
struct Controller {
    #[pin]
    state: Mutex<State>,
}

#[vtable]
impl MiscDevice for Controller {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(Controller {
                state <- new_mutex!(State {
                    owner: None,
                    mem: None,
                    regs: regs::Regs::new(QUEUES, MAX_ENTRIES),
                }),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&Controller>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let mut st = me.state.lock();
        let caller = current!().tgid_nr_ns(None);
        if cmd == uapi::SET_OWNER {
            if st.owner.is_some() {
                return Err(EBUSY);
            }
            st.owner = Some(caller);
            return Ok(0);
        }
        let known = [uapi::SET_MEM_TABLE, uapi::REG_READ, uapi::REG_WRITE, uapi::RESET];
        if !known.contains(&cmd) {
            return Err(ENOTTY);
        }
        if st.owner != Some(caller) {
            return Err(EPERM);
        }
        match cmd {
            uapi::SET_MEM_TABLE => {
                let table = read_mem_table(arg)?;
                st.mem = Some(table);
                Ok(0)
            }
            uapi::REG_READ => {
                let (mut r, mut w) = UserSlice::new(UserPtr::from_addr(arg), uapi::REG_SIZE).reader_writer();
                let mut b = [0u8; uapi::REG_SIZE];
                r.read_slice(&mut b)?;
                let (offset, width, _) = uapi::decode_reg(&b);
                let v = st.regs.read(offset, width).map_err(|_| EINVAL)?;
                w.write_slice(&uapi::encode_reg(offset, width, v))?;
                Ok(0)
            }
            uapi::REG_WRITE => {
                let mut b = [0u8; uapi::REG_SIZE];
                UserSlice::new(UserPtr::from_addr(arg), uapi::REG_SIZE).reader().read_slice(&mut b)?;
                let (offset, width, value) = uapi::decode_reg(&b);
                // The effects (queues, doorbells) are acted on once the
                // controller has queues; the register state is exact now.
                st.regs.write(offset, width, value).map_err(|_| EINVAL)?;
                Ok(0)
            }
            _ => {
                let cc = st.regs.read(regs::CC, 4).map_err(|_| EINVAL)?;
                st.regs.write(regs::CC, 4, cc & !1).map_err(|_| EINVAL)?;
                Ok(0)
            }
        }
    }
}

/// Reads a `struct vhost_memory` at user address `arg`.
fn read_mem_table(arg: usize) -> Result<KBox<prp::MemTable<{ uapi::MAX_REGIONS }>>> {
    let mut hdr = [0u8; uapi::MEMORY_HEADER];
    UserSlice::new(UserPtr::from_addr(arg), uapi::MEMORY_HEADER).reader().read_slice(&mut hdr)?;
    let n = uapi::decode_memory_header(&hdr) as usize;
    if n > uapi::MAX_REGIONS {
        return Err(E2BIG);
    }
    let mut regions = KVec::with_capacity(n, GFP_KERNEL)?;
    let mut r = UserSlice::new(
        UserPtr::from_addr(arg.checked_add(uapi::MEMORY_HEADER).ok_or(EFAULT)?),
        n * uapi::REGION_SIZE,
    )
    .reader();
    for _ in 0..n {
        let mut b = [0u8; uapi::REGION_SIZE];
        r.read_slice(&mut b)?;
        regions.push(uapi::decode_region(&b), GFP_KERNEL)?;
    }
    let table = prp::MemTable::new(&regions).map_err(|_| EINVAL)?;
    Ok(KBox::new(table, GFP_KERNEL)?)
}
