//! Policies: fitting bandit algorithms to per-allocation statistics, and turning the
//! resulting weights into what the bundle carries.
//!
//! Multi-armed algorithms, each params → `check()` → fitted, giving allocation weights
//! from [`crate::reward::ArmStats`]:
//!
//! * [`thompson`]: Beta-Bernoulli Thompson sampling, weights = posterior probability
//!   that each allocation is best, by seeded Monte Carlo ([`montecarlo`]) or, for small
//!   `K`, by quadrature ([`integrate`]).
//! * [`gaussian`]: Thompson sampling with a Normal-Inverse-Gamma posterior (unknown
//!   variance) for count, sum and currency goals.
//! * [`ucb`]: UCB1, one-hot on the best index; [`epsilon`]: ε-greedy.
//!
//! Linear contextual bandits: [`features`] (context JSON to feature vectors),
//! [`linear`] (sufficient statistics that merge by addition), [`linear_fit`] (LinUCB and
//! linear Thompson sampling) and [`contextual`] (export to the bundle's `contextualModel`).
//!
//! * [`allocate`], apart from fitting: the platform's knobs (exploration floor,
//!   `maxShiftPerUpdate`), weights to ranges from scratch, and the rewrite of bucket
//!   ranges over exactly the buckets a policy covered, moving as few buckets as
//!   possible ([`allocate::layout`]).
//! * [`params`]: [`crate::algorithm::AlgorithmParams`] checked by the algorithms'
//!   own checks into [`CheckedParams`], joined to the goal's facts in a [`Learner`]:
//!   the fits see these and statistics, never the config.
//! * [`seed`]: per-policy and per-chunk seeds derived from one master seed.

pub(crate) mod allocate;
pub(crate) mod argmax;
pub(crate) mod contextual;
pub(crate) mod entity;
pub(crate) mod epsilon;
pub(crate) mod features;
pub(crate) mod gaussian;
pub(crate) mod integrate;
pub(crate) mod linear;
pub(crate) mod linear_fit;
mod linear_kernel;
pub(crate) mod linear_policy;
pub(crate) mod linear_state;
pub(crate) mod montecarlo;
pub(crate) mod multi_armed;
pub(crate) mod params;
pub(crate) mod seed;
pub(crate) mod thompson;
pub(crate) mod ucb;

pub use crate::error::LinearError;
pub use crate::error::PolicyError;
pub use allocate::{
    apply_floor, buckets_moved, cap_shift, layout_ranges, least_movement_ranges,
    ranges_for_weights, AllocateError,
};
pub use contextual::{ContextualModel, ContextualSettings};
pub use entity::{fit_entities, EntitiesFit, EntityInput, EntityKnobs};
pub use epsilon::{EpsilonGreedy, EpsilonGreedyParams};
pub use features::{Feature, FeatureKind, FeatureSpace};
pub use gaussian::{NormalInverseGamma, ThompsonGaussian, ThompsonGaussianParams};
pub use integrate::{beta_probability_best, beta_probability_best_many};
pub use linear::LinearStats;
pub use linear_fit::{
    LinTs, LinTsModel, LinTsParams, LinUcb, LinUcbModel, LinUcbParams, LinearArm,
};
pub use linear_policy::{fit_linear_arms, fit_linear_policy, DeclaredFeatures, LinearPolicyFit};
pub use multi_armed::{fit_multi_armed, MultiArmedFit};
pub use params::{CheckedParams, Learner};
pub use thompson::{ThompsonBernoulli, ThompsonBernoulliParams};
pub use ucb::{Ucb1, Ucb1Params};
