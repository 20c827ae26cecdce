//! Feature vectors from exposure contexts, restricted to an allowlist.
//!
//! The layout matches what the bundle's `contextualModel` can express, so a linear
//! model over these features exports exactly (see [`super::contextual`]):
//!
//! * position 0: the intercept (always 1);
//! * per numeric field, in allowlist order: the value when the context holds a JSON
//!   number (else 0), then a missing indicator (1 when the field is absent, `null` or
//!   not a number), as the reference SDK scores `coef · value` only for numbers and
//!   `missing` otherwise;
//! * per categorical field: one indicator per value seen in training (sorted), then a
//!   missing indicator for absent, `null` or unseen values, as the SDK adds
//!   `values[String(value)]` or `missing`.
//!
//! A field is numeric when every non-null value seen for it is a number, categorical
//! otherwise. Category labels are the value's text as JavaScript's `String` gives it
//! for strings, booleans and numbers (`3`, not `3.0`); objects and arrays count as
//! missing.

use std::collections::BTreeSet;

use ndarray::Array2;
use rayon::prelude::*;
use serde_json::{Map, Value};

use super::linear::LinearError;

/// How one allowed context field becomes features.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeatureKind {
    /// The number itself, plus a missing indicator.
    Numeric,
    /// One indicator per value, plus a missing indicator.
    Categorical {
        /// The values seen in training, sorted.
        values: Vec<String>,
    },
}

/// One allowed context field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// The context key.
    pub key: String,
    /// How it is encoded.
    pub kind: FeatureKind,
}

impl Feature {
    /// Columns this field takes.
    #[must_use]
    pub fn width(&self) -> usize {
        match &self.kind {
            FeatureKind::Numeric => 2,
            FeatureKind::Categorical { values } => values.len() + 1,
        }
    }
}

/// The features of a linear policy: an intercept and the allowed fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureSpace {
    features: Vec<Feature>,
}

/// A context value's category label, `None` for what the SDK cannot match.
pub(crate) fn category(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(i.to_string()),
            (_, Some(u), _) => Some(u.to_string()),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => Some(format!("{f:.0}")),
            (_, _, Some(f)) => Some(f.to_string()),
            _ => None,
        },
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl FeatureSpace {
    /// A space from explicit field encodings.
    #[must_use]
    pub fn new(features: Vec<Feature>) -> Self {
        Self { features }
    }

    /// Learns each allowed field's encoding from training contexts: numeric if every
    /// non-null value is a number, else categorical over the labels seen.
    #[must_use]
    pub fn learn<'a>(
        allowed: &[String],
        contexts: impl IntoIterator<Item = &'a Map<String, Value>>,
    ) -> Self {
        let mut numeric = vec![true; allowed.len()];
        let mut labels: Vec<BTreeSet<String>> = vec![BTreeSet::new(); allowed.len()];
        for ctx in contexts {
            for (f, key) in allowed.iter().enumerate() {
                match ctx.get(key) {
                    None | Some(Value::Null) => {}
                    Some(v) => {
                        if !v.is_number() {
                            numeric[f] = false;
                        }
                        if let Some(l) = category(v) {
                            labels[f].insert(l);
                        }
                    }
                }
            }
        }
        let features = allowed
            .iter()
            .zip(numeric)
            .zip(labels)
            .map(|((key, num), values)| Feature {
                key: key.clone(),
                kind: if num {
                    FeatureKind::Numeric
                } else {
                    FeatureKind::Categorical {
                        values: values.into_iter().collect(),
                    }
                },
            })
            .collect();
        Self { features }
    }

    /// A space over declared keys (a policy's `contextFeatures`): `numeric` keys as
    /// numbers, `categorical` keys one-hot over the labels seen in `contexts` (numbers
    /// by their JavaScript text), in that order.
    #[must_use]
    pub fn declared<'a>(
        numeric: &[String],
        categorical: &[String],
        contexts: impl IntoIterator<Item = &'a Map<String, Value>>,
    ) -> Self {
        let mut labels: Vec<BTreeSet<String>> = vec![BTreeSet::new(); categorical.len()];
        for ctx in contexts {
            for (f, key) in categorical.iter().enumerate() {
                if let Some(l) = ctx.get(key).and_then(category) {
                    labels[f].insert(l);
                }
            }
        }
        let numeric = numeric.iter().map(|key| Feature {
            key: key.clone(),
            kind: FeatureKind::Numeric,
        });
        let categorical = categorical.iter().zip(labels).map(|(key, values)| Feature {
            key: key.clone(),
            kind: FeatureKind::Categorical {
                values: values.into_iter().collect(),
            },
        });
        Self {
            features: numeric.chain(categorical).collect(),
        }
    }

    /// The layout that holds both `self` and `other`: the same fields in the same
    /// order, each of the same kind, categorical values merged (sorted). `None` when
    /// the fields or their kinds differ.
    #[must_use]
    pub fn union(&self, other: &FeatureSpace) -> Option<FeatureSpace> {
        if self.features.len() != other.features.len() {
            return None;
        }
        let features = self
            .features
            .iter()
            .zip(&other.features)
            .map(|(a, b)| {
                if a.key != b.key {
                    return None;
                }
                let kind = match (&a.kind, &b.kind) {
                    (FeatureKind::Numeric, FeatureKind::Numeric) => FeatureKind::Numeric,
                    (
                        FeatureKind::Categorical { values: x },
                        FeatureKind::Categorical { values: y },
                    ) => {
                        let all: BTreeSet<&String> = x.iter().chain(y).collect();
                        FeatureKind::Categorical {
                            values: all.into_iter().cloned().collect(),
                        }
                    }
                    _ => return None,
                };
                Some(Feature {
                    key: a.key.clone(),
                    kind,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FeatureSpace { features })
    }

    /// The fields, in allowlist order.
    #[must_use]
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// Length of a feature vector (intercept included).
    #[must_use]
    pub fn dim(&self) -> usize {
        1 + self.features.iter().map(Feature::width).sum::<usize>()
    }

    /// Column names: `intercept`, `key`, `key:missing`, `key=value`.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        let mut out = vec!["intercept".to_owned()];
        for f in &self.features {
            match &f.kind {
                FeatureKind::Numeric => out.push(f.key.clone()),
                FeatureKind::Categorical { values } => {
                    out.extend(values.iter().map(|v| format!("{}={v}", f.key)));
                }
            }
            out.push(format!("{}:missing", f.key));
        }
        out
    }

    /// Writes the feature vector of `ctx` into `out` (length [`FeatureSpace::dim`]).
    ///
    /// # Errors
    ///
    /// [`LinearError::NonFinite`] for a numeric value that is not finite (`row` names
    /// it).
    pub fn encode(
        &self,
        ctx: &Map<String, Value>,
        row: usize,
        out: &mut [f64],
    ) -> Result<(), LinearError> {
        debug_assert_eq!(out.len(), self.dim(), "caller sizes the row");
        out.fill(0.0);
        out[0] = 1.0;
        let mut at = 1;
        for f in &self.features {
            let v = ctx.get(&f.key);
            match &f.kind {
                FeatureKind::Numeric => match v.and_then(Value::as_f64) {
                    Some(x) if v.is_some_and(Value::is_number) => {
                        if !x.is_finite() {
                            return Err(LinearError::NonFinite {
                                input: format!("context field {}", f.key),
                                row,
                            });
                        }
                        out[at] = x;
                    }
                    _ => out[at + 1] = 1.0,
                },
                FeatureKind::Categorical { values } => {
                    let hit = v
                        .and_then(category)
                        .and_then(|l| values.binary_search(&l).ok());
                    match hit {
                        Some(i) => out[at + i] = 1.0,
                        None => out[at + values.len()] = 1.0,
                    }
                }
            }
            at += f.width();
        }
        Ok(())
    }

    /// The design matrix (rows × [`FeatureSpace::dim`]) of contexts given as JSON
    /// object text (the exposures' `context` column; `None` or empty text is an
    /// empty context). Rows are encoded in parallel; the result is the same on any
    /// number of threads.
    ///
    /// # Errors
    ///
    /// [`LinearError::BadContext`] for text that is not a JSON object,
    /// [`LinearError::NonFinite`] as [`FeatureSpace::encode`].
    pub fn design(&self, contexts: &[Option<&str>]) -> Result<Array2<f64>, LinearError> {
        let d = self.dim();
        let mut x = Array2::<f64>::zeros((contexts.len(), d));
        let slice = x
            .as_slice_mut()
            .expect("a freshly allocated array is contiguous");
        slice
            .par_chunks_mut(d)
            .zip(contexts.par_iter())
            .enumerate()
            .try_for_each(|(row, (out, text))| {
                let ctx = parse_context(*text, row)?;
                self.encode(&ctx, row, out)
            })?;
        Ok(x)
    }
}

/// Parses one context's JSON text; `None` and empty text are empty contexts.
///
/// # Errors
///
/// [`LinearError::BadContext`] if the text is not a JSON object.
pub fn parse_context(text: Option<&str>, row: usize) -> Result<Map<String, Value>, LinearError> {
    match text.map(str::trim) {
        None | Some("") | Some("null") => Ok(Map::new()),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(LinearError::BadContext {
                row,
                reason: format!("expected a JSON object, found {other}"),
            }),
            Err(e) => Err(LinearError::BadContext {
                row,
                reason: e.to_string(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test contexts are objects"),
        }
    }

    #[test]
    fn learns_numeric_and_categorical_fields_from_the_allowlist_only() {
        let rows = [
            obj(json!({"age": 30, "device": "ios", "secret": 1})),
            obj(json!({"age": 41.5, "device": "web"})),
            obj(json!({"device": true})),
        ];
        let allowed = vec!["age".to_owned(), "device".to_owned()];
        let space = FeatureSpace::learn(&allowed, &rows);
        assert_eq!(
            space.names(),
            vec![
                "intercept",
                "age",
                "age:missing",
                "device=ios",
                "device=true",
                "device=web",
                "device:missing"
            ]
        );
        let mut x = vec![0.0; space.dim()];
        space.encode(&rows[0], 0, &mut x).unwrap();
        assert_eq!(x, vec![1.0, 30.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        // A string where a number is expected, and an unseen category, are missing.
        space
            .encode(&obj(json!({"age": "old", "device": "android"})), 1, &mut x)
            .unwrap();
        assert_eq!(x, vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn declared_kinds_override_what_the_data_suggests() {
        let rows = [
            obj(json!({"age": 30, "tier": 2, "device": "ios"})),
            obj(json!({"age": "n/a", "tier": 3})),
        ];
        let space = FeatureSpace::declared(&["age".to_owned()], &["tier".to_owned()], &rows);
        // `tier` is all numbers but declared categorical; `device` is not declared.
        assert_eq!(
            space.names(),
            vec![
                "intercept",
                "age",
                "age:missing",
                "tier=2",
                "tier=3",
                "tier:missing"
            ]
        );
        let mut x = vec![0.0; space.dim()];
        space.encode(&rows[1], 1, &mut x).unwrap();
        assert_eq!(x, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn integral_numbers_label_like_javascript() {
        assert_eq!(category(&json!(3)).as_deref(), Some("3"));
        assert_eq!(category(&json!(3.0)).as_deref(), Some("3"));
        assert_eq!(category(&json!(0.5)).as_deref(), Some("0.5"));
        assert_eq!(category(&json!([1])), None);
    }

    #[test]
    fn design_reports_the_row_of_a_bad_context() {
        let space = FeatureSpace::learn(&["a".to_owned()], &[]);
        let x = space.design(&[Some(r#"{"a": 2}"#), None]).unwrap();
        assert_eq!(x.row(0).to_vec(), vec![1.0, 2.0, 0.0]);
        assert_eq!(x.row(1).to_vec(), vec![1.0, 0.0, 1.0]);
        let e = space.design(&[None, Some("[1, 2]")]).unwrap_err();
        assert!(matches!(e, LinearError::BadContext { row: 1, .. }), "{e}");
    }
}
