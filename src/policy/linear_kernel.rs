//! The inner loop of [`super::linear::LinearStats::from_rows`]: one chunk's `Σ x xᵀ` and
//! `Σ r x` per allocation.
//!
//! A row-by-row rank-1 update loads and stores the whole `d(d+1)/2` upper triangle of
//! its allocation for every row (136 values at `d = 16`): the loop is bound by loads and
//! stores, not arithmetic. Instead, the chunk's rows are first grouped by allocation (a
//! stable counting sort that copies each row once into a scratch buffer, with a stride
//! padded to a multiple of [`TILE`]); then, per allocation, each `TILE × TILE` block of
//! the upper triangle (`TILE × 2·TILE` where it fits) is summed over the allocation's
//! rows of a [`BLOCK_ROWS`] block with its partial sums held in registers, the blocking of a GEMM micro-kernel (Goto & van de Geijn,
//! "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 34(3), 2008, §5) for
//! `Xₐᵀ Xₐ`. The block is written with fixed-size arrays so the compiler vectorises it
//! for the baseline target (SSE2), and, on x86-64, again for AVX2, chosen at run time;
//! no `target-cpu` is assumed.
//!
//! Every entry is still the sum of its products in row order, started from zero, with
//! separate multiply and add (no fused multiply-add): the same floating-point result as
//! the plain loop, on any x86-64 or other machine, whatever the thread count.

use crate::error::LinearError;

/// Side of the register block; the scratch row stride is padded to a multiple of it.
pub(super) const TILE: usize = 4;

const EXPONENT: u64 = 0x7ff0_0000_0000_0000;

/// Rows grouped and summed at a time inside a chunk: their scratch copy (128 KiB at
/// `d = 16`) stays in the core's L2 cache between the scatter and the sums.
const BLOCK_ROWS: usize = 1024;

/// Buffers one worker reuses across chunks (their contents never reach a result).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// One block's rows grouped by allocation, `stride` values each (zero padding
    /// after `d`, written once and never overwritten).
    packed: Vec<f64>,
    /// Rewards in the order of `packed`.
    rewards: Vec<f64>,
    /// Start of each allocation's rows in `packed`, then the end (`k + 1` entries).
    starts: Vec<usize>,
    /// Next free row of each allocation while scattering.
    next: Vec<usize>,
    /// Each row's place in `packed` (columns are scattered one after another).
    at: Vec<u32>,
    /// Running `Σ x xᵀ` per allocation, padded to `stride × stride`.
    gram: Vec<f64>,
    /// Running `Σ r x` per allocation, padded to `stride`.
    b: Vec<f64>,
}

/// One chunk's statistics, added into `gram` (upper triangle of `k` row-major
/// `d × d` blocks), `b` (`k × d`) and `n` (`k`).
pub(super) struct ChunkOut<'a> {
    pub gram: &'a mut [f64],
    pub b: &'a mut [f64],
    pub n: &'a mut [u64],
}

/// Where one chunk's feature values lie.
#[derive(Clone, Copy)]
pub(super) enum Features<'a> {
    /// Row-major, `d` values per row.
    Rows(&'a [f64]),
    /// One slice per column, each as long as the chunk, after a constant 1 when
    /// `intercept` (so `d` is the columns plus one): a table's columns read where they
    /// lie, with no row-major copy.
    Columns {
        intercept: bool,
        cols: &'a [&'a [f64]],
    },
}

/// One chunk's rows; `first_row` numbers them in errors.
pub(super) struct ChunkIn<'a> {
    pub first_row: usize,
    pub xs: Features<'a>,
    pub arms: &'a [u32],
    pub rewards: &'a [f64],
}

/// One block's feature values: rows `lo..hi` of a chunk's [`Features`].
#[derive(Clone, Copy)]
struct Block<'a> {
    xs: Features<'a>,
    lo: usize,
    hi: usize,
}

impl Block<'_> {
    /// Row `r` of the block (0-based within it), `d` values.
    fn row(&self, d: usize, r: usize) -> Vec<f64> {
        let at = self.lo + r;
        match self.xs {
            Features::Rows(xs) => xs[at * d..(at + 1) * d].to_vec(),
            Features::Columns { intercept, cols } => (intercept.then_some(1.0))
                .into_iter()
                .chain(cols.iter().map(|c| c[at]))
                .collect(),
        }
    }
}

/// Validates and accumulates one chunk of rows. The first bad row in row order is
/// reported, its arm checked first, then its reward, then its features left to right.
///
/// The running sums live in the scratch across the chunk's blocks, so each entry is
/// summed in row order from zero exactly as a row-by-row loop would.
pub(super) fn accumulate_chunk(
    k: usize,
    d: usize,
    input: ChunkIn<'_>,
    scratch: &mut Scratch,
    out: ChunkOut<'_>,
) -> Result<(), LinearError> {
    let ChunkIn {
        first_row,
        xs,
        arms,
        rewards,
    } = input;
    if d == 0 {
        // No features: only counts, after the same checks.
        for (r, (&arm, &y)) in arms.iter().zip(rewards).enumerate() {
            check_row(k, first_row + r, arm, y, &[])?;
            out.n[arm as usize] += 1;
        }
        return Ok(());
    }
    let stride = d.div_ceil(TILE) * TILE;
    scratch.gram.clear();
    scratch.gram.resize(k * stride * stride, 0.0);
    scratch.b.clear();
    scratch.b.resize(k * stride, 0.0);
    if scratch.packed.len() != BLOCK_ROWS * stride {
        scratch.packed.clear();
        scratch.packed.resize(BLOCK_ROWS * stride, 0.0);
    }
    for (blk, (arms, rewards)) in arms
        .chunks(BLOCK_ROWS)
        .zip(rewards.chunks(BLOCK_ROWS))
        .enumerate()
    {
        let lo = blk * BLOCK_ROWS;
        let xs = Block {
            xs,
            lo,
            hi: lo + arms.len(),
        };
        let first = first_row + lo;
        accumulate_block(k, d, stride, first, xs, arms, rewards, scratch, out.n)?;
    }
    for a in 0..k {
        let g = &scratch.gram[a * stride * stride..(a + 1) * stride * stride];
        let o = &mut out.gram[a * d * d..(a + 1) * d * d];
        for i in 0..d {
            for j in i..d {
                o[i * d + j] += g[i * stride + j];
            }
        }
        for (o, s) in out.b[a * d..(a + 1) * d]
            .iter_mut()
            .zip(&scratch.b[a * stride..])
        {
            *o += s;
        }
    }
    Ok(())
}

/// Validates, groups by allocation and sums one block (at most [`BLOCK_ROWS`] rows)
/// into the scratch's running sums.
#[allow(clippy::too_many_arguments)] // one private call site, all of it plain data
fn accumulate_block(
    k: usize,
    d: usize,
    stride: usize,
    first_row: usize,
    xs: Block<'_>,
    arms: &[u32],
    rewards: &[f64],
    scratch: &mut Scratch,
    n: &mut [u64],
) -> Result<(), LinearError> {
    let Scratch {
        packed,
        rewards: rew,
        starts,
        next,
        at,
        gram,
        b,
    } = scratch;

    // Count rows per allocation (arms only: 4 bytes a row).
    starts.clear();
    starts.resize(k + 1, 0);
    for (r, &arm) in arms.iter().enumerate() {
        if arm as usize >= k {
            return Err(first_error(k, d, first_row, xs, arms, rewards, r));
        }
        starts[arm as usize + 1] += 1;
    }
    for a in 0..k {
        starts[a + 1] += starts[a];
        n[a] += (starts[a + 1] - starts[a]) as u64;
    }

    // Stable scatter of rows into allocation order, checking values on the way (one
    // read of the rows from memory).
    rew.clear();
    rew.resize(arms.len(), 0.0);
    next.clear();
    next.extend_from_slice(&starts[..k]);
    let bad = match xs.xs {
        Features::Rows(all) => {
            let rows = &all[xs.lo * d..xs.hi * d];
            scatter_rows(d, stride, rows, arms, rewards, next, packed, rew)
        }
        Features::Columns { intercept, cols } => scatter_columns(
            stride,
            intercept,
            cols,
            xs,
            arms,
            rewards,
            (next, at),
            packed,
            rew,
        ),
    };
    if let Some(r) = bad {
        return Err(first_error(k, d, first_row, xs, arms, rewards, r));
    }

    // Register-blocked sums per allocation.
    for a in 0..k {
        let (lo, hi) = (starts[a], starts[a + 1]);
        if lo == hi {
            continue;
        }
        let rows = &packed[lo * stride..hi * stride];
        let g = &mut gram[a * stride * stride..(a + 1) * stride * stride];
        let b = &mut b[a * stride..(a + 1) * stride];
        sums(rows, &rew[lo..hi], stride, g, b);
    }
    Ok(())
}

fn is_special(v: f64) -> bool {
    v.to_bits() & EXPONENT == EXPONENT
}

/// Scatters row-major rows into `packed` in allocation order; the first row with a
/// non-finite value, if any (the scatter stops there).
#[allow(clippy::too_many_arguments)] // one private call site, all of it plain data
fn scatter_rows(
    d: usize,
    stride: usize,
    rows: &[f64],
    arms: &[u32],
    rewards: &[f64],
    next: &mut [usize],
    packed: &mut [f64],
    rew: &mut [f64],
) -> Option<usize> {
    for (r, ((row, &arm), &y)) in rows.chunks_exact(d).zip(arms).zip(rewards).enumerate() {
        let at = next[arm as usize];
        next[arm as usize] = at + 1;
        let mut bad = is_special(y);
        for (p, &v) in packed[at * stride..at * stride + d].iter_mut().zip(row) {
            *p = v;
            bad |= is_special(v);
        }
        if bad {
            return Some(r);
        }
        rew[at] = y;
    }
    None
}

/// As [`scatter_rows`] for values in columns: each row's place first, then a column
/// at a time (each column read once, in order); the block's last row if any value
/// is non-finite ([`first_error`] finds the first).
#[allow(clippy::too_many_arguments)] // one private call site, all of it plain data
fn scatter_columns(
    stride: usize,
    intercept: bool,
    cols: &[&[f64]],
    xs: Block<'_>,
    arms: &[u32],
    rewards: &[f64],
    (next, at): (&mut [usize], &mut Vec<u32>),
    packed: &mut [f64],
    rew: &mut [f64],
) -> Option<usize> {
    at.clear();
    let mut bad = false;
    for (&arm, &y) in arms.iter().zip(rewards) {
        let p = next[arm as usize];
        next[arm as usize] = p + 1;
        at.push(p as u32);
        rew[p] = y;
        bad |= is_special(y);
    }
    let offset = usize::from(intercept);
    if intercept {
        for &p in at.iter() {
            packed[p as usize * stride] = 1.0;
        }
    }
    for (j, col) in cols.iter().enumerate() {
        let j = j + offset;
        for (&p, &v) in at.iter().zip(&col[xs.lo..xs.hi]) {
            packed[p as usize * stride + j] = v;
            bad |= is_special(v);
        }
    }
    bad.then(|| arms.len() - 1)
}

/// The error of the first bad row among rows `..=last` of a block (`last` is bad).
fn first_error(
    k: usize,
    d: usize,
    first_row: usize,
    xs: Block<'_>,
    arms: &[u32],
    rewards: &[f64],
    last: usize,
) -> LinearError {
    arms.iter()
        .zip(rewards)
        .take(last + 1)
        .enumerate()
        .find_map(|(r, (&arm, &y))| check_row(k, first_row + r, arm, y, &xs.row(d, r)).err())
        .expect("the row that triggered the slow path is bad")
}

/// The slow path of the checks, for a row already known to be bad (or `d = 0`).
fn check_row(k: usize, row: usize, arm: u32, y: f64, xs: &[f64]) -> Result<(), LinearError> {
    if arm as usize >= k {
        return Err(LinearError::ArmOutOfRange { row, arm, arms: k });
    }
    if !y.is_finite() {
        return Err(LinearError::NonFinite {
            input: "reward".into(),
            row,
        });
    }
    if let Some(j) = xs.iter().position(|v| !v.is_finite()) {
        return Err(LinearError::NonFinite {
            input: format!("feature column {j}"),
            row,
        });
    }
    Ok(())
}

/// Adds `Σ x xᵀ` (upper blocks of padded `g`, `stride × stride`) and `Σ r x` (`b`)
/// over `rows` of `stride` values.
///
/// The arithmetic is the same on every path; on x86-64 a copy compiled for AVX2 is
/// chosen at run time when the CPU has it (4 doubles per instruction instead of
/// SSE2's 2). Multiplies and adds stay separate (no FMA), so both copies give the
/// same bits.
fn sums(rows: &[f64], rewards: &[f64], stride: usize, g: &mut [f64], b: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `sums_avx2` only needs AVX2, which the CPU was just found to have.
        unsafe { sums_avx2(rows, rewards, stride, g, b) };
        return;
    }
    sums_portable(rows, rewards, stride, g, b);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sums_avx2(rows: &[f64], rewards: &[f64], stride: usize, g: &mut [f64], b: &mut [f64]) {
    sums_portable(rows, rewards, stride, g, b);
}

/// Adds the products of `x[bi·TILE..][..TILE]` and `x[bj·TILE..][..W]` over `rows` into
/// the matching entries of `g`.
#[inline(always)]
fn tile<const W: usize>(rows: &[f64], stride: usize, bi: usize, bj: usize, g: &mut [f64]) {
    let (i0, j0) = (bi * TILE, bj * TILE);
    let mut acc = [[0.0f64; W]; TILE];
    for (ii, acc_i) in acc.iter_mut().enumerate() {
        let at = (i0 + ii) * stride + j0;
        acc_i.copy_from_slice(&g[at..at + W]);
    }
    for row in rows.chunks_exact(stride) {
        let xi: &[f64; TILE] = row[i0..i0 + TILE].try_into().expect("TILE values");
        let xj: &[f64; W] = row[j0..j0 + W].try_into().expect("W values");
        for (acc_i, &x) in acc.iter_mut().zip(xi) {
            for (s, &y) in acc_i.iter_mut().zip(xj) {
                *s += x * y;
            }
        }
    }
    for (ii, acc_i) in acc.iter().enumerate() {
        let at = (i0 + ii) * stride + j0;
        g[at..at + W].copy_from_slice(acc_i);
    }
}

#[inline(always)]
fn sums_portable(rows: &[f64], rewards: &[f64], stride: usize, g: &mut [f64], b: &mut [f64]) {
    let blocks = stride / TILE;
    for bi in 0..blocks {
        let mut bj = bi;
        // Two blocks side by side where they fit: eight independent sums per row hide
        // the latency of the adds, and each broadcast of x_i serves eight products.
        while bj + 1 < blocks {
            tile::<{ 2 * TILE }>(rows, stride, bi, bj, g);
            bj += 2;
        }
        if bj < blocks {
            tile::<TILE>(rows, stride, bi, bj, g);
        }
    }
    for bj in 0..blocks {
        let mut acc = [0.0f64; TILE];
        acc.copy_from_slice(&b[bj * TILE..(bj + 1) * TILE]);
        for (row, &r) in rows.chunks_exact(stride).zip(rewards) {
            let (tiles, _) = row.as_chunks::<TILE>();
            for (s, &x) in acc.iter_mut().zip(&tiles[bj]) {
                *s += r * x;
            }
        }
        b[bj * TILE..(bj + 1) * TILE].copy_from_slice(&acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain row-by-row loop the kernel replaces, as the reference.
    fn naive(k: usize, d: usize, xs: &[f64], arms: &[u32], rs: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut g = vec![0.0; k * d * d];
        let mut b = vec![0.0; k * d];
        for ((row, &a), &r) in xs.chunks_exact(d).zip(arms).zip(rs) {
            let a = a as usize;
            for i in 0..d {
                for j in i..d {
                    g[a * d * d + i * d + j] += row[i] * row[j];
                }
                b[a * d + i] += r * row[i];
            }
        }
        (g, b)
    }

    #[test]
    fn blocked_sums_equal_the_row_by_row_loop_bit_for_bit() {
        // d = 1, 4, 5 and 7: a full tile, padding, several tiles with a partial one;
        // rows over two blocks, so sums carry across blocks.
        for d in [1usize, 4, 5, 7] {
            let (k, m) = (3usize, BLOCK_ROWS + 50);
            let xs: Vec<f64> = (0..m * d)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
                .collect();
            let arms: Vec<u32> = (0..m).map(|i| (i * 7 % 5 % k) as u32).collect();
            let rs: Vec<f64> = (0..m).map(|i| (i % 3) as f64 * 0.3).collect();
            let (mut g, mut b, mut n) = (vec![0.0; k * d * d], vec![0.0; k * d], vec![0; k]);
            let out = ChunkOut {
                gram: &mut g,
                b: &mut b,
                n: &mut n,
            };
            let input = ChunkIn {
                first_row: 0,
                xs: Features::Rows(&xs),
                arms: &arms,
                rewards: &rs,
            };
            accumulate_chunk(k, d, input, &mut Scratch::default(), out).unwrap();
            let (g0, b0) = naive(k, d, &xs, &arms, &rs);
            assert_eq!(g, g0, "d = {d}");
            assert_eq!(b, b0, "d = {d}");
            let counts: Vec<u64> = (0..k as u32)
                .map(|a| arms.iter().filter(|&&x| x == a).count() as u64)
                .collect();
            assert_eq!(n, counts);
        }
    }

    #[test]
    fn the_portable_and_dispatched_sums_give_the_same_bits() {
        // On an AVX2 machine `sums` takes the AVX2 copy; both must match exactly.
        let (stride, m) = (8usize, 37usize);
        let rows: Vec<f64> = (0..m * stride)
            .map(|i| ((i * 53 % 89) as f64 - 44.0) / 3.0)
            .collect();
        let rs: Vec<f64> = (0..m).map(|i| (i % 4) as f64 * 0.7).collect();
        let (mut g1, mut b1) = (vec![0.5; stride * stride], vec![0.25; stride]);
        let (mut g2, mut b2) = (g1.clone(), b1.clone());
        sums(&rows, &rs, stride, &mut g1, &mut b1);
        sums_portable(&rows, &rs, stride, &mut g2, &mut b2);
        assert_eq!(g1, g2);
        assert_eq!(b1, b2);
        // And the upper blocks hold 0.5 + Σ xᵢxⱼ in row order.
        let want: f64 = rows.chunks_exact(stride).fold(0.5, |s, r| s + r[1] * r[6]);
        assert_eq!(g2[stride + 6], want);
    }

    #[test]
    fn the_first_bad_row_is_reported_whatever_its_kind() {
        let xs = [1.0, 2.0, 1.0, f64::INFINITY, 1.0, 3.0];
        let mut g = vec![0.0; 8];
        let mut b = vec![0.0; 4];
        let mut n = vec![0; 2];
        let out = ChunkOut {
            gram: &mut g,
            b: &mut b,
            n: &mut n,
        };
        // Row 2 (10 + 2 in the run) has an arm out of range, row 1 a bad feature.
        let input = ChunkIn {
            first_row: 10,
            xs: Features::Rows(&xs),
            arms: &[0, 1, 5],
            rewards: &[0.0, 1.0, 1.0],
        };
        let e = accumulate_chunk(2, 2, input, &mut Scratch::default(), out).unwrap_err();
        assert_eq!(
            e,
            LinearError::NonFinite {
                input: "feature column 1".into(),
                row: 11
            }
        );
    }
}
