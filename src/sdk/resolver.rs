//! A bundle compiled for resolution: conditions with their regular expressions,
//! contextual models and per-entity state laid out once, so resolving a context
//! allocates nothing but its result.

mod choose;

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::conditions::CompiledCondition;
use super::contextual::CompiledContextualModel;
use super::hash::HashContract;
use super::js;
use super::model::{Allocation, Bundle, EntityPolicyState, Policy, PolicyState};
use super::resolve::{
    LayerResolution, PolicyDistribution, Resolution, ResolveError, ResolveOptions,
};

/// Allocations handled on the stack when scoring; more spill to the heap.
const STACK_ALLOCATIONS: usize = 32;

enum UnitSource {
    Project,
    Field(String),
    /// A blank override: the SDK skips the layer.
    Blank,
}

enum Chooser<'b> {
    Buckets,
    Entity {
        keys: &'b [String],
        count_key: Option<String>,
        state: Option<&'b EntityPolicyState>,
    },
    Edge {
        dynamic: bool,
    },
}

struct CompiledPolicy<'b> {
    policy: &'b Policy,
    conditions: Vec<CompiledCondition>,
    contextual: Option<CompiledContextualModel>,
    chooser: Chooser<'b>,
}

struct CompiledLayer<'b> {
    unit: UnitSource,
    policies: Vec<CompiledPolicy<'b>>,
    /// Indices of the layer's parameters in `bundle.parameters`.
    params: Vec<usize>,
}

/// A bundle ready to resolve contexts with one hash contract.
///
/// ```
/// use bandit_engine::sdk::{Bundle, HashContract, Resolver};
/// let bundle: Bundle = serde_json::from_str(include_str!(
///     "../../tests/fixtures/sdk-sha256/bundle_basic.json"
/// ))?;
/// let resolver = Resolver::new(&bundle, HashContract::Sha256V2)?;
/// let ctx = serde_json::from_str(r#"{"userId": "user-abc"}"#)?;
/// let r = resolver.resolve(&ctx)?;
/// assert_eq!(r.layers[0].bucket, Some(177));
/// assert_eq!(r.assignments["ui.primaryColor"], "#0000FF");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Resolver<'b> {
    bundle: &'b Bundle,
    contract: HashContract,
    layers: Vec<CompiledLayer<'b>>,
}

/// The allocation a layer chose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Chosen<'b> {
    /// One of the policy's allocations.
    Fixed {
        /// Its index.
        index: usize,
        /// The allocation.
        allocation: &'b Allocation,
    },
    /// A dynamic allocation of a per-entity policy (id `<policy>_dynamic_<i>`,
    /// name `<i>`, no overrides).
    Dynamic {
        /// Its index.
        index: usize,
    },
}

impl Chosen<'_> {
    /// Index of the allocation.
    #[must_use]
    pub fn index(&self) -> usize {
        match self {
            Self::Fixed { index, .. } | Self::Dynamic { index } => *index,
        }
    }
}

/// One layer's decision, borrowing from the bundle (cheap: no strings copied).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerDecision<'b> {
    /// Index of the layer in the bundle.
    pub layer: usize,
    /// The unit's bucket (`None`: skipped, the SDK logs -1).
    pub bucket: Option<u32>,
    /// The serving policy.
    pub policy: Option<&'b Policy>,
    /// The chosen allocation (a policy may match without one: an edge result whose
    /// index is out of range).
    pub chosen: Option<Chosen<'b>>,
    /// Logged propensity (adaptive policies; only values in (0, 1]).
    pub probability: Option<f64>,
    /// Model version of a contextual choice.
    pub model_version: Option<&'b str>,
}

/// The SDK's `String(value)` of a context field, `None` when absent or null.
fn field_string<'c>(ctx: &'c Map<String, Value>, key: &str) -> Option<Cow<'c, str>> {
    ctx.get(key).filter(|v| !v.is_null()).map(js::to_string)
}

impl<'b> Resolver<'b> {
    /// Compiles `bundle` for `contract`.
    ///
    /// # Errors
    ///
    /// [`ResolveError::InvalidBundle`] for a `bucketCount` of 0 or a malformed
    /// `contextualModel`, naming the field's JSON path.
    pub fn new(bundle: &'b Bundle, contract: HashContract) -> Result<Self, ResolveError> {
        if bundle.hashing.bucket_count == 0 {
            return Err(ResolveError::InvalidBundle {
                path: "hashing.bucketCount".into(),
                reason: "must be at least 1".into(),
            });
        }
        let mut layers = Vec::with_capacity(bundle.layers.len());
        for (li, layer) in bundle.layers.iter().enumerate() {
            let unit = match &layer.unit_key {
                None => UnitSource::Project,
                Some(k) if k.trim().is_empty() => UnitSource::Blank,
                Some(k) => UnitSource::Field(k.clone()),
            };
            let mut policies = Vec::with_capacity(layer.policies.len());
            for (pi, policy) in layer.policies.iter().enumerate() {
                let at = format!("layers[{li}].policies[{pi}]");
                let contextual = policy
                    .contextual_model
                    .as_ref()
                    .map(|m| {
                        CompiledContextualModel::compile(
                            m,
                            &policy.allocations,
                            &format!("{at}.contextualModel"),
                        )
                    })
                    .transpose()?;
                let chooser = match &policy.entity_config {
                    Some(e) if e.resolution_mode == "bundle" => Chooser::Entity {
                        keys: &e.entity_keys,
                        count_key: dynamic_count_key(e.dynamic_allocations.as_ref()),
                        state: bundle.entity_state.as_ref().and_then(|s| s.get(&policy.id)),
                    },
                    Some(e) if e.resolution_mode == "edge" => Chooser::Edge {
                        dynamic: e.dynamic_allocations.is_some(),
                    },
                    _ => Chooser::Buckets,
                };
                policies.push(CompiledPolicy {
                    policy,
                    conditions: policy
                        .conditions
                        .iter()
                        .map(CompiledCondition::new)
                        .collect(),
                    contextual,
                    chooser,
                });
            }
            let params = bundle
                .parameters
                .iter()
                .enumerate()
                .filter(|(_, p)| p.layer_id == layer.id)
                .map(|(i, _)| i)
                .collect();
            layers.push(CompiledLayer {
                unit,
                policies,
                params,
            });
        }
        Ok(Self {
            bundle,
            contract,
            layers,
        })
    }

    /// The bundle.
    #[must_use]
    pub fn bundle(&self) -> &'b Bundle {
        self.bundle
    }

    /// The hash contract.
    #[must_use]
    pub fn contract(&self) -> HashContract {
        self.contract
    }

    /// Index of a layer by id.
    #[must_use]
    pub fn layer_index(&self, layer_id: &str) -> Option<usize> {
        self.bundle.layers.iter().position(|l| l.id == layer_id)
    }

    /// The bucket of a unit key value in a layer.
    ///
    /// # Panics
    ///
    /// If `layer` is out of range.
    #[must_use]
    pub fn bucket(&self, layer: usize, unit: &str) -> u32 {
        self.contract.bucket(
            unit,
            &self.bundle.layers[layer].id,
            self.bundle.hashing.bucket_count,
        )
    }

    /// The project-level unit key value of a context.
    #[must_use]
    pub fn unit_key_value<'c>(&self, ctx: &'c Map<String, Value>) -> Option<Cow<'c, str>> {
        field_string(ctx, &self.bundle.hashing.unit_key)
    }

    /// The unit value a layer buckets on; `None` when the layer is skipped.
    fn layer_unit<'c>(
        &self,
        layer: &CompiledLayer<'_>,
        ctx: &'c Map<String, Value>,
    ) -> Option<Cow<'c, str>> {
        let v = match &layer.unit {
            UnitSource::Blank => return None,
            UnitSource::Project => self.unit_key_value(ctx)?,
            UnitSource::Field(k) => field_string(ctx, k)?,
        };
        (!v.is_empty()).then_some(v)
    }

    /// Resolves every bundle parameter for one context.
    ///
    /// # Errors
    ///
    /// [`ResolveError::DynamicAllocationCount`] for an impossible dynamic count.
    pub fn resolve(&self, ctx: &Map<String, Value>) -> Result<Resolution, ResolveError> {
        self.resolve_with(ctx, &ResolveOptions::default())
    }

    /// Resolves one context as the SDK's `decide(bundle, context, defaults, options)`.
    ///
    /// # Errors
    ///
    /// [`ResolveError::DynamicAllocationCount`] for an impossible dynamic count.
    pub fn resolve_with(
        &self,
        ctx: &Map<String, Value>,
        options: &ResolveOptions<'_>,
    ) -> Result<Resolution, ResolveError> {
        let params = &self.bundle.parameters;
        let mut assignments: Map<String, Value> = match options.defaults {
            Some(d) => {
                let mut a = d.clone();
                for p in params {
                    if let Some(slot) = a.get_mut(&p.key) {
                        *slot = p.default.clone();
                    }
                }
                a
            }
            None => params
                .iter()
                .map(|p| (p.key.clone(), p.default.clone()))
                .collect(),
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (li, layer) in self.layers.iter().enumerate() {
            let has_params = match options.defaults {
                None => !layer.params.is_empty(),
                Some(d) => layer.params.iter().any(|&i| d.contains_key(&params[i].key)),
            };
            let d = self.decide_layer(li, ctx, options)?;
            if has_params {
                if let Some(Chosen::Fixed { allocation, .. }) = d.chosen {
                    // Dynamic allocations carry no overrides.
                    for (k, v) in &allocation.overrides {
                        if let Some(slot) = assignments.get_mut(k) {
                            *slot = v.clone();
                        }
                    }
                }
            }
            layers.push(self.layer_resolution(&d, ctx, !has_params));
        }
        Ok(Resolution {
            assignments,
            layers,
            unit_key_value: self
                .unit_key_value(ctx)
                .map(Cow::into_owned)
                .unwrap_or_default(),
        })
    }

    /// The SDK's layer metadata for a decision.
    #[must_use]
    pub fn layer_resolution(
        &self,
        d: &LayerDecision<'_>,
        ctx: &Map<String, Value>,
        attribution_only: bool,
    ) -> LayerResolution {
        let layer = &self.bundle.layers[d.layer];
        let (unit_key, unit_key_value) = match &self.layers[d.layer].unit {
            UnitSource::Field(k) => (
                Some(k.clone()),
                Some(
                    field_string(ctx, k)
                        .map(Cow::into_owned)
                        .unwrap_or_default(),
                ),
            ),
            _ => (None, None),
        };
        let (allocation_id, allocation_name, allocation_key) = match (d.chosen, d.policy) {
            (Some(Chosen::Fixed { allocation, .. }), _) => (
                allocation.id.clone(),
                Some(allocation.name.clone()),
                allocation.key.clone(),
            ),
            (Some(Chosen::Dynamic { index }), Some(p)) => (
                Some(format!("{}_dynamic_{index}", p.id)),
                Some(index.to_string()),
                None,
            ),
            _ => (None, None, None),
        };
        LayerResolution {
            layer_id: layer.id.clone(),
            bucket: d.bucket,
            policy_id: d.policy.map(|p| p.id.clone()),
            policy_key: d.policy.and_then(|p| p.key.clone()),
            allocation_index: d.chosen.map(|c| c.index()),
            allocation_id,
            allocation_name,
            allocation_key,
            probability: d.probability,
            model_version: d.model_version.map(str::to_owned),
            unit_key,
            unit_key_value,
            attribution_only,
        }
    }

    /// One layer's decision for a context.
    ///
    /// # Errors
    ///
    /// [`ResolveError::DynamicAllocationCount`] for an impossible dynamic count.
    ///
    /// # Panics
    ///
    /// If `layer` is out of range.
    pub fn decide_layer(
        &self,
        layer: usize,
        ctx: &Map<String, Value>,
        options: &ResolveOptions<'_>,
    ) -> Result<LayerDecision<'b>, ResolveError> {
        self.decide_layer_inner(layer, ctx, options, None)
    }

    /// The action distribution of the policy serving `ctx` in `layer`, with the
    /// chosen allocation; `None` when no policy serves it, or an edge-mode policy
    /// (whose choice the edge made) does.
    ///
    /// # Errors
    ///
    /// [`ResolveError::DynamicAllocationCount`] for an impossible dynamic count.
    ///
    /// # Panics
    ///
    /// If `layer` is out of range.
    pub fn distribution(
        &self,
        layer: usize,
        ctx: &Map<String, Value>,
        options: &ResolveOptions<'_>,
    ) -> Result<Option<PolicyDistribution>, ResolveError> {
        let mut out = None;
        self.decide_layer_inner(layer, ctx, options, Some(&mut out))?;
        Ok(out)
    }

    fn decide_layer_inner(
        &self,
        li: usize,
        ctx: &Map<String, Value>,
        options: &ResolveOptions<'_>,
        mut dist: Option<&mut Option<PolicyDistribution>>,
    ) -> Result<LayerDecision<'b>, ResolveError> {
        let layer = &self.layers[li];
        let mut d = LayerDecision {
            layer: li,
            bucket: None,
            policy: None,
            chosen: None,
            probability: None,
            model_version: None,
        };
        let Some(unit) = self.layer_unit(layer, ctx) else {
            return Ok(d);
        };
        let bucket = self.bucket(li, &unit);
        d.bucket = Some(bucket);
        for cp in &layer.policies {
            let policy = cp.policy;
            if policy.state != PolicyState::Running {
                continue;
            }
            if let Some(span) = policy.eligible_bucket_range {
                if bucket < span.start || bucket > span.end {
                    continue;
                }
            }
            if !cp.conditions.iter().all(|c| c.matches(ctx)) {
                continue;
            }
            let choice = match (&cp.contextual, policy.allocations.is_empty()) {
                (Some(model), false) => {
                    Some(self.choose_contextual(model, policy, ctx, &unit, dist.as_deref_mut()))
                }
                _ => self.choose_otherwise(cp, ctx, &unit, bucket, options, dist.as_deref_mut())?,
            };
            if let Some(c) = choice {
                d.policy = Some(policy);
                d.chosen = c.chosen;
                d.probability = c.probability;
                d.model_version = c.model_version;
                break;
            }
        }
        Ok(d)
    }
}

fn dynamic_count_key(v: Option<&Value>) -> Option<String> {
    // `entityConfig.dynamicAllocations.countKey`; a present object without a string
    // key reads `context[undefined]`, which is never a number: no allocation.
    v.filter(|v| !v.is_null()).map(|d| {
        d.get("countKey")
            .map(|k| js::to_string(k).into_owned())
            .unwrap_or_else(|| "undefined".to_owned())
    })
}
