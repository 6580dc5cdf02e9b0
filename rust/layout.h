/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel structs (types of kernel::bindings, which the kernel generates
 * with --no-layout-tests) whose fields Rust code of this project reads or
 * writes directly, or whose memory Rust allocates for C: their C layout,
 * checked against Rust's by rust/layout.rs at build time. Types that kstor
 * generates itself (device-mapper.h, zlib.h, shim.h, persistent-data) are
 * checked entirely by bindgen's own layout tests instead.
 *
 * Keep in the same order as the list in rust/layout.rs: an entry here
 * without its Rust twin (or the reverse) fails the build. See
 * Documentation/dev/layout.rst.
 */
#ifndef KSTOR_LAYOUT_H
#define KSTOR_LAYOUT_H

#include <kunit/test.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#define KSTOR_LAYOUT(S, F)						\
	/* kstor::bio: Bio, Segments, NewBio */				\
	S(bio)								\
	F(bio, bi_opf)							\
	F(bio, bi_status)						\
	F(bio, bi_iter)							\
	F(bio, bi_end_io)						\
	F(bio, bi_private)						\
	F(bio, bi_vcnt)							\
	F(bio, bi_max_vecs)						\
	/* copied by value into Segments, advanced by C */		\
	S(bvec_iter)							\
	F(bvec_iter, bi_sector)						\
	F(bvec_iter, bi_size)						\
	/* allocated by Rust, filled by kstor_bio_next_segment() */	\
	S(bio_vec)							\
	F(bio_vec, bv_page)						\
	F(bio_vec, bv_len)						\
	F(bio_vec, bv_offset)						\
	/* kstor::sgl, kstor::acomp: tables allocated by Rust */	\
	S(scatterlist)							\
	F(scatterlist, offset)						\
	F(scatterlist, length)						\
	/* kstor::dm::QueueLimits */					\
	S(queue_limits)							\
	F(queue_limits, logical_block_size)				\
	F(queue_limits, physical_block_size)				\
	F(queue_limits, io_min)						\
	F(queue_limits, io_opt)						\
	/* kernel::miscdevice, kernel::debugfs (nvme_vhost) */		\
	S(file)								\
	F(file, private_data)						\
	S(inode)							\
	F(inode, i_private)						\
	S(seq_file)							\
	F(seq_file, private)						\
	S(miscdevice)							\
	F(miscdevice, minor)						\
	F(miscdevice, name)						\
	F(miscdevice, fops)						\
	F(miscdevice, this_device)					\
	S(file_operations)						\
	F(file_operations, owner)					\
	F(file_operations, llseek)					\
	F(file_operations, read)					\
	F(file_operations, write)					\
	F(file_operations, read_iter)					\
	F(file_operations, write_iter)					\
	F(file_operations, unlocked_ioctl)				\
	F(file_operations, compat_ioctl)				\
	F(file_operations, mmap)					\
	F(file_operations, open)					\
	F(file_operations, release)					\
	F(file_operations, show_fdinfo)					\
	/* in Rust structs: Mutex, SpinLock, CondVar, Work */		\
	S(mutex)							\
	S(spinlock)							\
	S(wait_queue_head)						\
	S(work_struct)							\
	/* #[kunit_tests] and kunit assertions (kstor, vdo_qat) */	\
	S(kunit)							\
	F(kunit, status)						\
	S(kunit_case)							\
	S(kunit_suite)							\
	F(kunit_suite, name)						\
	F(kunit_suite, suite_init)					\
	F(kunit_suite, suite_exit)					\
	F(kunit_suite, init)						\
	F(kunit_suite, exit)						\
	F(kunit_suite, test_cases)					\
	F(kunit_suite, attr)						\
	F(kunit_suite, status_comment)					\
	F(kunit_suite, debugfs)						\
	F(kunit_suite, log)						\
	F(kunit_suite, suite_init_err)					\
	F(kunit_suite, is_init)						\
	F(kunit_suite, status)						\
	S(kunit_attributes)						\
	F(kunit_attributes, speed)					\
	S(kunit_loc)							\
	F(kunit_loc, file)						\
	F(kunit_loc, line)						\
	S(kunit_unary_assert)						\
	F(kunit_unary_assert, assert)					\
	F(kunit_unary_assert, condition)				\
	F(kunit_unary_assert, expected_true)

#include "layout_check.h"

#endif /* KSTOR_LAYOUT_H */
