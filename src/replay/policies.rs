//! Evaluation policies and their action distributions `π_e(a | x, position)`.
//!
//! Off-policy estimators need, for every logged row, the probability the evaluation
//! policy gives each action at that row's slot. [`ActionDist`] holds it, either shared
//! by every row (context-free policies) or per row. The policies here:
//!
//! * [`uniform`]: `1 / n_actions` everywhere;
//! * [`fixed`]: a given allocation, the same at every slot;
//! * [`BernoulliTs`]: Bernoulli Thompson sampling with a Beta prior per action, which
//!   each round draws one sample per action and shows the `len_list` largest in slots
//!   0, 1, ... (the ranking policy ZOZOTOWN ran for the `bts` logs of the Open Bandit
//!   Dataset; obp 0.5.7 `BernoulliTS.select_action`). Its per-slot distribution has no
//!   closed form, so it is estimated by seeded Monte Carlo, as obp's
//!   `compute_batch_action_dist` does: the share of `n_sim` simulated rounds in which
//!   action `a` lands in slot `k`;
//! * [`greedy`]: the deterministic ranking by a fitted reward model's predictions.
//!
//! Any other policy enters as an [`ActionDist`] built by the caller
//! ([`ActionDist::shared`], [`ActionDist::per_row`]).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::logged::LoggedBandit;
use super::reward_model::FittedRewardModel;
use crate::error::EvaluationError;
use crate::error::{Error, ParameterError, Result};
use crate::policy::seed;
use crate::progress::Progress;

/// `π_e(a | x_i, k)` for every row `i`, action `a` and slot `k`.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionDist {
    /// The same distribution for every row: `probs[a * len_list + k]`.
    Shared {
        /// Number of actions.
        n_actions: usize,
        /// Number of slots.
        len_list: usize,
        /// Probabilities, action-major.
        probs: Vec<f64>,
    },
    /// One distribution per row: `probs[(i * n_actions + a) * len_list + k]` (the
    /// layout of obp's `action_dist` array).
    PerRow {
        /// Number of rows.
        n_rows: usize,
        /// Number of actions.
        n_actions: usize,
        /// Number of slots.
        len_list: usize,
        /// Probabilities, row-major then action-major.
        probs: Vec<f64>,
    },
}

impl ActionDist {
    /// A distribution shared by every row, checked: `probs` is `n_actions × len_list`,
    /// entries in [0, 1], each slot's column sums to 1 (within 1e-6).
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] naming the slot or entry at fault.
    pub fn shared(n_actions: usize, len_list: usize, probs: Vec<f64>) -> Result<Self> {
        let d = Self::Shared {
            n_actions,
            len_list,
            probs,
        };
        d.check()?;
        Ok(d)
    }

    /// A per-row distribution, checked like [`ActionDist::shared`] row by row.
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] naming the row and slot at fault.
    pub fn per_row(
        n_rows: usize,
        n_actions: usize,
        len_list: usize,
        probs: Vec<f64>,
    ) -> Result<Self> {
        let d = Self::PerRow {
            n_rows,
            n_actions,
            len_list,
            probs,
        };
        d.check()?;
        Ok(d)
    }

    fn check(&self) -> Result<()> {
        let (rows, k, l, probs) = match self {
            Self::Shared {
                n_actions,
                len_list,
                probs,
            } => (1, *n_actions, *len_list, probs),
            Self::PerRow {
                n_rows,
                n_actions,
                len_list,
                probs,
            } => (*n_rows, *n_actions, *len_list, probs),
        };
        let bad = |reason: String| Error::from(EvaluationError::ActionDist { reason });
        if probs.len() != rows * k * l || k == 0 || l == 0 {
            return Err(bad(format!(
                "{} probabilities for {rows} rows × {k} actions × {l} slots",
                probs.len()
            )));
        }
        for i in 0..rows {
            for pos in 0..l {
                let mut sum = 0.0;
                for a in 0..k {
                    let p = probs[(i * k + a) * l + pos];
                    if !(0.0..=1.0).contains(&p) {
                        return Err(bad(format!(
                            "row {i}, action {a}, slot {pos}: probability {p} is not in [0, 1]"
                        )));
                    }
                    sum += p;
                }
                if (sum - 1.0).abs() > 1e-6 {
                    return Err(bad(format!(
                        "row {i}, slot {pos}: probabilities sum to {sum}, not 1"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Number of actions.
    #[must_use]
    pub fn n_actions(&self) -> usize {
        match self {
            Self::Shared { n_actions, .. } | Self::PerRow { n_actions, .. } => *n_actions,
        }
    }

    /// Number of slots.
    #[must_use]
    pub fn len_list(&self) -> usize {
        match self {
            Self::Shared { len_list, .. } | Self::PerRow { len_list, .. } => *len_list,
        }
    }

    /// `π_e(a | x_row, slot)`.
    #[must_use]
    pub fn prob(&self, row: usize, action: usize, slot: usize) -> f64 {
        match self {
            Self::Shared {
                len_list, probs, ..
            } => probs[action * len_list + slot],
            Self::PerRow {
                n_actions,
                len_list,
                probs,
                ..
            } => probs[(row * n_actions + action) * len_list + slot],
        }
    }

    /// Whether it fits a log: same actions and slots, and one row per log row if per-row.
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] saying which dimension differs.
    pub fn check_against(&self, data: &LoggedBandit) -> Result<()> {
        let bad = |reason: String| Error::from(EvaluationError::ActionDist { reason });
        if self.n_actions() != data.n_actions() || self.len_list() != data.len_list() {
            return Err(bad(format!(
                "the evaluation policy has {} actions × {} slots, the log {} × {}",
                self.n_actions(),
                self.len_list(),
                data.n_actions(),
                data.len_list()
            )));
        }
        if let Self::PerRow { n_rows, .. } = self {
            if *n_rows != data.len() {
                return Err(bad(format!(
                    "{n_rows} rows of probabilities for a log of {} rows",
                    data.len()
                )));
            }
        }
        Ok(())
    }
}

/// The uniform random policy: `1 / n_actions` for every action at every slot.
///
/// # Errors
///
/// [`Error::Evaluation`] if `n_actions` or `len_list` is 0.
pub fn uniform(n_actions: usize, len_list: usize) -> Result<ActionDist> {
    if n_actions == 0 {
        return ActionDist::shared(0, len_list, Vec::new());
    }
    ActionDist::shared(
        n_actions,
        len_list,
        vec![1.0 / n_actions as f64; n_actions * len_list],
    )
}

/// A fixed allocation: action `a` with probability `weights[a]` at every slot.
/// Weights are normalised to sum to 1.
///
/// # Errors
///
/// [`Error::Parameter`] for a negative or non-finite weight or a zero sum.
pub fn fixed(weights: &[f64], len_list: usize) -> Result<ActionDist> {
    let sum: f64 = weights.iter().sum();
    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
        || sum.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return Err(ParameterError::new(
            "weights",
            "finite, non-negative and not all zero",
            format!("{weights:?}"),
        )
        .into());
    }
    let mut probs = Vec::with_capacity(weights.len() * len_list);
    for w in weights {
        probs.extend(std::iter::repeat_n(w / sum, len_list));
    }
    ActionDist::shared(weights.len(), len_list, probs)
}

/// The deterministic ranking by a fitted reward model: at slot `k` of row `i`, the
/// action with the `k`-th largest predicted reward `q̂(x_i, a, k)` among those not
/// already placed in slots `0..k` (ties to the lower action index).
///
/// # Errors
///
/// [`Error::Evaluation`] if the model was fitted for other dimensions.
pub fn greedy(model: &FittedRewardModel, data: &LoggedBandit) -> Result<ActionDist> {
    let (n, k, l) = (data.len(), data.n_actions(), data.len_list());
    if model.n_actions() != k || model.len_list() != l {
        return Err(EvaluationError::Predictions {
            reason: format!(
                "the model covers {} actions × {} slots, the log {k} × {l}",
                model.n_actions(),
                model.len_list()
            ),
        }
        .into());
    }
    let mut probs = vec![0.0; n * k * l];
    probs
        .par_chunks_mut(k * l)
        .enumerate()
        .for_each(|(i, out)| {
            let x = data.context().row(i);
            let mut taken = vec![false; k];
            for slot in 0..l {
                let q = model.predict_row(x, slot);
                let mut best = usize::MAX;
                for a in 0..k {
                    if !taken[a] && (best == usize::MAX || q[a] > q[best]) {
                        best = a;
                    }
                }
                if best == usize::MAX {
                    // More slots than actions: nothing left; the slot stays uniform.
                    for a in 0..k {
                        out[a * l + slot] = 1.0 / k as f64;
                    }
                    continue;
                }
                taken[best] = true;
                out[best * l + slot] = 1.0;
            }
        });
    ActionDist::per_row(n, k, l, probs)
}

/// Bernoulli Thompson sampling over a ranking: each round draws
/// `θ_a ~ Beta(alpha[a], beta[a])` for every action and shows the `len_list` actions
/// with the largest draws, in decreasing order, in slots `0, 1, ...`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BernoulliTs {
    /// Prior successes per action (> 0).
    pub alpha: Vec<f64>,
    /// Prior failures per action (> 0).
    pub beta: Vec<f64>,
    /// Slots filled per round (≤ number of actions).
    pub len_list: usize,
    /// Simulated rounds of the Monte Carlo estimate. Default 100 000 (obp's default).
    pub n_sim: u32,
    /// Master seed of the simulation.
    pub seed: u64,
}

/// Simulated rounds per chunk: fixed, so the split does not depend on the thread count.
const SIM_CHUNK: u32 = 4096;

impl BernoulliTs {
    /// A policy with the given prior, `len_list` slots, 100 000 simulations, seed 0.
    #[must_use]
    pub fn new(alpha: Vec<f64>, beta: Vec<f64>, len_list: usize) -> Self {
        Self {
            alpha,
            beta,
            len_list,
            n_sim: 100_000,
            seed: 0,
        }
    }

    /// Sets the number of simulated rounds.
    #[must_use]
    pub fn n_sim(mut self, n_sim: u32) -> Self {
        self.n_sim = n_sim;
        self
    }

    /// Sets the master seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The prior of each action, once the settings are checked.
    fn priors(&self) -> Result<Vec<Beta<f64>>> {
        let k = self.alpha.len();
        if k == 0 || self.beta.len() != k {
            return Err(ParameterError::new(
                "prior",
                "one alpha and one beta per action, at least one action",
                format!("{k} alphas and {} betas", self.beta.len()),
            )
            .into());
        }
        if self.len_list == 0 || self.len_list > k {
            return Err(ParameterError::new(
                "len_list",
                "between 1 and the number of actions",
                format!("{} slots for {k} actions", self.len_list),
            )
            .into());
        }
        ParameterError::at_least_one("n_sim", self.n_sim)?;
        (0..k)
            .map(|a| {
                Beta::new(self.alpha[a], self.beta[a]).map_err(|_| {
                    ParameterError::new(
                        "prior",
                        "positive and finite alpha and beta",
                        format!("action {a}: Beta({}, {})", self.alpha[a], self.beta[a]),
                    )
                    .into()
                })
            })
            .collect()
    }

    /// Estimates the per-slot action distribution by `n_sim` simulated rounds.
    ///
    /// Rounds are split in fixed chunks of 4096, each with a ChaCha8 stream seeded from
    /// the master seed and the chunk index; counts are summed in chunk order, so the
    /// result is the same on any number of threads. Within a round, actions are drawn
    /// in index order and ties go to the lower index. The estimate of each entry has
    /// standard error at most `0.5 / √n_sim`.
    ///
    /// # Errors
    ///
    /// [`Error::Parameter`] for an empty or non-positive prior, lists of
    /// different lengths, `len_list` 0 or above the number of actions, or `n_sim` 0.
    pub fn action_dist(&self, progress: &dyn Progress) -> Result<ActionDist> {
        let dists = self.priors()?;
        let k = dists.len();
        let l = self.len_list;
        let chunks = self.n_sim.div_ceil(SIM_CHUNK);
        let master = seed::derive(self.seed, "bernoulli-ts-action-dist");
        progress.start("Monte Carlo action distribution", u64::from(self.n_sim));
        let counts: Vec<Vec<u32>> = (0..chunks)
            .into_par_iter()
            .map(|c| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed::derive(master, &format!("chunk{c}")));
                let rounds = SIM_CHUNK.min(self.n_sim - c * SIM_CHUNK);
                let counts = top_counts(&dists, l, rounds, &mut rng);
                progress.advance(u64::from(rounds));
                counts
            })
            .collect();
        progress.finish();
        let mut total = vec![0u64; k * l];
        for chunk in counts {
            for (t, c) in total.iter_mut().zip(chunk) {
                *t += u64::from(c);
            }
        }
        let n = f64::from(self.n_sim);
        ActionDist::shared(k, l, total.into_iter().map(|c| c as f64 / n).collect())
    }
}

/// Counts, per action and slot (`a * l + slot`), how often `rounds` Thompson rounds
/// show action `a` at `slot`: one draw per action, in index order, the `l` largest
/// shown in decreasing order, ties to the lower index.
fn top_counts(dists: &[Beta<f64>], l: usize, rounds: u32, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let k = dists.len();
    let mut counts = vec![0u32; k * l];
    let mut draws = vec![0.0f64; k];
    let mut top: Vec<usize> = Vec::with_capacity(l + 1);
    for _ in 0..rounds {
        for (d, dist) in draws.iter_mut().zip(dists) {
            *d = dist.sample(rng);
        }
        // Insertion into a sorted top-l list: O(k·l), l is small.
        top.clear();
        for a in 0..k {
            let v = draws[a];
            if top.len() == l && v <= draws[top[l - 1]] {
                continue;
            }
            let at = top.partition_point(|&b| draws[b] >= v);
            top.insert(at, a);
            top.truncate(l);
        }
        for (slot, &a) in top.iter().enumerate() {
            counts[a * l + slot] += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;
    use crate::progress::NoProgress;

    #[test]
    fn uniform_and_fixed_are_exact() {
        let u = uniform(4, 2).unwrap();
        assert_eq!(u.prob(7, 3, 1), 0.25);
        let f = fixed(&[1.0, 3.0], 3).unwrap();
        assert_eq!(f.prob(0, 0, 2), 0.25);
        assert_eq!(f.prob(9, 1, 0), 0.75);
        assert!(fixed(&[0.0, 0.0], 1).is_err());
        assert!(fixed(&[-1.0, 2.0], 1).is_err());
    }

    #[test]
    fn thompson_two_actions_matches_the_closed_form() {
        // θ₀ ~ Beta(2, 1) (density 2x), θ₁ ~ Uniform: P(θ₀ > θ₁) = ∫ 2x·x dx = 2/3.
        let ts = BernoulliTs::new(vec![2.0, 1.0], vec![1.0, 1.0], 2)
            .n_sim(200_000)
            .seed(3);
        let d = ts.action_dist(&NoProgress).unwrap();
        // Standard error √(2/9 / 200 000) ≈ 0.00105; allow 4 of them.
        assert_abs_diff_eq!(d.prob(0, 0, 0), 2.0 / 3.0, epsilon = 0.0045);
        assert_abs_diff_eq!(d.prob(0, 1, 1), 2.0 / 3.0, epsilon = 0.0045);
        assert_abs_diff_eq!(d.prob(0, 0, 0) + d.prob(0, 1, 0), 1.0, epsilon = 1e-12);
    }

    #[test]
    fn thompson_is_symmetric_under_a_common_prior() {
        let ts = BernoulliTs::new(vec![1.0; 4], vec![1.0; 4], 2).n_sim(100_000);
        let d = ts.action_dist(&NoProgress).unwrap();
        for a in 0..4 {
            for slot in 0..2 {
                assert_abs_diff_eq!(d.prob(0, a, slot), 0.25, epsilon = 0.006);
            }
        }
    }

    #[test]
    fn thompson_refuses_bad_priors_and_sizes() {
        assert!(BernoulliTs::new(vec![1.0], vec![1.0, 1.0], 1)
            .action_dist(&NoProgress)
            .is_err());
        assert!(BernoulliTs::new(vec![0.0], vec![1.0], 1)
            .action_dist(&NoProgress)
            .is_err());
        assert!(BernoulliTs::new(vec![1.0], vec![1.0], 2)
            .action_dist(&NoProgress)
            .is_err());
    }

    #[test]
    fn greedy_ranks_actions_by_the_fitted_model() {
        use crate::replay::logged::{LoggedBandit, LoggedBanditParts};
        use crate::replay::reward_model::{RewardModelKind, RewardModelParams};
        // Three actions, two slots, no context; action 2 always rewarded, action 0
        // half the time, action 1 never. A barely penalised ridge model on the one-hot
        // actions learns the means (0.5, 0, 1), so slot 0 shows 2 and slot 1 shows 0.
        let mut parts = LoggedBanditParts {
            n_actions: 3,
            len_list: 2,
            context: ndarray::Array2::zeros((8, 0)),
            ..LoggedBanditParts::default()
        };
        for (a, r, slot) in [
            (0, 1.0, 0),
            (0, 0.0, 1),
            (1, 0.0, 0),
            (1, 0.0, 1),
            (2, 1.0, 0),
            (2, 1.0, 1),
            (0, 1.0, 1),
            (0, 0.0, 0),
        ] {
            parts.action.push(a);
            parts.reward.push(r);
            parts.position.push(slot);
            parts.pscore.push(1.0 / 3.0);
        }
        let data = LoggedBandit::new(parts).unwrap();
        let model = RewardModelParams::default()
            .kind(RewardModelKind::Ridge { lambda: 1e-9 })
            .n_folds(1)
            .check()
            .unwrap();
        let d = greedy(&model.fit(&data).unwrap(), &data).unwrap();
        for row in 0..8 {
            assert_eq!(d.prob(row, 2, 0), 1.0);
            assert_eq!(d.prob(row, 0, 1), 1.0);
            assert_eq!(d.prob(row, 1, 0) + d.prob(row, 1, 1), 0.0);
        }
    }

    #[test]
    fn action_dist_checks_that_slots_sum_to_one() {
        assert!(ActionDist::shared(2, 1, vec![0.5, 0.4]).is_err());
        assert!(ActionDist::shared(2, 1, vec![1.5, -0.5]).is_err());
        assert!(ActionDist::per_row(2, 2, 1, vec![0.5, 0.5, 1.0, 0.0]).is_ok());
    }
}
