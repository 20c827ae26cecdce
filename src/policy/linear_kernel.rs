//! The inner loop of [`super::linear::LinearStats::from_rows`]: one chunk's `Σ x xᵀ` and
//! `Σ r x` per allocation.
//!
//! A row-by-row rank-1 update loads and stores the whole `d(d+1)/2` upper triangle of
//! its allocation for every row (136 values at `d = 16`): the loop is bound by loads and
//! stores, not arithmetic. Instead, the chunk's rows are first grouped by allocation (a
//! stable counting sort that copies each row once into a scratch buffer, with a stride
//! padded to a multiple of [`TILE`]); then, per allocation, each `TILE × TILE` block of
//! the upper triangle is summed over all of the allocation's rows with its 16 partial
//! sums held in registers, the blocking of a GEMM micro-kernel (Goto & van de Geijn,
//! "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 34(3), 2008, §5) for
//! `Xₐᵀ Xₐ`. The block is written with fixed-size arrays so the compiler vectorises it
//! for the baseline target (SSE2: 8 of the 16 registers hold the block); no
//! `target-cpu` is assumed.
//!
//! Every entry is still the sum of its products in row order, started from zero, with
//! separate multiply and add (no fused multiply-add): the same floating-point result as
//! the plain loop, on any x86-64 or other machine, whatever the thread count.

use super::linear::LinearError;

/// Side of the register block; the scratch row stride is padded to a multiple of it.
pub(super) const TILE: usize = 4;

const EXPONENT: u64 = 0x7ff0_0000_0000_0000;

/// Buffers one worker reuses across chunks (their contents never reach a result).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Rows grouped by allocation, `stride` values each (zero padding after `d`).
    packed: Vec<f64>,
    /// Rewards in the order of `packed`.
    rewards: Vec<f64>,
    /// Start of each allocation's rows in `packed`, then the end (`k + 1` entries).
    starts: Vec<usize>,
    /// Next free row of each allocation while scattering.
    next: Vec<usize>,
}

/// One chunk's statistics, written into zeroed `gram` (upper triangle of `k` row-major
/// `d × d` blocks), `b` (`k × d`) and `n` (`k`).
pub(super) struct ChunkOut<'a> {
    pub gram: &'a mut [f64],
    pub b: &'a mut [f64],
    pub n: &'a mut [u64],
}

/// One chunk's rows: `xs` row-major, `d` per row; `first_row` numbers them in errors.
pub(super) struct ChunkIn<'a> {
    pub first_row: usize,
    pub xs: &'a [f64],
    pub arms: &'a [u32],
    pub rewards: &'a [f64],
}

/// Validates and accumulates one chunk of rows. The first bad row in row order is
/// reported, its arm checked first, then its reward, then its features left to right.
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
    let m = arms.len();
    if d == 0 {
        // No features: only counts, after the same checks.
        for (r, (&arm, &y)) in arms.iter().zip(rewards).enumerate() {
            check_row(k, first_row + r, arm, y, &[])?;
            out.n[arm as usize] += 1;
        }
        return Ok(());
    }
    let stride = d.div_ceil(TILE) * TILE;
    let Scratch {
        packed,
        rewards: rew,
        starts,
        next,
    } = scratch;

    // Pass 1: validate, count rows per allocation.
    starts.clear();
    starts.resize(k + 1, 0);
    for (r, ((row, &arm), &y)) in xs.chunks_exact(d).zip(arms).zip(rewards).enumerate() {
        if arm as usize >= k || !y.is_finite() || any_non_finite(row) {
            check_row(k, first_row + r, arm, y, row)?;
        }
        starts[arm as usize + 1] += 1;
    }
    for a in 0..k {
        starts[a + 1] += starts[a];
        out.n[a] += (starts[a + 1] - starts[a]) as u64;
    }

    // Pass 2: stable scatter of rows into allocation order.
    packed.clear();
    packed.resize(m * stride, 0.0);
    rew.clear();
    rew.resize(m, 0.0);
    next.clear();
    next.extend_from_slice(&starts[..k]);
    for ((row, &arm), &y) in xs.chunks_exact(d).zip(arms).zip(rewards) {
        let at = next[arm as usize];
        next[arm as usize] = at + 1;
        packed[at * stride..at * stride + d].copy_from_slice(row);
        rew[at] = y;
    }

    // Pass 3: register-blocked sums per allocation.
    for a in 0..k {
        let (lo, hi) = (starts[a], starts[a + 1]);
        if lo == hi {
            continue;
        }
        gram_upper(
            &packed[lo * stride..hi * stride],
            stride,
            d,
            &mut out.gram[a * d * d..(a + 1) * d * d],
        );
        weighted_sum(
            &packed[lo * stride..hi * stride],
            &rew[lo..hi],
            stride,
            d,
            &mut out.b[a * d..(a + 1) * d],
        );
    }
    Ok(())
}

/// True if any value is NaN or infinite (exponent bits all ones); written as a
/// bitwise fold so it vectorises.
fn any_non_finite(row: &[f64]) -> bool {
    row.iter()
        .fold(false, |bad, v| bad | (v.to_bits() & EXPONENT == EXPONENT))
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

/// Adds `Σ x xᵀ` over `rows` (each `stride` values, the first `d` real) into the upper
/// triangle of row-major `g` (`d × d`).
fn gram_upper(rows: &[f64], stride: usize, d: usize, g: &mut [f64]) {
    let blocks = stride / TILE;
    for bi in 0..blocks {
        for bj in bi..blocks {
            let mut acc = [[0.0f64; TILE]; TILE];
            for row in rows.chunks_exact(stride) {
                let (tiles, _) = row.as_chunks::<TILE>();
                let xi = tiles[bi];
                let xj = tiles[bj];
                for (acc_i, &x) in acc.iter_mut().zip(&xi) {
                    for (s, &y) in acc_i.iter_mut().zip(&xj) {
                        *s += x * y;
                    }
                }
            }
            for (ii, acc_i) in acc.iter().enumerate() {
                let i = bi * TILE + ii;
                for (jj, &s) in acc_i.iter().enumerate() {
                    let j = bj * TILE + jj;
                    if i <= j && j < d {
                        g[i * d + j] += s;
                    }
                }
            }
        }
    }
}

/// Adds `Σ r x` over `rows` into `b` (`d` values).
fn weighted_sum(rows: &[f64], rewards: &[f64], stride: usize, d: usize, b: &mut [f64]) {
    for bj in 0..stride / TILE {
        let mut acc = [0.0f64; TILE];
        for (row, &r) in rows.chunks_exact(stride).zip(rewards) {
            let (tiles, _) = row.as_chunks::<TILE>();
            for (s, &x) in acc.iter_mut().zip(&tiles[bj]) {
                *s += r * x;
            }
        }
        for (jj, &s) in acc.iter().enumerate() {
            let j = bj * TILE + jj;
            if j < d {
                b[j] += s;
            }
        }
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
        // d = 1, 4, 5 and 7: a full tile, padding, several tiles with a partial one.
        for d in [1usize, 4, 5, 7] {
            let (k, m) = (3usize, 50usize);
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
                xs: &xs,
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
            xs: &xs,
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
