//! Policies: fitting bandit algorithms to per-allocation statistics, and turning the
//! resulting weights into what the bundle carries.
//!
//! * [`thompson`]: Beta-Bernoulli Thompson sampling, weights = posterior probability
//!   that each allocation is best, by seeded Monte Carlo.
//! * [`allocate`]: the platform's knobs (exploration floor, `maxShiftPerUpdate`) and
//!   the rewrite of bucket ranges over exactly the buckets a policy covered.
//! * [`seed`]: per-policy and per-chunk seeds derived from one master seed.

pub mod allocate;
pub mod seed;
pub mod thompson;

pub use allocate::{apply_floor, cap_shift, ranges_for_weights, AllocateError};
pub use thompson::{ThompsonBernoulli, ThompsonBernoulliParams};
