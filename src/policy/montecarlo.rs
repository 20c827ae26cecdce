//! Probability of being best by seeded, chunked Monte Carlo.
//!
//! Draws are split into fixed chunks of [`CHUNK`], each with its own generator seeded
//! from the master seed, the label and the chunk index; per-chunk win counts are summed
//! in chunk order. The result is therefore the same on any number of threads.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::seed;

/// Draws per chunk: fixed, so the split does not depend on the thread count.
pub const CHUNK: u32 = 2048;

/// Share of `draws` joint draws in which each of `k` arms has the highest value.
///
/// `sample(rng, i)` draws arm `i`'s value; arms are drawn in index order within a
/// draw, and the first arm wins a tie. The stream is keyed by `master` and `label`.
pub fn probability_best<F>(k: usize, draws: u32, master: u64, label: &str, sample: F) -> Vec<f64>
where
    F: Fn(&mut ChaCha8Rng, usize) -> f64 + Sync,
{
    if k == 0 || draws == 0 {
        return vec![0.0; k];
    }
    let chunks = draws.div_ceil(CHUNK);
    let master = seed::derive(master, label);
    let wins: Vec<Vec<u64>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed::derive(master, &format!("chunk{c}")));
            let mut wins = vec![0u64; k];
            let n = CHUNK.min(draws - c * CHUNK);
            for _ in 0..n {
                let mut best = 0;
                let mut best_v = f64::NEG_INFINITY;
                for i in 0..k {
                    let v = sample(&mut rng, i);
                    if v > best_v {
                        best_v = v;
                        best = i;
                    }
                }
                wins[best] += 1;
            }
            wins
        })
        .collect();
    let mut total = vec![0u64; k];
    for w in wins {
        for (t, x) in total.iter_mut().zip(w) {
            *t += x;
        }
    }
    total
        .into_iter()
        .map(|w| w as f64 / f64::from(draws))
        .collect()
}
