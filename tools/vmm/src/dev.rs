// SPDX-License-Identifier: GPL-2.0

//! The controller behind the driver: `/dev/vhost-nvme` through its ioctls
//! ([`KernelDev`]), or the same controller core run in process over a
//! memory backend ([`SimDev`], for host tests of the driver and the core).

use crate::guest::Guest;
use std::io;
use vq_pure::nvme_ctrl as ctrl;

/// Counters of `VHOST_NVME_GET_STATS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Commands fetched.
    pub commands: u64,
    /// MMIO doorbell writes.
    pub mmio: u64,
    /// Doorbell eventfd signals.
    pub kicks: u64,
    /// Shadow doorbell reads.
    pub shadow_reads: u64,
    /// EventIdx writes.
    pub eventidx_writes: u64,
    /// Interrupts signalled.
    pub interrupts: u64,
    /// Commands completed with an error.
    pub errors: u64,
    /// Commands in flight in the backend.
    pub inflight: u64,
}

impl Stats {
    /// Field-wise `self - before`.
    pub fn since(&self, b: &Stats) -> Stats {
        Stats {
            commands: self.commands - b.commands,
            mmio: self.mmio - b.mmio,
            kicks: self.kicks - b.kicks,
            shadow_reads: self.shadow_reads - b.shadow_reads,
            eventidx_writes: self.eventidx_writes - b.eventidx_writes,
            interrupts: self.interrupts - b.interrupts,
            errors: self.errors - b.errors,
            inflight: self.inflight,
        }
    }
}

/// A controller seen from the guest.
pub trait Dev {
    /// A BAR0 read of `w` (4 or 8) bytes.
    fn rd(&mut self, off: u32, w: u32) -> u64;
    /// A BAR0 write.
    fn wr(&mut self, off: u32, w: u32, v: u64);
    /// Waits up to `ms` for an interrupt on any vector; true if one came.
    fn wait(&mut self, ms: i32) -> bool;
    /// The counters.
    fn stats(&mut self) -> Stats;
    /// The Doorbell Buffer Config state: (on, shadow, eventidx).
    fn dbbuf(&mut self) -> (bool, u64, u64);
    /// `VHOST_NVME_RESET`.
    fn reset(&mut self) -> io::Result<()>;
}

const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | (0xAF << 8) | nr
}
const SET_OWNER: u64 = ioc(0, 0xE0, 0);
const SET_MEM_TABLE: u64 = ioc(1, 0xE1, 8);
/// `VHOST_NVME_SET_BACKEND`.
pub const SET_BACKEND: u64 = ioc(1, 0xE2, 16);
const REG_READ: u64 = ioc(3, 0xE3, 16);
const REG_WRITE: u64 = ioc(1, 0xE4, 16);
/// `VHOST_NVME_SET_IRQ_FD`.
pub const SET_IRQ_FD: u64 = ioc(1, 0xE5, 8);
/// `VHOST_NVME_SET_DB_FD`.
pub const SET_DB_FD: u64 = ioc(1, 0xE6, 8);
const GET_DBBUF: u64 = ioc(2, 0xE7, 24);
const RESET: u64 = ioc(0, 0xE8, 0);
const GET_STATS: u64 = ioc(2, 0xE9, 64);

/// `/dev/vhost-nvme`.
pub struct KernelDev {
    fd: i32,
    irqs: Vec<i32>,
}

fn ioctl(fd: i32, req: u64, arg: *mut u8) -> io::Result<()> {
    // SAFETY: `arg` points at a buffer of the size encoded in `req`.
    let r = unsafe { libc::ioctl(fd, req as _, arg) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl KernelDev {
    /// Opens a controller over `guest`, backed by `backend` (a path) with
    /// LBAs of `lba` bytes and a namespace of `size` bytes (0: all).
    pub fn open(guest: &Guest, backend: &str, lba: u32, size: u64) -> io::Result<Self> {
        // SAFETY: plain open(2).
        let fd = unsafe { libc::open(c"/dev/vhost-nvme".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        ioctl(fd, SET_OWNER, std::ptr::null_mut())?;
        let mut mem = guest.vhost_memory();
        ioctl(fd, SET_MEM_TABLE, mem.as_mut_ptr())?;
        let path = std::ffi::CString::new(backend).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: plain open(2).
        let bfd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if bfd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut b = Vec::new();
        b.extend_from_slice(&bfd.to_le_bytes());
        b.extend_from_slice(&lba.to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        let r = ioctl(fd, SET_BACKEND, b.as_mut_ptr());
        // SAFETY: the controller holds its own reference.
        unsafe { libc::close(bfd) };
        r?;
        let mut irqs = Vec::new();
        for v in 0..ctrl::VECTORS as u32 {
            // SAFETY: plain eventfd(2).
            let e = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if e < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut a = Vec::new();
            a.extend_from_slice(&v.to_le_bytes());
            a.extend_from_slice(&e.to_le_bytes());
            ioctl(fd, SET_IRQ_FD, a.as_mut_ptr())?;
            irqs.push(e);
        }
        Ok(KernelDev { fd, irqs })
    }

    /// Registers a new doorbell eventfd for queue `qid`; returns it.
    pub fn db_fd(&mut self, qid: u32) -> io::Result<i32> {
        // SAFETY: plain eventfd(2).
        let e = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if e < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut a = Vec::new();
        a.extend_from_slice(&qid.to_le_bytes());
        a.extend_from_slice(&e.to_le_bytes());
        ioctl(self.fd, SET_DB_FD, a.as_mut_ptr())?;
        Ok(e)
    }

    /// A raw ioctl with argument bytes `arg`: the errno on failure.
    pub fn raw(&self, req: u64, arg: &mut [u8]) -> Result<(), i32> {
        ioctl(self.fd, req, arg.as_mut_ptr()).map_err(|e| e.raw_os_error().unwrap_or(0))
    }

}

impl Drop for KernelDev {
    fn drop(&mut self) {
        // SAFETY: our descriptors.
        unsafe {
            libc::close(self.fd);
            for &e in &self.irqs {
                libc::close(e);
            }
        }
    }
}

fn reg(off: u32, w: u32, v: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&w.to_le_bytes());
    b[8..].copy_from_slice(&v.to_le_bytes());
    b
}

impl Dev for KernelDev {
    fn rd(&mut self, off: u32, w: u32) -> u64 {
        let mut b = reg(off, w, 0);
        ioctl(self.fd, REG_READ, b.as_mut_ptr()).expect("REG_READ");
        u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]))
    }

    fn wr(&mut self, off: u32, w: u32, v: u64) {
        let mut b = reg(off, w, v);
        ioctl(self.fd, REG_WRITE, b.as_mut_ptr()).expect("REG_WRITE");
    }

    fn wait(&mut self, ms: i32) -> bool {
        let mut fds: Vec<libc::pollfd> = self
            .irqs
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, ms) };
        if n <= 0 {
            return false;
        }
        for p in &fds {
            if p.revents & libc::POLLIN != 0 {
                let mut v = 0u64;
                // SAFETY: reads 8 bytes into `v`.
                unsafe { libc::read(p.fd, &mut v as *mut u64 as *mut _, 8) };
            }
        }
        true
    }

    fn stats(&mut self) -> Stats {
        let mut b = [0u8; 64];
        ioctl(self.fd, GET_STATS, b.as_mut_ptr()).expect("GET_STATS");
        let f = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
        Stats {
            commands: f(0),
            mmio: f(1),
            kicks: f(2),
            shadow_reads: f(3),
            eventidx_writes: f(4),
            interrupts: f(5),
            errors: f(6),
            inflight: f(7),
        }
    }

    fn dbbuf(&mut self) -> (bool, u64, u64) {
        let mut b = [0u8; 24];
        ioctl(self.fd, GET_DBBUF, b.as_mut_ptr()).expect("GET_DBBUF");
        let f = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        (b[16] != 0, f(0), f(8))
    }

    fn reset(&mut self) -> io::Result<()> {
        ioctl(self.fd, RESET, std::ptr::null_mut())
    }
}

/// The controller core in process, for host tests.
#[cfg(test)]
pub use sim::SimDev;

#[cfg(test)]
mod sim {
    use super::{Dev, Stats};
    use crate::guest::Guest;
    use std::collections::VecDeque;
    use std::io;
    use vq_pure::nvme_ctrl::{self as ctrl, Ctrl, Host, Io};

    /// The controller core in process, over a memory backend: I/O completes
    /// when the driver waits.
    pub struct SimDev {
        ctrl: Box<Ctrl<64>>,
        backend: Vec<u8>,
        done: VecDeque<(u16, u16)>,
        irq: u32,
        ranges: Vec<(u64, u64)>,
    }

    struct SimHost<'a> {
        backend: &'a mut Vec<u8>,
        done: &'a mut VecDeque<(u16, u16)>,
        irq: &'a mut u32,
        ranges: &'a mut Vec<(u64, u64)>,
    }

    impl SimHost<'_> {
        fn copy(&mut self, segs: &[ctrl::Seg], pos: u64, write: bool) {
            let mut p = pos as usize;
            for s in segs {
                let n = s.len as usize;
                // SAFETY: the core only passes addresses it translated
                // through the memory table, i.e. inside the guest mapping.
                unsafe {
                    let g = s.uaddr as *mut u8;
                    if write {
                        std::ptr::copy_nonoverlapping(g, self.backend.as_mut_ptr().add(p), n);
                    } else {
                        std::ptr::copy_nonoverlapping(self.backend.as_ptr().add(p), g, n);
                    }
                }
                p += n;
            }
        }
    }

    impl Host for SimHost<'_> {
        fn read(&mut self, uaddr: u64, buf: &mut [u8]) -> bool {
            // SAFETY: as in `copy`.
            unsafe { std::ptr::copy_nonoverlapping(uaddr as *const u8, buf.as_mut_ptr(), buf.len()) };
            true
        }
        fn write(&mut self, uaddr: u64, buf: &[u8]) -> bool {
            // SAFETY: as in `copy`.
            unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), uaddr as *mut u8, buf.len()) };
            true
        }
        fn mb(&mut self) {
            std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        }
        fn irq(&mut self, vector: u16) {
            *self.irq |= 1 << vector;
        }
        fn push_range(&mut self, pos: u64, len: u64) -> bool {
            self.ranges.push((pos, len));
            true
        }
        fn clear_ranges(&mut self) {
            self.ranges.clear();
        }
        fn submit(&mut self, tag: u16, op: &Io<'_>) -> Result<(), u16> {
            match *op {
                Io::Read { pos, segs, .. } => self.copy(segs, pos, false),
                Io::Write { pos, segs, .. } => self.copy(segs, pos, true),
                Io::Flush => {}
                Io::WriteZeroes { pos, len, .. } => self.backend[pos as usize..(pos + len) as usize].fill(0),
                Io::Discard => {
                    for (p, l) in self.ranges.drain(..) {
                        self.backend[p as usize..(p + l) as usize].fill(0);
                    }
                }
            }
            self.done.push_back((tag, 0));
            Ok(())
        }
    }

    impl SimDev {
        /// A controller over `guest` with a zeroed backend of `size` bytes.
        pub fn new(guest: &Guest, lba_shift: u8, size: u64) -> Self {
            let mut c = Box::new(Ctrl::<64>::new(b"SIM00001", 1));
            let mem = guest.vhost_memory();
            let mut regions = Vec::new();
            for i in 0..2 {
                let r = &mem[8 + 32 * i..8 + 32 * (i + 1)];
                let f = |j: usize| u64::from_le_bytes(r[j..j + 8].try_into().unwrap_or([0; 8]));
                regions.push(vq_pure::prp::Region {
                    gpa: f(0),
                    size: f(8),
                    uaddr: f(16),
                });
            }
            let table = vq_pure::prp::MemTable::<64>::new(&regions).expect("memory table");
            assert!(c.set_mem(&table));
            assert!(c.set_ns(Some(ctrl::Ns {
                blocks: size >> lba_shift,
                lba_shift,
            })));
            SimDev {
                ctrl: c,
                backend: vec![0; size as usize],
                done: VecDeque::new(),
                irq: 0,
                ranges: Vec::new(),
            }
        }

        /// `VHOST_NVME_SET_CONFIG`: serial number and I/O queue pairs.
        pub fn configure(&mut self, serial: &[u8], queues: u32) -> Result<(), ()> {
            self.ctrl.configure(serial, queues)
        }

        /// The backend's bytes.
        pub fn backend(&self) -> &[u8] {
            &self.backend
        }

        fn parts(&mut self) -> (&mut Ctrl<64>, SimHost<'_>) {
            (
                &mut self.ctrl,
                SimHost {
                    backend: &mut self.backend,
                    done: &mut self.done,
                    irq: &mut self.irq,
                    ranges: &mut self.ranges,
                },
            )
        }
    }

    impl Dev for SimDev {
        fn rd(&mut self, off: u32, w: u32) -> u64 {
            self.ctrl.regs.read(off, w).unwrap_or(u64::MAX)
        }
        fn wr(&mut self, off: u32, w: u32, v: u64) {
            let (c, mut h) = self.parts();
            let _ = c.reg_write(&mut h, off, w, v);
        }
        fn wait(&mut self, _ms: i32) -> bool {
            loop {
                let (c, mut h) = self.parts();
                let mut work = c.process(&mut h);
                while let Some((tag, st)) = h.done.pop_front() {
                    c.complete(&mut h, tag, st);
                    work = true;
                }
                c.flush_irqs(&mut h);
                if !work && !c.arm(&mut h) {
                    break;
                }
            }
            std::mem::take(&mut self.irq) != 0
        }
        fn stats(&mut self) -> Stats {
            let s = self.ctrl.stats;
            Stats {
                commands: s.commands,
                mmio: s.mmio_doorbells,
                kicks: s.kick_doorbells,
                shadow_reads: s.shadow_reads,
                eventidx_writes: s.eventidx_writes,
                interrupts: s.interrupts,
                errors: s.errors,
                inflight: self.ctrl.inflight() as u64,
            }
        }
        fn dbbuf(&mut self) -> (bool, u64, u64) {
            let d = self.ctrl.dbbuf();
            (d.enabled, d.shadow, d.eventidx)
        }
        fn reset(&mut self) -> io::Result<()> {
            self.ctrl.reset();
            while self.ctrl.busy() {
                let (c, mut h) = self.parts();
                while let Some((tag, st)) = h.done.pop_front() {
                    c.complete(&mut h, tag, st);
                }
            }
            Ok(())
        }
    }
}
