// SPDX-License-Identifier: GPL-2.0

//! The compression engine's algorithm checker and accelerator health
//! (after QZFS, USENIX ATC'19, §3: "algorithm checker" and "offload
//! module"; `shared/reference/qat-acomp.md`).
//!
//! Per request the volume asks [`Engine::accel`] for the accelerator: an
//! asynchronous acomp provider of `deflate` (`qat_deflate` on QAT) that is
//! present, healthy, and allowed by the [`Policy`]. Without one, software
//! deflate (`deflate-generic`, synchronous) compresses, unless the policy
//! is `accel` (store raw, spend no CPU) or `off`.
//!
//! Failures (`Engine::fail`): any accelerator error other than an output
//! overflow (`E2BIG` from QAT, `ENOSPC` from software: the block is stored
//! raw), and any request not completed within [`ACCEL_TIMEOUT_MS`], marks
//! the accelerator unhealthy. The volume redoes that request in software;
//! the transform is released (requests are per submission, so nothing of
//! the provider stays referenced and its module can be unloaded), and a
//! later write probes again ([`Engine::probe`]) after a backoff that
//! doubles from [`BACKOFF_MIN_MS`] to [`BACKOFF_MAX_MS`] while probes fail
//! or the accelerator fails again within [`HEALTHY_RESET_MS`] of a good
//! probe.
//! A probe allocates a new transform (so a provider registered after the
//! volume was created, such as a QAT device brought up later, is picked
//! up), compresses a known block on it and checks the result with the
//! software inflater before offloading resumes.

use crate::compress::gzip;
use crate::config::Policy;
use crate::format::BLOCK;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{Arc, Mutex};
use kernel::time::{Delta, Instant, Monotonic};
use kstor::acomp::{Job, Tfm};
use kstor::zlib::Inflater;

/// How long a request may stay with the accelerator before it counts as
/// failed and is redone in software, in milliseconds.
pub const ACCEL_TIMEOUT_MS: u32 = 2000;
/// First wait before probing a failed or absent accelerator again, ms.
pub const BACKOFF_MIN_MS: i64 = 100;
/// Longest wait between probes, ms.
pub const BACKOFF_MAX_MS: i64 = 5000;
/// An accelerator healthy this long (ms) before failing is probed again
/// after [`BACKOFF_MIN_MS`]; one failing sooner waits twice as long as
/// the last time.
pub const HEALTHY_RESET_MS: i64 = 10_000;

/// The accelerator's state, as `status` and `stats` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// In use.
    Healthy = 0,
    /// Failed; software takes over until a probe succeeds.
    Unhealthy = 1,
    /// No asynchronous provider of `deflate` is registered (yet).
    Absent = 2,
    /// The policy does not use it (`software`, `off`).
    Disabled = 3,
}

impl Health {
    fn from_u32(v: u32) -> Health {
        match v {
            0 => Health::Healthy,
            1 => Health::Unhealthy,
            2 => Health::Absent,
            _ => Health::Disabled,
        }
    }

    /// The name in `status` and `stats`.
    pub fn name(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Absent => "absent",
            Health::Disabled => "disabled",
        }
    }
}

crate::stats::counters! {
    /// Counters of the engine, exact (each bumped once per event).
    pub struct EngineStats {
        /// Blocks compressed by the accelerator (and framed by us).
        offloaded,
        /// Blocks compressed in software.
        sw_compressed,
        /// Accelerator requests redone in software after an error or timeout.
        fallback,
        /// Accelerator errors (other than output overflow), timeouts included.
        accel_errors,
        /// Of those, requests that did not complete in time.
        accel_timeouts,
        /// Accelerator outputs over the 90% budget (`E2BIG`): stored raw.
        accel_overflows,
        /// Blocks the compressibility checker skipped (stored raw).
        skipped,
        /// Probes of the accelerator, and the successful ones.
        probes,
        /// Probes that enabled the accelerator.
        probes_ok,
    }
}

struct Inner {
    accel: Option<Arc<Tfm>>,
    next_probe: Instant<Monotonic>,
    backoff_ms: i64,
    /// When the accelerator last became healthy.
    healthy_since: Instant<Monotonic>,
    /// Driver of the accelerator last in use (for `status`).
    driver: [u8; 32],
}

/// What a probe found.
pub enum Probe {
    /// Nothing to do, or done (the job is idle).
    Done,
    /// The probe request did not complete: the job is still in flight and
    /// must be set aside (see [`Job`]'s `Drop`).
    Stuck,
}

/// Engine state of one volume.
#[pin_data]
pub struct Engine {
    #[pin]
    inner: Mutex<Inner>,
    policy: Atomic<u32>,
    health: Atomic<u32>,
    probing: Atomic<bool>,
    /// The counters.
    pub stats: EngineStats,
}

fn name_buf(s: &CStr) -> [u8; 32] {
    let mut b = [0u8; 32];
    let d = s.to_bytes();
    let n = d.len().min(31);
    b[..n].copy_from_slice(&d[..n]);
    b
}

fn buf_str(b: &[u8; 32]) -> &str {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    core::str::from_utf8(&b[..n]).unwrap_or("?")
}

/// A compressible 4 KiB probe block: numbered lines of text.
fn probe_pattern(buf: &mut [u8]) {
    let line = b"vdo_qat accelerator probe, line 0000 of a compressible block\n";
    for (i, chunk) in buf.chunks_mut(line.len()).enumerate() {
        let n = chunk.len();
        chunk.copy_from_slice(&line[..n]);
        let digits = [(i / 1000) % 10, (i / 100) % 10, (i / 10) % 10, i % 10];
        for (d, v) in digits.iter().enumerate() {
            if let Some(c) = chunk.get_mut(32 + d) {
                *c = b'0' + *v as u8;
            }
        }
    }
}

impl Engine {
    /// An engine with `policy`; with an accelerating policy the first
    /// write probes for the accelerator.
    pub fn new(policy: Policy) -> impl PinInit<Self> {
        let health = if policy.wants_accel() {
            Health::Absent
        } else {
            Health::Disabled
        };
        pin_init!(Engine {
            inner <- new_mutex!(Inner {
                accel: None,
                next_probe: Instant::now(),
                backoff_ms: BACKOFF_MIN_MS,
                healthy_since: Instant::now(),
                driver: [0; 32],
            }),
            policy: Atomic::new(policy as u32),
            health: Atomic::new(health as u32),
            probing: Atomic::new(false),
            stats: EngineStats::default(),
        })
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Relaxed) as u8)
    }

    /// The accelerator's state.
    pub fn health(&self) -> Health {
        Health::from_u32(self.health.load(Relaxed))
    }

    /// Sets the policy. `software` and `off` release the accelerator at
    /// once (requests in flight keep their own reference until they
    /// complete); `auto` and `accel` probe for it at the next write.
    pub fn set_policy(&self, p: Policy) {
        let mut g = self.inner.lock();
        self.policy.store(p as u32, Relaxed);
        if !p.wants_accel() {
            g.accel = None;
            self.health.store(Health::Disabled as u32, Relaxed);
        } else if self.health() == Health::Disabled {
            g.next_probe = Instant::now();
            g.backoff_ms = BACKOFF_MIN_MS;
            self.health.store(Health::Absent as u32, Relaxed);
        }
    }

    /// The accelerator to submit to: `None` unless the policy uses it and
    /// it is healthy.
    pub fn accel(&self) -> Option<Arc<Tfm>> {
        if self.health() != Health::Healthy || !self.policy().wants_accel() {
            return None;
        }
        self.inner.lock().accel.clone()
    }

    /// The accelerator's driver name if it is in use, else `None`.
    pub fn with_driver<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        let g = self.inner.lock();
        if g.accel.is_some() && self.health() == Health::Healthy {
            f(Some(buf_str(&g.driver)))
        } else {
            f(None)
        }
    }

    /// Records that a request on `tfm` failed with `e` (not an output
    /// overflow): stops offloading if `tfm` is the current accelerator.
    pub fn fail(&self, tfm: &Arc<Tfm>, e: Error) {
        self.stats.accel_errors.add(1, Relaxed);
        if e == ETIMEDOUT {
            self.stats.accel_timeouts.add(1, Relaxed);
        }
        let mut g = self.inner.lock();
        let current = g.accel.as_ref().is_some_and(|a| Arc::ptr_eq(a, tfm));
        if !current {
            return;
        }
        g.accel = None;
        self.health.store(Health::Unhealthy as u32, Relaxed);
        // A device that fails again soon after a good probe waits longer
        // each time; one that worked for a while starts over.
        g.backoff_ms = if g.healthy_since.elapsed().as_millis() >= HEALTHY_RESET_MS {
            BACKOFF_MIN_MS
        } else {
            (g.backoff_ms * 2).min(BACKOFF_MAX_MS)
        };
        g.next_probe = Instant::now() + Delta::from_millis(g.backoff_ms);
        pr_warn!(
            "accelerator {} failed (error {}): software takes over, probing again in {} ms\n",
            buf_str(&g.driver),
            e.to_errno(),
            g.backoff_ms
        );
    }

    /// Claims a due probe: true (and the caller must call
    /// [`Engine::probe`]) when the policy uses the accelerator, it is not
    /// in use, its backoff has passed and no other lane is probing.
    pub fn claim_probe(&self) -> bool {
        let h = self.health();
        if h == Health::Healthy || h == Health::Disabled || !self.policy().wants_accel() {
            return false;
        }
        let due = self.inner.lock().next_probe;
        if (due - Instant::<Monotonic>::now()).as_nanos() > 0 {
            return false;
        }
        if self.probing.cmpxchg(false, true, Relaxed).is_err() {
            return false;
        }
        // Another lane's probe may have just succeeded.
        if self.health() == Health::Healthy {
            self.probing.store(false, Relaxed);
            return false;
        }
        true
    }

    /// Runs a claimed probe with the idle `job`; `inf` and `scratch` (4 KiB)
    /// check the accelerator's output.
    ///
    /// # Context
    ///
    /// Process context; waits up to [`ACCEL_TIMEOUT_MS`].
    pub fn probe(&self, job: &mut Job, inf: &mut Inflater, scratch: &mut [u8]) -> Probe {
        self.stats.probes.add(1, Relaxed);
        let mut stuck = false;
        let found = match Tfm::new(c"deflate", false) {
            Ok(t) if t.is_async() => {
                let ok = self.try_accel(&t, job, inf, scratch, &mut stuck);
                Some((t, ok))
            }
            _ => None,
        };
        let present = found.is_some();
        let mut g = self.inner.lock();
        let now = Instant::now();
        match found {
            Some((t, true)) if self.policy().wants_accel() => {
                g.driver = name_buf(t.driver_name());
                g.accel = Some(t);
                g.healthy_since = now;
                self.health.store(Health::Healthy as u32, Relaxed);
                self.stats.probes_ok.add(1, Relaxed);
                pr_info!("compression offloaded to {}\n", buf_str(&g.driver));
            }
            Some(_) | None => {
                if self.policy().wants_accel() {
                    let h = if present {
                        Health::Unhealthy
                    } else {
                        Health::Absent
                    };
                    self.health.store(h as u32, Relaxed);
                }
                g.next_probe = now + Delta::from_millis(g.backoff_ms);
                g.backoff_ms = (g.backoff_ms * 2).min(BACKOFF_MAX_MS);
            }
        }
        drop(g);
        self.probing.store(false, Relaxed);
        if stuck {
            Probe::Stuck
        } else {
            Probe::Done
        }
    }

    /// Compresses the probe block on `t` and checks it inflates back.
    fn try_accel(
        &self,
        t: &Arc<Tfm>,
        job: &mut Job,
        inf: &mut Inflater,
        scratch: &mut [u8],
        stuck: &mut bool,
    ) -> bool {
        let Ok(src) = job.src_mut() else {
            return false;
        };
        probe_pattern(&mut src[..]);
        let budget = gzip::deflate_budget(BLOCK);
        if job.submit(t, true, BLOCK, 0..budget).is_err() {
            return false;
        }
        let n = match job.wait(ACCEL_TIMEOUT_MS) {
            Ok(n) => n,
            Err(e) => {
                *stuck = e == ETIMEDOUT;
                return false;
            }
        };
        let Ok((src, dst)) = job.buffers() else {
            return false;
        };
        let Some(out) = dst.get(..n) else {
            return false;
        };
        matches!(inf.inflate_raw(out, scratch), Ok(m) if m == BLOCK)
            && scratch.get(..BLOCK) == Some(&src[..])
    }
}
