// SPDX-License-Identifier: GPL-2.0
//! Host tests of drivers/vdo_qat/compress/heuristic.rs: the checker's
//! decisions against the truth (raw deflate, level 6, 32 KiB window, within
//! the 90% rule's budget of 3668 bytes for a 4 KiB block) on a corpus of
//! 4 KiB blocks, next to btrfs's heuristic on the same blocks; periodic
//! blocks of every period; that it reads only its sample, at most a
//! quarter of a block; its cost against deflate; and that it never panics.
//!
//! `cargo test --test heuristic -- --nocapture` prints the accuracy table
//! and the timings (`--release` for meaningful timings).
//! `HEURISTIC_DUMP=<file>` also writes one CSV line per corpus block:
//! class, deflate bytes, truth, decision, then the `Estimate` fields.

use flate2::{write::DeflateEncoder, Compression};
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vq_pure::gzip::deflate_budget;
use vq_pure::heuristic::{self, estimate, worth_compressing, Estimate};

const BLOCK: usize = 4096;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.byte();
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::new(6));
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn chop(data: &[u8]) -> Vec<Vec<u8>> {
    data.chunks_exact(BLOCK).map(<[u8]>::to_vec).collect()
}

/// At most `max` blocks spread evenly over `blocks`.
fn spread(blocks: Vec<Vec<u8>>, max: usize) -> Vec<Vec<u8>> {
    let step = blocks.len().div_ceil(max).max(1);
    blocks.into_iter().step_by(step).collect()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's text files (sources, docs, build files), sorted.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" || name == "build" {
            continue;
        }
        if p.is_dir() {
            text_files(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("rs" | "c" | "h" | "rst" | "md" | "txt" | "mk" | "sh" | "py" | "toml")
        ) || name == "Makefile"
            || name == "Kbuild"
        {
            out.push(p);
        }
    }
}

fn repo_text() -> Vec<u8> {
    let mut files = Vec::new();
    for d in [
        "drivers",
        "rust",
        "Documentation",
        "tools",
        "selftests",
        "scripts",
    ] {
        text_files(&repo().join(d), &mut files);
    }
    for f in ["README.md", "Makefile", "Kbuild"] {
        files.push(repo().join(f));
    }
    let mut text = Vec::new();
    for f in files {
        if let Ok(b) = std::fs::read(&f) {
            text.extend_from_slice(&b);
        }
    }
    // Never fewer than 16 blocks, whatever the tree holds.
    text.extend_from_slice(include_str!("../../../drivers/vdo_qat/compress/gzip.rs").as_bytes());
    while text.len() < 16 * BLOCK {
        text.extend_from_slice(include_str!("heuristic.rs").as_bytes());
    }
    text
}

fn base64(data: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for (i, c) in data.chunks(3).enumerate() {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        for j in 0..4 {
            out.push(A[(n >> (18 - 6 * j)) as usize & 63]);
        }
        if i % 19 == 18 {
            out.push(b'\n');
        }
    }
    out
}

struct Class {
    name: &'static str,
    blocks: Vec<Vec<u8>>,
}

fn corpus() -> Vec<Class> {
    let mut rng = Rng::new(1);
    let mut classes = Vec::new();
    let mut add = |name, blocks: Vec<Vec<u8>>| {
        assert!(blocks.iter().all(|b| b.len() == BLOCK));
        classes.push(Class { name, blocks });
    };

    add("random", (0..64).map(|_| rng.bytes(BLOCK)).collect());

    for (name, k) in [
        ("alphabet-16", 16),
        ("alphabet-64", 64),
        ("alphabet-128", 128),
        ("alphabet-192", 192),
    ] {
        let blocks = (0..32)
            .map(|_| {
                let mut alpha: Vec<u8> = (0..=255).collect();
                for i in (1..256).rev() {
                    alpha.swap(i, rng.below(i + 1));
                }
                (0..BLOCK).map(|_| alpha[rng.below(k)]).collect()
            })
            .collect();
        add(name, blocks);
    }

    let b64 = base64(&rng.bytes(48 * BLOCK));
    add("base64", chop(&b64));
    let hex: Vec<u8> = rng
        .bytes(32 * BLOCK)
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect();
    add("hex", spread(chop(&hex), 32));

    let text = repo_text();
    add("text", chop(&text));

    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    add("executable", spread(chop(&exe), 1024));

    let mut packed = deflate(&text);
    packed.extend(deflate(&exe[..exe.len().min(1 << 20)]));
    add("deflated", spread(chop(&packed), 128));

    // fio buffer_compress_percentage=p over the whole block: the first p%
    // zeros (or the byte 0xa5), the rest random.
    let mut blocks = Vec::new();
    for seed in 0..4 {
        for p in (0..=100).step_by(5) {
            let fill = if seed % 2 == 0 { 0 } else { 0xa5 };
            let n = BLOCK * p / 100;
            let mut b = vec![fill; BLOCK];
            rng.fill(&mut b[n..]);
            blocks.push(b);
        }
    }
    add("fio-prefix", blocks);

    // fio's layout: per 512-byte buffer_compress_chunk, (100 - p)% random
    // and the rest zeros.
    let mut blocks = Vec::new();
    for _ in 0..4 {
        for p in (0..=100).step_by(5) {
            let mut b = vec![0u8; BLOCK];
            for seg in b.chunks_mut(512) {
                let r = 512 * (100 - p) / 100;
                rng.fill(&mut seg[..r]);
            }
            blocks.push(b);
        }
    }
    add("fio-chunked", blocks);

    // Random data with copies of one short random pattern (4..32 bytes)
    // over q% of the block.
    let mut blocks = Vec::new();
    for _ in 0..4 {
        for q in (5..=60).step_by(5) {
            let plen = 4 + rng.below(29);
            let pat = rng.bytes(plen);
            let mut b = rng.bytes(BLOCK);
            let mut left = BLOCK * q / 100;
            while left > 0 {
                let at = rng.below(BLOCK - pat.len());
                b[at..at + pat.len()].copy_from_slice(&pat);
                left = left.saturating_sub(pat.len());
            }
            blocks.push(b);
        }
    }
    add("random+pattern", blocks);

    // Mostly zeros with random bytes at density d%.
    let mut blocks = Vec::new();
    for _ in 0..4 {
        for d in [1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80] {
            let b = (0..BLOCK)
                .map(|_| if rng.below(100) < d { rng.byte() } else { 0 })
                .collect();
            blocks.push(b);
        }
    }
    add("sparse", blocks);

    // One random pattern repeated: LZ-compressible; for long periods the
    // byte entropy is that of random data.
    let mut blocks = Vec::new();
    for _ in 0..4 {
        for period in [4, 64, 100, 333, 512, 1000, 1500, 2048, 3000] {
            let pat = rng.bytes(period);
            blocks.push(pat.iter().copied().cycle().take(BLOCK).collect());
        }
    }
    add("periodic", blocks);

    classes
}

/// `btrfs_compress_heuristic` (fs/btrfs/compression.c) on one block, for
/// comparison: 16 bytes every 256, repeated halves, byte set < 64, core
/// set <= 64 or >= 200, entropy (`ilog2(n^4)` fixed point) below 80%.
fn btrfs_heuristic(block: &[u8]) -> bool {
    let sample: Vec<u8> = (0..block.len().saturating_sub(16))
        .step_by(256)
        .flat_map(|i| block[i..i + 16].iter().copied())
        .collect();
    let n = sample.len() as u64;
    let half = sample.len() / 2;
    if n == 0 || sample[..half] == sample[half..2 * half] {
        return true;
    }
    let mut bucket = [0u64; 256];
    for &b in &sample {
        bucket[usize::from(b)] += 1;
    }
    if bucket.iter().filter(|&&c| c > 0).count() < 64 {
        return true;
    }
    bucket.sort_unstable_by(|a, b| b.cmp(a));
    let threshold = n * 90 / 100;
    let mut sum: u64 = bucket[..64].iter().sum();
    let mut core = 64;
    if sum <= threshold {
        while core < 200 && bucket[core] > 0 {
            sum += bucket[core];
            if sum > threshold {
                break;
            }
            core += 1;
        }
    }
    if core <= 64 {
        return true;
    }
    if core >= 200 {
        return false;
    }
    let ilog2_w = |x: u64| u64::from((x * x * x * x).ilog2());
    let sz_base = ilog2_w(n);
    let mut entropy = 0;
    for &p in bucket.iter().take_while(|&&c| c > 0) {
        entropy += p * (sz_base - ilog2_w(p));
    }
    entropy /= n;
    entropy * 100 / (8 * ilog2_w(2)) < 80
}

#[derive(Default, Clone, Copy)]
struct Tally {
    blocks: usize,
    compressible: usize,
    attempted: usize,
    false_skips: usize,
    false_attempts: usize,
}

impl Tally {
    fn add(&mut self, truth: bool, said: bool) {
        self.blocks += 1;
        self.compressible += usize::from(truth);
        self.attempted += usize::from(said);
        self.false_skips += usize::from(truth && !said);
        self.false_attempts += usize::from(!truth && said);
    }
    fn accuracy(&self) -> f64 {
        1.0 - (self.false_skips + self.false_attempts) as f64 / self.blocks.max(1) as f64
    }
    /// A table row, with the accuracy of btrfs's heuristic on the same
    /// blocks.
    fn row(&self, name: &str, btrfs: &Tally) -> String {
        format!(
            "{name:<15} {:>6} {:>12} {:>9} {:>11} {:>14} {:>8.1}% {:>8.1}%",
            self.blocks,
            self.compressible,
            self.attempted,
            self.false_skips,
            self.false_attempts,
            100.0 * self.accuracy(),
            100.0 * btrfs.accuracy()
        )
    }
}

#[test]
fn accuracy_on_corpus() {
    let budget = deflate_budget(BLOCK);
    assert_eq!(budget, 3668);
    let classes = corpus();
    let mut dump = std::env::var_os("HEURISTIC_DUMP").map(|p| std::fs::File::create(p).unwrap());

    println!(
        "{:<15} {:>6} {:>12} {:>9} {:>11} {:>14} {:>9} {:>9}",
        "class",
        "blocks",
        "compressible",
        "attempted",
        "false skips",
        "false attempts",
        "accuracy",
        "btrfs"
    );
    let mut total = Tally::default();
    let mut btrfs = Tally::default();
    let mut tallies = Vec::new();
    for class in &classes {
        let mut tally = Tally::default();
        let mut tally_btrfs = Tally::default();
        for b in &class.blocks {
            let out = deflate(b).len();
            let truth = out <= budget;
            let said = worth_compressing(b);
            tally.add(truth, said);
            total.add(truth, said);
            let said_btrfs = btrfs_heuristic(b);
            tally_btrfs.add(truth, said_btrfs);
            btrfs.add(truth, said_btrfs);
            if let Some(f) = dump.as_mut() {
                let e = estimate(b);
                writeln!(
                    f,
                    "{},{},{},{},{},{},{},{},{},{},{}",
                    class.name,
                    out,
                    u8::from(truth),
                    u8::from(said),
                    e.distinct,
                    e.core_set,
                    e.entropy_permille,
                    e.matched,
                    e.repeats,
                    e.cost_permille,
                    u8::from(e.repeated)
                )
                .unwrap();
            }
        }
        println!("{}", tally.row(class.name, &tally_btrfs));
        tallies.push((class.name, tally));
    }
    println!("{}", total.row("overall", &btrfs));
    println!(
        "btrfs_compress_heuristic on the same blocks: {} false skips, {} false attempts",
        btrfs.false_skips, btrfs.false_attempts
    );
    println!(
        "false skips: {:.2}% of compressible blocks; false attempts: {:.2}% of incompressible blocks",
        100.0 * total.false_skips as f64 / total.compressible.max(1) as f64,
        100.0 * total.false_attempts as f64 / (total.blocks - total.compressible).max(1) as f64
    );

    // Cost: each over the whole corpus in turn, in the same run.
    let blocks: Vec<&[u8]> = classes
        .iter()
        .flat_map(|c| c.blocks.iter().map(|b| &b[..]))
        .collect();
    let rounds = 3;
    let t0 = Instant::now();
    for _ in 0..rounds {
        for b in &blocks {
            std::hint::black_box(worth_compressing(std::hint::black_box(b)));
        }
    }
    let t1 = Instant::now();
    for _ in 0..rounds {
        for b in &blocks {
            std::hint::black_box(deflate(std::hint::black_box(b)));
        }
    }
    let t2 = Instant::now();
    let runs = (rounds * blocks.len()) as u128;
    let (check, full) = ((t1 - t0).as_nanos() / runs, (t2 - t1).as_nanos() / runs);
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "cost per 4 KiB block ({build} build), whole corpus (cold caches): checker {check} ns, \
         flate2 deflate level 6 {full} ns (checker = {:.1}% of deflate)",
        100.0 * check as f64 / full.max(1) as f64
    );
    // And one block at a time, over and over (hot caches).
    for class in &classes {
        if !matches!(class.name, "random" | "text" | "executable") {
            continue;
        }
        let b = &class.blocks[class.blocks.len() / 2][..];
        let reps = 200;
        let t0 = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(worth_compressing(std::hint::black_box(b)));
        }
        let t1 = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(deflate(std::hint::black_box(b)));
        }
        let t2 = Instant::now();
        let (check, full) = ((t1 - t0).as_nanos() / reps, (t2 - t1).as_nanos() / reps);
        println!(
            "  one {} block (hot caches): checker {check} ns, deflate {full} ns ({:.1}%)",
            class.name,
            100.0 * check as f64 / full.max(1) as f64
        );
    }

    let skip_rate = total.false_skips as f64 / total.compressible as f64;
    assert!(skip_rate <= 0.01, "false-skip rate {skip_rate}");
    assert!(total.accuracy() >= 0.95, "accuracy {}", total.accuracy());
    for (name, t) in &tallies {
        match *name {
            "text" | "base64" | "hex" | "alphabet-16" | "alphabet-64" => {
                assert_eq!(t.false_skips, 0, "{name}: compressible text skipped")
            }
            "random" => assert_eq!(t.attempted, 0, "random blocks attempted"),
            _ => {}
        }
    }
}

/// A block repeating one random pattern, for every period: deflate finds
/// the repeats whatever their distance, the sample lines up with them in
/// about half its runs. Printed: where the checker skips compressible
/// blocks; asserted: never for periods up to 1 KiB.
#[test]
fn periodic_sweep() {
    let mut rng = Rng::new(3);
    let (mut compressible, mut skipped) = (0, Vec::new());
    let mut false_attempts = 0;
    for period in (1..BLOCK).step_by(7) {
        let pat = rng.bytes(period);
        let b: Vec<u8> = pat.iter().copied().cycle().take(BLOCK).collect();
        let truth = deflate(&b).len() <= deflate_budget(BLOCK);
        let said = worth_compressing(&b);
        compressible += usize::from(truth);
        false_attempts += usize::from(!truth && said);
        if truth && !said {
            skipped.push(period);
        }
    }
    println!(
        "periods 1..4096 step 7: {compressible} compressible, {} skipped (periods {:?}), \
         {false_attempts} false attempts",
        skipped.len(),
        skipped
    );
    assert!(skipped.iter().all(|&p| p > 1024), "skipped {skipped:?}");
}

#[test]
fn worth_compressing_is_decide_of_estimate() {
    let mut rng = Rng::new(7);
    for len in [0, 1, 100, 127, 128, 4096, 8192] {
        let b = rng.bytes(len);
        assert_eq!(worth_compressing(&b), heuristic::decide(&estimate(&b)));
    }
    assert!(!worth_compressing(&[]));
    assert!(worth_compressing(&[0; BLOCK]));
}

/// The cost claim: the checker reads at most a quarter of any block of at
/// least one window, and never more than `MAX_SAMPLE` bytes.
#[test]
fn sample_is_at_most_a_quarter() {
    for len in (0..=8192).chain([12288, 65536, 1 << 20]) {
        let e = estimate(&vec![0x5a; len]);
        let s = e.sampled as usize;
        assert!(s <= len && s <= heuristic::MAX_SAMPLE, "len {len}: {s}");
        if len >= heuristic::WINDOW {
            assert!(4 * s <= len, "len {len}: sampled {s}");
        } else {
            assert_eq!(s, len);
        }
    }
    assert_eq!(estimate(&[1; BLOCK]).sampled, 1024);
}

/// The byte offsets the module documentation says the checker reads.
fn sampled_offsets(len: usize) -> Vec<usize> {
    use heuristic::{jitter, MAX_RUNS, RUN_LEN, WINDOW};
    if len < WINDOW {
        return (0..len).collect();
    }
    let runs = (len / WINDOW).min(MAX_RUNS);
    let window = len / runs;
    (0..runs)
        .flat_map(|k| {
            let start = k * window + jitter(k);
            start..start + RUN_LEN
        })
        .collect()
}

/// The checker reads nothing but its sample: changing every other byte
/// changes nothing.
#[test]
fn reads_only_its_sample() {
    let mut rng = Rng::new(11);
    let text = repo_text();
    for len in [
        0, 5, 127, 128, 200, 300, 1000, 4095, BLOCK, 5000, 8192, 65536,
    ] {
        let offsets = sampled_offsets(len);
        assert_eq!(offsets.len(), estimate(&vec![0; len]).sampled as usize);
        let bases: [Vec<u8>; 4] = [
            vec![0; len],
            rng.bytes(len),
            text.iter().copied().cycle().take(len).collect(),
            rng.bytes(len.min(300))
                .into_iter()
                .cycle()
                .take(len)
                .collect(),
        ];
        for base in bases {
            let mut other = rng.bytes(len);
            for &i in &offsets {
                other[i] = base[i];
            }
            assert_eq!(estimate(&base), estimate(&other), "len {len}");
        }
    }
}

fn check_invariants(b: &[u8], e: &Estimate) {
    assert!(e.sampled as usize <= b.len());
    assert!(e.distinct <= 256 && e.core_set <= e.distinct);
    assert!(e.entropy_permille <= 1000);
    assert!(e.matched <= e.sampled && e.repeats <= e.sampled);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..=8192)) {
        let e = estimate(&b);
        check_invariants(&b, &e);
        prop_assert_eq!(worth_compressing(&b), heuristic::decide(&e));
    }

    /// Few byte values: many repeats, long matches, full hash table.
    #[test]
    fn never_panics_on_low_entropy(
        b in proptest::collection::vec(0u8..4, 0..=8192),
    ) {
        let e = estimate(&b);
        check_invariants(&b, &e);
        prop_assert_eq!(worth_compressing(&b), heuristic::decide(&e));
    }

    /// Any slice of a block, at any offset and length.
    #[test]
    fn never_panics_on_slices(start in 0usize..4096, len in 0usize..=8192) {
        let mut rng = Rng::new(start as u64);
        let block = rng.bytes(12288);
        let b = &block[start..start + len];
        check_invariants(b, &estimate(b));
    }
}
