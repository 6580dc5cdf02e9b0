/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vhost-nvme: an NVMe controller emulated in the host kernel for a VMM
 * (QEMU's vhost-nvme device, or any VMM), /dev/vhost-nvme.
 *
 * Each open file is one controller. The VMM becomes its owner
 * (VHOST_NVME_SET_OWNER: the controller's worker will run in its mm),
 * gives it the guest memory (VHOST_NVME_SET_MEM_TABLE, the vhost layout of
 * <linux/vhost_types.h>) and forwards every guest access to BAR0
 * (VHOST_NVME_REG_READ / VHOST_NVME_REG_WRITE: 32- and 64-bit registers,
 * doorbells included). VHOST_NVME_RESET is a controller reset (as CC.EN
 * 1 -> 0).
 *
 * The ioctls use their own range, 0xE0..0xEF, of the vhost ioctl type 0xAF
 * (virtio vhost uses 0x00..0x8F). Errors: EPERM before SET_OWNER (or from
 * another process than the owner), EBUSY for a second SET_OWNER, EINVAL for
 * a bad register access or memory table (empty, overflowing or overlapping
 * regions), E2BIG for more than VHOST_NVME_MAX_REGIONS regions, EFAULT for
 * bad user pointers, ENOTTY for unknown ioctls.
 *
 * Still to come (Documentation/admin-guide/nvme_vhost.rst): the backend
 * (0xE2), interrupt and doorbell eventfds (0xE5, 0xE6) and the dbbuf state
 * query (0xE7).
 */
#ifndef _UAPI_LINUX_VHOST_NVME_H
#define _UAPI_LINUX_VHOST_NVME_H

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vhost_types.h>

#define VHOST_NVME_MAX_REGIONS	64

/* One register access: offset and width (4 or 8) in bytes into BAR0. */
struct vhost_nvme_reg {
	__u32 offset;
	__u32 width;
	__u64 value;	/* written, or read back */
};

#define VHOST_NVME_SET_OWNER		_IO(0xAF, 0xE0)
#define VHOST_NVME_SET_MEM_TABLE	_IOW(0xAF, 0xE1, struct vhost_memory)
#define VHOST_NVME_REG_READ		_IOWR(0xAF, 0xE3, struct vhost_nvme_reg)
#define VHOST_NVME_REG_WRITE		_IOW(0xAF, 0xE4, struct vhost_nvme_reg)
#define VHOST_NVME_RESET		_IO(0xAF, 0xE8)

#endif /* _UAPI_LINUX_VHOST_NVME_H */
