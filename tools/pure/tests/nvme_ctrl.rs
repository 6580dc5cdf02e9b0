// SPDX-License-Identifier: GPL-2.0
//! The NVMe wire formats and the worker's poll window. The controller core
//! itself is exercised end to end by `tools/vmm` (host tests against the
//! core in process, kselftests against the module).

use proptest::prelude::*;
use vq_pure::nvme::{self, Cqe, DsmRange, Sqe, Win};
use vq_pure::nvme_ctrl::PollWindow;

#[test]
fn poll_window_grows_on_quick_wakeups_and_shrinks_when_idle() {
    let mut w = PollWindow::default();
    assert_eq!(w.ns(), PollWindow::MIN_NS);
    w.after_sleep(5_000);
    assert_eq!(w.ns(), 2 * PollWindow::MIN_NS);
    w.after_sleep(300_000);
    assert_eq!(w.ns(), 300_000);
    for _ in 0..10 {
        w.after_sleep(10);
    }
    assert_eq!(w.ns(), PollWindow::MAX_NS);
    w.after_sleep(50_000_000);
    assert_eq!(w.ns(), PollWindow::MAX_NS / 2);
    for _ in 0..20 {
        w.after_sleep(u64::MAX);
    }
    assert_eq!(w.ns(), PollWindow::MIN_NS);
}

#[test]
fn identify_renders_the_same_through_any_window() {
    let info = nvme::CtrlInfo { serial: b"VHN00000001", cntlid: 1, mdts: 5, max_cmds: 1024 };
    let mut whole = [0u8; 4096];
    nvme::identify_ctrl(&info, &mut Win { base: 0, buf: &mut whole });
    assert_eq!(&whole[0..2], &0x1b36u16.to_le_bytes());
    assert_eq!(whole[77], 5);
    assert_eq!(u16::from_le_bytes([whole[256], whole[257]]), 1 << 8);
    assert_eq!(&whole[4..15], b"VHN00000001");
    assert_eq!(whole[15], b' ');
    assert!(whole[768..].starts_with(b"nqn.2026-11.io.vdo-qat:nvme-vhost:VHN00000001\0"));
    for chunk in [1usize, 7, 256, 1000] {
        let mut pieced = vec![0u8; 4096];
        for (i, c) in pieced.chunks_mut(chunk).enumerate() {
            nvme::identify_ctrl(&info, &mut Win { base: i * chunk, buf: c });
        }
        assert_eq!(&pieced[..], &whole[..], "chunk {chunk}");
    }
}

proptest! {
    #[test]
    fn sqe_round_trips(opcode: u8, flags: u8, cid: u16, nsid: u32, prp1: u64, prp2: u64, cdw: [u32; 6]) {
        let s = Sqe { opcode, flags, cid, nsid, prp1, prp2, cdw };
        prop_assert_eq!(Sqe::decode(&s.encode()), s);
    }

    #[test]
    fn cqe_round_trips(result: u32, sq_head: u16, sq_id: u16, cid: u16, status in 0u16..0x8000, phase: bool) {
        let c = Cqe { result, sq_head, sq_id, cid, status, phase };
        let b = c.encode();
        prop_assert_eq!(Cqe::decode(&b), c);
        prop_assert_eq!((u16::from_le_bytes([b[14], b[15]]) & 1) != 0, phase);
    }

    #[test]
    fn dsm_range_round_trips(attributes: u32, nlb: u32, slba: u64) {
        let r = DsmRange { attributes, nlb, slba };
        prop_assert_eq!(DsmRange::decode(&r.encode()), r);
    }
}
