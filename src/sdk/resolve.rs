//! Resolution as the reference SDK does it (`@traffical/core` 0.12
//! `resolution/engine.ts`): results and options. The work is done by a
//! [`super::Resolver`], a bundle compiled once; [`resolve`] is the one-shot form.
//!
//! Per layer: compute the bucket of the unit (the layer's `unitKey` override or the
//! project's), then take the first `running` policy whose `eligibleBucketRange`
//! contains the bucket and whose conditions all hold, and let it choose: a
//! `contextualModel` scores the allocations (linear score, softmax with temperature
//! `gamma`, floor, weighted selection seeded `ctx:<unit>:<policy>`); an `entityConfig`
//! in `bundle` mode draws from the entity's weights (seed `<entity>:<unit>:<policy>`);
//! in `edge` mode it takes the caller's pre-fetched edge result or is skipped;
//! otherwise the allocation whose bucket range holds the bucket wins. A policy that
//! cannot choose falls through to the next.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::hash::HashContract;
use super::model::Bundle;

/// What one layer resolved to: the SDK's `LayerResolution`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerResolution {
    /// Layer id.
    pub layer_id: String,
    /// The unit's bucket; `None` when the unit key value is missing or the layer's
    /// `unitKey` override is blank (SDKs log -1).
    pub bucket: Option<u32>,
    /// Matched policy id.
    pub policy_id: Option<String>,
    /// Matched policy key.
    pub policy_key: Option<String>,
    /// Matched allocation index in the policy (for dynamic allocations, the index).
    pub allocation_index: Option<usize>,
    /// Matched allocation id.
    pub allocation_id: Option<String>,
    /// Matched allocation name.
    pub allocation_name: Option<String>,
    /// Matched allocation key.
    pub allocation_key: Option<String>,
    /// Propensity of the choice, logged by the SDK for adaptive policies: the bucket
    /// share, the floored softmax probability or the entity weight; only values in
    /// (0, 1] are logged.
    pub probability: Option<f64>,
    /// `contextualModel.generatedAt ?? modelVersion` of a contextual choice.
    pub model_version: Option<String>,
    /// The layer's `unitKey` override, when it has a usable one.
    pub unit_key: Option<String>,
    /// The unit value read through the override (`""` when missing).
    pub unit_key_value: Option<String>,
    /// The layer has no requested parameter: logged for attribution, not exposure.
    pub attribution_only: bool,
}

impl LayerResolution {
    /// The object the SDK puts in `metadata.layers` (absent fields omitted, bucket
    /// -1 for a skipped layer).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("layerId".into(), Value::from(self.layer_id.clone()));
        m.insert(
            "bucket".into(),
            self.bucket.map_or(Value::from(-1), Value::from),
        );
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::from(v.clone()));
            }
        };
        opt("policyId", &self.policy_id);
        opt("policyKey", &self.policy_key);
        opt("allocationId", &self.allocation_id);
        opt("allocationName", &self.allocation_name);
        opt("allocationKey", &self.allocation_key);
        if let Some(p) = self.probability {
            m.insert("probability".into(), Value::from(p));
        }
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::from(v.clone()));
            }
        };
        opt("modelVersion", &self.model_version);
        opt("unitKey", &self.unit_key);
        opt("unitKeyValue", &self.unit_key_value);
        if self.attribution_only {
            m.insert("attributionOnly".into(), Value::Bool(true));
        }
        Value::Object(m)
    }
}

/// A full resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    /// Parameter values: defaults, overridden by matched allocations.
    pub assignments: Map<String, Value>,
    /// One entry per layer, in bundle order.
    pub layers: Vec<LayerResolution>,
    /// The project-level unit key value (`""` when the context has none).
    pub unit_key_value: String,
}

impl Resolution {
    /// `{"assignments": …, "layers": […]}`, layers in the SDK's shape.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "assignments".into(),
            Value::Object(self.assignments.clone()),
        );
        m.insert(
            "layers".into(),
            Value::Array(self.layers.iter().map(LayerResolution::to_json).collect()),
        );
        Value::Object(m)
    }
}

/// Why a bundle could not be compiled or a context resolved.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The bundle has a value the resolver cannot use.
    #[error("bundle field {path}: {reason}")]
    InvalidBundle {
        /// JSON path of the field, such as `layers[0].policies[1].contextualModel.gamma`.
        path: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A dynamic-allocation count the SDK cannot build an array for (it throws
    /// `RangeError: Invalid array length`).
    #[error(
        "policy {policy}: context field {field} = {count} asks for more dynamic allocations \
         than a JavaScript array can hold (2^32 - 1)"
    )]
    DynamicAllocationCount {
        /// The per-entity policy.
        policy: String,
        /// The context field naming the count.
        field: String,
        /// The count found.
        count: f64,
    },
}

/// A pre-fetched edge decision for an `edge`-mode per-entity policy (the SDK's
/// `ResolveOptions.edgeResults` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeResult {
    /// Index of the chosen allocation.
    pub allocation_index: usize,
    /// The entity the edge resolved for.
    pub entity_id: String,
}

/// Per-call options, as the SDK's `decide(bundle, context, defaults, options)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResolveOptions<'a> {
    /// The caller's defaults: only these parameters are requested (layers without
    /// one become attribution-only) and keys absent from the bundle are returned as
    /// given. `None`: every bundle parameter, at its bundle default.
    pub defaults: Option<&'a Map<String, Value>>,
    /// Pre-fetched edge results by policy id; without one an `edge`-mode policy is
    /// skipped.
    pub edge_results: Option<&'a HashMap<String, EdgeResult>>,
}

/// How a policy turns a context into a distribution over its allocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributionKind {
    /// Bucket ranges: each allocation's share of the buckets (what the SDK logs for
    /// adaptive policies); the unit's bucket decides.
    BucketShares,
    /// Floored softmax of a `contextualModel`; a hash of the unit decides.
    Contextual,
    /// Per-entity weights (the entity's, the global prior or uniform); a hash of
    /// entity and unit decides.
    EntityWeights,
}

/// The action distribution of the policy that serves a context in one layer: what
/// replay and off-policy evaluation need besides the chosen allocation.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDistribution {
    /// The serving policy.
    pub policy_id: String,
    /// How it chooses.
    pub kind: DistributionKind,
    /// Probability of each allocation, in allocation order (dynamic allocations: by
    /// index). Bucket shares need not sum to 1 when the policy covers part of the
    /// buckets; entity weights are used as the bundle gives them.
    pub probabilities: Vec<f64>,
    /// Linear scores (contextual policies).
    pub scores: Option<Vec<f64>>,
    /// The uniform draw in [0, 1) weighted selection used (contextual, per-entity).
    pub draw: Option<f64>,
    /// The chosen allocation's index.
    pub chosen: Option<usize>,
}

/// Resolves every parameter of the bundle for one context (compiles the bundle for
/// this one call: build a [`super::Resolver`] once to resolve many contexts).
///
/// # Errors
///
/// [`ResolveError::InvalidBundle`] when the bundle cannot be compiled,
/// [`ResolveError::DynamicAllocationCount`] for an impossible dynamic count.
pub fn resolve(
    bundle: &Bundle,
    ctx: &Map<String, Value>,
    contract: HashContract,
) -> Result<Resolution, ResolveError> {
    super::Resolver::new(bundle, contract)?.resolve(ctx)
}
