//! A `linear_contextual` policy from its rows: features over the policy's
//! `contextLogging.allowedFields` (or the declared `contextFeatures`, which must be
//! among them), statistics, LinUCB (default), linear Thompson sampling (`method:
//! lints`, or `v` set) or ridge, and the bundle's `contextualModel`.
//!
//! Published: the ridge posterior mean `θ̂` of each allocation (see
//! [`super::contextual`]); `gamma`, `actionProbabilityFloor` and
//! `defaultAllocationScore` are kept from the policy's current model when it has one,
//! else [`ContextualSettings::default`].

use ndarray::ArrayView1;
use serde_json::{Map, Value};

use super::contextual::{ContextualModel, ContextualSettings, ExactArm, ExactScorer};
use super::features::{parse_context, FeatureSpace};
use super::linear::{LinearError, LinearStats};
use super::linear_fit::{LinTsParams, LinUcbParams, LinearArm};
use super::linear_state::LinearTotals;
use super::CheckedParams;
use crate::algorithm::{AlgorithmParams, LinearMethod};
use crate::reward::ContextualRows;

/// The context keys a policy declares as features (the config's `contextFeatures`):
/// numeric keys, then categorical keys. Each must be among the allowed fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeclaredFeatures<'a> {
    /// Keys used as numbers.
    pub numeric: &'a [String],
    /// Keys used as categories.
    pub categorical: &'a [String],
}

/// A fitted `linear_contextual` policy.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearPolicyFit {
    /// The model to publish.
    pub model: ContextualModel,
    /// Rows per allocation, in the given allocation order.
    pub counts: Vec<u64>,
    /// Of `counts`, the rows of this run (the rest came from `previous`).
    pub new_counts: Vec<u64>,
    /// Rows naming allocations not in the list (left out).
    pub unknown_rows: u64,
    /// The statistics to carry to the next run (saved and new rows together).
    pub totals: LinearTotals,
    /// Set when saved statistics were given but could not be used, with why: the
    /// caller should refit on every row (see [`super::linear_state`]).
    pub previous_dropped: Option<String>,
}

/// Fits a `linear_contextual` policy with `params` on `rows` plus the statistics saved
/// by an earlier run (`previous`, see [`super::linear_state`]). The features are
/// `declared`, or learned over `allowed` (the policy's `contextLogging.allowedFields`).
///
/// # Errors
///
/// [`LinearError`] for parameters that are not `linear_contextual`, a declared key
/// that is not allowed, a bad context, a non-finite reward or feature (naming the
/// row), or an allocation's `A` that cannot be factorised.
pub fn fit_linear_policy(
    params: &CheckedParams,
    declared: Option<DeclaredFeatures<'_>>,
    allowed: &[String],
    allocations: &[String],
    rows: &ContextualRows,
    current: Option<&Value>,
    previous: Option<&LinearTotals>,
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
    let space = feature_space(declared, allowed, &parsed)?;
    // A run without rows has seen no value: every learned field would default to
    // numeric, and a saved categorical one would not join. The saved layout (of the
    // same fields) stands. Retraining from warehouse statistics runs so: no rows, the
    // sums in `previous`.
    let space = match previous {
        Some(p)
            if parsed.is_empty()
                && declared.is_none()
                && p.features.iter().map(|f| &f.key).eq(allowed.iter()) =>
        {
            p.space()
        }
        _ => space,
    };
    let (space, saved, previous_dropped) = join_previous(space, previous, allocations)?;
    let texts: Vec<Option<&str>> = keep.iter().map(|&i| rows.contexts[i].as_deref()).collect();
    let x = space.design(&texts)?;
    let rewards: Vec<f64> = keep.iter().map(|&i| rows.rewards[i]).collect();
    let new = LinearStats::from_rows(allocations.len(), x.view(), &arms, &rewards)?;
    let new_counts: Vec<u64> = (0..allocations.len()).map(|a| new.count(a)).collect();
    let stats = match saved {
        Some(mut s) => {
            s.add(&new)?;
            s
        }
        None => new,
    };
    let fitted = fit_arms(params, &stats)?;
    let thetas: Vec<ndarray::Array1<f64>> =
        fitted.arms.iter().map(|a| a.theta().to_owned()).collect();
    let settings = current
        .and_then(|v| serde_json::from_value::<ContextualSettings>(v.clone()).ok())
        .unwrap_or_default();
    let views: Vec<ArrayView1<'_, f64>> = thetas.iter().map(|t| t.view()).collect();
    let mut model = ContextualModel::from_coefficients(&space, allocations, &views, settings)?;
    model.exact = Some(fitted.exact_scorer(&space, allocations));
    Ok(LinearPolicyFit {
        model,
        counts: (0..allocations.len()).map(|a| stats.count(a)).collect(),
        new_counts,
        unknown_rows: (rows.allocations.len() - keep.len()) as u64,
        totals: LinearTotals::capture(&space, allocations, &stats),
        previous_dropped,
    })
}

/// The feature layout of this run's rows: learned over the allowed fields, or the
/// declared keys, which must be among them.
fn feature_space(
    declared: Option<DeclaredFeatures<'_>>,
    allowed: &[String],
    parsed: &[Map<String, Value>],
) -> Result<FeatureSpace, LinearError> {
    match declared {
        None => Ok(FeatureSpace::learn(allowed, parsed)),
        Some(declared) => {
            if let Some(key) = declared
                .numeric
                .iter()
                .chain(declared.categorical)
                .find(|k| !allowed.contains(k))
            {
                return Err(LinearError::FeatureNotLogged { key: key.clone() });
            }
            Ok(FeatureSpace::declared(
                declared.numeric,
                declared.categorical,
                parsed,
            ))
        }
    }
}

/// The saved layout joined with this run's, and the saved sums placed in it. When
/// they cannot be joined the saved sums are dropped, with why (the caller refits on
/// every row).
fn join_previous(
    space: FeatureSpace,
    previous: Option<&LinearTotals>,
    allocations: &[String],
) -> Result<(FeatureSpace, Option<LinearStats>, Option<String>), LinearError> {
    Ok(match previous {
        None => (space, None, None),
        Some(p) => match p.space().union(&space) {
            None => (
                space,
                None,
                Some("the saved feature layout differs in its fields or their kinds".to_owned()),
            ),
            Some(u) => match p.stats_in(&u, allocations)? {
                Some(s) => (u, Some(s), None),
                None => (
                    space,
                    None,
                    Some(format!(
                        "the saved statistics are for allocations {:?}",
                        p.allocations
                    )),
                ),
            },
        },
    })
}

/// The fitted arms with the method and parameters they were fitted with.
struct FittedArms {
    method: LinearMethod,
    arms: Vec<LinearArm>,
    /// LinUCB's width (`None` for LinTS and ridge).
    alpha: Option<f64>,
    /// LinTS's scale (`None` otherwise).
    v: Option<f64>,
    lambda: f64,
}

/// Fits every allocation of `stats` with the linear method of `params` (ridge fits as
/// LinUCB: the same posterior mean, the width unused): the arms a `linear_contextual`
/// policy publishes, and what `fit` reports for `linucb` and `lints`.
///
/// # Errors
///
/// [`LinearError`] for parameters that are not `linear_contextual`, or an
/// allocation's `A` that cannot be factorised.
pub fn fit_linear_arms(
    params: &CheckedParams,
    stats: &LinearStats,
) -> Result<Vec<LinearArm>, LinearError> {
    Ok(fit_arms(params, stats)?.arms)
}

/// Fits every allocation with the method of `params`: LinTS, or LinUCB (ridge
/// publishes the same posterior mean, LinUCB's fit with its width unused).
fn fit_arms(params: &CheckedParams, stats: &LinearStats) -> Result<FittedArms, LinearError> {
    let AlgorithmParams::LinearContextual {
        method,
        alpha,
        v,
        lambda,
    } = *params.params()
    else {
        return Err(super::params::not_linear(params.params()));
    };
    let (arms, alpha, v) = match method {
        LinearMethod::Lints => {
            let m = LinTsParams::default()
                .v(v)
                .lambda(lambda)
                .check()?
                .fit(stats)?;
            (m.arms().to_vec(), None, Some(v))
        }
        LinearMethod::Linucb | LinearMethod::Ridge => {
            let m = LinUcbParams::default()
                .alpha(alpha)
                .lambda(lambda)
                .check()?
                .fit(stats)?;
            let alpha = (method == LinearMethod::Linucb).then_some(alpha);
            (m.arms().to_vec(), alpha, None)
        }
    };
    Ok(FittedArms {
        method,
        arms,
        alpha,
        v,
        lambda,
    })
}

impl FittedArms {
    /// What an SDK needs to score exactly as the engine fitted: per allocation its
    /// rows, `θ̂` and the lower Cholesky factor of `A`.
    fn exact_scorer(&self, space: &FeatureSpace, allocations: &[String]) -> ExactScorer {
        ExactScorer {
            method: self.method.as_str().to_owned(),
            alpha: self.alpha,
            v: self.v,
            lambda: self.lambda,
            features: space.names(),
            allocations: allocations
                .iter()
                .zip(&self.arms)
                .map(|(name, arm)| {
                    let l = arm.cholesky();
                    let arm_out = ExactArm {
                        rows: arm.rows(),
                        theta: arm.theta().to_vec(),
                        cholesky_lower: (0..l.nrows())
                            .map(|i| (0..=i).map(|j| l[[i, j]]).collect())
                            .collect(),
                    };
                    (name.clone(), arm_out)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;

    /// LinUCB with its defaults.
    fn linucb() -> CheckedParams {
        AlgorithmParams::defaults(Algorithm::LinearContextual)
            .check()
            .unwrap()
    }

    fn strings(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
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
        let (numeric, categorical) = (strings(&["score"]), strings(&["tier"]));
        let declared = DeclaredFeatures {
            numeric: &numeric,
            categorical: &categorical,
        };
        let fit = fit_linear_policy(
            &linucb(),
            Some(declared),
            &allowed,
            &names,
            &rows(),
            None,
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
        let all =
            fit_linear_policy(&linucb(), None, &allowed, &names, &rows(), None, None).unwrap();
        assert_eq!(all.model.coefficients["a"].numeric.len(), 2);
        let age = strings(&["age"]);
        let undeclared = DeclaredFeatures {
            numeric: &age,
            categorical: &[],
        };
        let e = fit_linear_policy(
            &linucb(),
            Some(undeclared),
            &allowed,
            &names,
            &rows(),
            None,
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"age\" is not in the policy's contextLogging.allowedFields"),
            "{e}"
        );
    }

    #[test]
    // Matrix indices read more plainly than iterator chains here.
    #[allow(clippy::needless_range_loop)]
    fn the_exact_scorer_block_holds_the_ridge_posterior_of_each_allocation() {
        let allowed = vec!["tier".to_owned(), "score".to_owned(), "device".to_owned()];
        let names = vec!["a".to_owned(), "b".to_owned()];
        let params = AlgorithmParams::LinearContextual {
            method: LinearMethod::Linucb,
            alpha: 0.7,
            v: 1.0,
            lambda: 0.5,
        };
        let s = params.check().unwrap();
        let fit = fit_linear_policy(&s, None, &allowed, &names, &rows(), None, None).unwrap();
        let exact = fit.model.exact.as_ref().expect("published with the model");
        assert_eq!(
            (exact.method.as_str(), exact.alpha, exact.v),
            ("linucb", Some(0.7), None)
        );
        let d = exact.features.len();
        for (k, name) in names.iter().enumerate() {
            let arm = &exact.allocations[name];
            let (g, b) = (&fit.totals.gram[k], &fit.totals.b[k]);
            // A = λI + Σxxᵀ from the saved upper triangle.
            let mut a = vec![vec![0.0; d]; d];
            let mut at = 0;
            for i in 0..d {
                for j in i..d {
                    a[i][j] = g[at];
                    a[j][i] = g[at];
                    at += 1;
                }
                a[i][i] += 0.5;
            }
            let l = &arm.cholesky_lower;
            for i in 0..d {
                assert_eq!(l[i].len(), i + 1);
                for j in 0..d {
                    let llt: f64 = (0..=i.min(j)).map(|m| l[i][m] * l[j][m]).sum();
                    assert!((llt - a[i][j]).abs() < 1e-12, "A[{i}][{j}]");
                }
                let a_theta: f64 = (0..d).map(|j| a[i][j] * arm.theta[j]).sum();
                assert!((a_theta - b[i]).abs() < 1e-12, "row {i} of A θ = b");
            }
            assert_eq!(arm.rows, fit.counts[k]);
            assert_eq!(arm.theta[0], fit.model.coefficients[name].intercept);
        }
        let text = serde_json::to_string(&fit.model.to_value()).unwrap();
        assert!(text.contains("\"x-banditEngine\""), "{text}");
    }
}
