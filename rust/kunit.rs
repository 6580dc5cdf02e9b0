// SPDX-License-Identifier: GPL-2.0

//! KUnit suites for the abstraction layer; run at insmod of the module
//! built with `--cfg kstor_kunit` (vdo_qat), results in dmesg as KTAP.

use kernel::prelude::kunit_tests;

#[kunit_tests(kstor_args)]
mod args_tests {
    use crate::args::{parse_u64, ArgErrorKind, Args};

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"0"), Ok(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(ArgErrorKind::OutOfRange)
        );
        assert_eq!(parse_u64(b""), Err(ArgErrorKind::Invalid));
        assert_eq!(parse_u64(b"-1"), Err(ArgErrorKind::Invalid));
        assert_eq!(parse_u64(b"1k"), Err(ArgErrorKind::Invalid));
        assert_eq!(parse_u64(b" 1"), Err(ArgErrorKind::Invalid));
    }

    #[test]
    fn cursor_and_group() {
        let w = [c"/dev/loop0", c"8", c"2", c"ignore_discard", c"x", c"tail"];
        let mut a = Args::new(&w);
        assert_eq!(
            a.next_cstr("dev").map(|s| s.to_bytes()),
            Ok(&b"/dev/loop0"[..])
        );
        assert_eq!(a.next_u64("offset", 0, 100), Ok(8));
        let mut g = a.group("features", 8).expect("group");
        assert_eq!(g.remaining(), 2);
        assert_eq!(g.next_str("feature"), Ok("ignore_discard"));
        assert_eq!(g.next_str("feature"), Ok("x"));
        assert!(g.finish("features").is_ok());
        let e = a.finish("end").expect_err("one word left");
        assert_eq!(e.kind, ArgErrorKind::TooMany);
        assert_eq!(e.position, 6);
    }

    #[test]
    fn errors_name_position() {
        let w = [c"a", c"99"];
        let mut a = Args::new(&w);
        let e = a.next_u64("n", 0, 10).expect_err("not a number");
        assert_eq!((e.position, e.kind), (1, ArgErrorKind::Invalid));
        assert!(a.next_cstr("skip").is_ok());
        let e = a.next_u64("n", 0, 10).expect_err("too big");
        assert_eq!((e.position, e.kind), (2, ArgErrorKind::OutOfRange));
        let e = Args::new(&[c"3", c"x"])
            .group("g", 8)
            .expect_err("short group");
        assert_eq!(e.kind, ArgErrorKind::Missing);
    }
}

#[kunit_tests(kstor_bio)]
mod bio_tests {
    use crate::bio::{NewBio, Op, OpFlags, Status};
    use kernel::page::Page;
    use kernel::prelude::*;

    fn three_page_bio(op: Op) -> Result<NewBio> {
        let mut b = NewBio::new(3, op, OpFlags::FUA | OpFlags::PREFLUSH)?;
        b.add_page(Page::alloc_page(GFP_KERNEL)?, 1024, 512)?;
        b.add_page(Page::alloc_page(GFP_KERNEL)?, 4096, 0)?;
        b.add_page(Page::alloc_page(GFP_KERNEL)?, 300, 100)?;
        b.set_sector(2048);
        Ok(b)
    }

    #[test]
    fn op_flags_sector_size() {
        let b = three_page_bio(Op::Write).expect("alloc");
        assert_eq!(b.op(), Op::Write);
        assert!(b.op().is_write());
        assert!(b.is_fua());
        assert!(b.is_preflush());
        assert!(!b.flags().contains(OpFlags::SYNC));
        assert_eq!(b.sector(), 2048);
        assert_eq!(b.size(), 1024 + 4096 + 300);
        assert_eq!(Op::from_opf(Op::Discard.as_raw()), Op::Discard);
        assert!(!Op::Read.is_write());
    }

    #[test]
    fn segments_and_copy() {
        let mut w = three_page_bio(Op::Write).expect("alloc");
        // The pages of a write must not be writable.
        assert!(w.segments_mut().is_none());
        let mut b = three_page_bio(Op::Read).expect("alloc");
        let shape: KVec<(u32, u32)> = {
            let mut v = KVec::new();
            for s in b.segments() {
                v.push((s.offset(), s.len()), GFP_KERNEL).expect("push");
            }
            v
        };
        assert_eq!(&shape[..], &[(512, 1024), (0, 4096), (100, 300)]);
        // Fill each segment with its index pattern, read it back.
        let mut i = 0u8;
        for mut s in b.segments_mut().expect("read bio") {
            let pat = [i.wrapping_mul(37).wrapping_add(1); 4096];
            assert_eq!(s.copy_from_slice(&pat), s.len() as usize);
            i += 1;
        }
        let mut sum = 0u64;
        let mut buf = [0u8; 4096];
        for (i, s) in b.segments().enumerate() {
            let n = s.copy_to_slice(&mut buf);
            assert_eq!(n, s.len() as usize);
            let want = (i as u8).wrapping_mul(37).wrapping_add(1);
            assert!(buf[..n].iter().all(|&x| x == want));
            sum += buf[..n].iter().map(|&x| u64::from(x)).sum::<u64>();
        }
        assert_eq!(sum, 1024 * 1 + 4096 * 38 + 300 * 75);
    }

    #[test]
    fn completion() {
        let mut b = three_page_bio(Op::Write).expect("alloc");
        assert_eq!(b.completions(), 0);
        b.as_owned().end(Status::ioerr());
        assert_eq!(b.completions(), 1);
        assert_eq!(b.completion_status(), Status::ioerr());
        assert_eq!(b.completion_status().to_errno(), -5);
        // Dropping the duty without completing must complete with an error,
        // never leak the bio.
        drop(b.as_owned());
        assert_eq!(b.completions(), 2);
        assert!(!b.completion_status().is_ok());
        b.as_owned().end(Status::OK);
        assert_eq!(b.completions(), 3);
        assert!(b.completion_status().is_ok());
    }

    #[test]
    fn bad_arguments() {
        assert!(NewBio::new(0, Op::Read, OpFlags::NONE).is_err());
        assert!(NewBio::new(257, Op::Read, OpFlags::NONE).is_err());
        let mut b = NewBio::new(1, Op::Read, OpFlags::NONE).expect("alloc");
        assert!(b
            .add_page(Page::alloc_page(GFP_KERNEL).expect("page"), 4000, 200)
            .is_err());
        assert!(b
            .add_page(Page::alloc_page(GFP_KERNEL).expect("page"), 4096, 0)
            .is_ok());
        assert_eq!(
            b.add_page(Page::alloc_page(GFP_KERNEL).expect("page"), 512, 0),
            Err(ENOSPC)
        );
    }

    #[test]
    fn no_data_bios_have_no_segments() {
        // A discard: a size, but no data pages to walk.
        let mut d = NewBio::new(1, Op::Discard, OpFlags::NONE).expect("alloc");
        d.add_page(Page::alloc_page(GFP_KERNEL).expect("page"), 4096, 0)
            .expect("add");
        assert_eq!(d.size(), 4096);
        assert_eq!(d.segments().count(), 0);
        assert!(d.segments_mut().is_none());
    }
}

#[kunit_tests(kstor_crc32)]
mod crc32_tests {
    use crate::crc32::{crc32, Crc32};

    #[test]
    fn check_vectors() {
        // The CRC-32 check value (RFC 1952 §8, "123456789").
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"hello"), 0x3610_a686);
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data = [0xa5u8; 4096];
        let mut c = Crc32::new();
        c.update(&data[..1000]);
        c.update(&data[1000..]);
        assert_eq!(c.finish(), crc32(&data));
    }
}

#[kunit_tests(kstor_sgl)]
mod sgl_tests {
    use crate::sgl::{max_entries, Sgl};
    use kernel::page::PAGE_SIZE;
    use kernel::prelude::*;

    /// Checks that `sgl` describes exactly `buf`, byte for byte, through
    /// the pages its entries name.
    fn covers(sgl: &Sgl<'_>, buf: &[u8]) -> bool {
        let mut at = 0usize;
        let mut tmp = [0u8; PAGE_SIZE];
        for i in 0..sgl.nents() {
            let n = sgl.copy_entry(i, &mut tmp);
            if n == 0 || tmp[..n] != buf[at..at + n] {
                return false;
            }
            at += n;
        }
        at == buf.len()
    }

    fn pattern(v: &mut [u8]) {
        for (i, b) in v.iter_mut().enumerate() {
            *b = (i * 7 + i / 4096) as u8;
        }
    }

    #[test]
    fn kmalloc_buffer_at_an_odd_offset() {
        let mut v = KVec::from_elem(0u8, 3 * PAGE_SIZE + 100, GFP_KERNEL).expect("alloc");
        pattern(&mut v);
        let buf = &v[100..100 + 2 * PAGE_SIZE + 5];
        let sgl = Sgl::from_slice(buf, GFP_KERNEL).expect("sgl");
        assert!(sgl.nents() <= max_entries(buf.len()));
        assert_eq!(sgl.len(), buf.len());
        assert!(sgl
            .entries()
            .all(|(off, len)| off as usize + len as usize <= PAGE_SIZE));
        assert!(covers(&sgl, buf));
    }

    #[test]
    fn vmalloc_buffer_one_entry_per_page() {
        let mut v = VVec::from_elem(0u8, 5 * PAGE_SIZE, GFP_KERNEL).expect("alloc");
        pattern(&mut v);
        let sgl = Sgl::from_slice(&v[PAGE_SIZE - 1..], GFP_KERNEL).expect("sgl");
        // 1 byte of the first page, 3 whole pages, 4095 bytes of the last.
        assert_eq!(sgl.nents(), 5);
        assert!(sgl.nents() <= max_entries(4 * PAGE_SIZE + 1));
        assert!(covers(&sgl, &v[PAGE_SIZE - 1..]));
    }

    #[test]
    fn destination_and_bounds() {
        let mut v = VVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL).expect("alloc");
        let sgl = Sgl::from_mut_slice(&mut v[..], GFP_KERNEL).expect("sgl");
        assert_eq!(sgl.nents(), 1);
        assert_eq!(sgl.entries().next(), Some((0, PAGE_SIZE as u32)));
        assert_eq!(max_entries(0), 2);
        assert_eq!(max_entries(4096), 3);
        assert!(Sgl::from_slice(&[], GFP_KERNEL).is_err());
        // No DMA from the stack.
        let on_stack = [7u8; 64];
        assert_eq!(Sgl::from_slice(&on_stack, GFP_KERNEL).err(), Some(EINVAL));
    }
}

#[kunit_tests(kstor_zlib)]
mod zlib_tests {
    use crate::crc32::crc32;
    use crate::zlib::Inflater;
    use kernel::prelude::*;

    /// Python `zlib.compressobj(9, DEFLATED, -15, 9)` of `far_data()`: the
    /// second 64-byte run matches the first 3564 bytes back, beyond a 2 KiB
    /// window plus a 512-byte step.
    const FAR: [u8; 97] = [
        0xe3, 0x36, 0x08, 0xad, 0x9a, 0x7f, 0xe4, 0xa5, 0xb0, 0x45, 0x6c, 0xd3, 0xf2, 0x33, 0x1f,
        0xa5, 0x1d, 0x52, 0xbb, 0xd6, 0x5f, 0xf9, 0xa9, 0xec, 0x91, 0x3b, 0x69, 0xfb, 0x1d, 0x36,
        0xed, 0x80, 0xd2, 0x59, 0xfb, 0x9f, 0xf0, 0x19, 0x47, 0xd4, 0x2e, 0x3a, 0xfe, 0x46, 0xcc,
        0x3a, 0xa1, 0x75, 0xd5, 0xf9, 0x2f, 0x72, 0xce, 0x19, 0xbd, 0x9b, 0xae, 0x33, 0xaa, 0x79,
        0x17, 0x4c, 0xdd, 0x75, 0x9f, 0x53, 0x2f, 0x98, 0x61, 0x14, 0x8c, 0x82, 0x51, 0x30, 0x0a,
        0x46, 0xc1, 0x28, 0x18, 0x05, 0xa3, 0x60, 0x14, 0x8c, 0x82, 0x51, 0x30, 0x0a, 0x46, 0xc1,
        0xa0, 0x03, 0xdc, 0x14, 0xf6, 0xf5, 0x00,
    ];
    const FAR_LEN: usize = 3628;
    const FAR_CRC: u32 = 0x2225_60d5;

    fn far_data(v: &mut [u8]) {
        for (i, b) in v.iter_mut().enumerate() {
            *b = if i < 64 {
                ((i * 37 + 11) % 251) as u8
            } else if i >= FAR_LEN - 64 {
                (((i - (FAR_LEN - 64)) * 37 + 11) % 251) as u8
            } else {
                0
            };
        }
    }

    #[test]
    fn far_back_references() {
        let mut inf = Inflater::new(GFP_KERNEL).expect("alloc");
        let mut want = KVec::from_elem(0u8, FAR_LEN, GFP_KERNEL).expect("alloc");
        far_data(&mut want);
        assert_eq!(crc32(&want), FAR_CRC);
        let mut out = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        assert_eq!(inf.inflate_raw(&FAR, &mut out), Ok(FAR_LEN));
        assert_eq!(crc32(&out[..FAR_LEN]), FAR_CRC);
        // Page-sized and smaller steps need the 32 KiB window.
        for step in [512usize, 100, 4096] {
            out.iter_mut().for_each(|b| *b = 0xff);
            assert_eq!(inf.inflate_raw_steps(&FAR, &mut out, step), Ok(FAR_LEN));
            assert!(out[..FAR_LEN] == want[..]);
        }
    }

    #[test]
    fn bad_input_and_small_output() {
        let mut inf = Inflater::new(GFP_KERNEL).expect("alloc");
        let mut out = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        assert_eq!(inf.inflate_raw(&FAR, &mut out[..3000]), Err(ENOSPC));
        assert_eq!(inf.inflate_raw(&FAR[..50], &mut out), Err(EBADMSG));
        // Block type 3 is reserved: invalid.
        assert_eq!(inf.inflate_raw(&[0x07, 0x00], &mut out), Err(EBADMSG));
        let mut bad = FAR;
        bad[40] ^= 0x55;
        match inf.inflate_raw(&bad, &mut out) {
            Ok(n) => assert!(n != FAR_LEN || crc32(&out[..n]) != FAR_CRC),
            Err(e) => assert_eq!(e, EBADMSG),
        }
        // The inflater is reusable after errors.
        assert_eq!(inf.inflate_raw(&FAR, &mut out), Ok(FAR_LEN));
    }
}

/// Fills `v` with compressible text: words picked by an LCG from `seed`.
fn text(v: &mut [u8], seed: u32) {
    let words: [&[u8]; 7] = [b"sector ", b"bio ", b"extent ", b"dedup ", b"LBN ", b"SGL ", b"\n"];
    let mut x = seed;
    let mut i = 0;
    while i < v.len() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        for &c in words[(x >> 16) as usize % words.len()] {
            if i < v.len() {
                v[i] = c;
                i += 1;
            }
        }
    }
}

#[kunit_tests(kstor_acomp)]
mod acomp_tests {
    use crate::acomp::Acomp;
    use crate::sgl::Sgl;
    use crate::zlib::Inflater;
    use kernel::prelude::*;

    fn text(v: &mut [u8]) {
        super::text(v, 1);
    }

    #[test]
    fn deflate_round_trip() {
        let mut ac = Acomp::new(c"deflate").expect("deflate tfm");
        // deflate-generic, or an accelerator (qat_deflate, the test
        // provider qat_sim_deflate).
        assert!(!ac.driver_name().to_bytes().is_empty());
        let mut src = KVVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        text(&mut src);
        let mut comp = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        let n = {
            let mut s = Sgl::from_slice(&src, GFP_KERNEL).expect("sgl");
            let mut d = Sgl::from_mut_slice(&mut comp, GFP_KERNEL).expect("sgl");
            ac.compress(&mut s, &mut d).expect("compress")
        };
        assert!(n > 0 && n < 2048);
        // Software inflate with a 32 KiB window reads any raw deflate.
        let mut out = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        let mut inf = Inflater::new(GFP_KERNEL).expect("alloc");
        assert_eq!(inf.inflate_raw(&comp[..n], &mut out), Ok(4096));
        assert!(out[..] == src[..]);
        // And acomp reads its own output.
        out.iter_mut().for_each(|b| *b = 0);
        let m = {
            let mut s = Sgl::from_slice(&comp[..n], GFP_KERNEL).expect("sgl");
            let mut d = Sgl::from_mut_slice(&mut out, GFP_KERNEL).expect("sgl");
            ac.decompress(&mut s, &mut d).expect("decompress")
        };
        assert_eq!(m, 4096);
        assert!(out[..] == src[..]);
    }

    #[test]
    fn incompressible_overflows_the_budget() {
        let mut ac = Acomp::new(c"deflate").expect("deflate tfm");
        let mut src = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        let mut x = 0x1234_5678u32;
        for b in src.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        // 90% rule: 4096 * 9 / 10 - 18 bytes for the deflate stream.
        let mut dst = KVec::from_elem(0u8, 3668, GFP_KERNEL).expect("alloc");
        let mut s = Sgl::from_slice(&src, GFP_KERNEL).expect("sgl");
        let mut d = Sgl::from_mut_slice(&mut dst, GFP_KERNEL).expect("sgl");
        let r = ac.compress(&mut s, &mut d);
        assert!(r == Err(ENOSPC) || r == Err(E2BIG));
    }

    #[test]
    fn destination_must_be_writable() {
        let mut ac = Acomp::new(c"deflate").expect("deflate tfm");
        let src = KVec::from_elem(1u8, 4096, GFP_KERNEL).expect("alloc");
        let dst = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        let mut s = Sgl::from_slice(&src, GFP_KERNEL).expect("sgl");
        let mut d = Sgl::from_slice(&dst, GFP_KERNEL).expect("sgl");
        assert_eq!(ac.compress(&mut s, &mut d), Err(EINVAL));
        assert!(Acomp::new(c"no-such-algorithm").is_err());
    }
}

/// The acomp paths a volume uses, over whatever provides "deflate": with
/// the test provider `qat_sim` loaded (selftests/vdo_qat/offload.sh) every
/// request here goes through its scatterlist validation, and the selftest
/// checks it rejected none and counted exactly the requests made here.
#[kunit_tests(kstor_acomp_sources)]
mod acomp_sources_tests {
    use crate::acomp::{Acomp, Job, Tfm, MAX_SG};
    use crate::bio::{NewBio, Op, OpFlags};
    use crate::sgl::Sgl;
    use crate::zlib::Inflater;
    use kernel::page::{Page, PAGE_SIZE};
    use kernel::prelude::*;

    use super::text;

    /// Compresses `src` (4096 bytes of `want`) and decompresses the result
    /// with `ac`: two requests. True if the data came back.
    fn round_trip(ac: &mut Acomp, src: &mut Sgl<'_>, want: &[u8]) -> bool {
        assert!(src.nents() <= MAX_SG);
        let mut comp = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        let n = {
            let mut d = Sgl::from_mut_slice(&mut comp, GFP_KERNEL).expect("sgl");
            ac.compress(src, &mut d).expect("compress")
        };
        let mut out = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        let m = {
            let mut s = Sgl::from_slice(&comp[..n], GFP_KERNEL).expect("sgl");
            let mut d = Sgl::from_mut_slice(&mut out, GFP_KERNEL).expect("sgl");
            ac.decompress(&mut s, &mut d).expect("decompress")
        };
        m == 4096 && out[..] == *want
    }

    /// kmalloc, vmalloc and bio pages, each at offsets 0, 512 and 4095:
    /// 18 requests.
    #[test]
    fn every_source_at_every_offset() {
        let mut ac = Acomp::new(c"deflate").expect("deflate tfm");
        let mut want = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        for (k, off) in [0usize, 512, 4095].into_iter().enumerate() {
            text(&mut want, k as u32 + 1);
            // kmalloc (linear map; an 8 KiB buffer spans two pages).
            let mut km = KVec::from_elem(0u8, off + 4096, GFP_KERNEL).expect("alloc");
            km[off..].copy_from_slice(&want);
            let mut s = Sgl::from_slice(&km[off..], GFP_KERNEL).expect("sgl");
            assert!(round_trip(&mut ac, &mut s, &want));
            // vmalloc: one entry per page.
            let mut vm = VVec::from_elem(0u8, off + 4096, GFP_KERNEL).expect("alloc");
            vm[off..].copy_from_slice(&want);
            let mut s = Sgl::from_slice(&vm[off..], GFP_KERNEL).expect("sgl");
            assert_eq!(s.nents(), if off == 0 { 1 } else { 2 });
            assert!(round_trip(&mut ac, &mut s, &want));
            // Bio pages: the block starts at `off` in its first page.
            let mut bio = NewBio::new(2, Op::Read, OpFlags::NONE).expect("bio");
            let first = (PAGE_SIZE - off).min(4096);
            bio.add_page(Page::alloc_page(GFP_KERNEL).expect("page"), first as u32, off as u32)
                .expect("add");
            if first < 4096 {
                bio.add_page(Page::alloc_page(GFP_KERNEL).expect("page"), (4096 - first) as u32, 0)
                    .expect("add");
            }
            let mut at = 0;
            for mut seg in bio.segments_mut().expect("read bio") {
                at += seg.copy_from_slice(&want[at..]);
            }
            assert_eq!(at, 4096);
            let mut s = Sgl::from_bio(&bio, GFP_KERNEL).expect("sgl");
            assert_eq!((s.len(), s.nents()), (4096, if off == 0 { 1 } else { 2 }));
            assert!(round_trip(&mut ac, &mut s, &want));
        }
    }

    /// The asynchronous job: compress then decompress (2 requests), and an
    /// output overflow (1 request).
    #[test]
    fn job_round_trip_and_overflow() {
        let tfm = Tfm::new(c"deflate", false).expect("deflate tfm");
        let mut job = Job::new().expect("job");
        text(&mut job.src_mut().expect("idle")[..], 7);
        assert_eq!(job.wait(0), Err(EINVAL));
        job.submit(&tfm, true, 4096, 10..3678).expect("submit");
        assert_eq!(job.submit(&tfm, true, 4096, 10..3678), Err(EBUSY));
        let n = job.wait(10_000).expect("compressed");
        assert!(n > 0 && n < 2048);
        let (src, dst) = job.buffers().expect("idle");
        let mut inf = Inflater::new(GFP_KERNEL).expect("alloc");
        let mut out = KVec::from_elem(0u8, 4096, GFP_KERNEL).expect("alloc");
        assert_eq!(inf.inflate_raw(&dst[10..10 + n], &mut out), Ok(4096));
        assert!(out[..] == src[..]);
        // Decompress on the provider: the compressed bytes become the source.
        let mut back = Job::new().expect("job");
        back.src_mut().expect("idle")[..n].copy_from_slice(&dst[10..10 + n]);
        back.submit(&tfm, false, n, 0..4096).expect("submit");
        assert_eq!(back.wait(10_000), Ok(4096));
        assert!(back.dst_mut().expect("idle")[..] == out[..]);
        // Incompressible data overflows a 90% budget.
        let mut x = 0x9e37_79b9u32;
        for b in job.src_mut().expect("idle").iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        job.submit(&tfm, true, 4096, 10..3678).expect("submit");
        let r = job.wait(10_000);
        assert!(r == Err(E2BIG) || r == Err(ENOSPC));
        assert_eq!(job.submit(&tfm, true, 0, 0..10), Err(EINVAL));
        assert_eq!(job.submit(&tfm, true, 4096, 10..4097), Err(EINVAL));
    }
}
