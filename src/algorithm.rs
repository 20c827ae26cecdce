//! The bandit algorithms by name, and their parameters as one typed value: the
//! vocabulary the config is parsed into and the policies are fitted from.
//!
//! It imports nothing else from the crate, so the config (which reads an
//! `optimization:` entry into [`AlgorithmParams`]), `policy` (which checks and fits
//! them), `fit` and `simulate` share one list of names without importing each other.
//!
//! The shape follows linfa's params → checked → fitted: [`AlgorithmParams`] holds plain
//! values with the algorithms' defaults; `check()` (written beside the algorithms, in
//! [`crate::policy::params`], so it runs their own checks) returns the validated
//! [`crate::policy::CheckedParams`] or an error; the fits take those and statistics.
//!
//! ```
//! use bandit_engine::algorithm::{Algorithm, AlgorithmParams};
//!
//! let params = AlgorithmParams::defaults(Algorithm::EpsilonGreedy);
//! assert_eq!(params, AlgorithmParams::EpsilonGreedy { epsilon: 0.1 });
//! assert_eq!(params.algorithm().as_str(), "epsilon_greedy");
//! assert!(AlgorithmParams::EpsilonGreedy { epsilon: 1.5 }.check().is_err());
//! ```

use serde::{Deserialize, Serialize};

/// The platform's algorithm names (the `algorithm:` of an `optimization:` entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Beta-Bernoulli Thompson sampling.
    ThompsonBernoulli,
    /// Normal Thompson sampling on continuous rewards.
    ThompsonGaussian,
    /// Epsilon-greedy.
    EpsilonGreedy,
    /// UCB1.
    Ucb1,
    /// Linear contextual bandit (LinUCB, linear TS, ridge).
    LinearContextual,
}

impl Algorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: [Algorithm; 5] = [
        Self::ThompsonBernoulli,
        Self::ThompsonGaussian,
        Self::EpsilonGreedy,
        Self::Ucb1,
        Self::LinearContextual,
    ];

    /// The platform's name (the serde name).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ThompsonBernoulli => "thompson_bernoulli",
            Self::ThompsonGaussian => "thompson_gaussian",
            Self::EpsilonGreedy => "epsilon_greedy",
            Self::Ucb1 => "ucb1",
            Self::LinearContextual => "linear_contextual",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a `linear_contextual` policy is fitted. All three publish the ridge posterior
/// mean `θ̂ = A⁻¹b` as the bundle's coefficients (the SDK scores `θᵀx` and softmaxes);
/// they differ in what an exact scorer does with the posterior: LinUCB adds
/// `α‖L⁻¹x‖`, LinTS draws `θ̂ + v L⁻ᵀz`, ridge uses `θ̂` alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearMethod {
    /// Disjoint LinUCB (Li et al. 2010), width `alpha`.
    Linucb,
    /// Linear Thompson sampling (Agrawal & Goyal 2013), scale `v`.
    Lints,
    /// Ridge regression, no exploration term.
    Ridge,
}

impl LinearMethod {
    /// Every method, in declaration order.
    pub const ALL: [LinearMethod; 3] = [Self::Linucb, Self::Lints, Self::Ridge];

    /// The platform's name (the serde name, and the exact scorer's `method`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Linucb => "linucb",
            Self::Lints => "lints",
            Self::Ridge => "ridge",
        }
    }
}

/// Prior `α₀` and `β₀` of the Thompson algorithms when none is given.
pub const DEFAULT_PRIOR: f64 = 1.0;
/// Monte Carlo draws for probability-of-best when none are given.
pub const DEFAULT_DRAWS: u32 = 10_000;
/// UCB1's exploration constant `c` when none is given (Auer et al.).
pub const DEFAULT_UCB1_EXPLORATION: f64 = 2.0;
/// ε of ε-greedy when none is given.
pub const DEFAULT_EPSILON: f64 = 0.1;
/// LinUCB's `α`, LinTS's `v` and the ridge `λ` when none are given.
pub const DEFAULT_LINEAR: f64 = 1.0;

/// An algorithm with the parameters it is fitted with, unchecked; tagged by
/// `algorithm` with the config's key names, so it reads as the `optimization:` entry
/// it came from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "algorithm",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum AlgorithmParams {
    /// Beta-Bernoulli Thompson sampling.
    ThompsonBernoulli {
        /// Prior successes `α₀` (> 0).
        prior_alpha: f64,
        /// Prior failures `β₀` (> 0).
        prior_beta: f64,
        /// Monte Carlo draws for probability-of-best (≥ 1).
        draws: u32,
    },
    /// Normal-Inverse-Gamma Thompson sampling.
    ThompsonGaussian {
        /// Shape `α₀` of the variance's Inverse-Gamma prior (> 0).
        prior_alpha: f64,
        /// Scale `β₀` of the variance's Inverse-Gamma prior (> 0).
        prior_beta: f64,
        /// Monte Carlo draws for probability-of-best (≥ 1).
        draws: u32,
    },
    /// ε-greedy.
    EpsilonGreedy {
        /// Exploration share ε, in [0, 1].
        epsilon: f64,
    },
    /// UCB1.
    Ucb1 {
        /// The constant `c` of `√(c ln n / nⱼ)` (> 0; the config's `alpha`).
        exploration: f64,
    },
    /// Linear contextual bandit.
    LinearContextual {
        /// LinUCB, LinTS or ridge.
        method: LinearMethod,
        /// LinUCB's width `α` (≥ 0; also checked, unused, for ridge).
        alpha: f64,
        /// LinTS's posterior scale `v` (> 0).
        v: f64,
        /// Ridge `λ` (> 0).
        lambda: f64,
    },
}

impl AlgorithmParams {
    /// `algorithm` with every parameter at its default (`linear_contextual`: LinUCB).
    #[must_use]
    pub fn defaults(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::ThompsonBernoulli => Self::ThompsonBernoulli {
                prior_alpha: DEFAULT_PRIOR,
                prior_beta: DEFAULT_PRIOR,
                draws: DEFAULT_DRAWS,
            },
            Algorithm::ThompsonGaussian => Self::ThompsonGaussian {
                prior_alpha: DEFAULT_PRIOR,
                prior_beta: DEFAULT_PRIOR,
                draws: DEFAULT_DRAWS,
            },
            Algorithm::EpsilonGreedy => Self::EpsilonGreedy {
                epsilon: DEFAULT_EPSILON,
            },
            Algorithm::Ucb1 => Self::Ucb1 {
                exploration: DEFAULT_UCB1_EXPLORATION,
            },
            Algorithm::LinearContextual => Self::LinearContextual {
                method: LinearMethod::Linucb,
                alpha: DEFAULT_LINEAR,
                v: DEFAULT_LINEAR,
                lambda: DEFAULT_LINEAR,
            },
        }
    }

    /// `algorithm` with the optional values of a config entry or a command line
    /// (`None`: the default). `alpha` is LinUCB's width or UCB1's constant; `method`
    /// defaults to `lints` when `v` is given, else `linucb`. Values that do not apply to
    /// the algorithm are ignored: saying so is the caller's job, it knows the key names.
    #[must_use]
    pub fn from_options(algorithm: Algorithm, o: &ParamOptions) -> Self {
        let prior = (
            o.prior_alpha.unwrap_or(DEFAULT_PRIOR),
            o.prior_beta.unwrap_or(DEFAULT_PRIOR),
        );
        let draws = o.draws.unwrap_or(DEFAULT_DRAWS);
        match algorithm {
            Algorithm::ThompsonBernoulli => Self::ThompsonBernoulli {
                prior_alpha: prior.0,
                prior_beta: prior.1,
                draws,
            },
            Algorithm::ThompsonGaussian => Self::ThompsonGaussian {
                prior_alpha: prior.0,
                prior_beta: prior.1,
                draws,
            },
            Algorithm::EpsilonGreedy => Self::EpsilonGreedy {
                epsilon: o.epsilon.unwrap_or(DEFAULT_EPSILON),
            },
            Algorithm::Ucb1 => Self::Ucb1 {
                exploration: o.alpha.unwrap_or(DEFAULT_UCB1_EXPLORATION),
            },
            Algorithm::LinearContextual => Self::LinearContextual {
                method: o.linear_method(),
                alpha: o.alpha.unwrap_or(DEFAULT_LINEAR),
                v: o.v.unwrap_or(DEFAULT_LINEAR),
                lambda: o.lambda.unwrap_or(DEFAULT_LINEAR),
            },
        }
    }

    /// The algorithm these parameters are for.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::ThompsonBernoulli { .. } => Algorithm::ThompsonBernoulli,
            Self::ThompsonGaussian { .. } => Algorithm::ThompsonGaussian,
            Self::EpsilonGreedy { .. } => Algorithm::EpsilonGreedy,
            Self::Ucb1 { .. } => Algorithm::Ucb1,
            Self::LinearContextual { .. } => Algorithm::LinearContextual,
        }
    }
}

/// The algorithm parameters as a config entry or a command line gives them, each
/// optional; [`AlgorithmParams::from_options`] fills in the defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ParamOptions {
    /// LinUCB's `α`, or UCB1's constant `c`.
    pub alpha: Option<f64>,
    /// ε of ε-greedy.
    pub epsilon: Option<f64>,
    /// Ridge `λ`.
    pub lambda: Option<f64>,
    /// LinTS's scale `v`.
    pub v: Option<f64>,
    /// Prior `α₀` of the Thompson algorithms.
    pub prior_alpha: Option<f64>,
    /// Prior `β₀` of the Thompson algorithms.
    pub prior_beta: Option<f64>,
    /// Monte Carlo draws.
    pub draws: Option<u32>,
    /// The linear method.
    pub method: Option<LinearMethod>,
}

impl ParamOptions {
    /// The linear method in force: `method`, else `lints` when `v` is set, else
    /// `linucb`.
    #[must_use]
    pub fn linear_method(&self) -> LinearMethod {
        match (self.method, self.v) {
            (Some(m), _) => m,
            (None, Some(_)) => LinearMethod::Lints,
            (None, None) => LinearMethod::Linucb,
        }
    }
}

/// What a fit needs to know of the goal besides the statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Objective {
    /// Lower rewards are better (`desiredDirection: decrease`): the fits negate the
    /// rewards (for 0/1 rewards, failures count as successes), so "best" is "largest".
    pub decrease: bool,
    /// Every reward is 0 or 1 (a `conversion_rate` goal), as `thompson_bernoulli`
    /// needs.
    pub binary_rewards: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for a in Algorithm::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        for m in LinearMethod::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    #[test]
    fn params_are_tagged_by_algorithm_with_the_config_keys() {
        let p = AlgorithmParams::defaults(Algorithm::ThompsonBernoulli);
        let v = serde_json::to_value(p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"algorithm": "thompson_bernoulli", "priorAlpha": 1.0, "priorBeta": 1.0, "draws": 10000})
        );
        assert_eq!(serde_json::from_value::<AlgorithmParams>(v).unwrap(), p);
        for a in Algorithm::ALL {
            let p = AlgorithmParams::defaults(a);
            assert_eq!(p.algorithm(), a);
            assert_eq!(
                AlgorithmParams::from_options(a, &ParamOptions::default()),
                p
            );
        }
    }

    #[test]
    fn v_alone_chooses_linear_thompson_sampling() {
        let o = ParamOptions {
            v: Some(2.0),
            ..ParamOptions::default()
        };
        assert_eq!(o.linear_method(), LinearMethod::Lints);
        let ridge = ParamOptions {
            method: Some(LinearMethod::Ridge),
            ..ParamOptions::default()
        };
        assert_eq!(ridge.linear_method(), LinearMethod::Ridge);
        assert_eq!(
            ParamOptions::default().linear_method(),
            LinearMethod::Linucb
        );
    }
}
