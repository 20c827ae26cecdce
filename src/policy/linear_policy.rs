//! A `linear_contextual` policy from its rows: features over the policy's
//! `contextLogging.allowedFields` (or the spec's `contextFeatures`, which must be
//! among them), statistics, LinUCB (default), linear Thompson sampling (`method:
//! lints`, or `v` set) or ridge, and the bundle's `contextualModel`.
//!
//! Published: the ridge posterior mean `θ̂` of each allocation (see
//! [`super::contextual`]); `gamma`, `actionProbabilityFloor` and
//! `defaultAllocationScore` are kept from the policy's current model when it has one,
//! else [`ContextualSettings::default`].

use ndarray::ArrayView1;
use serde_json::Value;

use super::contextual::{ContextualModel, ContextualSettings};
use super::features::{parse_context, FeatureSpace};
use super::linear::{LinearError, LinearStats};
use super::linear_fit::{LinTsParams, LinUcbParams};
use crate::config::{LinearMethod, OptimizationSpec};
use crate::reward::ContextualRows;

/// A fitted `linear_contextual` policy.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearPolicyFit {
    /// The model to publish.
    pub model: ContextualModel,
    /// Rows per allocation, in the given allocation order.
    pub counts: Vec<u64>,
    /// Rows naming allocations not in the list (left out).
    pub unknown_rows: u64,
}

/// Fits a `linear_contextual` policy.
///
/// # Errors
///
/// [`LinearError`] for a bad context, a non-finite reward or feature (naming the row),
/// out-of-domain parameters, or an allocation's `A` that cannot be factorised.
pub fn fit_linear_policy(
    spec: &OptimizationSpec,
    allowed: &[String],
    allocations: &[String],
    rows: &ContextualRows,
    current: Option<&Value>,
) -> Result<LinearPolicyFit, LinearError> {
    let mut keep = Vec::new();
    let mut arms = Vec::new();
    for (i, name) in rows.allocations.iter().enumerate() {
        if let Some(a) = allocations.iter().position(|n| n == name) {
            keep.push(i);
            arms.push(a as u32);
        }
    }
    let parsed = keep
        .iter()
        .map(|&i| parse_context(rows.contexts[i].as_deref(), i))
        .collect::<Result<Vec<_>, _>>()?;
    let space = match &spec.context_features {
        None => FeatureSpace::learn(allowed, &parsed),
        Some(declared) => {
            if let Some((_, _, key)) = declared
                .keys()
                .into_iter()
                .find(|(_, _, k)| !allowed.iter().any(|a| a == k))
            {
                return Err(LinearError::InvalidParameter {
                    name: "contextFeatures",
                    reason: format!(
                        "\"{key}\" is not in the policy's contextLogging.allowedFields"
                    ),
                });
            }
            FeatureSpace::declared(&declared.numeric, &declared.categorical, &parsed)
        }
    };
    let texts: Vec<Option<&str>> = keep.iter().map(|&i| rows.contexts[i].as_deref()).collect();
    let x = space.design(&texts)?;
    let rewards: Vec<f64> = keep.iter().map(|&i| rows.rewards[i]).collect();
    let stats = LinearStats::from_rows(allocations.len(), x.view(), &arms, &rewards)?;
    let lambda = spec.lambda.unwrap_or(1.0);
    let thetas: Vec<ndarray::Array1<f64>> = match spec.linear_method() {
        LinearMethod::Lints => LinTsParams::default()
            .v(spec.v.unwrap_or(1.0))
            .lambda(lambda)
            .check()?
            .fit(&stats)?
            .arms()
            .iter()
            .map(|a| a.theta().to_owned())
            .collect(),
        // Ridge publishes the same posterior mean; LinUCB's fit with its width unused.
        LinearMethod::Linucb | LinearMethod::Ridge => LinUcbParams::default()
            .alpha(spec.alpha.unwrap_or(1.0))
            .lambda(lambda)
            .check()?
            .fit(&stats)?
            .arms()
            .iter()
            .map(|a| a.theta().to_owned())
            .collect(),
    };
    let settings = current
        .and_then(|v| serde_json::from_value::<ContextualSettings>(v.clone()).ok())
        .unwrap_or_default();
    let views: Vec<ArrayView1<'_, f64>> = thetas.iter().map(|t| t.view()).collect();
    let model = ContextualModel::from_coefficients(&space, allocations, &views, settings)?;
    Ok(LinearPolicyFit {
        model,
        counts: (0..allocations.len()).map(|a| stats.count(a)).collect(),
        unknown_rows: (rows.allocations.len() - keep.len()) as u64,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(features: Value) -> OptimizationSpec {
        serde_json::from_value(json!({
            "algorithm": "linear_contextual",
            "goal": {"event": "signup"},
            "contextFeatures": features,
        }))
        .expect("a valid spec")
    }

    fn rows() -> ContextualRows {
        ContextualRows {
            allocations: vec!["a".into(), "b".into(), "a".into()],
            rewards: vec![1.0, 0.0, 0.5],
            contexts: vec![
                Some(r#"{"tier": 2, "score": 0.5, "device": "ios"}"#.into()),
                Some(r#"{"tier": 3, "score": 1.5}"#.into()),
                None,
            ],
        }
    }

    #[test]
    fn context_features_choose_the_keys_and_their_kinds() {
        let allowed: Vec<String> = ["tier", "score", "device"].map(String::from).to_vec();
        let names = vec!["a".to_owned(), "b".to_owned()];
        let fit = fit_linear_policy(
            &spec(json!({"numeric": ["score"], "categorical": ["tier"]})),
            &allowed,
            &names,
            &rows(),
            None,
        )
        .unwrap();
        let a = &fit.model.coefficients["a"];
        // `tier` holds numbers but is declared categorical; `device` is not used.
        assert_eq!(
            a.numeric.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
            ["score"]
        );
        assert_eq!(a.categorical.len(), 1);
        assert_eq!(a.categorical[0].key, "tier");
        assert_eq!(
            a.categorical[0].values.keys().collect::<Vec<_>>(),
            ["2", "3"]
        );
        // Without contextFeatures, every allowed field, kinds learned from the data.
        let all = fit_linear_policy(&spec(Value::Null), &allowed, &names, &rows(), None).unwrap();
        assert_eq!(all.model.coefficients["a"].numeric.len(), 2);
        let e = fit_linear_policy(
            &spec(json!({"numeric": ["age"]})),
            &allowed,
            &names,
            &rows(),
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"age\" is not in the policy's contextLogging.allowedFields"),
            "{e}"
        );
    }
}
