//! Typed view of the platform's config bundle (`config-bundle.schema.json`, plus the
//! fields the current reference SDK reads that the schema predates: policy `key`,
//! `eligibleBucketRange`, `entityConfig`, allocation `id` / `key`, layer `unitKey`,
//! top-level `entityState`).
//!
//! The typed view is for reading. Writing goes through
//! the engine's bundle document (`bundle::BundleDocument`), which patches only the fields the engine owns in the
//! original JSON so that everything else comes out unchanged, key order included.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The whole bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// ISO timestamp used for cache invalidation; the engine sets it to `--as-of`.
    pub version: String,
    /// Organization.
    pub org_id: String,
    /// Project.
    pub project_id: String,
    /// Environment.
    pub env: String,
    /// Bucketing configuration.
    pub hashing: Hashing,
    /// Parameters with defaults and layer membership.
    pub parameters: Vec<BundleParameter>,
    /// Layers with their policies, in evaluation order.
    pub layers: Vec<BundleLayer>,
    /// DOM bindings (not the engine's; kept as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dom_bindings: Option<Vec<Value>>,
    /// Per-entity weights of per-entity policies, by policy id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_state: Option<BTreeMap<String, EntityPolicyState>>,
}

/// Bucketing configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hashing {
    /// The context field whose value is the unit key.
    pub unit_key: String,
    /// Number of buckets; bucket ranges live in `[0, bucketCount)`.
    pub bucket_count: u32,
}

/// Parameter value types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleParameterType {
    /// A string.
    String,
    /// A number.
    Number,
    /// A boolean.
    Boolean,
    /// Any JSON value.
    Json,
}

/// A parameter as the bundle carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleParameter {
    /// Key, such as `ui.primaryColor`.
    pub key: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: BundleParameterType,
    /// Default value.
    pub default: Value,
    /// The layer it belongs to.
    pub layer_id: String,
    /// Namespace.
    pub namespace: String,
}

/// A layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleLayer {
    /// Layer id.
    pub id: String,
    /// Context field overriding the project's unit key for this layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_key: Option<String>,
    /// Policies, evaluated in order.
    pub policies: Vec<Policy>,
}

/// Policy lifecycle states; SDKs consider only `running` policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyState {
    /// Not live.
    Draft,
    /// Live.
    Running,
    /// Stopped for now.
    Paused,
    /// Over.
    Completed,
}

/// Static or adaptive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// Fixed allocations.
    Static,
    /// Learned allocations: the engine's to rewrite.
    Adaptive,
}

/// Inclusive bucket span `[start, end]` outside which a policy is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpan {
    /// First eligible bucket.
    pub start: u32,
    /// Last eligible bucket.
    pub end: u32,
}

/// A policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Policy id.
    pub id: String,
    /// Stable key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Lifecycle state.
    pub state: PolicyState,
    /// Static or adaptive.
    pub kind: PolicyKind,
    /// Allocations: bucket ranges mapped to overrides.
    pub allocations: Vec<Allocation>,
    /// Context predicates that must all hold.
    pub conditions: Vec<Condition>,
    /// Version of the optimization state (adaptive policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_version: Option<String>,
    /// Context fields logged for contextual training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_logging: Option<ContextLogging>,
    /// Trained model for SDK-side scoring (`linear_contextual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contextual_model: Option<Value>,
    /// Per-entity bandit configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_config: Option<EntityConfig>,
    /// Buckets this policy is eligible for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible_bucket_range: Option<BucketSpan>,
}

/// An allocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    /// Unique id (the current SDK's; absent in the spec's fixtures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Variant name.
    pub name: String,
    /// Stable key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Inclusive bucket range `[start, end]`.
    pub bucket_range: [u32; 2],
    /// Parameter overrides.
    pub overrides: Map<String, Value>,
}

/// Condition operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConditionOp {
    /// Equal.
    Eq,
    /// Not equal.
    Neq,
    /// In a list.
    In,
    /// Not in a list.
    Nin,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less or equal.
    Lte,
    /// Substring.
    Contains,
    /// Prefix.
    StartsWith,
    /// Suffix.
    EndsWith,
    /// ECMAScript regular expression.
    Regex,
    /// Field present.
    Exists,
    /// Field absent.
    NotExists,
    /// An operator this version does not know: never matches, as in the SDK.
    #[serde(other)]
    Unknown,
}

/// A context predicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// Context field.
    pub field: String,
    /// Operator.
    pub op: ConditionOp,
    /// Operand of binary operators. `Some(Value::Null)` is an explicit `null`, `None`
    /// an absent field (JavaScript's `undefined`): the SDK tells them apart.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
    /// Operands of `in` / `nin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// A present field, `null` included, is `Some`; only an absent one is `None`.
fn present_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Context logging allowlist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextLogging {
    /// Fields logged in exposure events.
    pub allowed_fields: Vec<String>,
}

/// Per-entity bandit configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityConfig {
    /// Context keys whose values, joined by `_`, name the entity.
    pub entity_keys: Vec<String>,
    /// `bundle` (weights ride in the bundle) or `edge`.
    pub resolution_mode: String,
    /// Edge timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_timeout_ms: Option<f64>,
    /// Dynamic allocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_allocations: Option<Value>,
}

/// Weights of one entity (or the global prior).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityWeights {
    /// Entity id.
    pub entity_id: String,
    /// Selection weights per allocation.
    pub weights: Vec<f64>,
    /// When they were computed.
    pub computed_at: String,
}

/// Per-entity state of one policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityPolicyState {
    /// Global prior weights.
    #[serde(rename = "_global")]
    pub global: EntityWeights,
    /// Learned weights per entity.
    pub entities: BTreeMap<String, EntityWeights>,
}

impl Policy {
    /// Number of buckets an allocation range covers.
    #[must_use]
    pub fn range_len(r: [u32; 2]) -> u32 {
        r[1] - r[0] + 1
    }

    /// The buckets covered by some allocation and eligible for the policy, as sorted,
    /// disjoint, inclusive segments.
    #[must_use]
    pub fn covered_segments(&self) -> Vec<[u32; 2]> {
        let mut ranges: Vec<[u32; 2]> = self
            .allocations
            .iter()
            .filter_map(|a| {
                let [mut s, mut e] = a.bucket_range;
                if let Some(span) = self.eligible_bucket_range {
                    s = s.max(span.start);
                    e = e.min(span.end);
                }
                (s <= e).then_some([s, e])
            })
            .collect();
        ranges.sort_unstable();
        let mut out: Vec<[u32; 2]> = Vec::new();
        for r in ranges {
            match out.last_mut() {
                Some(last) if r[0] <= last[1].saturating_add(1) => last[1] = last[1].max(r[1]),
                _ => out.push(r),
            }
        }
        out
    }
}

impl Policy {
    /// Buckets each allocation really receives: its range, cut to the eligible span,
    /// less buckets an earlier allocation already claims (SDKs take the first match).
    #[must_use]
    pub fn effective_counts(&self) -> Vec<u32> {
        let mut claimed: Vec<[u32; 2]> = Vec::new();
        self.allocations
            .iter()
            .map(|a| {
                let [mut s, mut e] = a.bucket_range;
                if let Some(span) = self.eligible_bucket_range {
                    s = s.max(span.start);
                    e = e.min(span.end);
                }
                if s > e {
                    return 0;
                }
                let mut pieces = vec![[s, e]];
                for c in &claimed {
                    pieces = pieces
                        .into_iter()
                        .flat_map(|[ps, pe]| {
                            let mut left = Vec::with_capacity(2);
                            if c[1] < ps || c[0] > pe {
                                left.push([ps, pe]);
                            } else {
                                if c[0] > ps {
                                    left.push([ps, c[0] - 1]);
                                }
                                if c[1] < pe {
                                    left.push([c[1] + 1, pe]);
                                }
                            }
                            left
                        })
                        .collect();
                }
                claimed.push([s, e]);
                pieces.iter().map(|p| p[1] - p[0] + 1).sum()
            })
            .collect()
    }
}
