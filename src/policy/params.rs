//! Algorithm parameters checked by the algorithms' own `check()`s: the step between
//! [`AlgorithmParams`] (plain values, [`crate::algorithm`]) and a fit.

use super::linear::LinearError;
use super::{
    EpsilonGreedyParams, LinTsParams, LinUcbParams, ThompsonBernoulliParams,
    ThompsonGaussianParams, Ucb1Params,
};
use crate::algorithm::{AlgorithmParams, LinearMethod, Objective};
use crate::error::{Error, Result};

impl AlgorithmParams {
    /// Validates the parameters with each algorithm's own check (the rules live once,
    /// beside the algorithm), before any statistics are read.
    ///
    /// # Errors
    ///
    /// [`Error::Parameter`] naming the parameter out of its domain.
    pub fn check(self) -> Result<CheckedParams> {
        match self {
            Self::ThompsonBernoulli {
                prior_alpha,
                prior_beta,
                draws,
            } => {
                ThompsonBernoulliParams::default()
                    .prior(prior_alpha, prior_beta)
                    .draws(draws)
                    .check()?;
            }
            Self::ThompsonGaussian {
                prior_alpha,
                prior_beta,
                draws,
            } => {
                ThompsonGaussianParams {
                    prior_alpha,
                    prior_beta,
                    ..ThompsonGaussianParams::default()
                }
                .draws(draws)
                .check()?;
            }
            Self::EpsilonGreedy { epsilon } => {
                EpsilonGreedyParams::default().epsilon(epsilon).check()?;
            }
            Self::Ucb1 { exploration } => {
                Ucb1Params::default().exploration(exploration).check()?;
            }
            Self::LinearContextual { .. } => {
                self.check_linear().map_err(|e| match e {
                    LinearError::Parameter(p) => Error::Parameter(p),
                    other => Error::Policy(other.into()),
                })?;
            }
        }
        Ok(CheckedParams { params: self })
    }

    /// [`AlgorithmParams::check`] for a linear contextual fit, in its error type: LinTS
    /// checks `v` and `λ`, LinUCB `α` and `λ` (ridge fits as LinUCB, its width unused).
    ///
    /// # Errors
    ///
    /// [`LinearError::Parameter`] for an out-of-domain parameter,
    /// [`LinearError::NotLinear`] for an algorithm that is not `linear_contextual`.
    pub fn check_linear(self) -> std::result::Result<CheckedParams, LinearError> {
        let Self::LinearContextual {
            method,
            alpha,
            v,
            lambda,
        } = self
        else {
            return Err(not_linear(&self));
        };
        match method {
            LinearMethod::Lints => {
                LinTsParams::default().v(v).lambda(lambda).check()?;
            }
            LinearMethod::Linucb | LinearMethod::Ridge => {
                LinUcbParams::default()
                    .alpha(alpha)
                    .lambda(lambda)
                    .check()?;
            }
        }
        Ok(CheckedParams { params: self })
    }
}

/// The error of a linear fit given another algorithm's parameters.
pub(super) fn not_linear(params: &AlgorithmParams) -> LinearError {
    LinearError::NotLinear {
        algorithm: params.algorithm(),
    }
}

/// [`AlgorithmParams`] that passed [`AlgorithmParams::check`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckedParams {
    params: AlgorithmParams,
}

impl CheckedParams {
    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &AlgorithmParams {
        &self.params
    }
}

/// What a multi-armed fit needs besides the statistics: the checked algorithm and the
/// goal's facts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Learner {
    /// The algorithm and its parameters.
    pub params: CheckedParams,
    /// The goal's direction and reward kind.
    pub objective: Objective,
}

impl Learner {
    /// Checks `params` and joins them to the goal's facts.
    ///
    /// # Errors
    ///
    /// As [`AlgorithmParams::check`].
    pub fn new(params: AlgorithmParams, objective: Objective) -> Result<Self> {
        Ok(Self {
            params: params.check()?,
            objective,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{self as a, Algorithm};

    #[test]
    fn the_defaults_are_the_algorithms_own() {
        let tb = ThompsonBernoulliParams::default();
        let tg = ThompsonGaussianParams::default();
        assert_eq!(
            (tb.prior_alpha, tb.prior_beta, tb.draws),
            (a::DEFAULT_PRIOR, a::DEFAULT_PRIOR, a::DEFAULT_DRAWS)
        );
        assert_eq!(
            (tg.prior_alpha, tg.prior_beta, tg.draws),
            (a::DEFAULT_PRIOR, a::DEFAULT_PRIOR, a::DEFAULT_DRAWS)
        );
        assert_eq!(
            Ucb1Params::default().exploration,
            a::DEFAULT_UCB1_EXPLORATION
        );
        assert_eq!(EpsilonGreedyParams::default().epsilon, a::DEFAULT_EPSILON);
        let (ucb, ts) = (LinUcbParams::default(), LinTsParams::default());
        assert_eq!(
            [ucb.alpha, ucb.lambda, ts.v, ts.lambda],
            [a::DEFAULT_LINEAR; 4]
        );
        for algorithm in Algorithm::ALL {
            assert!(AlgorithmParams::defaults(algorithm).check().is_ok());
        }
    }

    #[test]
    fn check_names_the_parameter_out_of_its_domain() {
        let e = AlgorithmParams::ThompsonBernoulli {
            prior_alpha: 0.0,
            prior_beta: 1.0,
            draws: 10,
        }
        .check()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid parameter prior_alpha: must be a positive number, found 0"
        );
        let e = AlgorithmParams::ThompsonGaussian {
            prior_alpha: 1.0,
            prior_beta: 1.0,
            draws: 0,
        }
        .check()
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Parameter(crate::error::ParameterError { name: "draws", .. })
            ),
            "{e}"
        );
        let e = AlgorithmParams::EpsilonGreedy { epsilon: 1.5 }
            .check()
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Parameter(crate::error::ParameterError {
                    name: "epsilon",
                    ..
                })
            ),
            "{e}"
        );
        let e = AlgorithmParams::Ucb1 { exploration: 0.0 }
            .check()
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Parameter(crate::error::ParameterError {
                    name: "exploration",
                    ..
                })
            ),
            "{e}"
        );
        let linear = |method, v| AlgorithmParams::LinearContextual {
            method,
            alpha: 1.0,
            v,
            lambda: 1.0,
        };
        let e = linear(LinearMethod::Lints, -1.0).check().unwrap_err();
        assert!(
            matches!(
                e,
                Error::Parameter(crate::error::ParameterError { name: "v", .. })
            ),
            "{e}"
        );
        // `v` is LinTS's alone: LinUCB does not read it.
        assert!(linear(LinearMethod::Linucb, -1.0).check().is_ok());
        let e = AlgorithmParams::Ucb1 { exploration: 1.0 }
            .check_linear()
            .unwrap_err();
        assert!(
            matches!(
                e,
                LinearError::NotLinear {
                    algorithm: crate::algorithm::Algorithm::Ucb1
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "ucb1 is not linear_contextual");
    }

    #[test]
    fn checked_types_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<CheckedParams>();
        send_sync::<Learner>();
    }
}
