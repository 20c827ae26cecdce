//! The `optimization:` section: per adaptive policy id, how the engine learns it.
//!
//! ```yaml
//! optimization:
//!   policy_checkout_cta:
//!     algorithm: thompson_bernoulli
//!     goal: { event: purchase, type: conversion_rate }
//!     attribution: decision
//!     minExposuresBeforeShift: 100
//!     maxShiftPerUpdate: 0.2
//!     windowSizeMinutes: 15
//!     explorationFloor: 0.01
//!     priorAlpha: 1          # algorithm parameters, where they apply:
//!     priorBeta: 1           # epsilon, alpha, lambda, v, priorAlpha, priorBeta
//!   policy_homepage:
//!     algorithm: linear_contextual
//!     method: lints          # linucb (default) | lints | ridge
//!     goal: { event: signup }
//!     contextFeatures:       # optional: default, every contextLogging.allowedFields key
//!       numeric: [user.engagement_score]
//!       categorical: [user.device_type]
//!     attributionModel: time_decay   # multi-touch credit split (default last_touch)
//!     halfLifeDays: 7                # time_decay only
//!     positionWeights: { first: 0.4, last: 0.4 }   # position_based only
//!     clockSkewSeconds: 5            # an event this much before its exposure still counts
//!     attributionWindowHours: 72     # the goal's window: later events are not credited
//!     unlinkedEvents: drop           # default attribute: the unit-key rule (docs/attribution.md)
//! ```

use serde::Deserialize;

pub use crate::algorithm::{Algorithm, LinearMethod};
pub use crate::events::AttributionModel;

mod validate;

/// What the goal measures per exposed unit or decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalType {
    /// Share of decisions followed by at least one goal event.
    #[default]
    ConversionRate,
    /// Sum of the goal value.
    Sum,
    /// Number of goal events.
    Count,
    /// Mean goal value over goal events.
    Mean,
}

/// Whether more is better.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredDirection {
    /// Higher is better.
    #[default]
    Increase,
    /// Lower is better.
    Decrease,
}

/// Which attribution rule turns track events into rewards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionMode {
    /// Every layer the unit was exposed to in the session (the platform's default).
    #[default]
    Cumulative,
    /// Only the layers of the event's `decisionId`.
    Decision,
}

/// What happens to a goal event with neither a known `decisionId` nor an SDK
/// attribution array (webhooks, backends, batch jobs), in either mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlinkedEvents {
    /// The platform's unit-key temporal rule: credited to every allocation whose first
    /// exposure of the unit is at or before the event (the default).
    #[default]
    Attribute,
    /// Not credited, counted as `unlinked` in the attribution report: the strict
    /// reading, for a policy that wants explicit links only.
    Drop,
}

impl UnlinkedEvents {
    /// The config's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attribute => "attribute",
            Self::Drop => "drop",
        }
    }
}

/// Where a goal's numeric value comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ValueSource {
    /// The event's `value`.
    #[default]
    Value,
    /// A named entry of the event's `values`.
    Values(String),
    /// A numeric property.
    Property(String),
}

/// The goal of a policy.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Goal {
    /// The track event that counts.
    pub event: String,
    /// What is measured.
    #[serde(rename = "type", default)]
    pub goal_type: GoalType,
    /// Where the value comes from (ignored for conversion rates and counts).
    #[serde(default)]
    pub value: ValueSource,
    /// Whether more is better.
    #[serde(default)]
    pub desired_direction: DesiredDirection,
    /// Winsorising of per-unit rewards (`sum`, `count` and `mean` goals).
    pub cap: Option<Cap>,
}

/// Caps each reward unit's reward at a quantile of the run's rewards of the policy
/// (`cap: { quantile: 0.99 }`), computed over the reward units with at least one
/// goal event, all allocations pooled, so one outlier cannot swing a fit.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cap {
    /// The quantile, in (0, 1).
    pub quantile: f64,
}

/// `position_based` shares of the first and the last touch; the touches between
/// share the rest (`1 − first − last`).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionWeights {
    /// Share of the first touch, in [0, 1].
    pub first: f64,
    /// Share of the last touch, in [0, 1], with `first + last ≤ 1`.
    pub last: f64,
}

impl Default for PositionWeights {
    fn default() -> Self {
        Self {
            first: 0.4,
            last: 0.4,
        }
    }
}

fn default_min_exposures() -> u64 {
    100
}

fn default_floor() -> f64 {
    0.01
}

fn default_draws() -> u32 {
    10_000
}

/// How one adaptive policy is optimised.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptimizationSpec {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The goal.
    pub goal: Goal,
    /// The attribution rule.
    #[serde(default)]
    pub attribution: AttributionMode,
    /// Allocations stay put until every allocation has this many exposures.
    #[serde(default = "default_min_exposures")]
    pub min_exposures_before_shift: u64,
    /// At most this share of traffic moves per update (total variation), in (0, 1].
    pub max_shift_per_update: Option<f64>,
    /// Minimum time between updates; an earlier run reports `too_soon`.
    pub window_size_minutes: Option<f64>,
    /// Minimum share of any allocation, in [0, 1/K].
    #[serde(default = "default_floor")]
    pub exploration_floor: f64,
    /// Monte Carlo draws for probability-of-best.
    #[serde(default = "default_draws")]
    pub draws: u32,
    /// ε of `epsilon_greedy`, in [0, 1] (default 0.1).
    pub epsilon: Option<f64>,
    /// Confidence width: LinUCB's `α` for `linear_contextual`, the constant `c` of
    /// `ucb1`'s `√(c ln n / nⱼ)` (≥ 0; defaults 1 and 2).
    pub alpha: Option<f64>,
    /// Ridge `λ` of `linear_contextual` (> 0, default 1).
    pub lambda: Option<f64>,
    /// Posterior scale `v` of linear Thompson sampling; setting it makes
    /// `linear_contextual` use LinTS instead of LinUCB (> 0).
    pub v: Option<f64>,
    /// Prior `α₀`: of the Beta for `thompson_bernoulli`, of the variance's
    /// Inverse-Gamma for `thompson_gaussian` (> 0, default 1).
    pub prior_alpha: Option<f64>,
    /// Prior `β₀`, as `priorAlpha` (> 0, default 1).
    pub prior_beta: Option<f64>,
    /// Per-entity learning ([`super::EntityOptimization`]); the bundle's
    /// `entityConfig` makes a policy per-entity even without it.
    pub entity_config: Option<super::EntityOptimization>,
    /// Outcome maturity: exposures younger than this at the run's instant are left
    /// out of this update and counted in a later one (≥ 0; default 0, none held back).
    pub maturity_minutes: Option<f64>,
    /// The allocation lifts are measured against (default: the policy's first).
    pub control: Option<String>,
    /// `linear_contextual` only: `linucb`, `lints` or `ridge`. Default: `lints` when
    /// `v` is set, else `linucb`.
    pub method: Option<LinearMethod>,
    /// `linear_contextual` only: which context keys become features and how. Absent:
    /// every field of the bundle policy's `contextLogging.allowedFields`, numeric or
    /// categorical as learned from the data.
    pub context_features: Option<ContextFeatures>,
    /// How one event's credit is split among several touches (exposures, decisions)
    /// of this policy; the events schema's model names. Default `last_touch`.
    pub attribution_model: Option<AttributionModel>,
    /// Half-life of `time_decay`, in days (> 0, default 7).
    pub half_life_days: Option<f64>,
    /// Shares of `position_based` (default 0.4 / 0.4, the middle shares 0.2).
    pub position_weights: Option<PositionWeights>,
    /// Clock-skew tolerance: a track event up to this many seconds before an exposure
    /// still counts for it (≥ 0, default 0).
    pub clock_skew_seconds: Option<f64>,
    /// The goal's attribution window: an event more than this many hours after an
    /// exposure is not credited to it (> 0; default none, as on the platform).
    pub attribution_window_hours: Option<f64>,
    /// Goal events without a known `decisionId` or an SDK array: `attribute` (the
    /// unit-key rule, default) or `drop`.
    #[serde(default)]
    pub unlinked_events: UnlinkedEvents,
}

impl OptimizationSpec {
    /// The linear method in force: `method`, else `lints` when `v` is set, else
    /// `linucb`.
    #[must_use]
    pub fn linear_method(&self) -> LinearMethod {
        self.param_options().linear_method()
    }
}

/// The context keys a `linear_contextual` policy learns from. Each must be in the
/// bundle policy's `contextLogging.allowedFields` (only those are logged), checked by
/// [`crate::engine::cross_check`].
///
/// ```yaml
/// contextFeatures:
///   numeric: [user.engagement_score, user.days_since_signup]   # value × coef
///   categorical: [user.device_type]                            # one coef per value
/// ```
///
/// A numeric key whose value is not a number counts as missing; a categorical key
/// takes one coefficient per value seen in training (numbers by their JavaScript
/// text), as the SDK scores them. Both get a learned `missing` term.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextFeatures {
    /// Keys used as numbers.
    #[serde(default)]
    pub numeric: Vec<String>,
    /// Keys used as categories.
    #[serde(default)]
    pub categorical: Vec<String>,
}

impl ContextFeatures {
    /// Every key with its list name and index, numeric first.
    #[must_use]
    pub fn keys(&self) -> Vec<(&'static str, usize, &str)> {
        let numeric = self
            .numeric
            .iter()
            .enumerate()
            .map(|(i, k)| ("numeric", i, k.as_str()));
        let categorical = self
            .categorical
            .iter()
            .enumerate()
            .map(|(i, k)| ("categorical", i, k.as_str()));
        numeric.chain(categorical).collect()
    }
}
