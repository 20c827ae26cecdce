//! Resolution as the reference SDK does it (`@traffical/core` 0.12
//! `resolution/engine.ts`, `resolution/conditions.ts`), for bucket-based policies.
//!
//! Per layer: compute the bucket of the unit (the layer's `unitKey` override or the
//! project's), then take the first `running` policy whose `eligibleBucketRange`
//! contains the bucket, whose conditions all hold, and one of whose allocations'
//! ranges contains the bucket; a bucket in no allocation falls through to the next
//! policy. Adaptive policies log the allocation's bucket share as `probability`.
//!
//! Contextual (`contextualModel`) and per-entity (`entityConfig`) policies are scored
//! differently; until their resolvers land this module refuses them with
//! [`ResolveError::Unsupported`] rather than resolving them wrongly.

use serde_json::{Map, Value};

use super::hash::HashContract;
use super::model::{Bundle, Condition, ConditionOp, PolicyKind, PolicyState};

/// What one layer resolved to.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerResolution {
    /// Layer id.
    pub layer_id: String,
    /// The unit's bucket; `None` when the unit key value is missing (SDKs log -1).
    pub bucket: Option<u32>,
    /// Matched policy id.
    pub policy_id: Option<String>,
    /// Matched policy key.
    pub policy_key: Option<String>,
    /// Matched allocation index in the policy.
    pub allocation_index: Option<usize>,
    /// Matched allocation id.
    pub allocation_id: Option<String>,
    /// Matched allocation name.
    pub allocation_name: Option<String>,
    /// Matched allocation key.
    pub allocation_key: Option<String>,
    /// Propensity of the choice (adaptive policies only).
    pub probability: Option<f64>,
    /// The layer has no parameter: logged for attribution, not exposure.
    pub attribution_only: bool,
}

/// A full resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    /// Parameter values: defaults, overridden by matched allocations.
    pub assignments: Map<String, Value>,
    /// One entry per layer, in bundle order.
    pub layers: Vec<LayerResolution>,
}

/// Why a bundle could not be resolved here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A policy needs a scorer this resolver does not have yet.
    #[error("policy {policy}: {what} resolution is not implemented in this resolver")]
    Unsupported {
        /// The policy.
        policy: String,
        /// What it needs.
        what: &'static str,
    },
}

fn get_nested<'a>(ctx: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = ctx.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// JavaScript `===` on JSON values: numbers by value (`1 === 1.0`), objects and
/// arrays never equal (they are compared by reference in JS).
fn js_strict_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None | Some(Value::Null), None) => a.is_none(),
        (Some(Value::Null), Some(Value::Null)) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::String(x)), Some(Value::String(y))) => x == y,
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x == y,
        _ => false,
    }
}

fn compare(ctx: Option<&Value>, operand: Option<&Value>, f: impl Fn(f64, f64) -> bool) -> bool {
    match (ctx.and_then(Value::as_f64), operand) {
        (Some(c), Some(v)) => match v {
            Value::Number(n) => n.as_f64().is_some_and(|n| f(c, n)),
            // JS coerces a numeric string operand (`5 > "3"`).
            Value::String(s) => s.trim().parse::<f64>().is_ok_and(|n| f(c, n)),
            Value::Bool(b) => f(c, f64::from(u8::from(*b))),
            Value::Null => f(c, 0.0),
            _ => false,
        },
        _ => false,
    }
}

/// One condition, as `evaluateCondition` of the reference SDK.
#[must_use]
pub fn evaluate_condition(c: &Condition, ctx: &Map<String, Value>) -> bool {
    let v = get_nested(ctx, &c.field);
    let operand = c.value.as_ref();
    let text = |f: &dyn Fn(&str, &str) -> bool| match (v, operand) {
        (Some(Value::String(s)), Some(Value::String(o))) => f(s, o),
        _ => false,
    };
    match c.op {
        ConditionOp::Eq => js_strict_eq(v, operand),
        ConditionOp::Neq => !js_strict_eq(v, operand),
        ConditionOp::In => c
            .values
            .as_ref()
            .is_some_and(|vs| vs.iter().any(|x| js_strict_eq(v, Some(x)))),
        ConditionOp::Nin => c
            .values
            .as_ref()
            .is_none_or(|vs| !vs.iter().any(|x| js_strict_eq(v, Some(x)))),
        ConditionOp::Gt => compare(v, operand, |a, b| a > b),
        ConditionOp::Gte => compare(v, operand, |a, b| a >= b),
        ConditionOp::Lt => compare(v, operand, |a, b| a < b),
        ConditionOp::Lte => compare(v, operand, |a, b| a <= b),
        ConditionOp::Contains => text(&|s, o| s.contains(o)),
        ConditionOp::StartsWith => text(&|s, o| s.starts_with(o)),
        ConditionOp::EndsWith => text(&|s, o| s.ends_with(o)),
        // ECMAScript semantics through regress; an invalid pattern matches nothing,
        // as the SDK's try/catch does.
        ConditionOp::Regex => {
            text(&|s, o| regress::Regex::new(o).is_ok_and(|re| re.find(s).is_some()))
        }
        ConditionOp::Exists => !matches!(v, None | Some(Value::Null)),
        ConditionOp::NotExists => matches!(v, None | Some(Value::Null)),
    }
}

/// JavaScript's `String(value)` for the scalars a unit key can be.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Resolves every parameter of the bundle for one context.
///
/// # Errors
///
/// [`ResolveError::Unsupported`] when a policy that would be reached needs the
/// contextual or per-entity scorer.
pub fn resolve(
    bundle: &Bundle,
    ctx: &Map<String, Value>,
    contract: HashContract,
) -> Result<Resolution, ResolveError> {
    let mut assignments: Map<String, Value> = bundle
        .parameters
        .iter()
        .map(|p| (p.key.clone(), p.default.clone()))
        .collect();
    let project_unit = ctx
        .get(&bundle.hashing.unit_key)
        .filter(|v| !v.is_null())
        .map(js_string)
        .unwrap_or_default();
    let mut layers = Vec::with_capacity(bundle.layers.len());
    for layer in &bundle.layers {
        let has_params = bundle.parameters.iter().any(|p| p.layer_id == layer.id);
        let unit = match &layer.unit_key {
            Some(k) => ctx
                .get(k)
                .filter(|v| !v.is_null())
                .map(js_string)
                .unwrap_or_default(),
            None => project_unit.clone(),
        };
        let mut out = LayerResolution {
            layer_id: layer.id.clone(),
            bucket: None,
            policy_id: None,
            policy_key: None,
            allocation_index: None,
            allocation_id: None,
            allocation_name: None,
            allocation_key: None,
            probability: None,
            attribution_only: !has_params,
        };
        // The SDK logs bucket -1 and matches nothing when the layer's unit-key
        // override is blank or the unit key value is missing.
        if layer
            .unit_key
            .as_deref()
            .is_some_and(|k| k.trim().is_empty())
            || unit.is_empty()
        {
            layers.push(out);
            continue;
        }
        let bucket = contract.bucket(&unit, &layer.id, bundle.hashing.bucket_count);
        out.bucket = Some(bucket);
        for policy in &layer.policies {
            if policy.state != PolicyState::Running {
                continue;
            }
            if let Some(span) = policy.eligible_bucket_range {
                if bucket < span.start || bucket > span.end {
                    continue;
                }
            }
            if !policy.conditions.iter().all(|c| evaluate_condition(c, ctx)) {
                continue;
            }
            if policy.contextual_model.is_some() {
                return Err(ResolveError::Unsupported {
                    policy: policy.id.clone(),
                    what: "contextual-model",
                });
            }
            if policy.entity_config.is_some() {
                return Err(ResolveError::Unsupported {
                    policy: policy.id.clone(),
                    what: "per-entity",
                });
            }
            let Some(ai) = policy
                .allocations
                .iter()
                .position(|a| a.bucket_range[0] <= bucket && bucket <= a.bucket_range[1])
            else {
                continue;
            };
            let a = &policy.allocations[ai];
            if policy.kind == PolicyKind::Adaptive {
                let p = f64::from(a.bucket_range[1] - a.bucket_range[0] + 1)
                    / f64::from(bundle.hashing.bucket_count);
                out.probability = (p > 0.0 && p <= 1.0).then_some(p);
            }
            if has_params {
                for (k, v) in &a.overrides {
                    if let Some(slot) = assignments.get_mut(k) {
                        *slot = v.clone();
                    }
                }
            }
            out.policy_id = Some(policy.id.clone());
            out.policy_key = policy.key.clone();
            out.allocation_index = Some(ai);
            out.allocation_id = a.id.clone();
            out.allocation_name = Some(a.name.clone());
            out.allocation_key = a.key.clone();
            break;
        }
        layers.push(out);
    }
    Ok(Resolution {
        assignments,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../shared/reference/traffical-sdk-spec/test-vectors/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(
            &std::fs::read_to_string(&path).expect("spec fixtures beside the project"),
        )
        .unwrap()
    }

    /// Every case of the spec's basic and conditions vectors, under the hash they
    /// were made with.
    #[test]
    fn matches_the_spec_test_vectors_under_fnv1a() {
        for (bundle_file, expected_file) in [
            ("bundle_basic.json", "expected_basic.json"),
            ("bundle_conditions.json", "expected_conditions.json"),
        ] {
            let bundle: Bundle = serde_json::from_value(fixture(bundle_file)).unwrap();
            let expected = fixture(expected_file);
            let cases = expected["testCases"].as_array().unwrap();
            assert!(!cases.is_empty());
            for case in cases {
                let ctx = case["context"].as_object().unwrap();
                let r = resolve(&bundle, ctx, HashContract::Fnv1aV1).unwrap();
                for (k, v) in case["expectedAssignments"].as_object().unwrap() {
                    assert_eq!(r.assignments.get(k), Some(v), "{} {}", case["name"], k);
                }
                if let Some(h) = case.get("expectedHashing").and_then(Value::as_object) {
                    for (layer, b) in h {
                        let got = r
                            .layers
                            .iter()
                            .find(|l| &l.layer_id == layer)
                            .unwrap()
                            .bucket;
                        assert_eq!(
                            got,
                            b["bucket"].as_u64().map(|b| b as u32),
                            "{} {layer}",
                            case["name"]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn conditions_follow_javascript_equality() {
        let ctx: Map<String, Value> =
            serde_json::from_str(r#"{"n": 1.0, "s": "abc", "o": {"x": 5}}"#).unwrap();
        let c = |field: &str, op: ConditionOp, value: Value| Condition {
            field: field.into(),
            op,
            value: Some(value),
            values: None,
        };
        assert!(evaluate_condition(
            &c("n", ConditionOp::Eq, serde_json::json!(1)),
            &ctx
        ));
        assert!(evaluate_condition(
            &c("o.x", ConditionOp::Gt, serde_json::json!(4)),
            &ctx
        ));
        assert!(evaluate_condition(
            &c("s", ConditionOp::Regex, serde_json::json!("^a.c$")),
            &ctx
        ));
        assert!(!evaluate_condition(
            &c("s", ConditionOp::Regex, serde_json::json!("(")),
            &ctx
        ));
        assert!(!evaluate_condition(
            &c("missing", ConditionOp::Eq, Value::Null),
            &ctx
        ));
        assert!(evaluate_condition(
            &c("missing", ConditionOp::NotExists, Value::Null),
            &ctx
        ));
    }
}
