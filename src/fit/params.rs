//! What to fit: the algorithm, the table's columns and the algorithm's parameters,
//! checked before any data is read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::algorithm::{Algorithm, AlgorithmParams, LinearMethod, Objective, ParamOptions};
use crate::error::FitError;
use crate::error::Result;
use crate::policy::Learner;

/// The algorithms `fit` knows, by their platform names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitAlgorithm {
    /// Beta-Bernoulli Thompson sampling (rewards 0 or 1).
    ThompsonBernoulli,
    /// Normal-Inverse-Gamma Thompson sampling (any finite reward).
    ThompsonGaussian,
    /// UCB1.
    Ucb1,
    /// ε-greedy.
    EpsilonGreedy,
    /// Disjoint LinUCB on the feature columns.
    Linucb,
    /// Linear Thompson sampling on the feature columns.
    Lints,
}

impl FitAlgorithm {
    /// Every algorithm, in the order of the docs.
    pub const ALL: [FitAlgorithm; 6] = [
        Self::ThompsonBernoulli,
        Self::ThompsonGaussian,
        Self::Ucb1,
        Self::EpsilonGreedy,
        Self::Linucb,
        Self::Lints,
    ];

    /// The platform's name: the multi-armed algorithms' `algorithm:`, the linear
    /// ones' `method:` (the serde name).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Linucb => LinearMethod::Linucb.as_str(),
            Self::Lints => LinearMethod::Lints.as_str(),
            other => other.platform_algorithm().as_str(),
        }
    }

    /// The `optimization:` algorithm it is: the linear ones are `linear_contextual`.
    #[must_use]
    pub const fn platform_algorithm(self) -> Algorithm {
        match self {
            Self::ThompsonBernoulli => Algorithm::ThompsonBernoulli,
            Self::ThompsonGaussian => Algorithm::ThompsonGaussian,
            Self::Ucb1 => Algorithm::Ucb1,
            Self::EpsilonGreedy => Algorithm::EpsilonGreedy,
            Self::Linucb | Self::Lints => Algorithm::LinearContextual,
        }
    }

    /// The linear method it is, for `linucb` and `lints`.
    #[must_use]
    pub const fn linear_method(self) -> Option<LinearMethod> {
        match self {
            Self::Linucb => Some(LinearMethod::Linucb),
            Self::Lints => Some(LinearMethod::Lints),
            _ => None,
        }
    }

    /// Whether it fits on feature columns.
    #[must_use]
    pub fn is_linear(self) -> bool {
        matches!(self, Self::Linucb | Self::Lints)
    }
}

impl fmt::Display for FitAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FitAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let names = Self::ALL.map(Self::as_str);
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let hint = crate::text::did_you_mean(s, names.iter().copied(), 4)
                    .map(|c| format!(" (did you mean \"{c}\"?)"))
                    .unwrap_or_default();
                format!(
                    "unknown algorithm \"{s}\"{hint}; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// What to fit and how: the table's columns and the algorithm's parameters. Unset
/// parameters take the algorithm's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FitParams {
    /// The algorithm.
    pub algorithm: FitAlgorithm,
    /// Column naming the arm (allocation) of each row.
    pub arm: String,
    /// Column of the reward.
    pub reward: String,
    /// Numeric feature columns (`linucb`, `lints` only).
    pub features: Vec<String>,
    /// Column naming the entity: one model per entity.
    pub entity: Option<String>,
    /// Whether linear models get an intercept column (default true).
    pub intercept: bool,
    /// LinUCB's `α` (default 1), or UCB1's exploration constant `c` (default 2).
    pub alpha: Option<f64>,
    /// Ridge `λ` of the linear algorithms (default 1).
    pub lambda: Option<f64>,
    /// Posterior scale `v` of linear Thompson sampling (default 1).
    pub v: Option<f64>,
    /// ε of ε-greedy (default 0.1).
    pub epsilon: Option<f64>,
    /// Prior `α₀` of the Thompson algorithms (default 1).
    pub prior_alpha: Option<f64>,
    /// Prior `β₀` of the Thompson algorithms (default 1).
    pub prior_beta: Option<f64>,
    /// Monte Carlo draws where probability-of-best is sampled (default 10 000).
    pub draws: u32,
    /// Master seed; each entity's stream is derived from it and the entity.
    pub seed: u64,
}

impl FitParams {
    /// Parameters with defaults for `algorithm` on columns `arm` and `reward`.
    #[must_use]
    pub fn new(algorithm: FitAlgorithm, arm: &str, reward: &str) -> Self {
        Self {
            algorithm,
            arm: arm.to_owned(),
            reward: reward.to_owned(),
            features: Vec::new(),
            entity: None,
            intercept: true,
            alpha: None,
            lambda: None,
            v: None,
            epsilon: None,
            prior_alpha: None,
            prior_beta: None,
            draws: 10_000,
            seed: 0,
        }
    }

    /// Sets the feature columns.
    #[must_use]
    pub fn features(mut self, cols: &[&str]) -> Self {
        self.features = cols.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Sets the entity column.
    #[must_use]
    pub fn entity(mut self, col: &str) -> Self {
        self.entity = Some(col.to_owned());
        self
    }

    /// Validates the combination: parameters must apply to the algorithm (a `--v`
    /// given to LinUCB is a mistake worth saying), features go with the linear
    /// algorithms only, and values are checked by the algorithm's own `check()`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Fit`] for a parameter that does not apply or features that do not
    /// suit the algorithm, [`crate::Error::Parameter`] for a value out of its domain.
    pub fn check(self) -> Result<CheckedFitParams> {
        use FitAlgorithm as A;
        let a = self.algorithm;
        let applies: [(&'static str, bool, &[A]); 6] = [
            ("alpha", self.alpha.is_some(), &[A::Linucb, A::Ucb1]),
            ("lambda", self.lambda.is_some(), &[A::Linucb, A::Lints]),
            ("v", self.v.is_some(), &[A::Lints]),
            ("epsilon", self.epsilon.is_some(), &[A::EpsilonGreedy]),
            (
                "prior_alpha",
                self.prior_alpha.is_some(),
                &[A::ThompsonBernoulli, A::ThompsonGaussian],
            ),
            (
                "prior_beta",
                self.prior_beta.is_some(),
                &[A::ThompsonBernoulli, A::ThompsonGaussian],
            ),
        ];
        for (name, set, to) in applies {
            if set && !to.contains(&a) {
                let names: Vec<&str> = to.iter().map(|t| t.as_str()).collect();
                return Err(FitError::NotApplicable {
                    name,
                    applies_to: names.join(" and "),
                    algorithm: a.as_str(),
                }
                .into());
            }
        }
        if a.is_linear() && self.features.is_empty() {
            return Err(FitError::NeedsFeatures {
                algorithm: a.as_str(),
            }
            .into());
        }
        if !a.is_linear() && !self.features.is_empty() {
            return Err(FitError::NoFeatures {
                algorithm: a.as_str(),
            }
            .into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.features {
            if !seen.insert(f.as_str()) || *f == self.arm || *f == self.reward {
                return Err(FitError::DuplicateFeature { column: f.clone() }.into());
            }
        }
        let learner = Learner::new(self.algorithm_params(), self.objective())?;
        Ok(CheckedFitParams {
            params: self,
            learner,
        })
    }

    /// The algorithm with these parameters, defaults filled in.
    #[must_use]
    pub fn algorithm_params(&self) -> AlgorithmParams {
        let options = ParamOptions {
            alpha: self.alpha,
            epsilon: self.epsilon,
            lambda: self.lambda,
            v: self.v,
            prior_alpha: self.prior_alpha,
            prior_beta: self.prior_beta,
            draws: Some(self.draws),
            method: self.algorithm.linear_method(),
        };
        AlgorithmParams::from_options(self.algorithm.platform_algorithm(), &options)
    }

    /// The goal a table's rewards are fitted for: larger is better, and 0/1 rewards
    /// for `thompson_bernoulli` (its rows are checked to be so).
    fn objective(&self) -> Objective {
        Objective {
            decrease: false,
            binary_rewards: self.algorithm == FitAlgorithm::ThompsonBernoulli,
        }
    }
}

/// Validated [`FitParams`].
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedFitParams {
    pub(super) params: FitParams,
    /// The algorithm's parameters, checked, and the goal's facts.
    pub(super) learner: Learner,
}

impl CheckedFitParams {
    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &FitParams {
        &self.params
    }

    /// The columns a fit reads: arm, reward, the features of a linear algorithm, the
    /// entity ([`super::Table::read_columns`] reads only these).
    #[must_use]
    pub fn columns(&self) -> Vec<&str> {
        let p = &self.params;
        let mut cols = vec![p.arm.as_str(), p.reward.as_str()];
        if p.algorithm.is_linear() {
            cols.extend(p.features.iter().map(String::as_str));
        }
        cols.extend(p.entity.as_deref());
        cols
    }
}
