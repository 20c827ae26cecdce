//! Linear statistics carried from one retrain to the next, so a `linear_contextual`
//! policy learns from every exposure it has seen without re-reading old events.
//!
//! `Σ x xᵀ`, `Σ r x` and the row count of each allocation add up, but only over one
//! feature layout, and the layout is learned from the data: a categorical field
//! gains a column for each new value. [`LinearTotals`] therefore keeps the layout
//! with the sums. The next run learns the layout of its new rows, takes the union
//! with the saved one ([`FeatureSpace::union`]: same fields in the same order and of
//! the same kind, categorical values merged and sorted) and places the saved sums in
//! the wider layout ([`LinearTotals::stats_in`]). That is exact: a saved row never
//! held a value it had not seen, so its indicator for any new value is 0 and the
//! missing flags keep their meaning. When the union does not exist (a field changed
//! kind, or the allowed fields or `contextFeatures` changed), the saved sums are
//! dropped and the run refits on every row it is given, saying so in its report.

use serde::{Deserialize, Serialize};

use super::features::{Feature, FeatureKind, FeatureSpace};
use super::linear::{LinearError, LinearStats};

/// One field of a saved layout: numeric, or categorical with its values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedFeature {
    /// The context key.
    pub key: String,
    /// The values of a categorical field, sorted; absent for a numeric field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// A `linear_contextual` policy's statistics as `state.json` keeps them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinearTotals {
    /// The feature layout the sums are over (after the intercept).
    pub features: Vec<SavedFeature>,
    /// Allocation names, in the order of the sums.
    pub allocations: Vec<String>,
    /// Rows per allocation.
    pub counts: Vec<u64>,
    /// Per allocation, the upper triangle of `Σ x xᵀ`, row by row (`d(d+1)/2`
    /// values; the ridge `λI` is not included).
    pub gram: Vec<Vec<f64>>,
    /// Per allocation, `Σ r x`.
    pub b: Vec<Vec<f64>>,
}

impl LinearTotals {
    /// The totals of `stats`, over `space`, for `allocations`.
    #[must_use]
    pub fn capture(space: &FeatureSpace, allocations: &[String], stats: &LinearStats) -> Self {
        let d = stats.dim();
        Self {
            features: saved_features(space),
            allocations: allocations.to_vec(),
            counts: (0..stats.arms()).map(|a| stats.count(a)).collect(),
            gram: (0..stats.arms())
                .map(|a| {
                    let g = stats.gram(a);
                    (0..d)
                        .flat_map(|i| (i..d).map(move |j| (i, j)))
                        .map(|(i, j)| g[[i, j]])
                        .collect()
                })
                .collect(),
            b: (0..stats.arms()).map(|a| stats.b(a).to_vec()).collect(),
        }
    }

    /// The saved layout.
    #[must_use]
    pub fn space(&self) -> FeatureSpace {
        FeatureSpace::new(
            self.features
                .iter()
                .map(|f| Feature {
                    key: f.key.clone(),
                    kind: match &f.values {
                        None => FeatureKind::Numeric,
                        Some(values) => FeatureKind::Categorical {
                            values: values.clone(),
                        },
                    },
                })
                .collect(),
        )
    }

    /// The saved sums placed in `space`, a layout that contains the saved one (as
    /// [`FeatureSpace::union`] makes it), for `allocations` (the same names, in the
    /// same order). `None` when they do not fit.
    ///
    /// # Errors
    ///
    /// [`LinearError::ShapeMismatch`] when the saved arrays do not have the sizes the
    /// saved layout implies (a damaged state file).
    pub fn stats_in(
        &self,
        space: &FeatureSpace,
        allocations: &[String],
    ) -> Result<Option<LinearStats>, LinearError> {
        if self.allocations != allocations {
            return Ok(None);
        }
        let old = self.space();
        let d_old = old.dim();
        let k = allocations.len();
        for (what, expected, got) in [
            ("saved counts", k, self.counts.len()),
            ("saved gram matrices", k, self.gram.len()),
            ("saved b vectors", k, self.b.len()),
        ] {
            if expected != got {
                return Err(LinearError::ShapeMismatch {
                    what,
                    expected,
                    got,
                });
            }
        }
        let new_names = space.names();
        let Some(map) = old
            .names()
            .iter()
            .map(|n| new_names.iter().position(|m| m == n))
            .collect::<Option<Vec<usize>>>()
        else {
            return Ok(None);
        };
        let d = space.dim();
        let mut gram = vec![0.0; k * d * d];
        let mut b = vec![0.0; k * d];
        for a in 0..k {
            let (g, v) = (&self.gram[a], &self.b[a]);
            if g.len() != d_old * (d_old + 1) / 2 || v.len() != d_old {
                return Err(LinearError::ShapeMismatch {
                    what: "saved statistics of an allocation",
                    expected: d_old * (d_old + 1) / 2 + d_old,
                    got: g.len() + v.len(),
                });
            }
            let mut at = 0;
            for i in 0..d_old {
                for j in i..d_old {
                    let (p, q) = (map[i], map[j]);
                    gram[a * d * d + p * d + q] = g[at];
                    gram[a * d * d + q * d + p] = g[at];
                    at += 1;
                }
                b[a * d + map[i]] = v[i];
            }
        }
        Ok(Some(LinearStats::from_parts(
            k,
            d,
            gram,
            b,
            self.counts.clone(),
        )?))
    }
}

/// A feature space as the state saves it: each feature's key, and a categorical one's
/// values in order.
#[must_use]
pub fn saved_features(space: &FeatureSpace) -> Vec<SavedFeature> {
    space
        .features()
        .iter()
        .map(|f| SavedFeature {
            key: f.key.clone(),
            values: match &f.kind {
                FeatureKind::Numeric => None,
                FeatureKind::Categorical { values } => Some(values.clone()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().expect("an object").clone()
    }

    #[test]
    fn saved_sums_in_a_wider_layout_equal_the_sums_recomputed_there() {
        let allowed = vec!["visits".to_owned(), "device".to_owned()];
        let old_rows = [
            ctx(json!({"visits": 3, "device": "ios"})),
            ctx(json!({"visits": 1})),
        ];
        let new_rows = [ctx(json!({"visits": 2, "device": "web"}))];
        let old_space = FeatureSpace::learn(&allowed, &old_rows);
        let new_space = FeatureSpace::learn(&allowed, &new_rows);
        let union = old_space
            .union(&new_space)
            .expect("same fields, same kinds");
        assert_eq!(
            union.names(),
            [
                "intercept",
                "visits",
                "visits:missing",
                "device=ios",
                "device=web",
                "device:missing"
            ]
        );
        let names = vec!["a".to_owned(), "b".to_owned()];
        let encode = |space: &FeatureSpace, rows: &[serde_json::Map<_, _>]| {
            let mut x = ndarray::Array2::zeros((rows.len(), space.dim()));
            for (i, r) in rows.iter().enumerate() {
                space
                    .encode(r, i, x.row_mut(i).as_slice_mut().unwrap())
                    .unwrap();
            }
            x
        };
        let old = LinearStats::from_rows(
            2,
            encode(&old_space, &old_rows).view(),
            &[0, 1],
            &[1.0, 0.5],
        )
        .unwrap();
        let saved = LinearTotals::capture(&old_space, &names, &old);
        let text = serde_json::to_string(&saved).unwrap();
        let back: LinearTotals = serde_json::from_str(&text).unwrap();
        let placed = back.stats_in(&union, &names).unwrap().expect("it fits");
        let direct =
            LinearStats::from_rows(2, encode(&union, &old_rows).view(), &[0, 1], &[1.0, 0.5])
                .unwrap();
        for a in 0..2 {
            assert_eq!(placed.gram(a), direct.gram(a));
            assert_eq!(placed.b(a), direct.b(a));
            assert_eq!(placed.count(a), direct.count(a));
        }
        // Other allocations, or a layout without the saved columns: no fit.
        let swapped = vec!["b".to_owned(), "a".to_owned()];
        assert!(back.stats_in(&union, &swapped).unwrap().is_none());
        assert!(back.stats_in(&new_space, &names).unwrap().is_none());
    }

    #[test]
    fn layouts_whose_fields_differ_in_kind_or_order_have_no_union() {
        let allowed = vec!["visits".to_owned()];
        let numeric = FeatureSpace::learn(&allowed, &[ctx(json!({"visits": 3}))]);
        let text = FeatureSpace::learn(&allowed, &[ctx(json!({"visits": "many"}))]);
        assert!(numeric.union(&text).is_none());
        let other = FeatureSpace::learn(&["device".to_owned()], &[ctx(json!({"device": "ios"}))]);
        assert!(numeric.union(&other).is_none());
        assert_eq!(numeric.union(&numeric), Some(numeric.clone()));
    }

    #[test]
    fn a_damaged_state_is_an_error_not_a_wrong_model() {
        let space = FeatureSpace::learn(&["visits".to_owned()], &[ctx(json!({"visits": 3}))]);
        let names = vec!["a".to_owned()];
        let mut saved = LinearTotals::capture(&space, &names, &LinearStats::zeros(1, space.dim()));
        saved.gram[0].pop();
        assert!(saved.stats_in(&space, &names).is_err());
    }
}
