//! How a policy that serves a unit chooses its allocation: by contextual scores, by
//! per-entity weights, by a caller's edge result, or by the bucket's range. Each
//! chooser can also report the distribution it drew from.

use serde_json::{Map, Value};

use super::{field_string, Chooser, Chosen, CompiledPolicy, Resolver, STACK_ALLOCATIONS};
use crate::sdk::contextual::CompiledContextualModel;
use crate::sdk::hash::select_with;
use crate::sdk::js;
use crate::sdk::model::{Allocation, EntityPolicyState, Policy, PolicyKind};
use crate::sdk::resolve::{DistributionKind, PolicyDistribution, ResolveError, ResolveOptions};

/// What a policy's chooser produced.
pub(super) struct Choice<'b> {
    pub(super) chosen: Option<Chosen<'b>>,
    pub(super) probability: Option<f64>,
    pub(super) model_version: Option<&'b str>,
}

fn in_unit_interval(p: f64) -> Option<f64> {
    (p > 0.0 && p <= 1.0).then_some(p)
}

/// Weights of a per-entity policy for an entity: its own when their count matches,
/// else the global prior's when it matches, else uniform.
enum Weights<'b> {
    Given(&'b [f64]),
    Uniform(usize),
}

impl Weights<'_> {
    fn get(&self, i: usize) -> f64 {
        match self {
            Self::Given(w) => w[i],
            Self::Uniform(n) => 1.0 / *n as f64,
        }
    }

    fn select(&self, r: f64) -> usize {
        match self {
            Self::Given(w) => {
                if w.len() <= 1 {
                    0
                } else {
                    select_with(w, r)
                }
            }
            Self::Uniform(n) => {
                if *n <= 1 {
                    return 0;
                }
                let w = 1.0 / *n as f64;
                let mut cumulative = 0.0;
                for i in 0..*n {
                    cumulative += w;
                    if r < cumulative {
                        return i;
                    }
                }
                n - 1
            }
        }
    }

    fn to_vec(&self) -> Vec<f64> {
        match self {
            Self::Given(w) => w.to_vec(),
            Self::Uniform(n) => vec![1.0 / *n as f64; *n],
        }
    }
}

impl<'b> Resolver<'b> {
    pub(super) fn choose_contextual(
        &self,
        model: &CompiledContextualModel,
        policy: &'b Policy,
        ctx: &Map<String, Value>,
        unit: &str,
        dist: Option<&mut Option<PolicyDistribution>>,
    ) -> Choice<'b> {
        let k = policy.allocations.len();
        let mut stack = [0.0f64; STACK_ALLOCATIONS];
        let mut heap = Vec::new();
        let probs: &mut [f64] = if k <= STACK_ALLOCATIONS {
            &mut stack[..k]
        } else {
            heap.resize(k, 0.0);
            &mut heap
        };
        let scores = dist.is_some().then(|| {
            let mut s = vec![0.0; k];
            model.scores_into(ctx, &mut s);
            s
        });
        model.probabilities_into(ctx, probs);
        let draw = (k > 1).then(|| {
            self.contract
                .uniform_parts(&[b"ctx:", unit.as_bytes(), b":", policy.id.as_bytes()])
        });
        let index = draw.map_or(0, |r| select_with(probs, r));
        if let Some(out) = dist {
            *out = Some(PolicyDistribution {
                policy_id: policy.id.clone(),
                kind: DistributionKind::Contextual,
                probabilities: probs.to_vec(),
                scores,
                draw,
                chosen: Some(index),
            });
        }
        Choice {
            chosen: Some(Chosen::Fixed {
                index,
                allocation: &policy.allocations[index],
            }),
            probability: in_unit_interval(probs[index]),
            model_version: model_version(policy),
        }
    }

    pub(super) fn choose_otherwise(
        &self,
        cp: &CompiledPolicy<'b>,
        ctx: &Map<String, Value>,
        unit: &str,
        bucket: u32,
        options: &ResolveOptions<'_>,
        dist: Option<&mut Option<PolicyDistribution>>,
    ) -> Result<Option<Choice<'b>>, ResolveError> {
        let policy = cp.policy;
        match &cp.chooser {
            Chooser::Entity {
                keys,
                count_key,
                state,
            } => self.choose_entity(policy, keys, count_key.as_deref(), *state, ctx, unit, dist),
            Chooser::Edge { dynamic } => {
                let Some(e) = options.edge_results.and_then(|m| m.get(&policy.id)) else {
                    return Ok(None);
                };
                let chosen = if *dynamic {
                    Some(Chosen::Dynamic {
                        index: e.allocation_index,
                    })
                } else {
                    policy
                        .allocations
                        .get(e.allocation_index)
                        .map(|allocation| Chosen::Fixed {
                            index: e.allocation_index,
                            allocation,
                        })
                };
                Ok(Some(Choice {
                    chosen,
                    probability: None,
                    model_version: None,
                }))
            }
            Chooser::Buckets => {
                let Some(index) = policy
                    .allocations
                    .iter()
                    .position(|a| a.bucket_range[0] <= bucket && bucket <= a.bucket_range[1])
                else {
                    return Ok(None);
                };
                let count = f64::from(self.bundle.hashing.bucket_count);
                let share = |a: &Allocation| {
                    (f64::from(a.bucket_range[1]) - f64::from(a.bucket_range[0]) + 1.0) / count
                };
                if let Some(out) = dist {
                    *out = Some(PolicyDistribution {
                        policy_id: policy.id.clone(),
                        kind: DistributionKind::BucketShares,
                        probabilities: policy.allocations.iter().map(share).collect(),
                        scores: None,
                        draw: None,
                        chosen: Some(index),
                    });
                }
                let allocation = &policy.allocations[index];
                Ok(Some(Choice {
                    chosen: Some(Chosen::Fixed { index, allocation }),
                    probability: (policy.kind == PolicyKind::Adaptive)
                        .then(|| share(allocation))
                        .and_then(in_unit_interval),
                    model_version: None,
                }))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn choose_entity(
        &self,
        policy: &'b Policy,
        keys: &[String],
        count_key: Option<&str>,
        state: Option<&'b EntityPolicyState>,
        ctx: &Map<String, Value>,
        unit: &str,
        dist: Option<&mut Option<PolicyDistribution>>,
    ) -> Result<Option<Choice<'b>>, ResolveError> {
        let Some(entity) = entity_id(keys, ctx) else {
            return Ok(None);
        };
        let count = match count_key {
            Some(ck) => match dynamic_count(policy, ck, ctx)? {
                Some(n) => n,
                None => return Ok(None),
            },
            None => policy.allocations.len(),
        };
        if count == 0 {
            return Ok(None);
        }
        let weights = match state {
            None => Weights::Uniform(count),
            Some(s) => match s.entities.get(&entity) {
                Some(w) if w.weights.len() == count => Weights::Given(&w.weights),
                _ if s.global.weights.len() == count => Weights::Given(&s.global.weights),
                _ => Weights::Uniform(count),
            },
        };
        let draw = (count > 1).then(|| {
            self.contract.uniform_parts(&[
                entity.as_bytes(),
                b":",
                unit.as_bytes(),
                b":",
                policy.id.as_bytes(),
            ])
        });
        let index = draw.map_or(0, |r| weights.select(r));
        if let Some(out) = dist {
            *out = Some(PolicyDistribution {
                policy_id: policy.id.clone(),
                kind: DistributionKind::EntityWeights,
                probabilities: weights.to_vec(),
                scores: None,
                draw,
                chosen: Some(index),
            });
        }
        let chosen = if count_key.is_some() {
            Chosen::Dynamic { index }
        } else {
            Chosen::Fixed {
                index,
                allocation: &policy.allocations[index],
            }
        };
        Ok(Some(Choice {
            chosen: Some(chosen),
            probability: in_unit_interval(weights.get(index)),
            model_version: None,
        }))
    }
}

/// The entity id: `String()` of each key's value, joined by `_`; `None` when a key
/// is absent or the id is empty (no keys, or one key whose value is `""`: a falsy id
/// is no entity).
fn entity_id(keys: &[String], ctx: &Map<String, Value>) -> Option<String> {
    let mut entity = String::new();
    for (i, k) in keys.iter().enumerate() {
        let v = field_string(ctx, k)?;
        if i > 0 {
            entity.push('_');
        }
        entity.push_str(&v);
    }
    (!entity.is_empty()).then_some(entity)
}

/// The dynamic allocation count a context gives in `count_key`, floored; `None` when
/// it is not a positive number.
///
/// # Errors
///
/// [`ResolveError::DynamicAllocationCount`] for a count beyond `u32::MAX`.
fn dynamic_count(
    policy: &Policy,
    count_key: &str,
    ctx: &Map<String, Value>,
) -> Result<Option<usize>, ResolveError> {
    let Some(n) = js::object_get(ctx, count_key).as_number() else {
        return Ok(None);
    };
    if n.is_nan() || n <= 0.0 {
        return Ok(None);
    }
    let n = n.floor();
    if n > f64::from(u32::MAX) {
        return Err(ResolveError::DynamicAllocationCount {
            policy: policy.id.clone(),
            field: count_key.to_owned(),
            count: n,
        });
    }
    Ok(Some(n as usize))
}

/// `contextualModel.generatedAt ?? contextualModel.modelVersion`.
fn model_version(policy: &Policy) -> Option<&str> {
    let m = policy.contextual_model.as_ref()?;
    ["generatedAt", "modelVersion"]
        .iter()
        .find_map(|k| m.get(*k).filter(|v| !v.is_null()))
        .and_then(Value::as_str)
}
