// SPDX-License-Identifier: GPL-2.0
//! Host tests of drivers/nvme_vhost/regs.rs: bring-up the way Linux's nvme
//! driver does it (drivers/nvme/host/pci.c, nvme_pci_configure_admin_queue
//! and nvme_enable_ctrl), reset, shutdown, bad accesses, doorbells, and the
//! shadow doorbell EventIdx rule.

use proptest::prelude::*;
use vq_pure::nvme_regs::*;

/// Linux: lo/hi halves of 64-bit registers, AQA, then CC with EN, CSS=0,
/// MPS=0, AMS=0, IOSQES=6, IOCQES=4.
fn linux_bring_up(r: &mut Regs) -> Effect {
    let cap = r.read(CAP, 4).unwrap() | r.read(CAP + 4, 4).unwrap() << 32;
    assert_eq!(cap, r.read(CAP, 8).unwrap());
    assert_eq!(r.read(VS, 4), Ok(u64::from(VERSION)));
    assert_eq!(r.write(AQA, 4, (31 << 16) | 31), Ok(Effect::None));
    for (reg, base) in [(ASQ, 0x1_2345_6000u64), (ACQ, 0x7_0000_1000)] {
        assert_eq!(r.write(reg, 4, base & 0xffff_ffff), Ok(Effect::None));
        assert_eq!(r.write(reg + 4, 4, base >> 32), Ok(Effect::None));
    }
    r.write(CC, 4, (4 << 20) | (6 << 16) | 1).unwrap()
}

#[test]
fn cap_and_version() {
    let r = Regs::new(5, 1024);
    let cap = r.cap();
    assert_eq!(cap & 0xffff, 1023, "MQES is 0-based");
    assert_eq!((cap >> 16) & 1, 1, "CQR");
    assert_eq!((cap >> 24) & 0xff, 10, "TO: 5 s");
    assert_eq!((cap >> 32) & 0xf, 0, "DSTRD 0");
    assert_eq!((cap >> 37) & 0xff, 1, "CSS: NVM");
    assert_eq!((cap >> 48) & 0xf, 0, "MPSMIN 4 KiB");
    assert_eq!((cap >> 52) & 0xf, 0, "MPSMAX 4 KiB");
    assert_eq!(r.read(VS, 4), Ok(0x10400));
}

#[test]
fn enable_reset_shutdown() {
    let mut r = Regs::new(5, 1024);
    assert!(!r.ready());
    assert_eq!(linux_bring_up(&mut r), Effect::Enable);
    assert!(r.ready());
    assert_eq!(r.read(CSTS, 4), Ok(1));
    assert_eq!(r.admin_queues(), (0x1_2345_6000, 32, 0x7_0000_1000, 32));
    assert_eq!(r.io_entry_sizes(), (6, 4));
    // Windows reads ASQ back while enabled.
    assert_eq!(r.read(ASQ, 8), Ok(0x1_2345_6000));
    // Interrupt mask set/clear.
    assert_eq!(r.write(INTMS, 4, 0b101), Ok(Effect::Mask));
    assert_eq!(r.write(INTMC, 4, 0b001), Ok(Effect::Mask));
    assert_eq!((r.int_mask(), r.read(INTMS, 4)), (0b100, Ok(0b100)));
    // Shutdown, then disable (reset).
    let cc = r.read(CC, 4).unwrap();
    assert_eq!(r.write(CC, 4, cc | 1 << 14), Ok(Effect::Shutdown));
    assert_eq!(r.csts() & (3 << 2), CSTS_SHST_COMPLETE);
    assert_eq!(r.write(CC, 4, 0), Ok(Effect::Reset));
    assert_eq!((r.ready(), r.csts(), r.int_mask()), (false, 0, 0));
    // The admin queue registers survive a reset; enabling again works.
    assert_eq!(r.admin_queues().1, 32);
    assert_eq!(r.write(CC, 4, (4 << 20) | (6 << 16) | 1), Ok(Effect::Enable));
}

#[test]
fn invalid_configurations_set_cfs() {
    let cases: [(&str, u32, u64, u64); 6] = [
        ("MPS 8 KiB", (1 << 7) | 1, 0x1000, 0x2000),
        ("CSS not NVM", (1 << 4) | 1, 0x1000, 0x2000),
        ("AMS WRR", (1 << 11) | 1, 0x1000, 0x2000),
        ("ASQ unaligned", 1, 0x1008, 0x2000),
        ("ACQ zero", 1, 0x1000, 0),
        ("ok", 1, 0x1000, 0x2000),
    ];
    for (what, cc, asq, acq) in cases {
        let mut r = Regs::new(2, 64);
        r.write(AQA, 4, (7 << 16) | 7).unwrap();
        r.write(ASQ, 8, asq).unwrap();
        r.write(ACQ, 8, acq).unwrap();
        let e = r.write(CC, 4, u64::from(cc)).unwrap();
        if what == "ok" {
            assert_eq!((e, r.csts()), (Effect::Enable, CSTS_RDY), "{what}");
        } else {
            assert_eq!((e, r.csts()), (Effect::EnableFailed, CSTS_CFS), "{what}");
        }
    }
    // Admin queues larger than MQES + 1.
    let mut r = Regs::new(2, 64);
    r.write(AQA, 4, (63 << 16) | 64).unwrap();
    r.write(ASQ, 8, 0x1000).unwrap();
    r.write(ACQ, 8, 0x2000).unwrap();
    assert_eq!(r.write(CC, 4, 1), Ok(Effect::EnableFailed));
}

#[test]
fn doorbells_and_bad_accesses() {
    let mut r = Regs::new(3, 64);
    assert_eq!(r.write(DOORBELLS, 4, 5), Ok(Effect::SqTail { qid: 0, tail: 5 }));
    assert_eq!(r.write(DOORBELLS + 4, 4, 7), Ok(Effect::CqHead { qid: 0, head: 7 }));
    assert_eq!(r.write(DOORBELLS + 16, 4, 9), Ok(Effect::SqTail { qid: 2, tail: 9 }));
    assert_eq!(r.write(DOORBELLS + 20, 4, 1), Ok(Effect::CqHead { qid: 2, head: 1 }));
    assert_eq!(r.write(DOORBELLS + 24, 4, 1), Err(RegError::BadOffset), "qid 3 does not exist");
    assert_eq!(r.write(DOORBELLS, 8, 1), Err(RegError::BadWidth));
    assert_eq!(r.read(DOORBELLS + 4, 4), Ok(0));
    assert_eq!(r.read(CC, 2), Err(RegError::BadWidth));
    assert_eq!(r.read(CC + 1, 4), Err(RegError::BadWidth));
    assert_eq!(r.read(CC, 8), Err(RegError::BadWidth), "misaligned 64-bit");
    assert_eq!(r.read(VS, 8), Err(RegError::BadOffset), "VS is 32-bit");
    assert_eq!(r.read(0x40, 4), Err(RegError::BadOffset));
    // Read-only registers ignore writes.
    let cap = r.cap();
    assert_eq!(r.write(CAP, 8, 0), Ok(Effect::None));
    assert_eq!(r.write(CSTS, 4, 0xffff_ffff), Ok(Effect::None));
    assert_eq!((r.cap(), r.csts()), (cap, 0));
    assert_eq!(shadow_slot(0, false), 0);
    assert_eq!(shadow_slot(3, true), 28);
}

#[test]
fn need_event_matches_linux() {
    // Linux writes the MMIO doorbell when EventIdx is in [old, new).
    assert!(need_event(5, 6, 5));
    assert!(!need_event(6, 6, 5));
    assert!(need_event(3, 10, 2));
    assert!(!need_event(1, 10, 2));
    // Across the 16-bit wrap.
    assert!(need_event(0xfffe, 2, 0xfffd));
    assert!(need_event(1, 2, 0xfffd));
    assert!(!need_event(2, 2, 0xfffd));
}

proptest! {
    /// The rule equals "event_idx is one of old, old+1, ..., new-1".
    #[test]
    fn need_event_is_window_membership(ei: u16, old: u16, step in 0u16..2000) {
        let new = old.wrapping_add(step);
        let inside = (0..step).any(|k| old.wrapping_add(k) == ei);
        prop_assert_eq!(need_event(ei, new, old), inside);
    }

    /// No register access panics, whatever the offset, width and value.
    #[test]
    fn accesses_never_panic(ops in proptest::collection::vec((0u32..0x1100, 0u32..10, any::<u64>(), any::<bool>()), 0..64)) {
        let mut r = Regs::new(4, 256);
        for (off, width, v, write) in ops {
            if write {
                let _ = r.write(off, width, v);
            } else {
                let _ = r.read(off, width);
            }
            // RDY and CFS are never both set.
            prop_assert!(r.csts() & 3 != 3);
        }
    }
}
