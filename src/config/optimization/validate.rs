//! The checks of one policy's `optimization:` block that serde cannot make: ranges,
//! settings that apply to some algorithms or models only, and references to the
//! `events:` section. Each error is placed at the key it is about.

use std::collections::BTreeMap;

use super::{
    Algorithm, AttributionModel, Goal, GoalType, LinearMethod, OptimizationSpec, ValueSource,
};
use crate::config::yaml::{Located, Spans};
use crate::config::{EventDefinition, EventSchema, PropertyType};

impl OptimizationSpec {
    /// Checks one policy's optimisation block, in a fixed order so the first error is
    /// always the same one.
    pub(in crate::config) fn validate(
        &self,
        policy: &str,
        events: &BTreeMap<String, EventDefinition>,
        spans: &Spans,
    ) -> Result<(), Located> {
        let err = |key: &str, reason: String| {
            spans.locate(format!("optimization.{policy}.{key}"), reason)
        };
        self.validate_goal(events, &err)?;
        self.validate_update(&err)?;
        self.validate_attribution(&err)?;
        self.validate_priors(&err)?;
        self.validate_linear(&err)?;
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

    /// Checks that the goal event is defined, the maturity delay and the goal's shape.
    fn validate_goal(
        &self,
        events: &BTreeMap<String, EventDefinition>,
        err: &dyn Fn(&str, String) -> Located,
    ) -> Result<(), Located> {
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
        self.goal.validate_shape().map_err(|(k, r)| err(k, r))
    }

    /// Checks how an update moves the allocation: the shift cap, the window, the
    /// exploration floor, the posterior draws and the algorithms' exploration knobs.
    fn validate_update(&self, err: &dyn Fn(&str, String) -> Located) -> Result<(), Located> {
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
        if !(1..=crate::error::MAX_DRAWS).contains(&self.draws) {
            return Err(err(
                "draws",
                format!(
                    "must be {}, found {}",
                    crate::error::MAX_DRAWS_TEXT,
                    self.draws
                ),
            ));
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
        Ok(())
    }

    /// Checks that the regularisation, scale and prior parameters are positive.
    fn validate_priors(&self, err: &dyn Fn(&str, String) -> Located) -> Result<(), Located> {
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
        Ok(())
    }

    /// Checks the settings that only linear contextual policies take: the method, its
    /// Thompson scale and the context features (some keys, each listed once).
    fn validate_linear(&self, err: &dyn Fn(&str, String) -> Located) -> Result<(), Located> {
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
        let Some(features) = &self.context_features else {
            return Ok(());
        };
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
    pub(in crate::config) fn validate_source(
        &self,
        policy: &str,
        schema: Option<&EventSchema>,
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
                    PropertyType::Number | PropertyType::Integer
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
