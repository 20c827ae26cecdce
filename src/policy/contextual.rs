//! Export of a linear model to the bundle's `contextualModel`.
//!
//! The SDK scores an allocation as `intercept + Σ numeric (coef · value | missing) +
//! Σ categorical (values[label] | missing)`, then takes a softmax with temperature
//! `gamma` and applies `actionProbabilityFloor`. Over a [`FeatureSpace`] that score is
//! exactly `θᵀx`, so the export is a relabelling of `θ`: position 0 is the intercept,
//! each numeric field's pair is `(coef, missing)`, each categorical field's block is its
//! `values` then `missing`.
//!
//! **What is published:** the posterior mean `θ̂ = A⁻¹b` of each allocation, for LinUCB
//! and linear Thompson sampling alike. The SDK's softmax over mean scores does the
//! exploring that LinUCB's bonus or a LinTS draw would do; neither the bonus
//! (`‖L⁻¹x‖` is not linear in `x`) nor per-request draws can be expressed in the
//! bundle's linear form.

use indexmap::IndexMap;
use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::features::{category, FeatureKind, FeatureSpace};
use super::linear::LinearError;

/// The scoring settings of a `contextualModel` (everything but the coefficients).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextualSettings {
    /// Softmax temperature (≥ 0). Default 0.1.
    pub gamma: f64,
    /// Minimum selection probability, in [0, 1]. Default 0.05.
    pub action_probability_floor: f64,
    /// Score of allocations without coefficients. Default 0.
    pub default_allocation_score: f64,
}

impl Default for ContextualSettings {
    fn default() -> Self {
        Self {
            gamma: 0.1,
            action_probability_floor: 0.05,
            default_allocation_score: 0.0,
        }
    }
}

/// A numeric coefficient: `coef · value`, or `missing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumericCoefficient {
    /// Context key.
    pub key: String,
    /// Coefficient of the value.
    pub coef: f64,
    /// Score when the value is absent or not a number.
    pub missing: f64,
}

/// A categorical coefficient: `values[label]`, or `missing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoricalCoefficient {
    /// Context key.
    pub key: String,
    /// Score per category label.
    pub values: IndexMap<String, f64>,
    /// Score when the value is absent or unseen.
    pub missing: f64,
}

/// One allocation's coefficients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationCoefficients {
    /// Bias.
    pub intercept: f64,
    /// Numeric fields.
    pub numeric: Vec<NumericCoefficient>,
    /// Categorical fields.
    pub categorical: Vec<CategoricalCoefficient>,
}

impl AllocationCoefficients {
    /// The score the reference SDK computes for `ctx` (for checks and replay).
    #[must_use]
    pub fn score(&self, ctx: &Map<String, Value>) -> f64 {
        let mut s = self.intercept;
        for n in &self.numeric {
            s += match ctx.get(&n.key) {
                Some(Value::Number(v)) => n.coef * v.as_f64().unwrap_or(0.0),
                _ => n.missing,
            };
        }
        for c in &self.categorical {
            let label = ctx.get(&c.key).and_then(category);
            s += label
                .and_then(|l| c.values.get(&l).copied())
                .unwrap_or(c.missing);
        }
        s
    }
}

/// The bundle's `contextualModel`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextualModel {
    /// Scoring settings.
    #[serde(flatten)]
    pub settings: ContextualSettings,
    /// Coefficients per allocation name.
    pub coefficients: IndexMap<String, AllocationCoefficients>,
    /// What an exact LinUCB / LinTS scorer needs beyond the coefficients. SDKs do not
    /// read it (the bundle schema allows extra fields), so their results are those of
    /// the coefficients alone.
    #[serde(
        rename = "x-banditEngine",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exact: Option<ExactScorer>,
}

/// The posterior of a `linear_contextual` fit, for a scorer that wants the exact
/// LinUCB score `θ̂ᵀx + α‖L⁻¹x‖` or a LinTS draw `θ̂ + v L⁻ᵀz` instead of the
/// published mean `θ̂ᵀx`. `A = λI + Σ x xᵀ = L Lᵀ` per allocation, over the columns
/// named in `features` (the coefficients' layout flattened: `intercept`, a numeric
/// `key` and `key:missing`, a categorical `key=value` per value and `key:missing`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactScorer {
    /// `linucb`, `lints` or `ridge`.
    pub method: String,
    /// LinUCB's width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// LinTS's scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<f64>,
    /// Ridge penalty.
    pub lambda: f64,
    /// Column names of `x`.
    pub features: Vec<String>,
    /// Per allocation name.
    pub allocations: IndexMap<String, ExactArm>,
}

/// One allocation's posterior.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactArm {
    /// Rows behind the fit.
    pub rows: u64,
    /// `θ̂ = A⁻¹ b`, in `features` order.
    pub theta: Vec<f64>,
    /// The lower Cholesky factor of `A`, row by row (row `i` holds `i + 1` entries).
    pub cholesky_lower: Vec<Vec<f64>>,
}

impl ContextualModel {
    /// Relabels each allocation's coefficient vector (`thetas[i]` for `names[i]`, in
    /// the layout of `space`) as the bundle's coefficients.
    ///
    /// # Errors
    ///
    /// [`LinearError::ShapeMismatch`] if the counts or lengths disagree,
    /// [`LinearError::NonFinite`] for a coefficient that is not finite.
    pub fn from_coefficients(
        space: &FeatureSpace,
        names: &[String],
        thetas: &[ArrayView1<'_, f64>],
        settings: ContextualSettings,
    ) -> Result<Self, LinearError> {
        if names.len() != thetas.len() {
            return Err(LinearError::ShapeMismatch {
                what: "coefficient vectors per allocation",
                expected: names.len(),
                got: thetas.len(),
            });
        }
        let mut coefficients = IndexMap::new();
        for (arm, (name, theta)) in names.iter().zip(thetas).enumerate() {
            if theta.len() != space.dim() {
                return Err(LinearError::ShapeMismatch {
                    what: "coefficients per allocation",
                    expected: space.dim(),
                    got: theta.len(),
                });
            }
            if let Some(j) = theta.iter().position(|v| !v.is_finite()) {
                return Err(LinearError::NonFinite {
                    input: format!("coefficient {j} of allocation {name}"),
                    row: arm,
                });
            }
            let mut out = AllocationCoefficients {
                intercept: theta[0],
                numeric: Vec::new(),
                categorical: Vec::new(),
            };
            let mut at = 1;
            for f in space.features() {
                match &f.kind {
                    FeatureKind::Numeric => out.numeric.push(NumericCoefficient {
                        key: f.key.clone(),
                        coef: theta[at],
                        missing: theta[at + 1],
                    }),
                    FeatureKind::Categorical { values } => {
                        out.categorical.push(CategoricalCoefficient {
                            key: f.key.clone(),
                            values: values
                                .iter()
                                .enumerate()
                                .map(|(i, v)| (v.clone(), theta[at + i]))
                                .collect(),
                            missing: theta[at + values.len()],
                        });
                    }
                }
                at += f.width();
            }
            coefficients.insert(name.clone(), out);
        }
        Ok(Self {
            settings,
            coefficients,
            exact: None,
        })
    }

    /// As JSON, for the bundle.
    #[must_use]
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a contextual model with finite numbers serialises")
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use ndarray::array;
    use serde_json::json;

    use super::*;

    #[test]
    fn exported_scores_equal_the_linear_scores() {
        let rows: Vec<Map<String, Value>> = [
            json!({"age": 30, "device": "ios"}),
            json!({"device": "web"}),
            json!({"age": 12.5, "device": "android"}),
            json!({}),
        ]
        .into_iter()
        .map(|v| v.as_object().cloned().unwrap_or_default())
        .collect();
        let space = FeatureSpace::learn(&["age".into(), "device".into()], &rows[..2]);
        let theta = array![0.5, 0.01, -0.2, 0.3, -0.1, 0.07];
        let m = ContextualModel::from_coefficients(
            &space,
            &["a".into()],
            &[theta.view()],
            ContextualSettings::default(),
        )
        .unwrap();
        let coef = &m.coefficients["a"];
        for (i, ctx) in rows.iter().enumerate() {
            let mut x = vec![0.0; space.dim()];
            space.encode(ctx, i, &mut x).unwrap();
            let linear: f64 = x.iter().zip(&theta).map(|(a, b)| a * b).sum();
            assert_abs_diff_eq!(coef.score(ctx), linear, epsilon = 1e-12);
        }
        let v = m.to_value();
        assert_eq!(v["gamma"], json!(0.1));
        assert_eq!(v["coefficients"]["a"]["numeric"][0]["key"], json!("age"));
        assert_eq!(
            v["coefficients"]["a"]["categorical"][0]["values"]["web"],
            json!(-0.1)
        );
    }
}
