// SPDX-License-Identifier: GPL-2.0

//! Counters, the status line and the `stats` message. Each counter is
//! listed once, in [`counters!`]: its field, its initial value and its
//! `name=value` output come from that one list.

use crate::config::Policy;
use crate::format;
use crate::volume::{Mode, Volume};
use core::fmt::Write;
use kernel::sync::atomic::Relaxed;

/// Declares a struct of `Atomic<u64>` counters, its zeroed `Default`,
/// and `write_kv`, which writes `name=value ` for each in order.
macro_rules! counters {
    ($(#[$sm:meta])* pub struct $name:ident { $($(#[$m:meta])* $f:ident,)* }) => {
        $(#[$sm])*
        pub struct $name {
            $($(#[$m])* pub $f: kernel::sync::atomic::Atomic<u64>,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $($f: kernel::sync::atomic::Atomic::new(0),)* }
            }
        }

        impl $name {
            /// Writes every counter as `name=value ` (trailing space).
            pub fn write_kv(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
                $(write!(
                    out,
                    concat!(stringify!($f), "={} "),
                    self.$f.load(kernel::sync::atomic::Relaxed)
                )?;)*
                Ok(())
            }
        }
    };
}
pub(crate) use counters;

counters! {
    /// Counters reported by `status` and the `stats` message. Exact: each is
    /// bumped once per event.
    pub struct Stats {
        /// Read bios.
        reads,
        /// Write bios with data.
        writes,
        /// Empty PREFLUSH bios.
        flushes,
        /// Writes with FUA.
        fua,
        /// Discard bios.
        discards,
        /// Writes shorter than a block (read-modify-write).
        partial_writes,
        /// Blocks written as all zeros (stored as unmapped).
        zero_blocks,
        /// Writes that shared an existing copy.
        dedup_hits,
        /// Blocks stored as gzip fragments.
        compressed,
        /// Blocks stored raw (incompressible, over 90%, or compression off).
        raw,
        /// Of those, writes that went in flight without their lane
        /// (`inflight.rs`).
        raw_async,
        /// Packed blocks written.
        packed_blocks,
        /// Fragments read whose gzip CRC-32 or length did not match.
        crc_errors,
        /// Writes failed for lack of space.
        enospc,
        /// Metadata commits.
        commits,
        /// Data blocks discarded on the data device after being freed.
        discards_passed,
        /// Compressions that failed with an error other than "no room".
        compress_errors,
        /// Reads retried because the mapping changed under them.
        read_retries,
        /// Dedup index hits refused because the item record holds other
        /// content (a stale entry, dropped).
        stale_hits,
        /// Dedup hits on a copy already shared `max_refs` times: a new
        /// copy was stored instead.
        refs_full,
        /// Packed blocks whose writes failed (never acknowledged).
        packed_failed,
        /// Data block writes that failed.
        write_errors,
        /// Metadata transactions aborted by an error (read-only failover).
        aborts,
    }
}

impl Volume {
    /// The compressor new blocks go to: the accelerator's driver, the
    /// software one, or `none` (policy `off`, or `accel` without one).
    pub(crate) fn write_driver(&self, out: &mut impl Write) -> core::fmt::Result {
        let p = self.engine.policy();
        self.engine.with_driver(|d| match d {
            Some(d) if p.wants_accel() => out.write_str(d),
            _ if p == Policy::Auto || p == Policy::Software => out.write_str(self.sw_driver()),
            _ => out.write_str("none"),
        })
    }

    /// Writes the status line (see the admin guide).
    pub fn write_status(&self, out: &mut impl Write) -> core::fmt::Result {
        let m = self.meta.lock();
        let sb = m.sb;
        let mode = match (m.store.is_some(), m.mode) {
            (false, _) => "closed",
            (true, Mode::Normal) => "normal",
            (true, Mode::ReadOnly) => "read-only",
        };
        let lw = if m.low_water_raised { "low" } else { "ok" };
        let nc = if sb.flags & format::FLAG_NEEDS_CHECK != 0 {
            "needs_check"
        } else {
            "-"
        };
        drop(m);
        write!(
            out,
            "{} {} {} {} {} {} {} ",
            mode,
            sb.mapped,
            sb.logical_blocks,
            sb.phys_used,
            sb.data_blocks,
            sb.mapped - sb.items.min(sb.mapped),
            sb.items - sb.phys_used.min(sb.items),
        )?;
        self.write_driver(out)?;
        let e = &self.engine;
        write!(
            out,
            " {} {} {} {} {} {}",
            e.stats.offloaded.load(Relaxed),
            e.stats.fallback.load(Relaxed),
            lw,
            e.policy().name(),
            e.health().name(),
            nc
        )
    }

    /// Writes every counter, `key=value` separated by spaces: the
    /// volume's [`Stats`], its settings, the engine's counters, then the
    /// superblock's and the index's figures.
    pub fn write_stats(&self, out: &mut impl Write) -> core::fmt::Result {
        let m = self.meta.lock();
        let sb = m.sb;
        let idx_used = m.index.used();
        let idx_cap = m.index.capacity();
        let epoch = m.epoch;
        drop(m);
        self.stats.write_kv(out)?;
        write!(
            out,
            "needs_check={} max_refs={} commit_period_ms={} ",
            u32::from(sb.flags & format::FLAG_NEEDS_CHECK != 0),
            self.opts.max_refs,
            self.opts.commit_period_ms,
        )?;
        self.engine.stats.write_kv(out)?;
        write!(
            out,
            "accel={} mapped={} items={} phys_used={} data_blocks={} logical_blocks={} \
             data_start={} generation={} epoch={} index_used={} index_capacity={} \
             compression={} dedup={} driver=",
            self.engine.health().name(),
            sb.mapped,
            sb.items,
            sb.phys_used,
            sb.data_blocks,
            sb.logical_blocks,
            sb.data_start,
            sb.generation,
            epoch,
            idx_used,
            idx_cap,
            self.engine.policy().name(),
            if self.opts.dedup.load(Relaxed) { "on" } else { "off" },
        )?;
        self.write_driver(out)
    }
}
