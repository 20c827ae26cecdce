//! Off-policy evaluation: what a policy would have earned, estimated from logs a
//! different (logging) policy produced.
//!
//! ```no_run
//! use bandit_engine::progress::NoProgress;
//! use bandit_engine::replay::{evaluate, obd, BernoulliTs, OpeParams};
//!
//! // The standard Open Bandit Dataset experiment: Thompson sampling with the
//! // production prior, evaluated on the uniformly random log.
//! let log = obd::read_obd("datasets/obd/random/all")?;
//! let (alpha, beta) = obd::read_beta_prior("datasets/obd/prior_bts_all.json")?;
//! let dist = BernoulliTs::new(alpha, beta, log.data.len_list()).seed(12345).action_dist(&NoProgress)?;
//! let report = evaluate(&log.data, &dist, &OpeParams::default(), &NoProgress)?;
//! print!("{}", report.table(None));
//! # Ok::<(), bandit_engine::Error>(())
//! ```
//!
//! The stages: [`logged`] (the log as estimators take it) ← [`obd`] (Open Bandit
//! Dataset reader); [`policies`] (evaluation policies → action distributions);
//! [`events`] (the engine's reward tables, propensities logged or recovered from the
//! live bundle); [`reward_model`] (cross-fitted `q̂` for DM and DR); [`estimators`] (replay, IPW,
//! SNIPW, DM, DR, SNDR and weight diagnostics); [`bootstrap`] (seeded, parallel
//! percentile intervals); [`evaluate()`] strings them together. `docs/ope.md` states
//! the definitions, the standard experiment and its cross-check against obp.

pub mod bootstrap;
pub(crate) mod estimators;
pub(crate) mod evaluate;
pub mod events;
pub mod experiment;
pub(crate) mod logged;
pub mod obd;
pub mod policies;
pub(crate) mod reward_model;

pub use crate::error::EvaluationError;
pub use bootstrap::{BootstrapParams, Interval};
pub use estimators::{Estimator, OpeInputs, WeightDiagnostics};
pub use evaluate::{evaluate, evaluate_with, OpeParams, OpeReport};
pub use experiment::{run_obd_experiment, ObdExperiment, ObdOutcome};
pub use logged::{LoggedBandit, LoggedBanditParts};
pub use policies::{ActionDist, BernoulliTs};
pub use reward_model::{
    FittedRewardModel, RewardModel, RewardModelKind, RewardModelParams, RewardPredictions,
};
