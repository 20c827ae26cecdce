//! A `linear_contextual` policy from its rows: features over the policy's
//! `contextLogging.allowedFields`, statistics, LinUCB (default) or linear Thompson
//! sampling (when the spec sets `v`), and the bundle's `contextualModel`.
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
use crate::config::OptimizationSpec;
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
    let space = FeatureSpace::learn(allowed, &parsed);
    let texts: Vec<Option<&str>> = keep.iter().map(|&i| rows.contexts[i].as_deref()).collect();
    let x = space.design(&texts)?;
    let rewards: Vec<f64> = keep.iter().map(|&i| rows.rewards[i]).collect();
    let stats = LinearStats::from_rows(allocations.len(), x.view(), &arms, &rewards)?;
    let lambda = spec.lambda.unwrap_or(1.0);
    let thetas: Vec<ndarray::Array1<f64>> = match spec.v {
        Some(v) => LinTsParams::default()
            .v(v)
            .lambda(lambda)
            .check()?
            .fit(&stats)?
            .arms()
            .iter()
            .map(|a| a.theta().to_owned())
            .collect(),
        None => LinUcbParams::default()
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
