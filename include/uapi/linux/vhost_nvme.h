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
 * a bad register access, config or memory table (empty, overflowing or overlapping
 * regions), E2BIG for more than VHOST_NVME_MAX_REGIONS regions, EFAULT for
 * bad user pointers, ENOTTY for unknown ioctls.
 *
 * VHOST_NVME_SET_BACKEND gives the namespace (a block device or regular
 * file), VHOST_NVME_SET_IRQ_FD an eventfd per interrupt vector and
 * VHOST_NVME_SET_DB_FD an eventfd per queue that stands for doorbell
 * writes (as an ioeventfd: the value is lost, use it with shadow
 * doorbells on). VHOST_NVME_GET_DBBUF reports the Doorbell Buffer Config
 * state, VHOST_NVME_GET_STATS the counters. More errors: EBUSY for
 * SET_MEM_TABLE, SET_BACKEND or SET_CONFIG while enabled, EBADF for a bad fd,
 * ETIMEDOUT when a RESET waits more than 30 s for I/O in flight.
 * See Documentation/admin-guide/nvme_vhost.rst.
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

/* The namespace: fd -1 removes it; size 0 means the whole backend. */
struct vhost_nvme_backend {
	__s32 fd;
	__u32 lba_size;	/* 512 or 4096 */
	__u64 size;	/* bytes */
};

/* An eventfd for interrupt vector or queue id @index; fd -1 removes it. */
struct vhost_nvme_fd {
	__u32 index;
	__s32 fd;
};

/*
 * Identity and size (VHOST_NVME_SET_CONFIG, before the guest enables the
 * controller): the serial number (printable ASCII, NUL-padded; empty keeps
 * the default, "VHN" and 8 digits) and the most I/O queue pairs the guest
 * may allocate, 1..16 (0: 16).
 */
struct vhost_nvme_config {
	char serial[20];
	__u32 queues;
};

struct vhost_nvme_dbbuf {
	__u64 shadow;	/* guest address of the shadow doorbell page */
	__u64 eventidx;	/* guest address of the EventIdx page */
	__u32 enabled;
	__u32 padding;
};

struct vhost_nvme_stats {
	__u64 commands;		/* fetched from all SQs */
	__u64 mmio_doorbells;	/* doorbell writes by VHOST_NVME_REG_WRITE */
	__u64 kick_doorbells;	/* doorbell eventfd signals */
	__u64 shadow_reads;	/* shadow doorbell reads */
	__u64 eventidx_writes;
	__u64 interrupts;	/* eventfd signals of interrupt vectors */
	__u64 errors;		/* completions with an error status */
	__u64 inflight;		/* commands in flight in the backend */
};

#define VHOST_NVME_SET_OWNER		_IO(0xAF, 0xE0)
#define VHOST_NVME_SET_MEM_TABLE	_IOW(0xAF, 0xE1, struct vhost_memory)
#define VHOST_NVME_SET_BACKEND		_IOW(0xAF, 0xE2, struct vhost_nvme_backend)
#define VHOST_NVME_REG_READ		_IOWR(0xAF, 0xE3, struct vhost_nvme_reg)
#define VHOST_NVME_REG_WRITE		_IOW(0xAF, 0xE4, struct vhost_nvme_reg)
#define VHOST_NVME_SET_IRQ_FD		_IOW(0xAF, 0xE5, struct vhost_nvme_fd)
#define VHOST_NVME_SET_DB_FD		_IOW(0xAF, 0xE6, struct vhost_nvme_fd)
#define VHOST_NVME_GET_DBBUF		_IOR(0xAF, 0xE7, struct vhost_nvme_dbbuf)
#define VHOST_NVME_RESET		_IO(0xAF, 0xE8)
#define VHOST_NVME_GET_STATS		_IOR(0xAF, 0xE9, struct vhost_nvme_stats)
#define VHOST_NVME_SET_CONFIG		_IOW(0xAF, 0xEA, struct vhost_nvme_config)

#endif /* _UAPI_LINUX_VHOST_NVME_H */
