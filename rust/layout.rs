// SPDX-License-Identifier: GPL-2.0

//! Build-time check that Rust's view of the kernel structs this project
//! touches has C's layout.
//!
//! The kernel generates `kernel::bindings` with `--no-layout-tests`, and
//! bindgen gets some layouts wrong: with `CONFIG_SCHEDSTATS` off it drops
//! the 64-byte alignment of the empty `struct sched_statistics`, so every
//! `task_struct` field after `stats` is 48 bytes early in Rust. This module
//! compares the size, alignment and field offsets of the listed types with
//! the values clang computes from `rust/layout.h`
//! (`build/kstor/layout_<module>.rs`); a difference fails the build with
//! `kstor layout: offset of <type>.<field> is <n> in Rust but <m> in C`.
//!
//! The list is every field of a `kernel::bindings` struct that `rust/`
//! reads or writes, every such struct Rust allocates for C, and the fields
//! the `kernel` crate's abstractions used by the drivers read for them.
//! Types that kstor generates itself are covered by bindgen's layout tests.
//! `kernel::task::Task` is kept out (`scripts/rust-guard.sh`): read
//! `task_struct` through C helpers. See Documentation/dev/layout.rst.

use crate::bindings;

include!("layout_check.rs");

// Same entries as `rust/layout.h`.
layout_check! {
    bindings, c;
    bio {
        bi_opf,
        bi_status,
        bi_iter,
        bi_end_io,
        bi_private,
        bi_vcnt,
        bi_max_vecs,
    }
    bvec_iter { bi_sector, bi_size }
    bio_vec { bv_page, bv_len, bv_offset }
    scatterlist { offset, length }
    queue_limits {
        logical_block_size,
        physical_block_size,
        io_min,
        io_opt,
    }
    file { private_data }
    inode { i_private }
    seq_file { private }
    miscdevice {
        minor,
        name,
        fops,
        this_device,
    }
    file_operations {
        owner,
        llseek,
        read,
        write,
        read_iter,
        write_iter,
        unlocked_ioctl,
        compat_ioctl,
        mmap,
        open,
        release,
        show_fdinfo,
    }
    mutex {}
    spinlock {}
    wait_queue_head {}
    work_struct {}
    kunit { status }
    kunit_case {}
    kunit_suite {
        name,
        suite_init,
        suite_exit,
        init,
        exit,
        test_cases,
        attr,
        status_comment,
        debugfs,
        log,
        suite_init_err,
        is_init,
        status,
    }
    kunit_attributes { speed }
    kunit_loc { file, line }
    kunit_unary_assert {
        assert,
        condition,
        expected_true,
    }
}
