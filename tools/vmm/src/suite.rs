// SPDX-License-Identifier: GPL-2.0

//! The `test`, `fuzz` and `bench` runs.

use crate::dev::{self, Dev, KernelDev};
use crate::driver::{ok, Nvme};
use crate::guest::{Guest, A_SIZE, B_GPA, B_SIZE, HOLE, PAGE};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};
use vq_pure::nvme::{admin, io, status, DsmRange, Sqe};
use vq_pure::regs;

/// xorshift64*.
pub struct Rng(u64);

impl Rng {
    /// Seeded (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// Next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Check lines and their failures.
pub struct Report {
    failed: usize,
}

impl Report {
    fn new() -> Self {
        Report { failed: 0 }
    }
    /// One check: `desc|want|got`.
    pub fn eq(&mut self, desc: &str, want: impl ToString, got: impl ToString) {
        let (w, g) = (want.to_string(), got.to_string());
        if w != g {
            self.failed += 1;
        }
        println!("{desc}|{w}|{g}");
    }
    fn yes(&mut self, desc: &str, cond: bool) {
        self.eq(desc, "yes", if cond { "yes" } else { "no" });
    }
    fn result<T>(&mut self, desc: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => {
                self.eq(desc, "ok", "ok");
                Some(v)
            }
            Err(e) => {
                self.eq(desc, "ok", e);
                None
            }
        }
    }
}

fn backend_size(path: &str) -> u64 {
    let f = File::open(path).expect("backend");
    use std::io::{Seek, SeekFrom};
    let mut f = f;
    f.seek(SeekFrom::End(0)).unwrap_or(0)
}

fn open_backend(path: &str) -> File {
    OpenOptions::new().read(true).write(true).open(path).expect("backend")
}

/// Namespace size for `path` with `guard` bytes kept outside, in bytes.
fn ns_size(path: &str, guard: u64) -> u64 {
    (backend_size(path).saturating_sub(guard)) & !((1 << 20) - 1)
}

/// PRP1/PRP2 for `len` bytes at guest address `buf`, with a PRP list in
/// `list` (a page of region A) when needed.
fn prps(g: &Guest, buf: u64, len: u64, list: u64) -> (u64, u64) {
    let first = PAGE - buf % PAGE;
    if len <= first {
        return (buf, 0);
    }
    let rest = len - first;
    let second = buf - buf % PAGE + PAGE;
    if rest <= PAGE {
        return (buf, second);
    }
    let mut e = Vec::new();
    let mut p = second;
    let mut left = rest;
    while left > 0 {
        e.extend_from_slice(&p.to_le_bytes());
        p += PAGE;
        left = left.saturating_sub(PAGE);
    }
    g.write(list, &e);
    (buf, list)
}

fn rw_sqe(op: u8, slba: u64, nlb: u32, prp: (u64, u64)) -> Sqe {
    let mut s = Sqe {
        opcode: op,
        nsid: 1,
        prp1: prp.0,
        prp2: prp.1,
        ..Sqe::default()
    };
    s.cdw[0] = slba as u32;
    s.cdw[1] = (slba >> 32) as u32;
    s.cdw[2] = nlb - 1;
    s
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3))
}

struct Ctx {
    n: Nvme<KernelDev>,
    backend: File,
    shift: u8,
    list: u64,
    buf2: u64,
}

impl Ctx {
    fn lba(&self) -> u64 {
        1 << self.shift
    }

    /// Writes `data` at `slba` through the guest buffer at `buf`.
    fn write(&mut self, q: usize, slba: u64, data: &[u8], buf: u64) -> u16 {
        self.n.g.write(buf, data);
        let prp = prps(&self.n.g, buf, data.len() as u64, self.list);
        let s = rw_sqe(io::WRITE, slba, (data.len() as u64 / self.lba()) as u32, prp);
        self.n.io_cmd(q, s).map_or(0xffff, |c| c.status)
    }

    fn read(&mut self, q: usize, slba: u64, len: usize, buf: u64) -> (u16, Vec<u8>) {
        self.n.g.write(buf, &vec![0xeeu8; len]);
        let prp = prps(&self.n.g, buf, len as u64, self.list);
        let s = rw_sqe(io::READ, slba, (len as u64 / self.lba()) as u32, prp);
        let st = self.n.io_cmd(q, s).map_or(0xffff, |c| c.status);
        let mut b = vec![0u8; len];
        self.n.g.read(buf, &mut b);
        (st, b)
    }

    fn on_backend(&self, slba: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.backend.read_exact_at(&mut b, slba << self.shift).expect("backend read");
        b
    }

    fn smart(&mut self) -> [u64; 2] {
        let mut s = Sqe {
            opcode: admin::GET_LOG_PAGE,
            nsid: 0xffff_ffff,
            prp1: self.buf2,
            ..Sqe::default()
        };
        s.cdw[0] = 0x02 | (127 << 16);
        let _ = self.n.admin_cmd(s);
        let mut b = [0u8; 512];
        self.n.g.read(self.buf2, &mut b);
        let f = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        [f(64), f(80)]
    }
}

fn fill_guard(f: &File, start: u64, len: u64) {
    f.write_all_at(&vec![0x5au8; len as usize], start).expect("guard write");
}

fn guard_intact(f: &File, start: u64, len: u64) -> bool {
    let mut b = vec![0u8; len as usize];
    f.read_exact_at(&mut b, start).is_ok() && b.iter().all(|&x| x == 0x5a)
}

/// Doorbell ratio run: `total` 4 KiB reads at queue depth `qd` on queue
/// 0; returns (controller MMIO doorbells per command, commands).
fn qd_run(n: &mut Nvme<KernelDev>, qd: usize, total: u64, blocks: u64, shift: u8, bufs: u64) -> (f64, u64, u64) {
    let before = n.dev.stats();
    let mut rng = Rng::new(7);
    let (mut sent, mut done, mut errors) = (0u64, 0u64, 0u64);
    let per = PAGE >> shift;
    let mut idle = 0;
    while done < total {
        while sent < total && (sent - done) < qd as u64 && n.io[0].room() {
            let slba = rng.below(blocks / per) * per;
            let buf = bufs + (sent % 64) * PAGE;
            n.submit(0, rw_sqe(io::READ, slba, per as u32, (buf, 0)));
            sent += 1;
        }
        let c = n.poll(0);
        if c.is_empty() {
            n.dev.wait(100);
            idle += 1;
            if idle > 200 {
                break;
            }
            continue;
        }
        idle = 0;
        errors += c.iter().filter(|c| !ok(c)).count() as u64;
        done += c.len() as u64;
    }
    let d = n.dev.stats().since(&before);
    (d.mmio as f64 / d.commands.max(1) as f64, d.commands, errors)
}

/// The functional test.
pub fn test(path: &str, lba: u32, guard: u64) -> i32 {
    let mut r = Report::new();
    let shift = if lba == 4096 { 12 } else { 9 };
    let nsz = ns_size(path, guard);
    let backend = open_backend(path);
    fill_guard(&backend, nsz, backend_size(path) - nsz);
    let guard_len = backend_size(path) - nsz;
    let mut g = Guest::new();
    let buf = g.alloc_b(64);
    let buf2 = g.alloc_b(64);
    let kd = match KernelDev::open(&g, path, lba, nsz) {
        Ok(d) => d,
        Err(e) => {
            r.eq("open /dev/vhost-nvme and set the backend", "ok", e);
            return 1;
        }
    };
    let mut c = Ctx {
        n: Nvme::new(kd, g),
        backend,
        shift,
        list: 0,
        buf2,
    };
    let Some(info) = r.result("bring-up with 4 I/O queues and dbbuf", c.n.bring_up(4, 256, true)) else {
        return 1;
    };
    c.list = c.n.g.alloc_a(2);
    let id = &info.id_ctrl;
    let serial = id[4..24].to_vec();
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    r.eq("identify: VID", "0x1b36", format!("{:#x}", u16_at(id, 0)));
    r.eq("identify: serial prefix", "VHN", String::from_utf8_lossy(&id[4..7]));
    r.eq("identify: MDTS", 5, id[77]);
    r.eq("identify: VER", "0x10400", format!("{:#x}", u32_at(id, 80)));
    r.eq("identify: OACS (Doorbell Buffer Config)", "0x100", format!("{:#x}", u16_at(id, 256)));
    r.eq("identify: AERL", 3, id[259]);
    r.eq("identify: SQES/CQES", "0x66/0x44", format!("{:#x}/{:#x}", id[512], id[513]));
    r.eq("identify: NN", 1, u32_at(id, 516));
    r.eq("identify: ONCS (DSM, Write Zeroes)", "0xc", format!("{:#x}", u16_at(id, 520)));
    r.eq("identify: VWC", 1, id[525]);
    r.eq("identify: SGLS", 0, u32_at(id, 536));
    r.eq("identify ns: NSZE", nsz >> shift, info.nsze);
    r.eq("identify ns: LBADS", shift, info.lba_shift);
    r.eq("identify ns: DLFEAT", "0x9", format!("{:#x}", info.id_ns[33]));
    r.eq(
        "identify ns list (CNS 02h)",
        "1,0",
        format!("{},{}", u32_at(&info.ns_list, 0), u32_at(&info.ns_list, 4)),
    );
    r.eq("identify ns descriptors (CNS 03h)", 0, info.desc_status);
    r.eq("set features: number of queues (6 asked, 0-based)", "0x50005", format!("{:#x}", info.nq_result));
    r.eq("doorbell buffer config (0x7C)", "Some(0)", format!("{:?}", info.dbbuf_status));
    let (on, sh, _) = c.n.dev.dbbuf();
    r.eq("GET_DBBUF: on", true, on);
    r.yes("GET_DBBUF: shadow page in region A", sh > 0 && sh < A_SIZE);
    let cap = c.n.dev.rd(regs::CAP, 8);
    r.eq("CAP.MQES", 1023, cap & 0xffff);

    let smart0 = c.smart();
    let s0 = c.n.dev.stats();
    let mut rng = Rng::new(42);
    let (mut writes, mut reads) = (0u64, 0u64);
    // Transfers of several shapes: (description, slba, bytes, buffer offset).
    let blocks = nsz >> shift;
    let cases: [(&str, u64, usize, u64); 6] = [
        ("4 KiB", 8, 4096, 0),
        ("8 KiB, PRP2 as second page", 64, 8192, 0),
        ("128 KiB, PRP list", 256, 128 << 10, 0),
        ("64 KiB with PRP1 offset 512, PRP list", 1024, 64 << 10, 512),
        ("12 KiB with PRP1 offset 3584 (3 pages + list)", 2048, 12 << 10, 3584),
        ("last LBAs of the namespace", blocks - (8192 >> shift), 8192, 0),
    ];
    for (desc, slba, len, off) in cases {
        let data = rng.bytes(len);
        let st = c.write(0, slba, &data, buf + off);
        writes += 1;
        r.eq(&format!("write {desc}: status"), 0, st);
        let (st, got) = c.read(1, slba, len, buf2 + off);
        reads += 1;
        r.eq(&format!("read {desc}: status"), 0, st);
        r.eq(&format!("read {desc}: data (fnv)"), fnv(&data), fnv(&got));
        r.eq(&format!("backend {desc}: data (fnv)"), fnv(&data), fnv(&c.on_backend(slba, len)));
    }
    // A chained PRP list: the list starts 2 entries before the end of its
    // page, so its last slot points at the next list page.
    {
        let len = 32usize << 10;
        let data = rng.bytes(len);
        c.n.g.write(buf, &data);
        let lp = c.list + PAGE - 16;
        let mut pages: Vec<u64> = (1..8).map(|i| buf + i * PAGE).collect();
        let next = c.list + PAGE;
        let first_two = [pages[0].to_le_bytes(), next.to_le_bytes()].concat();
        c.n.g.write(lp, &first_two);
        pages.remove(0);
        let rest: Vec<u8> = pages.iter().flat_map(|p| p.to_le_bytes()).collect();
        c.n.g.write(next, &rest);
        let lba = c.lba();
        let s = rw_sqe(io::WRITE, 4096, (len as u64 / lba) as u32, (buf, lp));
        let st = c.n.io_cmd(2, s).map_or(0xffff, |x| x.status);
        writes += 1;
        r.eq("write 32 KiB over a chained PRP list: status", 0, st);
        r.eq("backend 32 KiB chained: data (fnv)", fnv(&data), fnv(&c.on_backend(4096, len)));
    }
    // Flush, FUA.
    let st = c.n.io_cmd(0, Sqe { opcode: io::FLUSH, nsid: 1, ..Sqe::default() }).map_or(0xffff, |x| x.status);
    r.eq("flush: status", 0, st);
    {
        let data = rng.bytes(4096);
        c.n.g.write(buf, &data);
        let mut s = rw_sqe(io::WRITE, 300, (4096 >> shift) as u32, (buf, 0));
        s.cdw[2] |= 1 << 30;
        let st = c.n.io_cmd(3, s).map_or(0xffff, |x| x.status);
        writes += 1;
        r.eq("write with FUA: status", 0, st);
        r.eq("write with FUA: backend data", fnv(&data), fnv(&c.on_backend(300, 4096)));
    }
    // Write Zeroes and DSM deallocate, neighbours intact.
    let span = 16 * 4096usize;
    let per = (4096u64 >> shift) as u32;
    for dsm in [false, true] {
        let base = if dsm { 8192 } else { 6144 };
        let data = rng.bytes(span);
        let st = c.write(0, base, &data, buf);
        writes += 1;
        let name = if dsm { "DSM deallocate" } else { "write zeroes" };
        r.eq(&format!("{name}: pattern written"), 0, st);
        let (a, b) = (u64::from(4 * per), u64::from(8 * per));
        let st = if dsm {
            let ranges = [
                DsmRange { attributes: 0, nlb: 4 * per, slba: base + a },
                DsmRange { attributes: 0, nlb: 4 * per, slba: base + a + u64::from(4 * per) },
            ];
            let raw: Vec<u8> = ranges.iter().flat_map(|x| x.encode()).collect();
            c.n.g.write(buf2, &raw);
            let mut s = Sqe { opcode: io::DSM, nsid: 1, prp1: buf2, ..Sqe::default() };
            s.cdw[0] = 1;
            s.cdw[1] = 1 << 2;
            c.n.io_cmd(1, s).map_or(0xffff, |x| x.status)
        } else {
            let s = rw_sqe(io::WRITE_ZEROES, base + a, 8 * per, (0, 0));
            c.n.io_cmd(1, s).map_or(0xffff, |x| x.status)
        };
        r.eq(&format!("{name}: status"), 0, st);
        let (st, got) = c.read(2, base, span, buf2);
        reads += 1;
        r.eq(&format!("{name}: read status"), 0, st);
        let mut want = data.clone();
        let z = (a << shift) as usize..((a + b) << shift) as usize;
        want[z].fill(0);
        r.eq(&format!("{name}: zeroes inside, pattern around (fnv)"), fnv(&want), fnv(&got));
        r.eq(&format!("{name}: backend content (fnv)"), fnv(&want), fnv(&c.on_backend(base, span)));
    }
    // Exact SMART counters.
    let smart1 = c.smart();
    r.eq("SMART: host write commands", writes, smart1[1] - smart0[1]);
    r.eq("SMART: host read commands", reads, smart1[0] - smart0[0]);

    // Error statuses.
    let errs: Vec<(&str, u16, Sqe)> = vec![
        ("LBA out of range", status::LBA_RANGE, rw_sqe(io::READ, blocks - 1, 2, (buf, 0))),
        ("LBA overflow", status::LBA_RANGE, rw_sqe(io::READ, u64::MAX, 1, (buf, 0))),
        ("invalid opcode", status::INVALID_OPCODE, Sqe { opcode: 0x7f, nsid: 1, ..Sqe::default() }),
        ("invalid namespace", status::INVALID_NS, Sqe { nsid: 9, ..rw_sqe(io::READ, 0, 1, (buf, 0)) }),
        ("PRP1 not dword aligned", status::PRP_OFFSET, rw_sqe(io::READ, 0, 1, (buf + 2, 0))),
        ("PRP2 not page aligned", status::PRP_OFFSET, rw_sqe(io::READ, 0, 16, (buf, buf + 4096 + 8))),
        ("PRP1 outside guest memory (in the hole)", status::DATA_TRANSFER, rw_sqe(io::READ, 0, 1, (A_SIZE + 512, 0))),
        ("PRP1 far outside guest memory", status::DATA_TRANSFER, rw_sqe(io::READ, 0, 1, (1 << 50, 0))),
        ("transfer above MDTS", status::INVALID_FIELD, rw_sqe(io::READ, 0, 257 * (4096 >> shift) as u32, (buf, 0))),
        ("SGL data pointer", status::INVALID_FIELD, Sqe { flags: 0x40, ..rw_sqe(io::READ, 0, 1, (buf, 0)) }),
    ];
    for (desc, want, s) in errs {
        let st = c.n.io_cmd(0, s).map_or(0xffff, |x| x.status);
        r.eq(&format!("error status: {desc}"), format!("{want:#x}"), format!("{st:#x}"));
    }
    r.yes("hole of guest memory untouched", c.n.g.hole_intact());
    let admin_errs: Vec<(&str, u16, Sqe)> = vec![
        ("invalid admin opcode", status::INVALID_OPCODE, Sqe { opcode: 0x3f, ..Sqe::default() }),
        ("create SQ with an existing qid", status::INVALID_QID, {
            let mut s = Sqe { opcode: admin::CREATE_SQ, prp1: c.list, ..Sqe::default() };
            s.cdw[0] = 1 | (15 << 16);
            s.cdw[1] = 1 | (1 << 16);
            s
        }),
        ("create CQ with a bad vector", status::INVALID_VECTOR, {
            let mut s = Sqe { opcode: admin::CREATE_CQ, prp1: c.list, ..Sqe::default() };
            s.cdw[0] = 5 | (15 << 16);
            s.cdw[1] = 3 | (40 << 16);
            s
        }),
        ("create SQ on a missing CQ", status::CQ_INVALID, {
            let mut s = Sqe { opcode: admin::CREATE_SQ, prp1: c.list, ..Sqe::default() };
            s.cdw[0] = 5 | (15 << 16);
            s.cdw[1] = 1 | (9 << 16);
            s
        }),
        ("create CQ of 1 entry", status::INVALID_QSIZE, {
            let mut s = Sqe { opcode: admin::CREATE_CQ, prp1: c.list, ..Sqe::default() };
            s.cdw[0] = 5;
            s.cdw[1] = 3;
            s
        }),
        ("delete CQ with an SQ on it", status::INVALID_DELETE, {
            let mut s = Sqe { opcode: admin::DELETE_CQ, ..Sqe::default() };
            s.cdw[0] = 1;
            s
        }),
        ("delete SQ 0", status::INVALID_QID, Sqe { opcode: admin::DELETE_SQ, ..Sqe::default() }),
        ("unknown log page", status::INVALID_FIELD, {
            let mut s = Sqe { opcode: admin::GET_LOG_PAGE, prp1: buf2, ..Sqe::default() };
            s.cdw[0] = 0x42 | (127 << 16);
            s
        }),
        ("identify CNS 0x1f", status::INVALID_FIELD, {
            let mut s = Sqe { opcode: admin::IDENTIFY, prp1: buf2, ..Sqe::default() };
            s.cdw[0] = 0x1f;
            s
        }),
        ("dbbuf config with unaligned pages", status::INVALID_FIELD, Sqe { opcode: admin::DBBUF_CONFIG, prp1: buf2 + 8, prp2: buf, ..Sqe::default() }),
    ];
    for (desc, want, s) in admin_errs {
        let st = c.n.admin_cmd(s).map_or(0xffff, |x| x.status);
        r.eq(&format!("admin error status: {desc}"), format!("{want:#x}"), format!("{st:#x}"));
    }
    let mut s = Sqe { opcode: admin::GET_FEATURES, ..Sqe::default() };
    s.cdw[0] = 0x06;
    r.eq("get features: volatile write cache enabled", "Some(1)", format!("{:?}", c.n.admin_cmd(s).ok().map(|x| x.result)));
    let mut s = Sqe { opcode: admin::ABORT, ..Sqe::default() };
    s.cdw[0] = 1 | (99 << 16);
    r.eq("abort: not aborted", "Some(1)", format!("{:?}", c.n.admin_cmd(s).ok().map(|x| x.result)));
    // Four AERs are parked (never completed); the fifth exceeds the limit
    // (AERL = 3).
    let cids: Vec<u16> = (0..5).map(|_| c.n.admin_submit(Sqe { opcode: admin::ASYNC_EVENT, ..Sqe::default() })).collect();
    let mut done = Vec::new();
    for _ in 0..50 {
        done.extend(c.n.admin_poll());
        c.n.dev.wait(10);
    }
    let fifth = done.iter().find(|x| x.cid == cids[4]).map(|x| x.status);
    r.eq("AER: fifth exceeds the limit", format!("Some({})", status::AER_LIMIT), format!("{fifth:?}"));
    r.eq("AER: four parked, not completed", 1, done.len());

    // Four queues in parallel: 16 writes in flight on each, then verify.
    {
        let mut datas = Vec::new();
        let mut pending = 0;
        for q in 0..4usize {
            for k in 0..16u64 {
                let d = rng.bytes(4096);
                let slba = 16384 + (q as u64 * 16 + k) * u64::from(per);
                let gb = buf + (q as u64 * 16 + k) * PAGE;
                c.n.g.write(gb, &d);
                c.n.submit(q, rw_sqe(io::WRITE, slba, per, (gb, 0)));
                datas.push((slba, d));
                pending += 1;
            }
        }
        let outstanding: usize = c.n.io.iter().map(|q| q.outstanding).sum();
        r.eq("4 queues: commands in flight at once", 64, outstanding);
        let mut good = 0;
        let mut right_q = true;
        for _ in 0..400 {
            for q in 0..4 {
                for cq in c.n.poll(q) {
                    good += usize::from(ok(&cq));
                    right_q &= cq.sq_id == q as u16 + 1;
                    pending -= 1;
                }
            }
            if pending == 0 {
                break;
            }
            c.n.dev.wait(20);
        }
        r.eq("4 queues: writes completed with success", 64, good);
        r.yes("4 queues: each completion names its own SQ", right_q);
        let same = datas.iter().all(|(slba, d)| c.on_backend(*slba, 4096) == *d);
        r.yes("4 queues: backend holds every write", same);
    }
    let s1 = c.n.dev.stats().since(&s0);
    r.yes("dbbuf on: shadow doorbells were read", s1.shadow_reads > 0);
    r.yes("dbbuf on: EventIdx was written", s1.eventidx_writes > 0);
    r.yes("interrupts signalled", s1.interrupts > 0);

    // MMIO doorbells per command at QD 32, dbbuf on then off.
    let blocks_small = blocks.min(1 << 16);
    let (on_ratio, on_cmds, on_err) = qd_run(&mut c.n, 32, 20_000, blocks_small, shift, buf);
    println!("# QD32 dbbuf on: {on_cmds} commands, {on_ratio:.4} MMIO doorbell writes per command");
    r.eq("QD32 dbbuf on: commands without error", 0, on_err);
    r.yes(&format!("QD32 dbbuf on: MMIO doorbells per command {on_ratio:.4} <= 0.05"), on_ratio <= 0.05 && on_cmds >= 20_000);

    // Doorbell eventfd: with dbbuf on, SQ doorbells of queue 1 become
    // eventfd signals.
    match c.n.dev.db_fd(1) {
        Ok(fd) => {
            c.n.kicks = vec![None, Some(fd)];
            let k0 = c.n.dev.stats();
            let (_, cmds, err) = qd_run(&mut c.n, 4, 2000, blocks_small, shift, buf);
            let d = c.n.dev.stats().since(&k0);
            r.eq("doorbell eventfd: commands completed without error", "2000/0", format!("{cmds}/{err}"));
            r.eq("doorbell eventfd: signals counted by the controller", c.n.kicked, d.kicks);
            c.n.kicks.clear();
        }
        Err(e) => r.eq("doorbell eventfd registered", "ok", e),
    }

    // Reset with I/O in flight (CC.EN = 0), then up again without dbbuf.
    for q in 0..2usize {
        for k in 0..32u64 {
            let gb = buf + (q as u64 * 32 + k) * PAGE;
            c.n.submit(q, rw_sqe(io::WRITE, 32768 + (q as u64 * 32 + k) * u64::from(per), per, (gb, 0)));
        }
    }
    r.result("reset (CC.EN 0) with 64 writes in flight: CSTS.RDY 0", c.n.disable());
    r.eq("after reset: nothing in flight", 0, c.n.dev.stats().inflight);
    r.eq("after reset: dbbuf dropped", false, c.n.dev.dbbuf().0);
    if r.result("bring-up without dbbuf after reset", c.n.bring_up(4, 256, false).map(|_| ())).is_some() {
        c.list = c.n.g.alloc_a(2);
        let data = rng.bytes(8192);
        let st = c.write(0, 40000 % blocks, &data, buf);
        let (st2, got) = c.read(1, 40000 % blocks, 8192, buf2);
        r.eq("after reset: write and read back", "0/0/true", format!("{st}/{st2}/{}", got == data));
        let (off_ratio, off_cmds, off_err) = qd_run(&mut c.n, 32, 5_000, blocks_small, shift, buf);
        println!("# QD32 dbbuf off: {off_cmds} commands, {off_ratio:.4} MMIO doorbell writes per command");
        r.eq("QD32 dbbuf off: commands without error", 0, off_err);
        r.yes(&format!("QD32 dbbuf off: MMIO doorbells per command {off_ratio:.4} >= 1"), off_ratio >= 1.0 && off_cmds >= 5_000);
        r.eq("dbbuf off: GET_DBBUF", false, c.n.dev.dbbuf().0);
    }
    // VHOST_NVME_RESET with I/O in flight.
    for k in 0..32u64 {
        c.n.submit(0, rw_sqe(io::READ, k * u64::from(per), per, (buf + k * PAGE, 0)));
    }
    r.eq("VHOST_NVME_RESET with reads in flight", "ok", c.n.dev.reset().map_or_else(|e| e.to_string(), |_| "ok".into()));
    r.eq("after VHOST_NVME_RESET: CSTS.RDY and CC.EN", "0/0", format!("{}/{}", c.n.dev.rd(regs::CSTS, 4) & 1, c.n.dev.rd(regs::CC, 4) & 1));
    r.eq("after VHOST_NVME_RESET: nothing in flight", 0, c.n.dev.stats().inflight);
    if r.result("bring-up with dbbuf after VHOST_NVME_RESET", c.n.bring_up(2, 64, true).map(|_| ())).is_some() {
        c.list = c.n.g.alloc_a(2);
        let data = rng.bytes(4096);
        let st = c.write(1, 12, &data, buf);
        let (st2, got) = c.read(0, 12, 4096, buf2);
        r.eq("after VHOST_NVME_RESET: write and read back", "0/0/true", format!("{st}/{st2}/{}", got == data));
    }
    // Shutdown.
    let cc = c.n.dev.rd(regs::CC, 4);
    c.n.dev.wr(regs::CC, 4, (cc & !(3 << 14)) | (1 << 14));
    r.eq("shutdown: CSTS.SHST complete", 2, (c.n.dev.rd(regs::CSTS, 4) >> 2) & 3);
    // Bad ioctls.
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&(-1i32).to_le_bytes());
    r.eq("SET_BACKEND while enabled", format!("Err({})", libc::EBUSY), format!("{:?}", c.n.dev.raw(dev::SET_BACKEND, &mut b)));
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&99u32.to_le_bytes());
    b[4..].copy_from_slice(&0i32.to_le_bytes());
    r.eq("SET_IRQ_FD: vector out of range (fd 0 is no eventfd)", format!("Err({})", libc::EINVAL), format!("{:?}", c.n.dev.raw(dev::SET_IRQ_FD, &mut b)));
    b[..4].copy_from_slice(&1u32.to_le_bytes());
    b[4..].copy_from_slice(&9999i32.to_le_bytes());
    r.eq("SET_IRQ_FD: bad fd", format!("Err({})", libc::EBADF), format!("{:?}", c.n.dev.raw(dev::SET_IRQ_FD, &mut b)));
    r.yes("backend beyond the namespace untouched", guard_intact(&c.backend, nsz, guard_len));
    r.yes("hole of guest memory untouched at the end", c.n.g.hole_intact());
    r.eq("debugfs stats: commands as GET_STATS", c.n.dev.stats().commands, debugfs_commands(&serial));
    i32::from(r.failed > 0)
}

/// `commands` in `/sys/kernel/debug/nvme_vhost.<n>/stats` of the
/// controller with serial number `serial` ("VHN" and n in 8 digits).
fn debugfs_commands(serial: &[u8]) -> String {
    let n: u64 = String::from_utf8_lossy(&serial[3..11]).trim().parse().unwrap_or(0);
    let path = format!("/sys/kernel/debug/nvme_vhost.{n}/stats");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("commands ").map(|v| v.trim().to_string()))
            .unwrap_or_default(),
        Err(e) => format!("{path}: {e}"),
    }
}

/// A random command for the fuzzer: mostly plausible, sometimes wild.
fn random_sqe(rng: &mut Rng, admin_q: bool, blocks: u64, arena: u64, arena_len: u64) -> Sqe {
    let pick = |rng: &mut Rng, v: &[u8]| v[rng.below(v.len() as u64) as usize];
    let opcode = if rng.below(8) == 0 {
        rng.next() as u8
    } else if admin_q {
        pick(rng, &[0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a])
    } else {
        pick(rng, &[0x00, 0x01, 0x02, 0x08, 0x09])
    };
    let addr = |rng: &mut Rng| -> u64 {
        match rng.below(10) {
            0 => rng.next(),
            1 => A_SIZE + rng.below(HOLE) / 4 * 4,
            2 => B_GPA + B_SIZE - rng.below(8192) / 4 * 4,
            3 => rng.below(arena_len) + arena,
            _ => arena + rng.below(arena_len / PAGE) * PAGE,
        }
    };
    let mut s = Sqe {
        opcode,
        flags: if rng.below(20) == 0 { rng.next() as u8 } else { 0 },
        nsid: match rng.below(12) {
            0 => rng.next() as u32,
            1 => 0xffff_ffff,
            _ => 1,
        },
        prp1: addr(rng),
        prp2: addr(rng),
        ..Sqe::default()
    };
    for d in s.cdw.iter_mut() {
        *d = rng.next() as u32;
    }
    if !admin_q && rng.below(4) != 0 {
        let slba = rng.below(blocks + 64);
        s.cdw[0] = slba as u32;
        s.cdw[1] = (slba >> 32) as u32;
        let max = if rng.below(4) == 0 { 65536 } else { 300 };
        s.cdw[2] = (s.cdw[2] & 0x4200_0000) | rng.below(max) as u32;
        s.cdw[0] = if opcode == io::DSM { rng.below(8) as u32 } else { s.cdw[0] };
    }
    if admin_q {
        // Never touch the fuzzer's own queues (1..=4) or park AERs.
        let qid = (s.cdw[0] & 0xffff) as u16;
        if matches!(opcode, 0x00 | 0x01 | 0x04 | 0x05) && (1..=4).contains(&qid) {
            s.cdw[0] = (s.cdw[0] & !0xffff) | 9;
        }
        if opcode == admin::ASYNC_EVENT || opcode == admin::DBBUF_CONFIG {
            s.opcode = admin::GET_FEATURES;
        }
        if matches!(opcode, admin::CREATE_SQ | admin::CREATE_CQ) {
            // Queues the fuzzer creates live in the arena, not on its own.
            s.prp1 = arena + rng.below(arena_len / PAGE) * PAGE;
        }
    }
    s
}

/// The fuzz run.
pub fn fuzz(path: &str, count: u64, seed: u64, guard: u64) -> i32 {
    let mut r = Report::new();
    let nsz = ns_size(path, guard);
    let backend = open_backend(path);
    let guard_len = backend_size(path) - nsz;
    fill_guard(&backend, nsz, guard_len);
    let mut g = Guest::new();
    let arena = g.alloc_b(1024);
    let arena_len = 1024 * PAGE;
    let kd = match KernelDev::open(&g, path, 512, nsz) {
        Ok(d) => d,
        Err(e) => {
            r.eq("fuzz: open", "ok", e);
            return 1;
        }
    };
    let mut n = Nvme::new(kd, g);
    if r.result("fuzz: bring-up", n.bring_up(4, 64, seed % 2 == 1).map(|_| ())).is_none() {
        return 1;
    }
    let blocks = nsz >> 9;
    let mut rng = Rng::new(seed);
    let (mut sent, mut completed, mut errors, mut admin_sent) = (0u64, 0u64, 0u64, 0u64);
    let mut outstanding = std::collections::HashMap::new();
    let mut stalls = 0;
    let t0 = Instant::now();
    while completed < count {
        while sent < count && outstanding.len() < 64 {
            if rng.below(10) == 0 {
                let s = random_sqe(&mut rng, true, blocks, arena, arena_len);
                sent += 1;
                admin_sent += 1;
                match n.admin_cmd(s) {
                    Ok(c) => {
                        completed += 1;
                        errors += u64::from(!ok(&c));
                    }
                    Err(e) => {
                        r.eq("fuzz: admin command completed", "ok", e);
                        return 1;
                    }
                }
                continue;
            }
            let q = rng.below(4) as usize;
            if !n.io[q].room() {
                break;
            }
            let s = random_sqe(&mut rng, false, blocks, arena, arena_len);
            let cid = n.submit(q, s);
            outstanding.insert((q, cid), s.opcode);
            sent += 1;
        }
        let mut got = 0;
        for q in 0..4 {
            for c in n.poll(q) {
                if outstanding.remove(&(q, c.cid)).is_some() {
                    completed += 1;
                    errors += u64::from(!ok(&c));
                    got += 1;
                }
            }
        }
        if got == 0 {
            if !n.dev.wait(100) {
                stalls += 1;
                if stalls > 100 {
                    break;
                }
            }
        } else {
            stalls = 0;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("# fuzz: {sent} commands ({admin_sent} admin), {errors} completed with an error status, {secs:.1} s");
    r.eq("fuzz: commands sent", count, sent);
    r.eq("fuzz: every command completed with a status", count, completed);
    r.yes("fuzz: some commands succeeded and some failed", errors > 0 && errors < completed);
    r.yes("fuzz: guest memory outside the table untouched", n.g.hole_intact());
    r.yes("fuzz: backend beyond the namespace untouched", guard_intact(&backend, nsz, guard_len));
    // The controller still works.
    if r.result("fuzz: bring-up after the fuzz", n.bring_up(1, 64, true).map(|_| ())).is_some() {
        let data = Rng::new(3).bytes(4096);
        let b = B_GPA;
        n.g.write(b, &data);
        let w = n.io_cmd(0, rw_sqe(io::WRITE, 0, 8, (b, 0))).map_or(0xffff, |c| c.status);
        n.g.write(b, &[0u8; 4096]);
        let rd = n.io_cmd(0, rw_sqe(io::READ, 0, 8, (b, 0))).map_or(0xffff, |c| c.status);
        let mut got = vec![0u8; 4096];
        n.g.read(b, &mut got);
        r.eq("fuzz: verified I/O afterwards", "0/0/true", format!("{w}/{rd}/{}", got == data));
    }
    i32::from(r.failed > 0)
}

fn cpu_secs() -> f64 {
    // SAFETY: getrusage(2) into a zeroed struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above. RUSAGE_SELF counts every thread of the process,
    // the controller's worker (a vhost_task of this process) included.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// The benchmark: 4 KiB random reads on one queue at each depth, shadow
/// doorbells on and off.
pub fn bench(path: &str, qds: &[usize], secs: u64) -> i32 {
    let nsz = ns_size(path, 0);
    let mut per_cpu = Vec::new();
    for dbbuf in [true, false] {
        let mut g = Guest::new();
        let bufs = g.alloc_b(64);
        let kd = KernelDev::open(&g, path, 512, nsz).expect("open /dev/vhost-nvme");
        let mut n = Nvme::new(kd, g);
        n.bring_up(1, 256, dbbuf).expect("bring-up");
        let blocks = nsz >> 9;
        for &qd in qds {
            let before = n.dev.stats();
            let c0 = cpu_secs();
            let t0 = Instant::now();
            let mut rng = Rng::new(qd as u64);
            let (mut sent, mut done) = (0u64, 0u64);
            let end = t0 + Duration::from_secs(secs);
            loop {
                let now = Instant::now();
                while now < end && (sent - done) < qd as u64 {
                    let slba = rng.below(blocks / 8) * 8;
                    n.submit(0, rw_sqe(io::READ, slba, 8, (bufs + (sent % 64) * PAGE, 0)));
                    sent += 1;
                }
                if sent == done && now >= end {
                    break;
                }
                let c = n.poll(0);
                if c.is_empty() {
                    n.dev.wait(100);
                }
                done += c.len() as u64;
            }
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_secs() - c0;
            let d = n.dev.stats().since(&before);
            per_cpu.push((dbbuf, qd, done as f64 / cpu.max(1e-9), done as f64 / wall));
            println!(
                "qd={qd} dbbuf={} iops={:.0} cpu_s={cpu:.2} wall_s={wall:.2} iops_per_cpu_s={:.0} mmio_per_cmd={:.4} irq_per_cmd={:.4}",
                if dbbuf { "on" } else { "off" },
                done as f64 / wall,
                done as f64 / cpu.max(1e-9),
                d.mmio as f64 / d.commands.max(1) as f64,
                d.interrupts as f64 / d.commands.max(1) as f64,
            );
        }
    }
    for &qd in qds {
        let get = |on: bool| per_cpu.iter().find(|p| p.0 == on && p.1 == qd).map_or(0.0, |p| p.2);
        let iops = |on: bool| per_cpu.iter().find(|p| p.0 == on && p.1 == qd).map_or(0.0, |p| p.3);
        println!(
            "qd={qd}: dbbuf on / off: IOPS {:.2}x, IOPS per CPU second {:.2}x",
            iops(true) / iops(false).max(1e-9),
            get(true) / get(false).max(1e-9)
        );
    }
    0
}
