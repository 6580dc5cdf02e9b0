// SPDX-License-Identifier: GPL-2.0

//! Compressibility checker: decides, before any compressor runs, whether a
//! block is worth compressing.
//!
//! vdo_qat stores a 4 KiB block compressed only if its gzip member obeys
//! the 90% rule ([`super::gzip::max_member`]): the raw deflate stream must
//! fit [`super::gzip::deflate_budget`], 3668 bytes for 4096. A block that
//! does not fit wastes a whole compressor call (CPU, or a QAT round trip).
//! QZFS (Hu et al., USENIX ATC'19) does "compressibility-dependent
//! offloading" in its compression service engine, and btrfs puts a sampled
//! heuristic (`btrfs_compress_heuristic`, `fs/btrfs/compression.c`) in
//! front of its compressors; this is such a test, built for deflate and
//! the 90% rule.
//!
//! # What it reads
//!
//! Up to [`MAX_RUNS`] runs of [`RUN_LEN`] consecutive bytes, one in each
//! window of at least [`WINDOW`] bytes (btrfs: 16 bytes every 256). For a
//! 4 KiB block: 32 runs of 32 bytes, 1 KiB, a quarter of the block; never
//! more than a quarter of a block of 128 bytes or more, and never more than
//! [`MAX_SAMPLE`]. Shorter blocks are read whole. A run starts at a
//! varying offset inside its window ([`jitter`]), so that the sample sees
//! repeats at any distance, and data laid out in power-of-two structures
//! (fio's 512-byte `buffer_compress_chunk`, sector headers) are not always
//! sampled at the same phase.
//!
//! # What it computes
//!
//! From the byte histogram of the sample, as btrfs does: the distinct
//! values ("byte set"), the core set covering 90% of the sample, the
//! order-0 Shannon entropy; and btrfs's repeated-pattern check. Then an
//! LZ77 pass over the sample: each position's 4 bytes are hashed into a
//! table of earlier sampled positions (deflate's match finder, over the
//! sample only), which finds the sampled bytes that repeat earlier sampled
//! bytes. The deflate output is estimated from the literals that pass
//! leaves (at their entropy, with the Miller–Madow correction for the bias
//! of an entropy measured on few bytes), a price per repeat and a price for
//! the Huffman tables; the decision compares that estimate with the 90%
//! rule. Byte entropy alone (btrfs) misjudges exactly the blocks deflate
//! does best on: a block repeating a 512-byte random pattern has a 7.4-bit
//! sample entropy and deflates to 15% of its size; a block whose first 15%
//! is zeros has a 7.2-bit entropy and fits the 90% rule, because deflate
//! codes the zeros in a few matches.
//!
//! Logarithms are fixed point: `log2` of every count a sample can hold, in
//! 1/4096 bit, is a table built at compile time with integer squarings.
//! btrfs's `ilog2(n^4)` has quarter-bit steps: 3% of 8 bits, too coarse
//! for the 10% margin of the 90% rule. No floating point, no allocation
//! (2 KiB of stack: two histograms and the hash table), no `unsafe`, no
//! path that can panic.
//!
//! # Cost and accuracy
//!
//! Measured by `tools/pure/tests/heuristic.rs` (`cargo test --release
//! --test heuristic -- --nocapture`), the truth being flate2 raw deflate
//! level 6 (miniz_oxide; zlib 1.2.13 gave the same verdict on every block)
//! within 3668 bytes:
//!
//! - a corpus of about 1180 4 KiB blocks (the count follows the size of
//!   the repository's sources and of the test executable): random,
//!   restricted alphabets, base64/hex, the repository's sources, the test
//!   executable, deflate output, fio-style zero/random mixtures, random
//!   data with a repeated pattern, sparse blocks, periodic blocks: 99.7%
//!   right, 1 false skip (0.1% of the ~980 compressible blocks), 2
//!   needless attempts.
//!   `btrfs_compress_heuristic` on the same blocks: 91% right, 101 false
//!   skips (restricted alphabets of 128 values, fio mixtures, repeated
//!   patterns).
//! - 9602 blocks of files of a Debian system (kernel sources and docs,
//!   executables and shared libraries, Python bytecode, `/usr/share`,
//!   gzip/zip/PNG/JPEG/PDF files; measured once, outside the tests, and
//!   not used to fit anything): 99.5% right,
//!   5 false skips (0.07% of 7469 compressible), 41 needless attempts
//!   (1.9% of 2133 incompressible, nearly all compressed files).
//! - Limit: a single repeat of high-entropy data lines up with a sampled
//!   run in only about half of the runs of its copy. Periodic random blocks
//!   are all judged right up to a period of 1.9 KiB; of those with one copy
//!   of 500 to 1600 bytes at 2.5 to 3.6 KiB (compressible by 12% to 38%),
//!   about 40% are skipped.
//! - Cost, release build, on a shared 2-core Xeon: with hot caches the
//!   checker takes 4% to 9% of the time of deflate on the same block (2.3
//!   to 3.8 us against 37 to 94 us); going through the corpus with cold
//!   caches, about 10% (7 us against 66 to 72 us), as the 32 runs touch
//!   about 48 cache lines.
//!
//! Pure code (only `core`): compiled into the module and into `tools/pure`.

/// Bytes in one sampled run.
pub const RUN_LEN: usize = 32;
/// Smallest stretch of the block holding one run: the sample is at most
/// `RUN_LEN / WINDOW` (a quarter) of a block of at least one window.
pub const WINDOW: usize = 128;
/// Most runs sampled: a block longer than `MAX_RUNS * WINDOW` bytes gets
/// wider windows, so the sample never exceeds [`MAX_SAMPLE`] bytes.
pub const MAX_RUNS: usize = 32;
/// Most bytes sampled.
pub const MAX_SAMPLE: usize = RUN_LEN * MAX_RUNS;

/// Shortest repeat the LZ pass finds, in bytes (deflate's shortest match
/// is 3, but a 3-byte match seldom beats three literals).
pub const MIN_MATCH: usize = 4;
/// Shortest repeat that, cut short by the end of its source run (not by a
/// mismatch), is taken to go on to the end of its own run, in bytes.
pub const EXTRAPOLATE_MIN: usize = 8;
/// Weight of the bytes of a repeat between two different runs, unless
/// the repeat is a run of one byte value. Such a repeat lines up with a
/// sampled copy in about half the runs it spans (see [`jitter`]), so
/// what the sample sees of it is counted twice. Runs of one byte value
/// are always seen (each sampled run inside repeats itself) and count once.
pub const FAR_WEIGHT: u32 = 2;

/// Price of one repeat found in the sample, in bits of the sample
/// (fitted on the test corpus: a deflate length/distance pair is about
/// 20 to 30 bits, and the sample sees a quarter of the block).
pub const MATCH_BITS: u32 = 32;
/// Price of the deflate block header and Huffman tables, in bits of the
/// block (fitted on the test corpus: about 64 bytes, whatever the number
/// of literal values, as deflate run-length codes the code lengths).
pub const TABLE_BITS: u32 = 512;

/// Above this estimated deflate output, in permille of the block, the
/// block is not worth compressing. The 90% rule allows 3668/4096 = 895.5
/// permille for a 4 KiB block; the limit sits a little above it because a
/// needless compressor call costs only CPU while a wrong skip costs space.
pub const COST_LIMIT_PERMILLE: u32 = 905;

/// btrfs's `BYTE_SET_THRESHOLD`: a sample with fewer distinct byte values
/// (text, hex, base64) is compressible without further analysis.
pub const BYTE_SET_LOW: u32 = 64;

/// `log2` fractional bits of [`LOG2`].
const FRAC: u32 = 12;
/// One bit in the fixed point of [`LOG2`].
const ONE_BIT: u64 = 1 << FRAC;
/// `4096 / (2 ln 2)`: the Miller–Madow correction, in 1/4096 bit per byte,
/// is `(values - 1) * MILLER_MADOW / bytes`.
const MILLER_MADOW: u64 = 2954;

/// `floor(log2(n) * 4096)` for `n >= 1`, in integers: the integer part is
/// `ilog2`, each fractional bit comes from squaring the mantissa.
const fn log2_fixed(n: u32) -> u32 {
    let int = n.ilog2();
    // Mantissa in [1, 2), Q30.
    let mut x: u64 = ((n as u64) << 30) >> int;
    let mut frac = 0u32;
    let mut i = 0;
    while i < FRAC {
        x = (x * x) >> 30;
        frac <<= 1;
        if x >= 2 << 30 {
            x >>= 1;
            frac |= 1;
        }
        i += 1;
    }
    (int << FRAC) | frac
}

/// `log2(n)` in 1/4096 bit for every count `1..=MAX_SAMPLE` (0 for 0).
static LOG2: [u16; MAX_SAMPLE + 1] = {
    let mut t = [0u16; MAX_SAMPLE + 1];
    let mut n = 1;
    while n <= MAX_SAMPLE {
        t[n] = log2_fixed(n as u32) as u16;
        n += 1;
    }
    t
};

fn log2(n: u32) -> u64 {
    LOG2.get(n as usize).map_or(0, |&v| u64::from(v))
}

/// Offset of run `k` inside its window: `29 k^2 mod 97`, over `0..=96`
/// (`WINDOW - RUN_LEN`). For a lag of `m` runs the differences
/// `jitter(k) - jitter(k - m)` are `29 m (2k - m) mod 97`, distinct for
/// 32 consecutive `k`: whatever the distance of a repeat, about half the
/// runs in its copy line up with a sampled run of its source (a fixed
/// offset would line up all of them or none, depending on the distance).
pub const fn jitter(k: usize) -> usize {
    (k * k * 29) % (WINDOW - RUN_LEN + 1)
}

/// What the sample of a block says. Counts are bytes of the sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Bytes read from the block: `min(len / 128, 32) * 32`, or the whole
    /// block if shorter than 128 bytes.
    pub sampled: u32,
    /// Distinct byte values in the sample (btrfs `byte_set_size`), 0..=256.
    pub distinct: u32,
    /// Fewest byte values that cover more than 90% of the sample (btrfs
    /// `byte_core_set_size`, not capped at 64 and 200), 0..=`distinct`.
    pub core_set: u32,
    /// Order-0 Shannon entropy of the sample, in permille of 8 bits per
    /// byte, 0..=1000.
    pub entropy_permille: u32,
    /// Sample bytes inside a repeat of earlier sampled bytes (at least
    /// [`MIN_MATCH`] bytes long, and taken to run to the end of its run if
    /// only the end of its source run stopped it, see
    /// [`EXTRAPOLATE_MIN`]), 0..=`sampled`.
    pub matched: u32,
    /// Repeats priced in `cost_permille` (a repeat that starts where the
    /// previous one ended, cut by the end of a run, is not counted again).
    pub repeats: u32,
    /// Estimated raw deflate output, in permille of the block: the sample
    /// bytes outside repeats at their entropy (Miller–Madow corrected),
    /// [`MATCH_BITS`] per repeat, [`TABLE_BITS`] per block. Not capped:
    /// above 1000 deflate would store the block.
    pub cost_permille: u32,
    /// btrfs `sample_repeated_patterns`: each run of the second half of
    /// the sample equals the matching run of the first half (for a sample
    /// of one run: the second half of the run equals the first).
    pub repeated: bool,
}

/// Where the runs of a block are.
struct Runs {
    /// Runs sampled.
    count: usize,
    /// Bytes per run (`RUN_LEN`, or the length of a short block).
    len: usize,
    /// Bytes per window.
    window: usize,
}

impl Runs {
    fn of(block_len: usize) -> Self {
        if block_len < WINDOW {
            return Runs {
                count: 1,
                len: block_len,
                window: block_len,
            };
        }
        let count = (block_len / WINDOW).min(MAX_RUNS);
        Runs {
            count,
            len: RUN_LEN,
            window: block_len / count.max(1),
        }
    }

    /// Block offset of run `k`: `k * window + jitter(k)`, so the run ends
    /// inside its window.
    fn start(&self, k: usize) -> usize {
        k * self.window + jitter(k)
    }

    /// Run `k` (empty if out of the block, which `of` rules out).
    fn run<'a>(&self, block: &'a [u8], k: usize) -> &'a [u8] {
        let start = self.start(k);
        block.get(start..start + self.len).unwrap_or(&[])
    }

    /// Sample byte `s`: its run, and the rest of that run from it.
    fn rest<'a>(&self, block: &'a [u8], s: usize) -> (usize, &'a [u8]) {
        let len = self.len.max(1);
        let k = s / len;
        (k, self.run(block, k).get(s % len..).unwrap_or(&[]))
    }
}

/// Slots of the LZ pass's hash table.
const HASH_BITS: u32 = 9;
/// Bits of a slot holding a sample position plus one (0: empty slot).
const POS_BITS: u32 = 11;
const POS_MASK: u16 = (1 << POS_BITS) - 1;
/// Bits of a slot holding more bits of the hash, to skip most collisions
/// without reading the block.
const TAG_BITS: u32 = 16 - POS_BITS;
const _: () = assert!(MAX_SAMPLE < 1 << POS_BITS);

/// Slot and tag of a 4-byte string (Fibonacci hashing).
fn hash(w: u32) -> (usize, u16) {
    let h = w.wrapping_mul(0x9e37_79b1);
    let slot = (h >> (32 - HASH_BITS)) as usize;
    let tag = ((h >> (32 - HASH_BITS - TAG_BITS)) & ((1 << TAG_BITS) - 1)) as u16;
    (slot, tag)
}

/// Little-endian 4 bytes at `s[i..]`, if there are 4.
fn word(s: &[u8], i: usize) -> Option<u32> {
    match s.get(i..i + MIN_MATCH) {
        Some(&[a, b, c, d]) => Some(u32::from_le_bytes([a, b, c, d])),
        _ => None,
    }
}

/// Entropy of the histogram `h` of `n` bytes, in 1/4096 bit per byte:
/// `log2(n) - sum(c * log2(c)) / n`.
fn entropy_fixed(h: &[u16; 256], n: u32) -> u64 {
    if n == 0 {
        return 0;
    }
    let sum: u64 = h.iter().map(|&c| u64::from(c) * log2(u32::from(c))).sum();
    (log2(n) * u64::from(n)).saturating_sub(sum) / u64::from(n).max(1)
}

fn distinct(h: &[u16; 256]) -> u32 {
    h.iter().filter(|&&c| c != 0).count() as u32
}

/// Fewest values of the histogram `h` of `n` bytes that cover more than
/// 90% of them: all values but the most of the rarest whose counts sum
/// to less than the remaining 10% (counting sort of those counts in
/// `scratch`).
fn core_set(h: &[u16; 256], n: u32, scratch: &mut [u16; 256]) -> u32 {
    // Removable counts sum to less than `budget`, so each is below it:
    // at most MAX_SAMPLE / 10 + 1 < 256.
    let budget = n - n * 9 / 10;
    scratch.fill(0);
    for &c in h {
        if c != 0 && u32::from(c) < budget {
            if let Some(e) = scratch.get_mut(usize::from(c)) {
                *e += 1;
            }
        }
    }
    let mut removed = 0u32;
    let mut removed_sum = 0u32;
    for (c, &values) in (1u32..).zip(scratch.iter().skip(1)) {
        let fit = (budget - removed_sum).saturating_sub(1) / c;
        let take = fit.min(u32::from(values));
        removed += take;
        removed_sum += take * c;
        if take < u32::from(values) {
            break;
        }
    }
    distinct(h) - removed
}

/// The LZ pass over the sample, run by run, and the byte histograms it
/// fills (2 KiB of stack).
struct Lz {
    /// Byte histogram of the sample.
    all: [u16; 256],
    /// Byte histogram of the literals (sample bytes outside repeats).
    lit: [u16; 256],
    /// Earlier sample positions by the hash of their 4 bytes: tag and
    /// position plus one (see [`POS_BITS`]).
    table: [u16; 1 << HASH_BITS],
    /// Sample bytes inside a repeat.
    matched: u32,
    /// Of those, bytes of a repeat counting [`FAR_WEIGHT`] times.
    far_matched: u32,
    /// Repeats found (see [`Estimate::repeats`]).
    repeats: u32,
    /// Whether the last sampled byte was inside a repeat.
    in_repeat: bool,
    /// Whether that repeat counts [`FAR_WEIGHT`] times.
    far: bool,
}

impl Lz {
    /// A pass that has seen nothing.
    fn new() -> Self {
        Lz {
            all: [0; 256],
            lit: [0; 256],
            table: [0; 1 << HASH_BITS],
            matched: 0,
            far_matched: 0,
            repeats: 0,
            in_repeat: false,
            far: false,
        }
    }

    /// Passes over run `k` of `block`: finds its repeats of earlier
    /// sampled bytes and counts its bytes.
    fn scan_run(&mut self, runs: &Runs, block: &[u8], k: usize) {
        let cur = runs.run(block, k);
        // Bytes of `cur` before this index are inside a repeat.
        let mut covered = 0;
        for (t, &b) in cur.iter().enumerate() {
            covered = self.match_at(runs, block, k, cur, t, covered);
            if let Some(c) = self.all.get_mut(usize::from(b)) {
                *c += 1;
            }
            self.in_repeat = t < covered;
            if self.in_repeat {
                self.matched += 1;
                self.far_matched += u32::from(self.far);
            } else if let Some(c) = self.lit.get_mut(usize::from(b)) {
                *c += 1;
            }
        }
    }

    /// Looks up the 4 bytes at index `t` of `cur`, run `k` of `block`, in
    /// the table, then enters them there. A repeat of at least
    /// [`MIN_MATCH`] bytes starting at `t`, past `covered` (the end of the
    /// repeat so far), is counted; returns how far the run is covered now.
    fn match_at(&mut self, runs: &Runs, block: &[u8], k: usize, cur: &[u8], t: usize, covered: usize) -> usize {
        let Some(w) = word(cur, t) else { return covered };
        let mut covered = covered;
        let (slot, tag) = hash(w);
        let e = self.table.get(slot).copied().unwrap_or(0);
        if t >= covered && e != 0 && e >> POS_BITS == tag {
            let (src_run, src) = runs.rest(block, usize::from(e & POS_MASK) - 1);
            let len = cur
                .get(t..)
                .unwrap_or(&[])
                .iter()
                .zip(src)
                .take_while(|(x, y)| x == y)
                .count();
            if len >= MIN_MATCH {
                // One that starts where the previous one ended (cut by the
                // end of its source run, or by the gap between runs) is
                // most likely the same repeat.
                if !(self.in_repeat && t == covered) {
                    self.repeats += 1;
                }
                self.far = src_run != k && w != u32::from(w as u8) * 0x0101_0101;
                covered = if len == src.len() && len >= EXTRAPOLATE_MIN {
                    cur.len()
                } else {
                    t + len
                };
            }
        }
        if let Some(e) = self.table.get_mut(slot) {
            *e = (tag << POS_BITS) | (k * runs.len + t + 1) as u16;
        }
        covered
    }

    /// Estimated raw deflate output of a block of `block_len` bytes whose
    /// sample of `n` bytes went through the pass, in permille of the block.
    fn cost_permille(&self, n: u32, block_len: usize) -> u64 {
        // Literals cost their entropy, corrected for the bias of a small
        // sample by Miller–Madow, at most 8 bits a byte. Bytes priced as
        // literals: the sample less the repeats, a byte of a repeat between
        // two runs (not of a byte run) counting `FAR_WEIGHT` times.
        let literals = n - self.matched;
        let lit_entropy = if literals == 0 {
            0
        } else {
            let mm = u64::from(distinct(&self.lit).saturating_sub(1)) * MILLER_MADOW / u64::from(literals).max(1);
            (entropy_fixed(&self.lit, literals) + mm).min(8 * ONE_BIT)
        };
        let priced = n.saturating_sub(self.matched + self.far_matched * (FAR_WEIGHT - 1));
        let bits =
            u64::from(priced) * lit_entropy / ONE_BIT + u64::from(self.repeats) * u64::from(MATCH_BITS);
        if n == 0 {
            0
        } else {
            bits * 1000 / (8 * u64::from(n)).max(1)
                + u64::from(TABLE_BITS) * 1000 / (block_len as u64).saturating_mul(8).max(1)
        }
    }
}

/// btrfs `sample_repeated_patterns` over the runs of `block` (see
/// [`Estimate::repeated`]).
fn repeated(runs: &Runs, block: &[u8]) -> bool {
    if runs.count >= 2 {
        let h = runs.count / 2;
        (0..h).all(|k| runs.run(block, k) == runs.run(block, k + h))
    } else {
        let run = runs.run(block, 0);
        let h = run.len() / 2;
        h > 0 && run.get(..h) == run.get(h..2 * h)
    }
}

/// Samples `block` (see the module documentation) and estimates its
/// compressibility. Reads [`Estimate::sampled`] bytes of it, at most a
/// quarter of it (all of it below 128 bytes) and at most [`MAX_SAMPLE`].
pub fn estimate(block: &[u8]) -> Estimate {
    let runs = Runs::of(block.len());
    let n = (runs.count * runs.len) as u32;
    let mut lz = Lz::new();
    for k in 0..runs.count {
        lz.scan_run(&runs, block, k);
    }
    let cost = lz.cost_permille(n, block.len());
    Estimate {
        sampled: n,
        distinct: distinct(&lz.all),
        // The literals' histogram is done with: scratch space.
        core_set: core_set(&lz.all, n, &mut lz.lit),
        entropy_permille: (entropy_fixed(&lz.all, n) * 1000 / (8 * ONE_BIT)) as u32,
        matched: lz.matched,
        repeats: lz.repeats,
        cost_permille: cost.min(u64::from(u32::MAX)) as u32,
        repeated: repeated(&runs, block),
    }
}

/// The decision on an [`Estimate`]: compress if the sample repeats itself
/// (btrfs), holds fewer than [`BYTE_SET_LOW`] byte values (btrfs), or the
/// estimated deflate output is at most [`COST_LIMIT_PERMILLE`] of the
/// block. An empty block is not worth compressing.
pub fn decide(e: &Estimate) -> bool {
    e.sampled != 0
        && (e.repeated || e.distinct < BYTE_SET_LOW || e.cost_permille <= COST_LIMIT_PERMILLE)
}

/// Whether `block` is worth handing to the compressor:
/// `decide(&estimate(block))`.
pub fn worth_compressing(block: &[u8]) -> bool {
    decide(&estimate(block))
}
