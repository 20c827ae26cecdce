//! Off-policy estimators of a policy's value from logged bandit feedback.
//!
//! With `n` logged rows `(xᵢ, aᵢ, kᵢ, rᵢ, pᵢ)` (context, action, slot, reward, logging
//! propensity), the evaluation policy `π_e(a | x, k)`, the importance weight
//! `wᵢ = π_e(aᵢ | xᵢ, kᵢ) / pᵢ`, a reward model `q̂(x, a, k)`, its value at the logged
//! action `q̂ᵢ = q̂(xᵢ, aᵢ, kᵢ)` and under the policy `q̂ᵢ^π = Σ_a π_e(a | xᵢ, kᵢ) q̂(xᵢ, a, kᵢ)`:
//!
//! | estimator | value | source |
//! |---|---|---|
//! | `replay` | `Σ mᵢ rᵢ / Σ mᵢ` | Li, Chu, Langford, Wang, WSDM 2011, Algorithm 3 |
//! | `ipw` | `(1/n) Σ wᵢ rᵢ` | Horvitz & Thompson 1952; Precup et al. 2000 |
//! | `snipw` | `Σ wᵢ rᵢ / Σ wᵢ` | Swaminathan & Joachims, NeurIPS 2015 |
//! | `dm` | `(1/n) Σ q̂ᵢ^π` | Beygelzimer & Langford, KDD 2009 |
//! | `dr` | `(1/n) Σ [q̂ᵢ^π + wᵢ (rᵢ − q̂ᵢ)]` | Dudík, Langford, Li, ICML 2011 |
//! | `sndr` | `(1/n) Σ q̂ᵢ^π + Σ wᵢ (rᵢ − q̂ᵢ) / Σ wᵢ` | Kallus & Uehara 2019; obp `SelfNormalizedDoublyRobust` |
//!
//! The replay method keeps the rows where the evaluation policy, run on the logged
//! context, picks the logged action (`mᵢ = 1`). For a deterministic policy `mᵢ` is that
//! indicator; for a randomised one the policy's own draw is simulated with a seeded
//! uniform `uᵢ`: `mᵢ = 1{uᵢ < π_e(aᵢ | xᵢ, kᵢ)}`, which matches with exactly the
//! probability the policy would. It is unbiased when the log is uniformly random
//! (Li et al. 2011, Theorem 1); obp 0.5.7's `ReplayMethod` only accepts rows whose
//! `π_e` is exactly 1, so it returns 0 for a randomised policy.
//!
//! Every estimator is a function of seven sums over rows ([`Sums`]), which is what makes
//! the bootstrap ([`super::bootstrap`]) cheap: a resample only re-adds rows.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::logged::LoggedBandit;
use super::policies::ActionDist;
use super::reward_model::RewardPredictions;
use crate::error::EvaluationError;
use crate::error::{Error, Result};
use crate::policy::seed;

/// An off-policy estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Estimator {
    /// The replay method (rejection sampling on matching actions).
    Replay,
    /// Inverse propensity weighting.
    Ipw,
    /// Self-normalised inverse propensity weighting.
    Snipw,
    /// The direct method (reward model only).
    Dm,
    /// Doubly robust.
    Dr,
    /// Self-normalised doubly robust.
    Sndr,
}

impl Estimator {
    /// All estimators, in report order.
    pub const ALL: [Estimator; 6] = [
        Estimator::Replay,
        Estimator::Ipw,
        Estimator::Snipw,
        Estimator::Dm,
        Estimator::Dr,
        Estimator::Sndr,
    ];

    /// The name in reports and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Estimator::Replay => "replay",
            Estimator::Ipw => "ipw",
            Estimator::Snipw => "snipw",
            Estimator::Dm => "dm",
            Estimator::Dr => "dr",
            Estimator::Sndr => "sndr",
        }
    }

    /// Whether the estimator needs a reward model.
    #[must_use]
    pub fn needs_model(self) -> bool {
        matches!(self, Estimator::Dm | Estimator::Dr | Estimator::Sndr)
    }

    /// The estimate from the sums, `None` where it is undefined (no replay match, or
    /// all weights zero for the self-normalised ones).
    #[must_use]
    pub fn from_sums(self, s: &Sums) -> Option<f64> {
        let [n, m, mr, w, wr, wq, qpi, _] = s.0;
        if n == 0.0 {
            return None;
        }
        match self {
            Estimator::Replay => (m > 0.0).then(|| mr / m),
            Estimator::Ipw => Some(wr / n),
            Estimator::Snipw => (w > 0.0).then(|| wr / w),
            Estimator::Dm => Some(qpi / n),
            Estimator::Dr => Some((qpi + wr - wq) / n),
            Estimator::Sndr => (w > 0.0).then(|| qpi / n + (wr - wq) / w),
        }
    }
}

impl std::str::FromStr for Estimator {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Estimator::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| EvaluationError::UnknownEstimator { name: s.to_owned() }.into())
    }
}

/// Sums over rows: `[n, Σm, Σmr, Σw, Σwr, Σwq̂, Σq̂^π, 0]` (padded to a cache-friendly 8).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums(pub [f64; 8]);

impl Sums {
    /// Adds one row's terms.
    #[inline]
    pub fn add(&mut self, row: &[f64; 8]) {
        for (s, r) in self.0.iter_mut().zip(row) {
            *s += r;
        }
    }
}

/// Per-row terms of the estimators, precomputed once: `[1, m, m·r, w, w·r, w·q̂, q̂^π, 0]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeInputs {
    rows: Vec<[f64; 8]>,
    has_model: bool,
}

/// One row's ingredients, for [`OpeInputs::from_rows`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowInput {
    /// Observed reward `r`.
    pub reward: f64,
    /// Importance weight `w = π_e(a | x) / p`.
    pub weight: f64,
    /// Replay match `m` (0 or 1).
    pub matched: bool,
    /// Reward model at the logged action `q̂(x, a)` (0 without a model).
    pub q_logged: f64,
    /// Reward model under the policy `Σ_a π_e(a | x) q̂(x, a)` (0 without a model).
    pub q_policy: f64,
}

impl OpeInputs {
    /// Terms from explicit per-row ingredients (hand-made examples, other sources).
    #[must_use]
    pub fn from_rows(rows: &[RowInput], has_model: bool) -> Self {
        Self {
            rows: rows
                .iter()
                .map(|r| {
                    let m = f64::from(u8::from(r.matched));
                    [
                        1.0,
                        m,
                        m * r.reward,
                        r.weight,
                        r.weight * r.reward,
                        r.weight * r.q_logged,
                        r.q_policy,
                        0.0,
                    ]
                })
                .collect(),
            has_model,
        }
    }

    /// Terms for a log, an evaluation policy and optionally a reward model's
    /// predictions. `replay_seed` seeds the replay method's simulated policy draws.
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] if the dimensions of the log, the policy and the
    /// predictions disagree.
    pub fn new(
        data: &LoggedBandit,
        dist: &ActionDist,
        q: Option<&RewardPredictions>,
        replay_seed: u64,
    ) -> Result<Self> {
        dist.check_against(data)?;
        if let Some(q) = q {
            if q.len() != data.len() || q.n_actions() != data.n_actions() {
                return Err(EvaluationError::Predictions {
                    reason: format!(
                        "reward predictions for {} rows × {} actions, the log has {} × {}",
                        q.len(),
                        q.n_actions(),
                        data.len(),
                        data.n_actions()
                    ),
                }
                .into());
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed::derive(replay_seed, "replay-draws"));
        let k = data.n_actions();
        let rows = (0..data.len())
            .map(|i| {
                let a = data.action()[i] as usize;
                let slot = data.position()[i] as usize;
                let pe = dist.prob(i, a, slot);
                let u: f64 = rng.random();
                let (q_logged, q_policy) = match q {
                    Some(q) => {
                        let row = q.row(i);
                        let qpi = (0..k).map(|b| dist.prob(i, b, slot) * row[b]).sum();
                        (row[a], qpi)
                    }
                    None => (0.0, 0.0),
                };
                RowInput {
                    reward: data.reward()[i],
                    weight: pe / data.pscore()[i],
                    matched: pe >= 1.0 || u < pe,
                    q_logged,
                    q_policy,
                }
            })
            .collect::<Vec<_>>();
        Ok(Self::from_rows(&rows, q.is_some()))
    }

    /// The per-row terms.
    #[must_use]
    pub fn rows(&self) -> &[[f64; 8]] {
        &self.rows
    }

    /// Whether reward-model terms are present (DM, DR, SNDR defined).
    #[must_use]
    pub fn has_model(&self) -> bool {
        self.has_model
    }

    /// Sums over all rows.
    #[must_use]
    pub fn sums(&self) -> Sums {
        let mut s = Sums::default();
        for r in &self.rows {
            s.add(r);
        }
        s
    }

    /// The estimators this input supports, in report order.
    #[must_use]
    pub fn estimators(&self) -> Vec<Estimator> {
        Estimator::ALL
            .into_iter()
            .filter(|e| self.has_model || !e.needs_model())
            .collect()
    }

    /// Importance-weight diagnostics.
    #[must_use]
    pub fn diagnostics(&self, top: usize) -> WeightDiagnostics {
        let n = self.rows.len() as f64;
        let (mut sw, mut sw2, mut m) = (0.0, 0.0, 0.0);
        for r in &self.rows {
            sw += r[3];
            sw2 += r[3] * r[3];
            m += r[1];
        }
        let mut idx: Vec<usize> = (0..self.rows.len()).collect();
        // Largest first; ties by row index, so the report is deterministic.
        idx.sort_by(|&a, &b| self.rows[b][3].total_cmp(&self.rows[a][3]).then(a.cmp(&b)));
        WeightDiagnostics {
            n: self.rows.len(),
            mean_weight: sw / n,
            effective_sample_size: if sw2 > 0.0 { sw * sw / sw2 } else { 0.0 },
            replay_matches: m as usize,
            largest_weights: idx
                .into_iter()
                .take(top)
                .map(|i| LargeWeight {
                    row: i,
                    weight: self.rows[i][3],
                })
                .collect(),
        }
    }
}

/// How much the importance weights concentrate the estimate on few rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightDiagnostics {
    /// Rows.
    pub n: usize,
    /// Mean importance weight; 1 in expectation when the log's propensities are right
    /// and the policies share support.
    pub mean_weight: f64,
    /// Kish's effective sample size `(Σw)² / Σw²`: how many equally weighted rows the
    /// weighted sample is worth.
    pub effective_sample_size: f64,
    /// Rows the replay method keeps.
    pub replay_matches: usize,
    /// The largest weights, largest first.
    pub largest_weights: Vec<LargeWeight>,
}

/// A row with a large importance weight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LargeWeight {
    /// Row index in the log (after the reader's sorting).
    pub row: usize,
    /// Its weight.
    pub weight: f64,
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    /// Four rows, hand-computed (see the table in each assertion).
    fn example() -> OpeInputs {
        let row = |reward, weight, matched, q_logged, q_policy| RowInput {
            reward,
            weight,
            matched,
            q_logged,
            q_policy,
        };
        OpeInputs::from_rows(
            &[
                row(1.0, 2.0, true, 0.5, 0.4),
                row(0.0, 0.5, false, 0.2, 0.3),
                row(1.0, 0.0, false, 0.6, 0.1),
                row(0.0, 1.5, true, 0.1, 0.2),
            ],
            true,
        )
    }

    #[test]
    fn every_estimator_on_a_hand_computed_example() {
        let s = example().sums();
        // Σm = 2, Σmr = 1 → replay 1/2.
        assert_abs_diff_eq!(
            Estimator::Replay.from_sums(&s).unwrap(),
            0.5,
            epsilon = 1e-15
        );
        // Σwr = 2 → ipw 2/4 = 0.5.
        assert_abs_diff_eq!(Estimator::Ipw.from_sums(&s).unwrap(), 0.5, epsilon = 1e-15);
        // Σw = 4 → snipw 2/4.
        assert_abs_diff_eq!(
            Estimator::Snipw.from_sums(&s).unwrap(),
            0.5,
            epsilon = 1e-15
        );
        // Σq^π = 1.0 → dm 0.25.
        assert_abs_diff_eq!(Estimator::Dm.from_sums(&s).unwrap(), 0.25, epsilon = 1e-15);
        // Σwq = 1 + 0.1 + 0 + 0.15 = 1.25 → dr (1 + 2 − 1.25)/4 = 0.4375.
        assert_abs_diff_eq!(
            Estimator::Dr.from_sums(&s).unwrap(),
            0.4375,
            epsilon = 1e-15
        );
        // sndr 0.25 + (2 − 1.25)/4 = 0.4375 (Σw = n here).
        assert_abs_diff_eq!(
            Estimator::Sndr.from_sums(&s).unwrap(),
            0.4375,
            epsilon = 1e-15
        );
    }

    #[test]
    fn self_normalised_estimators_differ_when_weights_do_not_average_one() {
        let r = |reward, weight| RowInput {
            reward,
            weight,
            matched: false,
            q_logged: 0.25,
            q_policy: 0.5,
        };
        let s = OpeInputs::from_rows(&[r(1.0, 3.0), r(0.0, 1.0)], true).sums();
        // ipw 3/2, snipw 3/4, dr (1 + 3 − 1)/2 = 1.5, sndr 0.5 + (3 − 1)/4 = 1.0.
        assert_abs_diff_eq!(Estimator::Ipw.from_sums(&s).unwrap(), 1.5, epsilon = 1e-15);
        assert_abs_diff_eq!(
            Estimator::Snipw.from_sums(&s).unwrap(),
            0.75,
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(Estimator::Dr.from_sums(&s).unwrap(), 1.5, epsilon = 1e-15);
        assert_abs_diff_eq!(Estimator::Sndr.from_sums(&s).unwrap(), 1.0, epsilon = 1e-15);
        assert_eq!(Estimator::Replay.from_sums(&s), None);
    }

    #[test]
    fn diagnostics_count_effective_rows_and_rank_weights() {
        let d = example().diagnostics(2);
        // (Σw)² / Σw² = 16 / (4 + 0.25 + 0 + 2.25) = 16 / 6.5.
        assert_abs_diff_eq!(d.effective_sample_size, 16.0 / 6.5, epsilon = 1e-12);
        assert_abs_diff_eq!(d.mean_weight, 1.0, epsilon = 1e-15);
        assert_eq!(d.replay_matches, 2);
        assert_eq!(
            d.largest_weights[0],
            LargeWeight {
                row: 0,
                weight: 2.0
            }
        );
        assert_eq!(
            d.largest_weights[1],
            LargeWeight {
                row: 3,
                weight: 1.5
            }
        );
    }

    #[test]
    fn inputs_from_a_log_a_deterministic_policy_and_a_model() {
        use crate::replay::logged::{LoggedBandit, LoggedBanditParts};
        // Logged action 0 in all three rows with propensities 0.5, 0.25, 0.8; the
        // policy picks 0, 1, 0; q̂ rows (0.2, 0.6), (0.1, 0.3), (0.4, 0.5).
        let data = LoggedBandit::new(LoggedBanditParts {
            n_actions: 2,
            len_list: 1,
            action: vec![0, 0, 0],
            position: vec![0; 3],
            reward: vec![1.0, 1.0, 0.0],
            pscore: vec![0.5, 0.25, 0.8],
            context: ndarray::Array2::zeros((3, 0)),
            ..LoggedBanditParts::default()
        })
        .unwrap();
        let dist = ActionDist::per_row(3, 2, 1, vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
        let q = RewardPredictions::new(2, vec![0.2, 0.6, 0.1, 0.3, 0.4, 0.5]).unwrap();
        let s = OpeInputs::new(&data, &dist, Some(&q), 0).unwrap().sums();
        // w = (2, 0, 1.25); replay keeps rows 0 and 2: (1 + 0)/2.
        assert_abs_diff_eq!(
            Estimator::Replay.from_sums(&s).unwrap(),
            0.5,
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(
            Estimator::Ipw.from_sums(&s).unwrap(),
            2.0 / 3.0,
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(
            Estimator::Snipw.from_sums(&s).unwrap(),
            2.0 / 3.25,
            epsilon = 1e-15
        );
        // q̂^π = (0.2, 0.3, 0.4); Σ w q̂ = 0.4 + 0 + 0.5 = 0.9.
        assert_abs_diff_eq!(Estimator::Dm.from_sums(&s).unwrap(), 0.3, epsilon = 1e-15);
        assert_abs_diff_eq!(
            Estimator::Dr.from_sums(&s).unwrap(),
            2.0 / 3.0,
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(
            Estimator::Sndr.from_sums(&s).unwrap(),
            0.3 + 1.1 / 3.25,
            epsilon = 1e-15
        );
    }

    #[test]
    fn names_round_trip() {
        for e in Estimator::ALL {
            assert_eq!(e.as_str().parse::<Estimator>().unwrap(), e);
        }
        assert!("ips".parse::<Estimator>().is_err());
    }
}
