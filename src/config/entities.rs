//! `optimization.<policy>.entityConfig`: the engine's side of a per-entity policy.
//!
//! ```yaml
//! optimization:
//!   policy_image_order:
//!     algorithm: thompson_bernoulli
//!     goal: { event: purchase, type: conversion_rate }
//!     entityConfig:
//!       entityKeys: [productId]                 # optional: must equal the bundle's
//!       dynamicAllocations: { countKey: imageCount }   # optional: likewise
//!       minEntityExposures: 30                  # an entity's own weights from here on
//!       priorStrength: 20                       # global pseudo-exposures per arm
//! ```
//!
//! The bundle policy's own `entityConfig` is what the SDKs read, so it decides which
//! policies are per-entity, their keys and their `countKey`. The keys here are
//! optional; when given they must agree with the bundle's (a mismatch is a config
//! error, caught when the config is checked against the bundle), so a config that
//! names the wrong entity cannot silently train on another one. The knobs
//! (`minEntityExposures`, `priorStrength`) are the engine's own: the platform's docs
//! name no parameter for "falls back to the global prior".

use serde::Deserialize;

use super::yaml::{Located, Spans};

fn default_min_entity_exposures() -> u64 {
    30
}

fn default_prior_strength() -> f64 {
    20.0
}

/// `dynamicAllocations` as in the bundle: the context key holding the number of
/// allocations of each decision.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DynamicAllocations {
    /// Context field with the allocation count.
    pub count_key: String,
}

/// How the engine learns a per-entity policy.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntityOptimization {
    /// Context keys naming the entity; `None` takes the bundle's.
    pub entity_keys: Option<Vec<String>>,
    /// Dynamic allocations; `None` takes the bundle's.
    pub dynamic_allocations: Option<DynamicAllocations>,
    /// Exposures (over all its arms, previous runs included) an entity needs before
    /// it is published with its own weights; below that SDKs use `_global`.
    #[serde(default = "default_min_entity_exposures")]
    pub min_entity_exposures: u64,
    /// Pseudo-exposures per arm the global posterior contributes to each entity's
    /// prior (the global statistics scaled down to at most this many), ≥ 0.
    #[serde(default = "default_prior_strength")]
    pub prior_strength: f64,
}

impl Default for EntityOptimization {
    fn default() -> Self {
        Self {
            entity_keys: None,
            dynamic_allocations: None,
            min_entity_exposures: default_min_entity_exposures(),
            prior_strength: default_prior_strength(),
        }
    }
}

impl EntityOptimization {
    pub(super) fn validate(&self, policy: &str, spans: &Spans) -> Result<(), Located> {
        let at = |key: &str| format!("optimization.{policy}.entityConfig.{key}");
        if let Some(keys) = &self.entity_keys {
            if keys.is_empty() {
                return Err(spans.locate(
                    at("entityKeys"),
                    "must name at least one context key (the SDK resolves no entity without one)",
                ));
            }
            if let Some(i) = keys.iter().position(String::is_empty) {
                return Err(spans.locate(
                    format!("{}[{i}]", at("entityKeys")),
                    "must be a non-empty context key",
                ));
            }
        }
        if let Some(d) = &self.dynamic_allocations {
            if d.count_key.is_empty() {
                return Err(spans.locate(
                    at("dynamicAllocations.countKey"),
                    "must be a non-empty context key",
                ));
            }
        }
        if !(self.prior_strength >= 0.0 && self.prior_strength.is_finite()) {
            return Err(spans.locate(
                at("priorStrength"),
                format!(
                    "must be a non-negative number, found {}",
                    self.prior_strength
                ),
            ));
        }
        Ok(())
    }
}
