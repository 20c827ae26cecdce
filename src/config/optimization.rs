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
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::yaml::{Located, Spans};
use super::EventDefinition;
pub use crate::algorithm::{Algorithm, LinearMethod};
pub use crate::events::AttributionModel;

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

impl OptimizationSpec {
    pub(super) fn validate(
        &self,
        policy: &str,
        events: &BTreeMap<String, EventDefinition>,
        spans: &Spans,
    ) -> Result<(), Located> {
        let err = |key: &str, reason: String| {
            spans.locate(format!("optimization.{policy}.{key}"), reason)
        };
        if !events.contains_key(&self.goal.event) {
            let names: Vec<&str> = events.keys().map(String::as_str).collect();
            let hint = crate::text::did_you_mean(&self.goal.event, names.iter().copied(), 3)
                .map(|c| format!(" (did you mean \"{c}\"?)"))
                .unwrap_or_default();
            return Err(err(
                "goal.event",
                format!(
                    "event \"{}\" is not defined under events:{hint}",
                    self.goal.event
                ),
            ));
        }
        if let Some(m) = self.maturity_minutes {
            if !(m >= 0.0 && m.is_finite()) {
                return Err(err(
                    "maturityMinutes",
                    format!("must be a non-negative number, found {m}"),
                ));
            }
        }
        self.goal.validate_shape().map_err(|(k, r)| err(k, r))?;
        if let Some(m) = self.max_shift_per_update {
            if !(m > 0.0 && m <= 1.0) {
                return Err(err(
                    "maxShiftPerUpdate",
                    format!("must be in (0, 1], found {m}"),
                ));
            }
        }
        if let Some(w) = self.window_size_minutes {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(err(
                    "windowSizeMinutes",
                    format!("must be a non-negative number, found {w}"),
                ));
            }
        }
        if !(0.0..1.0).contains(&self.exploration_floor) {
            return Err(err(
                "explorationFloor",
                format!("must be in [0, 1), found {}", self.exploration_floor),
            ));
        }
        if self.draws == 0 {
            return Err(err("draws", "must be at least 1".into()));
        }
        if let Some(e) = self.epsilon {
            if !(0.0..=1.0).contains(&e) {
                return Err(err("epsilon", format!("must be in [0, 1], found {e}")));
            }
        }
        if let Some(a) = self.alpha {
            if !(a >= 0.0 && a.is_finite()) {
                return Err(err(
                    "alpha",
                    format!("must be a non-negative number, found {a}"),
                ));
            }
        }
        self.validate_attribution(&err)?;
        for (key, value) in [
            ("lambda", self.lambda),
            ("v", self.v),
            ("priorAlpha", self.prior_alpha),
            ("priorBeta", self.prior_beta),
        ] {
            if let Some(x) = value {
                if !(x > 0.0 && x.is_finite()) {
                    return Err(err(key, format!("must be a positive number, found {x}")));
                }
            }
        }
        if self.method.is_some() && self.algorithm != Algorithm::LinearContextual {
            return Err(err(
                "method",
                format!(
                    "applies to linear_contextual only, not {}",
                    self.algorithm.as_str()
                ),
            ));
        }
        if let (Some(m), Some(_)) = (self.method, self.v) {
            if m != LinearMethod::Lints {
                return Err(err(
                    "v",
                    "applies to method: lints only (it is linear Thompson sampling's scale)".into(),
                ));
            }
        }
        if let Some(features) = &self.context_features {
            if self.algorithm != Algorithm::LinearContextual {
                return Err(err(
                    "contextFeatures",
                    format!(
                        "applies to linear_contextual only, not {}",
                        self.algorithm.as_str()
                    ),
                ));
            }
            let keys = features.keys();
            if keys.is_empty() {
                return Err(err(
                    "contextFeatures",
                    "lists no keys: list numeric and/or categorical keys, or remove it to use every allowed field".into(),
                ));
            }
            let mut seen = std::collections::BTreeMap::new();
            for (list, i, key) in keys {
                if let Some(first) = seen.insert(key, format!("{list}[{i}]")) {
                    return Err(err(
                        &format!("contextFeatures.{list}[{i}]"),
                        format!("\"{key}\" is already listed at contextFeatures.{first}"),
                    ));
                }
            }
        }
        if let Some(e) = &self.entity_config {
            if self.algorithm == Algorithm::LinearContextual {
                return Err(err(
                    "entityConfig",
                    "per-entity policies are multi-armed; linear_contextual has no per-entity form"
                        .into(),
                ));
            }
            e.validate(policy, spans)?;
        }
        Ok(())
    }

    /// Checks the multi-touch model, its parameters, the skew and the window.
    fn validate_attribution(&self, err: &dyn Fn(&str, String) -> Located) -> Result<(), Located> {
        let model = self
            .attribution_model
            .unwrap_or(AttributionModel::LastTouch);
        if let Some(h) = self.half_life_days {
            if model != AttributionModel::TimeDecay {
                return Err(err(
                    "halfLifeDays",
                    format!(
                        "applies to attributionModel time_decay only, found {}",
                        model.as_str()
                    ),
                ));
            }
            if !(h > 0.0 && h.is_finite()) {
                return Err(err(
                    "halfLifeDays",
                    format!("must be a positive number of days, found {h}"),
                ));
            }
        }
        if let Some(w) = self.position_weights {
            if model != AttributionModel::PositionBased {
                return Err(err(
                    "positionWeights",
                    format!(
                        "applies to attributionModel position_based only, found {}",
                        model.as_str()
                    ),
                ));
            }
            for (key, x) in [("first", w.first), ("last", w.last)] {
                if !(0.0..=1.0).contains(&x) {
                    return Err(err(
                        &format!("positionWeights.{key}"),
                        format!("must be in [0, 1], found {x}"),
                    ));
                }
            }
            if w.first + w.last > 1.0 + 1e-12 {
                return Err(err(
                    "positionWeights",
                    format!(
                        "first + last must be at most 1, found {} + {}",
                        w.first, w.last
                    ),
                ));
            }
        }
        if let Some(s) = self.clock_skew_seconds {
            if !(s >= 0.0 && s.is_finite()) {
                return Err(err(
                    "clockSkewSeconds",
                    format!("must be a non-negative number, found {s}"),
                ));
            }
        }
        if let Some(h) = self.attribution_window_hours {
            if !(h > 0.0 && h.is_finite()) {
                return Err(err(
                    "attributionWindowHours",
                    format!("must be a positive number of hours, found {h}"),
                ));
            }
        }
        Ok(())
    }
}

impl Goal {
    /// Checks that the goal's parts fit together: a value source only where a value is
    /// read, a cap only on goals with a value. `Err((key under the spec, reason))`.
    fn validate_shape(&self) -> Result<(), (&'static str, String)> {
        let reads_value = matches!(self.goal_type, GoalType::Sum | GoalType::Mean);
        if !reads_value && self.value != ValueSource::Value {
            let what = match self.goal_type {
                GoalType::Count => "a count goal counts goal events",
                _ => "a conversion_rate goal counts converted units",
            };
            return Err((
                "goal.value",
                format!(
                    "{what} and reads no value; use type: sum or mean to add or average values"
                ),
            ));
        }
        if let Some(cap) = self.cap {
            if self.goal_type == GoalType::ConversionRate {
                return Err((
                    "goal.cap",
                    "a conversion_rate reward is 0 or 1 and cannot be capped".into(),
                ));
            }
            if !(cap.quantile > 0.0 && cap.quantile < 1.0) {
                return Err((
                    "goal.cap.quantile",
                    format!("must be in (0, 1), found {}", cap.quantile),
                ));
            }
        }
        Ok(())
    }

    /// Checks a property value source against the goal event's merged schema: the
    /// property must be declared there with a numeric type.
    pub(super) fn validate_source(
        &self,
        policy: &str,
        schema: Option<&super::EventSchema>,
        spans: &Spans,
    ) -> Result<(), Located> {
        let (ValueSource::Property(name), Some(schema)) = (&self.value, schema) else {
            return Ok(());
        };
        let at = format!("optimization.{policy}.goal.value.property");
        match schema.properties.get(name) {
            Some(p)
                if matches!(
                    p.schema.property_type,
                    super::PropertyType::Number | super::PropertyType::Integer
                ) =>
            {
                Ok(())
            }
            Some(p) => Err(spans.locate(
                at,
                format!(
                    "property \"{name}\" of event \"{}\" is of type {}, not a number",
                    self.event,
                    p.schema.property_type.as_str()
                ),
            )),
            None => {
                let hint = crate::text::did_you_mean(
                    name,
                    schema.properties.keys().map(String::as_str),
                    3,
                )
                .map(|c| format!(" (did you mean \"{c}\"?)"))
                .unwrap_or_default();
                Err(spans.locate(
                    at,
                    format!(
                        "event \"{}\" declares no property \"{name}\"{hint}",
                        self.event
                    ),
                ))
            }
        }
    }
}
