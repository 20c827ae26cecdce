//! What `fit` produces: `model.json` and the summary printed after a fit.
//!
//! `model.json` (camelCase):
//!
//! ```text
//! { "algorithm": "lints", "source": "rows.csv", "rows": 1000,
//!   "arms": ["a", "b"],                      // sorted arm labels: the arm order below
//!   "features": ["intercept", "x1", "x2"],   // linear only: the coefficient order
//!   "params": { ... },                       // FitParams as used
//!   "model": { ... }                         // without --entity
//!   "entities": { "<entity>": { ... } } }    // with --entity, sorted by entity
//! ```
//!
//! Each model: `rows`, and per arm `{name, n, sum, sumSq, mean}` plus, by algorithm,
//! `posterior` (`{kind: "beta", alpha, beta}` or `{kind: "normalInverseGamma", mean,
//! kappa, alpha, beta}`), `probabilityBest`, `ucb` (the UCB1 index) and `weight` (the
//! allocation weight before floor and shift cap). Linear models add `linear`: per arm
//! (same order) `theta` (the ridge posterior mean `A⁻¹b`) and `cholesky`, the rows of
//! the lower factor `L` of `A = λI + Σxxᵀ` (row `i` has `i + 1` entries): what an exact
//! scorer needs, `θᵀx + α‖L⁻¹x‖` for LinUCB and `θ + v L⁻ᵀz` draws for LinTS.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::{FitAlgorithm, FitParams};

/// An arm's posterior.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Posterior {
    /// `Beta(α, β)` of `thompson_bernoulli`.
    Beta {
        /// Prior plus successes.
        alpha: f64,
        /// Prior plus failures.
        beta: f64,
    },
    /// `NIG(μ, κ, α, β)` of `thompson_gaussian`.
    NormalInverseGamma {
        /// Location of the mean.
        mean: f64,
        /// Pseudo-observations behind the mean.
        kappa: f64,
        /// Shape of the variance's Inverse-Gamma.
        alpha: f64,
        /// Scale of the variance's Inverse-Gamma.
        beta: f64,
    },
}

/// One arm of a fitted model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmModel {
    /// The arm's label.
    pub name: String,
    /// Rows.
    pub n: u64,
    /// Sum of rewards.
    pub sum: f64,
    /// Sum of squared rewards.
    pub sum_sq: f64,
    /// Mean reward (absent without rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Posterior (Thompson algorithms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posterior: Option<Posterior>,
    /// UCB1 index (`ucb1`; `null` in JSON for an arm without rows, whose index is +∞).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ucb: Option<f64>,
    /// Posterior probability of being the best (Thompson algorithms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_best: Option<f64>,
    /// Allocation weight before floor and shift cap (multi-armed algorithms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// One arm's linear model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinearArmModel {
    /// Posterior mean of the coefficients, in the order of `features`.
    pub theta: Vec<f64>,
    /// Lower Cholesky factor of `A`, row by row (row `i` has `i + 1` entries).
    pub cholesky: Vec<Vec<f64>>,
}

/// A model fitted on one group of rows (the whole table or one entity).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FittedModel {
    /// Rows behind it.
    pub rows: u64,
    /// Per arm, in the table's sorted arm order.
    pub arms: Vec<ArmModel>,
    /// Per arm, for `linucb` and `lints`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linear: Vec<LinearArmModel>,
}

/// The result of a fit: what `model.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FittedTable {
    /// The algorithm.
    pub algorithm: FitAlgorithm,
    /// The table's file.
    pub source: String,
    /// Rows of the table.
    pub rows: u64,
    /// Arm labels, sorted.
    pub arms: Vec<String>,
    /// Coefficient names of linear models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// The parameters used.
    pub params: FitParams,
    /// The model without an entity column.
    #[serde(rename = "model", skip_serializing_if = "Option::is_none")]
    pub global: Option<FittedModel>,
    /// One model per entity, with an entity column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entities: BTreeMap<String, FittedModel>,
}

/// Entities listed one by one in the summary; past that, a count.
const SUMMARY_ENTITIES: usize = 5;

fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_infinite() => "inf".into(),
        Some(v) => format!("{v:.4}"),
        None => "-".into(),
    }
}

impl FittedTable {
    /// A readable summary: the model without entities, or the first few entities.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} on {}: {} rows, {} arms{}",
            self.algorithm,
            self.source,
            self.rows,
            self.arms.len(),
            if self.entities.is_empty() {
                String::new()
            } else {
                format!(", {} entities", self.entities.len())
            }
        );
        if let Some(m) = &self.global {
            self.write_model(&mut out, m);
        }
        for (e, m) in self.entities.iter().take(SUMMARY_ENTITIES) {
            let _ = writeln!(out, "entity {e} ({} rows):", m.rows);
            self.write_model(&mut out, m);
        }
        if self.entities.len() > SUMMARY_ENTITIES {
            let _ = writeln!(
                out,
                "... and {} more entities (see the model file)",
                self.entities.len() - SUMMARY_ENTITIES
            );
        }
        out
    }

    fn write_model(&self, out: &mut String, m: &FittedModel) {
        if m.linear.is_empty() {
            let _ = writeln!(
                out,
                "  {:<16} {:>9} {:>10} {:>10} {:>10} {:>8}",
                "arm", "n", "mean", "P(best)", "ucb", "weight"
            );
            for a in &m.arms {
                let _ = writeln!(
                    out,
                    "  {:<16} {:>9} {:>10} {:>10} {:>10} {:>8}",
                    a.name,
                    a.n,
                    num(a.mean),
                    num(a.probability_best),
                    num(a.ucb),
                    num(a.weight)
                );
            }
        } else {
            let _ = writeln!(out, "  coefficients ({}):", self.features.join(", "));
            for (a, l) in m.arms.iter().zip(&m.linear) {
                let theta: Vec<String> = l.theta.iter().map(|t| format!("{t:.4}")).collect();
                let _ = writeln!(out, "  {:<16} n={:<9} [{}]", a.name, a.n, theta.join(", "));
            }
        }
    }
}
