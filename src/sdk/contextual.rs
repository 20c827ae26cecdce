//! Contextual scoring as the reference SDK does it (`@traffical/core` 0.12
//! `scoring/contextual.ts`): a linear score per allocation, a softmax with
//! temperature `gamma`, a probability floor, then deterministic weighted selection.
//!
//! Every floating-point step is the SDK's, in the SDK's order, with `Math.exp` as V8
//! computes it ([`super::js::exp`]), so probabilities agree to the last bit.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::js;
use super::model::Allocation;
use super::resolve::ResolveError;

/// `score += coef * context[key]` when the value is a JSON number, else `+= missing`.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericTerm {
    /// Context field (top level).
    pub key: String,
    /// Coefficient.
    pub coef: f64,
    /// Added when the field is not a number.
    pub missing: f64,
}

/// `score += values[String(context[key])]`, or `missing` when absent or unknown.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoricalTerm {
    /// Context field (top level).
    pub key: String,
    /// Category → coefficient (`NaN` where the SDK's `+=` would not add a number).
    pub values: HashMap<String, f64>,
    /// Added when the field is null, absent or an unknown category.
    pub missing: f64,
}

/// The coefficients of one allocation, laid out for scoring.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledCoefficients {
    /// Bias.
    pub intercept: f64,
    /// Numeric features, in bundle order.
    pub numeric: Vec<NumericTerm>,
    /// Categorical features, in bundle order.
    pub categorical: Vec<CategoricalTerm>,
}

/// A policy's `contextualModel`, checked and laid out per allocation.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledContextualModel {
    /// Softmax temperature (the SDK clamps it to at least 1e-10).
    pub gamma: f64,
    /// Probability floor (capped at 1/K; ignored when ≤ 0).
    pub floor: f64,
    /// Score of allocations without coefficients.
    pub default_score: f64,
    /// Coefficients per allocation, in allocation order (looked up by `key ?? name`).
    pub per_allocation: Vec<Option<CompiledCoefficients>>,
    /// `generatedAt`, else `modelVersion`: logged as the layer's `modelVersion`.
    pub model_version: Option<String>,
    /// The same coefficients laid out for one context read per feature.
    fast: FastModel,
}

/// Context features read once per decision instead of once per allocation:
/// numeric features by index, categorical values mapped to category ids shared by
/// every allocation's coefficient table.
#[derive(Clone, Debug, PartialEq)]
struct FastModel {
    numeric_keys: Vec<String>,
    categorical: Vec<CategoryDictionary>,
    allocations: Vec<Option<FastCoefficients>>,
}

#[derive(Clone, Debug, PartialEq)]
struct CategoryDictionary {
    key: String,
    ids: HashMap<String, u32>,
    /// Whether each category is a member every object inherits (`toString`, …).
    inherited: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq)]
struct FastCoefficients {
    intercept: f64,
    /// (feature, coef, missing), in the allocation's term order.
    numeric: Vec<(usize, f64, f64)>,
    /// (feature, coefficient by category id, missing), in term order.
    categorical: Vec<(usize, Vec<Option<f64>>, f64)>,
}

/// A categorical context value, resolved once per decision.
#[derive(Clone, Copy)]
enum Category {
    Missing,
    Known(u32),
    Unknown { inherited: bool },
}

/// Features handled on the stack; more spill to the heap.
const STACK_FEATURES: usize = 32;

impl FastModel {
    fn new(per_allocation: &[Option<CompiledCoefficients>]) -> Self {
        let mut numeric_keys: Vec<String> = Vec::new();
        let mut categorical: Vec<CategoryDictionary> = Vec::new();
        let mut allocations = Vec::with_capacity(per_allocation.len());
        for c in per_allocation {
            let Some(c) = c else {
                allocations.push(None);
                continue;
            };
            let numeric = c
                .numeric
                .iter()
                .map(|t| {
                    let f = numeric_keys
                        .iter()
                        .position(|k| *k == t.key)
                        .unwrap_or_else(|| {
                            numeric_keys.push(t.key.clone());
                            numeric_keys.len() - 1
                        });
                    (f, t.coef, t.missing)
                })
                .collect();
            let mut cat_terms = Vec::with_capacity(c.categorical.len());
            for t in &c.categorical {
                let f = categorical
                    .iter()
                    .position(|d| d.key == t.key)
                    .unwrap_or_else(|| {
                        categorical.push(CategoryDictionary {
                            key: t.key.clone(),
                            ids: HashMap::new(),
                            inherited: Vec::new(),
                        });
                        categorical.len() - 1
                    });
                let d = &mut categorical[f];
                let mut pairs: Vec<(u32, f64)> = Vec::with_capacity(t.values.len());
                for (name, &x) in &t.values {
                    let next = d.ids.len() as u32;
                    let id = *d.ids.entry(name.clone()).or_insert_with(|| {
                        d.inherited
                            .push(js::OBJECT_PROTOTYPE.contains(&name.as_str()));
                        next
                    });
                    pairs.push((id, x));
                }
                cat_terms.push((f, pairs, t.missing));
            }
            allocations.push(Some((c.intercept, numeric, cat_terms)));
        }
        // Tables sized to the final dictionaries.
        let allocations = allocations
            .into_iter()
            .map(|a| {
                a.map(|(intercept, numeric, cat_terms)| FastCoefficients {
                    intercept,
                    numeric,
                    categorical: cat_terms
                        .into_iter()
                        .map(|(f, pairs, missing)| {
                            let mut by_id = vec![None; categorical[f].ids.len()];
                            for (id, x) in pairs {
                                by_id[id as usize] = Some(x);
                            }
                            (f, by_id, missing)
                        })
                        .collect(),
                })
            })
            .collect();
        Self {
            numeric_keys,
            categorical,
            allocations,
        }
    }

    fn scores_into(&self, ctx: &Map<String, Value>, default_score: f64, scores: &mut [f64]) {
        let (nn, nc) = (self.numeric_keys.len(), self.categorical.len());
        let mut num_stack = [None; STACK_FEATURES];
        let mut num_heap = Vec::new();
        let nums: &mut [Option<f64>] = if nn <= STACK_FEATURES {
            &mut num_stack[..nn]
        } else {
            num_heap.resize(nn, None);
            &mut num_heap
        };
        for (slot, key) in nums.iter_mut().zip(&self.numeric_keys) {
            *slot = match ctx.get(key) {
                Some(Value::Number(n)) => Some(js::number_value(n)),
                _ => None,
            };
        }
        let mut cat_stack = [Category::Missing; STACK_FEATURES];
        let mut cat_heap = Vec::new();
        let cats: &mut [Category] = if nc <= STACK_FEATURES {
            &mut cat_stack[..nc]
        } else {
            cat_heap.resize(nc, Category::Missing);
            &mut cat_heap
        };
        for (slot, d) in cats.iter_mut().zip(&self.categorical) {
            *slot = match ctx.get(&d.key) {
                None | Some(Value::Null) => Category::Missing,
                Some(v) => {
                    let s = js::to_string(v);
                    match d.ids.get(s.as_ref()) {
                        Some(&id) => Category::Known(id),
                        None => Category::Unknown {
                            inherited: js::OBJECT_PROTOTYPE.contains(&s.as_ref()),
                        },
                    }
                }
            };
        }
        for (out, c) in scores.iter_mut().zip(&self.allocations) {
            let Some(c) = c else {
                *out = default_score;
                continue;
            };
            // The SDK's order: intercept, numeric terms, categorical terms.
            let mut score = c.intercept;
            for &(f, coef, missing) in &c.numeric {
                score += match nums[f] {
                    Some(x) => coef * x,
                    None => missing,
                };
            }
            for (f, by_id, missing) in &c.categorical {
                score += match cats[*f] {
                    Category::Missing => *missing,
                    Category::Known(id) => by_id[id as usize].unwrap_or(
                        if self.categorical[*f].inherited[id as usize] {
                            f64::NAN
                        } else {
                            *missing
                        },
                    ),
                    Category::Unknown { inherited: true } => f64::NAN,
                    Category::Unknown { inherited: false } => *missing,
                };
            }
            *out = score;
        }
    }
}

fn number_at(obj: &Map<String, Value>, key: &str, at: &str) -> Result<f64, ResolveError> {
    match obj.get(key) {
        Some(Value::Number(n)) => Ok(js::number_value(n)),
        other => Err(ResolveError::InvalidBundle {
            path: format!("{at}.{key}"),
            reason: format!(
                "expected a number, found {}",
                other.map_or("nothing".to_owned(), |v| v.to_string())
            ),
        }),
    }
}

fn array_at<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<&'a Vec<Value>, ResolveError> {
    obj.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| ResolveError::InvalidBundle {
            path: format!("{at}.{key}"),
            reason: "expected an array".into(),
        })
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ResolveError> {
    v.as_object().ok_or_else(|| ResolveError::InvalidBundle {
        path: at.to_owned(),
        reason: format!("expected an object, found {v}"),
    })
}

fn string_at(obj: &Map<String, Value>, key: &str, at: &str) -> Result<String, ResolveError> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ResolveError::InvalidBundle {
            path: format!("{at}.{key}"),
            reason: "expected a string".into(),
        })
}

/// What `score += v` adds in JavaScript when `v` comes from a categorical `values`
/// map: numbers as they are, `null` as 0, booleans as 0 or 1; anything else turns
/// the score into a string, and the softmax then into NaN.
fn categorical_addend(v: &Value) -> f64 {
    match v {
        Value::Number(n) => js::number_value(n),
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => f64::NAN,
    }
}

impl CompiledContextualModel {
    /// Checks a policy's `contextualModel` JSON against its allocations.
    ///
    /// # Errors
    ///
    /// [`ResolveError::InvalidBundle`] naming the JSON path of a missing or
    /// mistyped field (`gamma`, `actionProbabilityFloor`, `defaultAllocationScore`,
    /// `coefficients`, and each coefficient's `intercept`, `numeric`, `categorical`).
    pub fn compile(
        model: &Value,
        allocations: &[Allocation],
        at: &str,
    ) -> Result<Self, ResolveError> {
        let m = object(model, at)?;
        let coefficients = m
            .get("coefficients")
            .and_then(Value::as_object)
            .ok_or_else(|| ResolveError::InvalidBundle {
                path: format!("{at}.coefficients"),
                reason: "expected an object of coefficients keyed by allocation key".into(),
            })?;
        let mut per_allocation = Vec::with_capacity(allocations.len());
        for a in allocations {
            let label = a.key.as_deref().unwrap_or(&a.name);
            let c_at = format!("{at}.coefficients.{label}");
            // `if (!coefficients) return defaultAllocationScore`: absent or null.
            let Some(c) = coefficients.get(label).filter(|v| !v.is_null()) else {
                per_allocation.push(None);
                continue;
            };
            let c = object(c, &c_at)?;
            let mut numeric = Vec::new();
            for (i, t) in array_at(c, "numeric", &c_at)?.iter().enumerate() {
                let t_at = format!("{c_at}.numeric[{i}]");
                let t = object(t, &t_at)?;
                numeric.push(NumericTerm {
                    key: string_at(t, "key", &t_at)?,
                    coef: number_at(t, "coef", &t_at)?,
                    missing: number_at(t, "missing", &t_at)?,
                });
            }
            let mut categorical = Vec::new();
            for (i, t) in array_at(c, "categorical", &c_at)?.iter().enumerate() {
                let t_at = format!("{c_at}.categorical[{i}]");
                let t = object(t, &t_at)?;
                let values = t
                    .get("values")
                    .and_then(Value::as_object)
                    .ok_or_else(|| ResolveError::InvalidBundle {
                        path: format!("{t_at}.values"),
                        reason: "expected an object of category → coefficient".into(),
                    })?
                    .iter()
                    .map(|(k, v)| (k.clone(), categorical_addend(v)))
                    .collect();
                categorical.push(CategoricalTerm {
                    key: string_at(t, "key", &t_at)?,
                    values,
                    missing: number_at(t, "missing", &t_at)?,
                });
            }
            per_allocation.push(Some(CompiledCoefficients {
                intercept: number_at(c, "intercept", &c_at)?,
                numeric,
                categorical,
            }));
        }
        let model_version = ["generatedAt", "modelVersion"]
            .iter()
            .find_map(|k| m.get(*k).filter(|v| !v.is_null()))
            .map(|v| js::to_string(v).into_owned());
        Ok(Self {
            gamma: number_at(m, "gamma", at)?,
            floor: number_at(m, "actionProbabilityFloor", at)?,
            default_score: number_at(m, "defaultAllocationScore", at)?,
            fast: FastModel::new(&per_allocation),
            per_allocation,
            model_version,
        })
    }

    /// Number of allocations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.per_allocation.len()
    }

    /// Whether the policy has no allocation.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.per_allocation.is_empty()
    }

    /// The linear score of every allocation, written into `scores`.
    ///
    /// # Panics
    ///
    /// If `scores.len()` is not the number of allocations.
    pub fn scores_into(&self, ctx: &Map<String, Value>, scores: &mut [f64]) {
        assert_eq!(
            scores.len(),
            self.per_allocation.len(),
            "one score per allocation"
        );
        self.fast.scores_into(ctx, self.default_score, scores);
    }

    /// [`Self::scores_into`] the direct way, one context lookup per term: the
    /// reference the per-feature layout is tested against.
    pub fn scores_into_direct(&self, ctx: &Map<String, Value>, scores: &mut [f64]) {
        for (s, c) in scores.iter_mut().zip(&self.per_allocation) {
            *s = match c {
                None => self.default_score,
                Some(c) => c.score(ctx),
            };
        }
    }

    /// Scores, softmax and floor: the distribution the SDK samples from.
    ///
    /// # Panics
    ///
    /// If `out.len()` is not the number of allocations.
    pub fn probabilities_into(&self, ctx: &Map<String, Value>, out: &mut [f64]) {
        self.scores_into(ctx, out);
        softmax_in_place(out, self.gamma);
        apply_floor_in_place(out, self.floor);
    }
}

impl CompiledCoefficients {
    /// `computeAllocationScore`: intercept, then numeric terms, then categorical
    /// terms, added in that order.
    #[must_use]
    pub fn score(&self, ctx: &Map<String, Value>) -> f64 {
        let mut score = self.intercept;
        for t in &self.numeric {
            score += match ctx.get(&t.key) {
                Some(Value::Number(n)) => t.coef * js::number_value(n),
                _ => t.missing,
            };
        }
        for t in &self.categorical {
            score += match ctx.get(&t.key) {
                None | Some(Value::Null) => t.missing,
                Some(v) => {
                    let s = js::to_string(v);
                    match t.values.get(s.as_ref()) {
                        Some(&x) => x,
                        // `s in values` also finds Object.prototype's members, whose
                        // values are functions: the score stops being a number.
                        None if js::OBJECT_PROTOTYPE.contains(&s.as_ref()) => f64::NAN,
                        None => t.missing,
                    }
                }
            };
        }
        score
    }
}

/// `softmaxProbabilities(scores, gamma)` in place: divide by `max(gamma, 1e-10)`,
/// subtract the maximum, exponentiate, normalise.
pub fn softmax_in_place(xs: &mut [f64], gamma: f64) {
    match xs.len() {
        0 => return,
        1 => {
            xs[0] = 1.0;
            return;
        }
        _ => {}
    }
    // Math.max(gamma, 1e-10): NaN stays NaN.
    let g = if gamma.is_nan() {
        gamma
    } else {
        gamma.max(1e-10)
    };
    for x in xs.iter_mut() {
        *x /= g;
    }
    let m = js::max(xs);
    let mut sum = 0.0;
    for x in xs.iter_mut() {
        *x = js::exp(*x - m);
        sum += *x;
    }
    for x in xs.iter_mut() {
        *x /= sum;
    }
}

/// `applyProbabilityFloor(probs, floor)` in place: raise each probability to
/// `min(floor, 1/K)` and renormalise (so a floored value can end below the floor).
pub fn apply_floor_in_place(ps: &mut [f64], floor: f64) {
    // `if (floor <= 0) return probs` (NaN goes on, as in JavaScript).
    if ps.is_empty() || floor <= 0.0 {
        return;
    }
    let n = ps.len();
    let max_floor = 1.0 / n as f64;
    let effective = if floor.is_nan() {
        floor
    } else {
        floor.min(max_floor)
    };
    let mut sum = 0.0;
    for p in ps.iter_mut() {
        // Math.max(p, f): NaN if either is NaN.
        *p = if p.is_nan() || effective.is_nan() {
            f64::NAN
        } else {
            p.max(effective)
        };
        sum += *p;
    }
    if sum == 0.0 {
        ps.fill(1.0 / n as f64);
        return;
    }
    for p in ps.iter_mut() {
        *p /= sum;
    }
}

#[cfg(test)]
mod tests;
