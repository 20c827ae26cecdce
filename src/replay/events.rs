//! Off-policy evaluation on the engine's own logs: a reward table (one row per exposed
//! decision, from [`crate::attribution`]) with the exposures' logged `probability`.
//!
//! For a bucket-based policy, a unit the policy serves gets allocation `a` with
//! probability `|range_a| / Σ_b |range_b|`: its share of the buckets the policy's
//! allocations cover. SDKs log `|range_a| / bucketCount` (the reference SDK's
//! `probability`), which is that share times the policy's coverage; rewriting ranges
//! keeps the buckets a policy covers, so the logged value divided by the coverage is
//! the propensity given that the policy served the unit, on the same footing as the
//! evaluation bundle's shares. Rows logged without `probability` get it from the bundle
//! whose `version` equals the exposure's `configVersion`.
//!
//! [`policy_log`] evaluates any policy a bundle can hold: for every logged decision it
//! rebuilds the exposure's context (with the unit key the layer buckets on) and asks
//! the reference [`Resolver`] for the evaluated policy's distribution over its
//! allocations, so bucket ranges, contextual models (floored softmax of the linear
//! scores) and per-entity weights all enter as `π_e(a | context)`, exactly as an SDK
//! would serve them. Contextual and per-entity policies log the served probability
//! itself, so their logged value is the propensity as it is; rows logged without one
//! get it from the live bundle's resolver in the same way. Decisions the evaluated
//! policy would not serve (another policy of the layer takes them, its conditions or
//! `eligibleBucketRange` exclude them, or the context lacks the unit key) are left out
//! and counted. The reward model sees the policy's `contextLogging.allowedFields`,
//! encoded as the linear policies encode them ([`FeatureSpace`]), plus the allocation.
//!
//! [`bucket_policy`] is the context-free view of a bucket-based policy: its shares.

use std::collections::HashMap;

use polars::prelude::*;
use serde_json::{Map, Value};

use super::logged::{LoggedBandit, LoggedBanditParts};
use super::policies::ActionDist;
use crate::error::EvaluationError;
use crate::error::{Error, Result};
use crate::policy::features::{parse_context, FeatureSpace};
use crate::sdk::model::{Bundle, Policy};
use crate::sdk::resolve::{DistributionKind, PolicyDistribution, ResolveOptions};
use crate::sdk::{HashContract, Resolver};

/// A bucket-based policy's allocations and their shares.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketPolicy {
    /// Policy id.
    pub policy_id: String,
    /// Allocation names, in bundle order (the action indices).
    pub allocations: Vec<String>,
    /// Each allocation's share of the policy's buckets (sums to 1).
    pub probs: Vec<f64>,
    /// Buckets the allocations cover, as a share of `bucketCount`.
    pub coverage: f64,
}

impl BucketPolicy {
    /// The policy as a single-slot, context-free action distribution.
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] if the shares are not a distribution (cannot
    /// happen for a policy built by [`bucket_policy`]).
    pub fn action_dist(&self) -> Result<ActionDist> {
        ActionDist::shared(self.allocations.len(), 1, self.probs.clone())
    }
}

/// The allocation shares of policy `policy_id` in `bundle`.
///
/// # Errors
///
/// [`Error::InvalidBundle`] if the policy is missing, has no buckets, or is contextual
/// or per-entity (their probabilities depend on the unit and context; not supported
/// here yet).
pub fn bucket_policy(bundle: &Bundle, policy_id: &str) -> Result<BucketPolicy> {
    let bad = |reason: String| Error::InvalidBundle {
        file: format!("bundle version {}", bundle.version),
        key: format!("policy {policy_id}"),
        reason,
    };
    let policy = bundle
        .layers
        .iter()
        .flat_map(|l| l.policies.iter())
        .find(|p| p.id == policy_id)
        .ok_or_else(|| {
            bad("no policy with this id in the bundle; pass the bundle that serves it".into())
        })?;
    if policy.contextual_model.is_some() || policy.entity_config.is_some() {
        return Err(bad(
            "contextual and per-entity policies are not evaluated from bundles yet (their probabilities depend on the unit)".into(),
        ));
    }
    let sizes: Vec<f64> = policy
        .allocations
        .iter()
        .map(|a| f64::from(a.bucket_range[1].saturating_sub(a.bucket_range[0]) + 1))
        .collect();
    let covered: f64 = sizes.iter().sum();
    if policy.allocations.is_empty() || covered <= 0.0 {
        return Err(bad("the policy has no allocation buckets".into()));
    }
    Ok(BucketPolicy {
        policy_id: policy_id.to_owned(),
        allocations: policy.allocations.iter().map(|a| a.name.clone()).collect(),
        probs: sizes.iter().map(|s| s / covered).collect(),
        coverage: covered / f64::from(bundle.hashing.bucket_count),
    })
}

/// A policy's decisions read from events, with the evaluated policy's distribution
/// for each of them and where the logged propensities came from.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyLog {
    /// The log: action = allocation index in the evaluated policy's order, one slot,
    /// context = the policy's allowed fields encoded as [`FeatureSpace`] does.
    pub data: LoggedBandit,
    /// `π_e(a | context)` of every row.
    pub dist: ActionDist,
    /// The evaluated policy's allocation names (the action indices).
    pub allocations: Vec<String>,
    /// How the evaluated policy chooses.
    pub kind: DistributionKind,
    /// Rows whose propensity is the exposure's logged `probability`.
    pub logged_propensities: usize,
    /// Rows whose propensity was recovered from the bundle of their `configVersion`.
    pub recovered_propensities: usize,
    /// Decisions of the policy that the evaluated bundle would not serve with it
    /// (left out of `data`).
    pub not_served: usize,
}

impl PolicyLog {
    /// The evaluated policy's mean probability of each allocation over the rows.
    #[must_use]
    pub fn mean_shares(&self) -> Vec<f64> {
        let n = self.data.len();
        (0..self.allocations.len())
            .map(|a| (0..n).map(|i| self.dist.prob(i, a, 0)).sum::<f64>() / n.max(1) as f64)
            .collect()
    }
}

/// The context an SDK resolved for a decision: the logged exposure context with the
/// unit key values put back where the bundle reads them (SDKs may log the context
/// without them).
fn decision_context(
    text: Option<&str>,
    row: usize,
    unit: (&str, Option<&str>),
    layer_unit: (Option<&str>, Option<&str>),
) -> Result<Map<String, Value>> {
    let mut ctx =
        parse_context(text, row).map_err(|e| events_error(format!("exposure context: {e}")))?;
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            if !ctx.contains_key(k) {
                ctx.insert(k.to_owned(), Value::String(v.to_owned()));
            }
        }
    };
    put(unit.0, unit.1);
    if let (Some(k), v) = layer_unit {
        put(k, v);
    }
    Ok(ctx)
}

/// `π(· | ctx)` of `policy_id` in `resolver`'s bundle, normalised to the allocations
/// the policy serves; `None` when the bundle would not serve `ctx` with that policy.
fn served_distribution(
    resolver: &Resolver<'_>,
    policy_id: &str,
    ctx: &Map<String, Value>,
) -> Result<Option<(PolicyDistribution, f64)>> {
    let Some(layer) = resolver
        .bundle()
        .layers
        .iter()
        .position(|l| l.policies.iter().any(|p| p.id == policy_id))
    else {
        return Ok(None);
    };
    let dist = resolver
        .distribution(layer, ctx, &ResolveOptions::default())
        .map_err(|e| Error::InvalidBundle {
            file: format!("bundle version {}", resolver.bundle().version),
            key: format!("policy {policy_id}"),
            reason: e.to_string(),
        })?;
    Ok(dist.filter(|d| d.policy_id == policy_id).and_then(|d| {
        let total: f64 = d.probabilities.iter().sum();
        (total > 0.0).then_some((d, total))
    }))
}

/// The decisions of `policy_id` in a reward table (`policy_id`, `allocation_name`,
/// `decision_id`, `probability`, `reward`, as [`crate::attribution::decision_rewards`]
/// makes it), joined by `decision_id` to their first exposure (`context`,
/// `config_version`, unit keys) in `exposures`, with the distribution the policy of
/// `eval` gives each of them. Propensities are the logged `probability` (over the
/// policy's coverage for bucket policies) or, where it is missing, the probability the
/// bundle in `live` whose version is the exposure's `configVersion` gave the logged
/// allocation in that context.
///
/// # Errors
///
/// [`Error::InvalidBundle`] if `eval` lacks the policy or cannot be compiled;
/// [`Error::Evaluation`] naming the decision for an allocation the policy does
/// not have, a missing propensity that no bundle explains, a propensity outside
/// (0, 1], or a context that is not a JSON object; [`Error::Polars`] if the tables
/// lack those columns.
pub fn policy_log(
    rewards: LazyFrame,
    exposures: LazyFrame,
    eval: &Bundle,
    policy_id: &str,
    live: &[Bundle],
    contract: HashContract,
) -> Result<PolicyLog> {
    let policy = eval
        .layers
        .iter()
        .flat_map(|l| l.policies.iter())
        .find(|p| p.id == policy_id)
        .ok_or_else(|| {
            bundle_error(
                eval,
                policy_id,
                "no policy with this id in the bundle; pass the bundle that serves it".into(),
            )
        })?;
    let resolver = compile(eval, contract, policy_id)?;
    let df = policy_decisions(rewards, exposures, policy_id)?;
    let rows = Decisions::of(&df)?;
    let mut log = LogBuilder {
        eval,
        policy,
        id: policy_id,
        resolver,
        live: LiveBundles {
            bundles: live,
            contract,
            id: policy_id,
            resolvers: HashMap::new(),
            recovered: 0,
        },
        parts: LoggedBanditParts {
            n_actions: policy.allocations.len(),
            len_list: 1,
            ..LoggedBanditParts::default()
        },
        probs: Vec::new(),
        contexts: Vec::new(),
        logged: 0,
        not_served: 0,
        kind: None,
    };
    for i in 0..df.height() {
        log.push(&rows, i)?;
    }
    log.finish(&rows.decision)
}

fn bundle_error(b: &Bundle, id: &str, reason: String) -> Error {
    Error::InvalidBundle {
        file: format!("bundle version {}", b.version),
        key: format!("policy {id}"),
        reason,
    }
}

fn events_error(reason: String) -> Error {
    EvaluationError::Events { reason }.into()
}

fn compile<'b>(b: &'b Bundle, contract: HashContract, id: &str) -> Result<Resolver<'b>> {
    Resolver::new(b, contract).map_err(|e| bundle_error(b, id, format!("cannot be resolved: {e}")))
}

/// The rewards of policy `id`'s decisions joined to their first exposure's context,
/// `config_version` and unit keys, in `decision_id` order.
fn policy_decisions(rewards: LazyFrame, exposures: LazyFrame, id: &str) -> Result<DataFrame> {
    let first = |c: &str| col(c).first().alias(c);
    let per_decision = exposures
        .filter(
            col("policy_id")
                .eq(lit(id))
                .and(col("decision_id").is_not_null()),
        )
        .group_by([col("decision_id")])
        .agg([
            first("config_version"),
            first("context"),
            first("unit_key"),
            first("layer_unit_key"),
            first("layer_unit_key_value"),
        ]);
    Ok(rewards
        .filter(col("policy_id").eq(lit(id)))
        .select([
            col("allocation_name"),
            col("decision_id"),
            col("probability"),
            col("reward"),
        ])
        .join(
            per_decision,
            [col("decision_id")],
            [col("decision_id")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(
            ["decision_id"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()?)
}

/// The columns of [`policy_decisions`] that the rows are read from.
struct Decisions {
    alloc: StringChunked,
    decision: StringChunked,
    version: StringChunked,
    context: StringChunked,
    unit: StringChunked,
    layer_key: StringChunked,
    layer_value: StringChunked,
    prob: Float64Chunked,
    reward: Float64Chunked,
}

impl Decisions {
    fn of(df: &DataFrame) -> Result<Self> {
        let text = |c: &str| -> Result<StringChunked> { Ok(df.column(c)?.str()?.clone()) };
        let float = |c: &str| -> Result<Float64Chunked> {
            Ok(df.column(c)?.cast(&DataType::Float64)?.f64()?.clone())
        };
        Ok(Self {
            alloc: text("allocation_name")?,
            decision: text("decision_id")?,
            version: text("config_version")?,
            context: text("context")?,
            unit: text("unit_key")?,
            layer_key: text("layer_unit_key")?,
            layer_value: text("layer_unit_key_value")?,
            prob: float("probability")?,
            reward: float("reward")?,
        })
    }
}

/// The bundles that were live, compiled on first use, to recover the propensities
/// of rows logged without `probability`.
struct LiveBundles<'b> {
    bundles: &'b [Bundle],
    contract: HashContract,
    id: &'b str,
    resolvers: HashMap<String, Resolver<'b>>,
    /// Rows whose propensity was recovered so far.
    recovered: usize,
}

impl LiveBundles<'_> {
    /// The probability that the bundle of `version` gave allocation `name` in `ctx`,
    /// for decision `d`.
    fn propensity(
        &mut self,
        d: &str,
        version: Option<&str>,
        name: &str,
        ctx: &Map<String, Value>,
    ) -> Result<f64> {
        let id = self.id;
        let v = version.ok_or_else(|| events_error(format!(
            "decision {d}: no logged probability and no configVersion to recover it from; log exposures with probability"
        )))?;
        if !self.resolvers.contains_key(v) {
            let b = self.bundles.iter().find(|b| b.version == v).ok_or_else(|| events_error(format!(
                "decision {d}: no logged probability, and bundle version {v:?} was not given; pass the bundle that was live"
            )))?;
            self.resolvers
                .insert(v.to_owned(), compile(b, self.contract, id)?);
        }
        let r = &self.resolvers[v];
        let (then, then_total) = served_distribution(r, id, ctx)?.ok_or_else(|| {
            events_error(format!(
                "decision {d}: bundle version {v} would not serve this context with policy {id}, so it cannot explain the exposure"
            ))
        })?;
        let j = r
            .bundle()
            .layers
            .iter()
            .flat_map(|l| l.policies.iter())
            .find(|p| p.id == id)
            .and_then(|p| p.allocations.iter().position(|x| x.name == name))
            .ok_or_else(|| {
                events_error(format!(
                    "decision {d}: allocation {name:?} is not in bundle version {v}"
                ))
            })?;
        self.recovered += 1;
        Ok(then.probabilities.get(j).copied().unwrap_or(0.0) / then_total)
    }
}

/// The log being built, one decision at a time.
struct LogBuilder<'b> {
    eval: &'b Bundle,
    policy: &'b Policy,
    id: &'b str,
    resolver: Resolver<'b>,
    live: LiveBundles<'b>,
    parts: LoggedBanditParts,
    /// `π_e(· | context)` of every kept row, row-major.
    probs: Vec<f64>,
    contexts: Vec<Map<String, Value>>,
    logged: usize,
    not_served: usize,
    kind: Option<DistributionKind>,
}

impl LogBuilder<'_> {
    /// Takes decision `i` with its propensity and the evaluated policy's distribution,
    /// or counts it as not served.
    fn push(&mut self, rows: &Decisions, i: usize) -> Result<()> {
        let id = self.id;
        let d = rows.decision.get(i).unwrap_or("?");
        let name = rows.alloc.get(i).unwrap_or("");
        let ctx = decision_context(
            rows.context.get(i),
            i,
            (&self.eval.hashing.unit_key, rows.unit.get(i)),
            (rows.layer_key.get(i), rows.layer_value.get(i)),
        )
        .map_err(|e| events_error(format!("decision {d}: {e}")))?;
        let Some((served, total)) = served_distribution(&self.resolver, id, &ctx)? else {
            self.not_served += 1;
            return Ok(());
        };
        let k = self.policy.allocations.len();
        if served.probabilities.len() != k {
            return Err(bundle_error(
                self.eval,
                id,
                format!(
                    "decision {d}: the policy served {} dynamic allocations; evaluating dynamic allocations is not supported",
                    served.probabilities.len()
                ),
            ));
        }
        self.kind.get_or_insert(served.kind);
        let a = self
            .policy
            .allocations
            .iter()
            .position(|a| a.name == name)
            .ok_or_else(|| events_error(format!(
                "decision {d}: allocation {name:?} is not one of policy {id}'s allocations {:?}; evaluate with a bundle that has it",
                self.policy.allocations.iter().map(|a| &a.name).collect::<Vec<_>>()
            )))?;
        let bucket_shares = served.kind == DistributionKind::BucketShares;
        let p = match rows.prob.get(i) {
            Some(p) => {
                self.logged += 1;
                if bucket_shares {
                    p / total
                } else {
                    p
                }
            }
            None => self.live.propensity(d, rows.version.get(i), name, &ctx)?,
        };
        if !(p > 0.0 && p <= 1.0 + 1e-9) {
            return Err(events_error(format!(
                "decision {d}: propensity {p} (logged probability{}) is not in (0, 1]",
                if bucket_shares {
                    format!(" over the policy's coverage {total}")
                } else {
                    String::new()
                }
            )));
        }
        self.probs
            .extend(served.probabilities.iter().map(|q| q / total));
        self.contexts.push(ctx);
        self.parts.action.push(a as u32);
        self.parts.position.push(0);
        self.parts.pscore.push(p.min(1.0));
        self.parts.reward.push(rows.reward.get(i).unwrap_or(0.0));
        Ok(())
    }

    /// Encodes the kept contexts with the policy's allowed fields and builds the log.
    fn finish(mut self, decision: &StringChunked) -> Result<PolicyLog> {
        let allowed = self
            .policy
            .context_logging
            .as_ref()
            .map(|c| c.allowed_fields.clone())
            .unwrap_or_default();
        let space = FeatureSpace::learn(&allowed, &self.contexts);
        let mut x = ndarray::Array2::<f64>::zeros((self.contexts.len(), space.dim()));
        for (row, (ctx, mut out)) in self.contexts.iter().zip(x.rows_mut()).enumerate() {
            let out = out
                .as_slice_mut()
                .expect("rows of a standard array are contiguous");
            space.encode(ctx, row, out).map_err(|e| {
                events_error(format!(
                    "decision {}: {e}",
                    decision.get(row).unwrap_or("?")
                ))
            })?;
        }
        // Column 0 is the intercept; the reward model has its own.
        self.parts.context = x.slice(ndarray::s![.., 1..]).to_owned();
        self.parts.context_names = space.names().into_iter().skip(1).collect();
        let n = self.parts.action.len();
        let k = self.policy.allocations.len();
        Ok(PolicyLog {
            data: LoggedBandit::new(self.parts)?,
            dist: ActionDist::per_row(n, k, 1, self.probs)?,
            allocations: self
                .policy
                .allocations
                .iter()
                .map(|a| a.name.clone())
                .collect(),
            kind: self.kind.unwrap_or(DistributionKind::BucketShares),
            logged_propensities: self.logged,
            recovered_propensities: self.live.recovered,
            not_served: self.not_served,
        })
    }
}
