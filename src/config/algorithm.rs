//! An `optimization:` entry's algorithm parameters and goal facts as the typed values
//! the fits take ([`crate::algorithm`]): built here, once, so no fit reads the config.

use super::{DesiredDirection, GoalType, OptimizationSpec};
use crate::algorithm::{AlgorithmParams, Objective, ParamOptions};

impl OptimizationSpec {
    /// The algorithm's parameters as given (each optional).
    #[must_use]
    pub fn param_options(&self) -> ParamOptions {
        ParamOptions {
            alpha: self.alpha,
            epsilon: self.epsilon,
            lambda: self.lambda,
            v: self.v,
            prior_alpha: self.prior_alpha,
            prior_beta: self.prior_beta,
            draws: Some(self.draws),
            method: self.method,
        }
    }

    /// The algorithm with its parameters, defaults filled in; check them with
    /// [`AlgorithmParams::check`].
    #[must_use]
    pub fn algorithm_params(&self) -> AlgorithmParams {
        AlgorithmParams::from_options(self.algorithm, &self.param_options())
    }

    /// What a fit needs to know of the goal: its direction and whether rewards are 0/1.
    #[must_use]
    pub fn objective(&self) -> Objective {
        Objective {
            decrease: self.goal.desired_direction == DesiredDirection::Decrease,
            binary_rewards: self.goal.goal_type == GoalType::ConversionRate,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::algorithm::{AlgorithmParams, LinearMethod};
    use crate::config::OptimizationSpec;

    fn spec(v: serde_json::Value) -> OptimizationSpec {
        serde_json::from_value(v).expect("a valid spec")
    }

    #[test]
    fn an_entry_gives_its_parameters_with_the_defaults_filled_in() {
        let s = spec(serde_json::json!({
            "algorithm": "thompson_gaussian",
            "goal": {"event": "buy", "type": "sum", "desiredDirection": "decrease"},
            "priorBeta": 3.0,
        }));
        assert_eq!(
            s.algorithm_params(),
            AlgorithmParams::ThompsonGaussian {
                prior_alpha: 1.0,
                prior_beta: 3.0,
                draws: 10_000
            }
        );
        let o = s.objective();
        assert!(o.decrease && !o.binary_rewards);
        let s = spec(serde_json::json!({
            "algorithm": "linear_contextual", "goal": {"event": "buy"}, "v": 0.5,
        }));
        assert_eq!(
            s.algorithm_params(),
            AlgorithmParams::LinearContextual {
                method: LinearMethod::Lints,
                alpha: 1.0,
                v: 0.5,
                lambda: 1.0
            }
        );
        assert!(s.objective().binary_rewards);
        let s = spec(serde_json::json!({
            "algorithm": "ucb1", "goal": {"event": "buy"}, "alpha": 0.5,
        }));
        assert_eq!(
            s.algorithm_params(),
            AlgorithmParams::Ucb1 { exploration: 0.5 }
        );
    }
}
