// SPDX-License-Identifier: GPL-2.0

//! nvme-vmm: a test VMM for `/dev/vhost-nvme` (nvme_vhost). It plays the
//! guest's NVMe driver over the uapi of `include/uapi/linux/vhost_nvme.h`,
//! with a memfd as guest RAM:
//!
//! - `test`: bring-up and Identify fields, every I/O command verified
//!   against the backend's content, PRP lists, 4 I/O queues, shadow
//!   doorbells on and off (with the MMIO doorbell ratios), doorbell
//!   eventfds, resets with I/O in flight, error statuses;
//! - `fuzz`: random admin and I/O commands, each of which must complete
//!   with a status, with nothing touched outside the memory table;
//! - `bench`: IOPS and IOPS per CPU second at several queue depths.
//!
//! `test` and `fuzz` print one line per check, `description|expected|
//! actual`, which `selftests/nvme_vhost/vmm.sh` turns into KTAP.

mod dev;
mod driver;
mod guest;
mod suite;

use clap::{Parser, Subcommand};

/// Test VMM for /dev/vhost-nvme.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Functional test against a backend (block device or regular file).
    Test {
        /// Backend path.
        #[arg(long)]
        backend: String,
        /// LBA size in bytes (512 or 4096).
        #[arg(long, default_value_t = 512)]
        lba: u32,
        /// Bytes at the end of the backend outside the namespace (filled
        /// with a canary and checked).
        #[arg(long, default_value_t = 1 << 20)]
        guard: u64,
    },
    /// Random admin and I/O commands.
    Fuzz {
        /// Backend path.
        #[arg(long)]
        backend: String,
        /// Commands to send.
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// PRNG seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Bytes at the end of the backend outside the namespace.
        #[arg(long, default_value_t = 1 << 20)]
        guard: u64,
    },
    /// IOPS at the given queue depths (4 KiB random reads, one queue).
    Bench {
        /// Backend path (a null_blk device measures the controller alone).
        #[arg(long)]
        backend: String,
        /// Queue depths, comma separated.
        #[arg(long, default_value = "1,8,32")]
        qd: String,
        /// Seconds per run.
        #[arg(long, default_value_t = 3)]
        secs: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Test { backend, lba, guard } => suite::test(&backend, lba, guard),
        Cmd::Fuzz {
            backend,
            count,
            seed,
            guard,
        } => suite::fuzz(&backend, count, seed, guard),
        Cmd::Bench { backend, qd, secs } => {
            let qds: Vec<usize> = qd.split(',').filter_map(|s| s.trim().parse().ok()).collect();
            suite::bench(&backend, &qds, secs)
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    //! The driver against the controller core in process (`SimDev`): the
    //! same code paths as the kernel module minus the transport.
    use crate::dev::{Dev, SimDev};
    use crate::driver::Nvme;
    use crate::guest::{Guest, A_SIZE, PAGE};
    use crate::suite::Rng;
    use vq_pure::nvme::{admin, io, status, DsmRange, Sqe};

    const SIZE: u64 = 16 << 20;

    fn up(dbbuf: bool) -> Nvme<SimDev> {
        let g = Guest::new();
        let d = SimDev::new(&g, 9, SIZE);
        let mut n = Nvme::new(d, g);
        let info = n.bring_up(4, 64, dbbuf).expect("bring-up");
        assert_eq!(info.nsze, SIZE >> 9);
        assert_eq!(info.nq_result, 0x50005);
        assert_eq!(info.dbbuf_status, dbbuf.then_some(0));
        assert_eq!(n.dev.dbbuf().0, dbbuf);
        n
    }

    fn rw(op: u8, slba: u64, nlb: u32, prp1: u64, prp2: u64) -> Sqe {
        let mut s = Sqe { opcode: op, nsid: 1, prp1, prp2, ..Sqe::default() };
        s.cdw[0] = slba as u32;
        s.cdw[1] = (slba >> 32) as u32;
        s.cdw[2] = nlb - 1;
        s
    }

    #[test]
    fn write_read_prp_list_with_offset() {
        let mut n = up(true);
        let buf = n.g.alloc_b(40);
        let list = n.g.alloc_a(1);
        let data = Rng::new(5).bytes(64 << 10);
        // 64 KiB from offset 512: 17 pages, PRP2 is a list of 16.
        n.g.write(buf + 512, &data);
        let e: Vec<u8> = (1..17u64).flat_map(|i| (buf + i * PAGE).to_le_bytes()).collect();
        n.g.write(list, &e);
        let c = n.io_cmd(0, rw(io::WRITE, 100, 128, buf + 512, list)).expect("write");
        assert_eq!(c.status, 0);
        assert_eq!(&n.dev.backend()[100 * 512..100 * 512 + data.len()], &data[..]);
        n.g.write(buf + 512, &vec![0u8; data.len()]);
        let c = n.io_cmd(1, rw(io::READ, 100, 128, buf + 512, list)).expect("read");
        assert_eq!(c.status, 0);
        let mut got = vec![0u8; data.len()];
        n.g.read(buf + 512, &mut got);
        assert_eq!(got, data);
    }

    #[test]
    fn configured_serial_and_queue_count() {
        let g = Guest::new();
        let mut d = SimDev::new(&g, 9, SIZE);
        assert!(d.configure(b"bad\x01", 0).is_err(), "not printable");
        assert!(d.configure(&[b'a'; 21], 0).is_err(), "longer than 20 bytes");
        assert!(d.configure(b"VQ", 17).is_err(), "more than 16 queue pairs");
        d.configure(b"", 3).expect("configure, default serial");
        let mut n = Nvme::new(d, g);
        let info = n.bring_up(1, 64, false).expect("bring-up");
        assert_eq!(&info.id_ctrl[4..7], b"SIM", "an empty serial keeps the default");
        assert_eq!(info.nq_result, 0x20002);
        n.disable().expect("disable");
        let Nvme { dev: mut d, g, .. } = n;
        d.configure(b"CFG-SERIAL-42", 2).expect("configure");
        let mut n = Nvme::new(d, g);
        // 2 pairs granted whatever is asked (0-based 1); queue 3 is refused.
        let e = n.bring_up(3, 64, false).expect_err("queue 3");
        assert!(e.starts_with("Create I/O CQ 3"), "{e}");
        let info = n.bring_up(2, 64, true).expect("bring-up");
        assert_eq!(info.nq_result, 0x10001);
        assert_eq!(&info.id_ctrl[4..24], b"CFG-SERIAL-42       ");
        assert!(n.dev.configure(b"X", 1).is_err(), "refused while enabled");
    }

    #[test]
    fn write_zeroes_and_dsm() {
        let mut n = up(false);
        let buf = n.g.alloc_b(8);
        n.g.write(buf, &[0x77u8; 8192]);
        for slba in [0, 16] {
            // 16 blocks: two pages, PRP2 the second.
            assert_eq!(n.io_cmd(0, rw(io::WRITE, slba, 16, buf, buf + PAGE)).expect("w").status, 0);
        }
        assert_eq!(n.io_cmd(0, rw(io::WRITE_ZEROES, 4, 4, 0, 0)).expect("wz").status, 0);
        let r = DsmRange { attributes: 0, nlb: 2, slba: 20 }.encode();
        n.g.write(buf, &r);
        let mut s = Sqe { opcode: io::DSM, nsid: 1, prp1: buf, ..Sqe::default() };
        s.cdw[1] = 1 << 2;
        assert_eq!(n.io_cmd(0, s).expect("dsm").status, 0);
        let b = n.dev.backend();
        assert!(b[..4 * 512].iter().all(|&x| x == 0x77));
        assert!(b[4 * 512..8 * 512].iter().all(|&x| x == 0));
        assert!(b[8 * 512..20 * 512].iter().all(|&x| x == 0x77));
        assert!(b[20 * 512..22 * 512].iter().all(|&x| x == 0));
        assert!(b[22 * 512..32 * 512].iter().all(|&x| x == 0x77));
    }

    #[test]
    fn error_statuses() {
        let mut n = up(true);
        let buf = n.g.alloc_b(1);
        let cases = [
            (rw(io::READ, (SIZE >> 9) - 1, 2, buf, 0), status::LBA_RANGE),
            (rw(io::READ, 0, 1, buf + 1, 0), status::PRP_OFFSET),
            (rw(io::READ, 0, 1, A_SIZE + 8, 0), status::DATA_TRANSFER),
            (Sqe { opcode: 0x55, nsid: 1, ..Sqe::default() }, status::INVALID_OPCODE),
            (Sqe { nsid: 2, ..rw(io::READ, 0, 1, buf, 0) }, status::INVALID_NS),
        ];
        for (s, want) in cases {
            assert_eq!(n.io_cmd(2, s).expect("completes").status, want, "opcode {:#x}", s.opcode);
        }
        let mut s = Sqe { opcode: admin::DELETE_CQ, ..Sqe::default() };
        s.cdw[0] = 1;
        assert_eq!(n.admin_cmd(s).expect("admin").status, status::INVALID_DELETE);
        assert!(n.g.hole_intact());
    }

    #[test]
    fn shadow_doorbells_avoid_mmio() {
        for dbbuf in [true, false] {
            let mut n = up(dbbuf);
            let buf = n.g.alloc_b(32);
            let before = n.dev.stats();
            let mut rng = Rng::new(1);
            for round in 0..64u64 {
                for k in 0..16u64 {
                    n.submit(0, rw(io::READ, rng.below(1000), 8, buf + ((round + k) % 32) * PAGE, 0));
                }
                let mut got = 0;
                while got < 16 {
                    n.dev.wait(0);
                    got += n.poll(0).len();
                }
            }
            let d = n.dev.stats().since(&before);
            assert_eq!(d.commands, 1024);
            let ratio = d.mmio as f64 / d.commands as f64;
            if dbbuf {
                // One SQ doorbell per batch the controller slept on at most.
                assert!(ratio <= 1.0 / 16.0 + 0.01, "ratio {ratio}");
                assert!(d.shadow_reads > 0 && d.eventidx_writes > 0);
            } else {
                assert!(ratio >= 1.0, "ratio {ratio}");
            }
        }
    }

    #[test]
    fn reset_drops_queues_and_dbbuf() {
        let mut n = up(true);
        n.dev.reset().expect("reset");
        assert!(!n.dev.dbbuf().0);
        assert_eq!(n.dev.rd(vq_pure::regs::CSTS, 4) & 1, 0);
        let info = n.bring_up(2, 32, false).expect("bring-up again");
        assert_eq!(info.dbbuf_status, None);
        let buf = n.g.alloc_b(1);
        assert_eq!(n.io_cmd(1, rw(io::READ, 0, 8, buf, 0)).expect("read").status, 0);
    }
}
