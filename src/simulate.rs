//! Batched-retrain simulation: the production loop, run against a world whose truth
//! is known.
//!
//! Units of a synthetic world ([`WorldKind`]: the shop of [`crate::synth`] by default)
//! arrive one after another. Each is resolved through the bundle that is live at its
//! arrival, exactly as an SDK would ([`crate::sdk::Resolver`], compiled once per
//! live bundle), logs a decision and an exposure, and converts with the world's true
//! probability for its context and allocations, after a delay of one to
//! thirty minutes. Every `batch` units the engine retrains on every event it could have
//! seen by then ([`Engine::retrain_loaded`]: the same code path and the same knobs as
//! the production job, `--as-of` the end of the batch, so conversions still in flight
//! are not yet visible) and the new bundle goes live for the next batch.
//!
//! **Regret** is counted per optimised policy and unit as the expected loss of the
//! allocation served against the best allocation for that unit, everything else equal:
//! `max_a p(x, a) − p(x, served)`, with `p` the true conversion probability. It is an
//! expectation, not a realised outcome, so curves are smooth and comparisons between
//! algorithms are not blurred by the conversion draws. In the shop every allocation
//! effect is additive on the logit scale and the best allocation is the same for every
//! context, so it equals the regret against the best fixed allocation, the benchmark
//! of non-contextual bandits. In [`WorldKind::Contextual`] (a hero banner whose best
//! variant depends on device and visits, [`crate::synth::contextual`]) it is the
//! regret against the best allocation per context, which `linucb` and `lints`
//! (`linear_contextual`) can approach and a non-contextual policy cannot.
//!
//! Every algorithm sees the same units, contexts and conversion draws (common random
//! numbers: unit `i`'s stream depends only on the seed and `i`), so differences
//! between curves come from the algorithms. `uniform` never retrains: the bundle's
//! initial allocations stay live, which is the A/B test the bandits are judged
//! against.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::bundle::BundleDocument;
use crate::engine::{Engine, RetrainOptions};
use crate::error::{Error, ParameterError, Result};
use crate::events::{Event, EventType, LoadReport, Loaded, TableBuilder};
use crate::policy::seed::derive;
use crate::progress::{NoProgress, Progress};
use crate::sdk::{HashContract, ResolveOptions, Resolver};
use crate::synth::{logged_layers, pick, sigmoid, uuid, COUNTRIES, DEVICES, PAYMENTS};
use crate::time::{format_rfc3339, parse_rfc3339, Millis};

mod world;
pub use crate::error::SimulationError;

use world::Truth;
pub use world::{WorldKind, ALGORITHMS};

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulateOptions {
    /// The world units come from.
    pub world: WorldKind,
    /// Units arriving in all, per algorithm.
    pub units: u32,
    /// Units between two retrains.
    pub batch: u32,
    /// Master seed: units, contexts and conversions, and each retrain's seed.
    pub seed: u64,
    /// Algorithms to run, from [`ALGORITHMS`] (default: [`WorldKind::default_algorithms`]).
    pub algorithms: Vec<String>,
    /// Time between two arrivals.
    pub arrival_interval_ms: i64,
    /// First arrival.
    pub start: Millis,
    /// Hash contract the simulated SDK resolves with.
    pub contract: HashContract,
    /// Softmax temperature of the `contextualModel` the linear algorithms start with
    /// (`None`: the engine's default, published by the first fit).
    pub gamma: Option<f64>,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            world: WorldKind::Shop,
            units: 20_000,
            batch: 1_000,
            seed: 42,
            algorithms: WorldKind::Shop.default_algorithms(),
            arrival_interval_ms: 30_000,
            start: parse_rfc3339("2026-11-01T00:00:00Z").expect("a valid constant"),
            contract: HashContract::Sha256V2,
            gamma: None,
        }
    }
}

/// One allocation of one policy after one batch of one algorithm.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimRow {
    /// Algorithm (or `uniform`).
    pub algorithm: String,
    /// Batches served so far (0: before the first unit).
    pub batch: u32,
    /// Units served so far.
    pub units: u64,
    /// The retrain's `--as-of`.
    pub as_of: String,
    /// Optimised policy.
    pub policy_id: String,
    /// Status of the policy in the retrain that closed this batch (`initial` at batch 0,
    /// `not_retrained` for `uniform`).
    pub status: String,
    /// Allocation name.
    pub allocation: String,
    /// Its share of the policy's traffic live from now on: its share of the buckets,
    /// or for a policy served by a `contextualModel`, the mean probability the live
    /// model gives it over the units of the batch just served (of the first batch, at
    /// batch 0), a sample of the contexts it will see.
    pub weight: f64,
    /// Units of this policy served this allocation so far.
    pub served: u64,
    /// Cumulative expected regret of the policy so far.
    pub cumulative_regret: f64,
    /// Share of this batch's units of the policy that were served their best
    /// allocation (`None` at batch 0).
    pub best_share: Option<f64>,
}

/// A finished simulation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    /// Options it ran with (the printable part).
    pub seed: u64,
    /// Units per algorithm.
    pub units: u32,
    /// Units per retrain.
    pub batch: u32,
    /// Optimised policies, in id order.
    pub policies: Vec<String>,
    /// Best allocation of each policy (by the truth).
    pub best: BTreeMap<String, String>,
    /// True conversion probability of each allocation, averaged over the units the
    /// policy served.
    pub expected_conversion: BTreeMap<String, BTreeMap<String, f64>>,
    /// True conversion probability of the best allocation for each unit, averaged
    /// over the units the policy served: what an oracle that knows the best
    /// allocation per context converts. Above the best of `expected_conversion` only
    /// when the best allocation depends on the context.
    pub oracle_conversion: BTreeMap<String, f64>,
    /// Rows, by algorithm (in the order asked), batch, policy, allocation.
    pub rows: Vec<SimRow>,
}

impl Simulation {
    /// Final cumulative regret per algorithm and policy.
    #[must_use]
    pub fn final_regret(&self) -> BTreeMap<(String, String), f64> {
        let mut out = BTreeMap::new();
        for r in &self.rows {
            out.insert(
                (r.algorithm.clone(), r.policy_id.clone()),
                r.cumulative_regret,
            );
        }
        out
    }

    /// Writes the rows as CSV (header, one row per algorithm × batch × policy ×
    /// allocation).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be written.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut text = String::from(
            "algorithm,batch,units,as_of,policy_id,status,allocation,weight,served,cumulative_regret,best_share\n",
        );
        for r in &self.rows {
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                r.algorithm,
                r.batch,
                r.units,
                r.as_of,
                r.policy_id,
                r.status,
                r.allocation,
                r.weight,
                r.served,
                r.cumulative_regret,
                r.best_share.map(|b| b.to_string()).unwrap_or_default()
            ));
        }
        let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io(path, e))?;
        Ok(())
    }
}

/// One arriving unit: everything drawn for it, the same whatever the algorithm.
struct Arrival {
    user: String,
    at: Millis,
    context: Map<String, Value>,
    /// Uniform draw deciding the conversion: converts when below the probability.
    conversion_draw: f64,
    delay_ms: i64,
    order_id: String,
    total: f64,
    payment: &'static str,
}

fn arrival(opts: &SimulateOptions, i: u32) -> Arrival {
    let mut rng = ChaCha8Rng::seed_from_u64(derive(opts.seed, &format!("simulate:unit:{i}")));
    let user = format!("sim_{i:07}");
    let mut context = Map::new();
    context.insert("userId".into(), json!(user));
    context.insert("country".into(), json!(pick(&mut rng, &COUNTRIES)));
    context.insert("device".into(), json!(pick(&mut rng, &DEVICES)));
    let visits = 1 + (rng.random::<f64>() * 20.0).powi(2) as u64 / 20;
    context.insert("visits".into(), json!(visits));
    Arrival {
        user,
        at: opts.start + i64::from(i) * opts.arrival_interval_ms,
        context,
        conversion_draw: rng.random(),
        delay_ms: 60_000 + (rng.random::<f64>() * 1_740_000.0) as i64,
        order_id: uuid(&mut rng),
        total: (20.0 + rng.random::<f64>() * 80.0).round(),
        payment: pick::<&str>(&mut rng, &PAYMENTS),
    }
}

/// Per-policy running totals of one algorithm.
#[derive(Default, Clone)]
struct Tally {
    regret: f64,
    served: BTreeMap<String, u64>,
    /// Sum over the policy's units of each allocation's true conversion probability.
    expected: BTreeMap<String, f64>,
    /// Sum over the policy's units of the best allocation's true probability.
    oracle: f64,
    /// Units of the policy in the current batch, and those served their best.
    batch_units: u64,
    batch_best: u64,
}

/// Serves one unit through `doc`: its events, and the regret it adds per policy.
fn serve(
    resolver: &Resolver<'_>,
    a: &Arrival,
    fx: &Truth,
    policies: &BTreeMap<String, Vec<String>>,
    tallies: &mut BTreeMap<String, Tally>,
) -> Result<Vec<Event>> {
    let r = resolver
        .resolve(&a.context)
        .map_err(|e| cannot_resolve(&e))?;
    let (layers, picks) = logged_layers(&r);
    let p = sigmoid(fx.logit(&a.context, &picks));
    for (i, (policy, served)) in picks.iter().enumerate() {
        let Some(allocations) = policies.get(policy) else {
            continue;
        };
        let t = tallies.entry(policy.clone()).or_default();
        let mut best = f64::NEG_INFINITY;
        for alt in allocations {
            let mut alt_picks = picks.clone();
            alt_picks[i].1.clone_from(alt);
            let q = sigmoid(fx.logit(&a.context, &alt_picks));
            *t.expected.entry(alt.clone()).or_default() += q;
            best = best.max(q);
        }
        t.regret += best - p;
        t.oracle += best;
        t.batch_units += 1;
        // The served allocation's probability is computed the same way as its
        // alternative's, so a best one compares equal (ties count as best).
        t.batch_best += u64::from(p >= best);
        *t.served.entry(served.clone()).or_default() += 1;
    }
    let logged: Map<String, Value> = ["country", "device", "visits"]
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), a.context.get(*k)?.clone())))
        .collect();
    let decision_id = format!("dec_{}", a.user);
    let base = |kind: EventType, ts: Millis, tag: &str| Event {
        id: Some(format!("evt_{}_{tag}", a.user)),
        session_id: Some(format!("sess_{}", a.user)),
        config_version: Some(resolver.bundle().version.clone()),
        decision_id: Some(decision_id.clone()),
        ..Event::new(kind, a.user.clone(), ts)
    };
    let mut out = Vec::with_capacity(3);
    let mut decision = base(EventType::Decision, a.at, "d");
    decision.assignments = Some(r.assignments.clone());
    decision.layers = layers.clone();
    decision.context = Some(logged.clone());
    out.push(decision);
    let mut exposure = base(EventType::Exposure, a.at + 150, "x");
    exposure.assignments = Some(r.assignments);
    exposure.layers = crate::synth::exposed_layers(layers);
    exposure.context = Some(logged);
    if !exposure.layers.is_empty() {
        out.push(exposure);
    }
    if a.conversion_draw < p {
        let mut purchase = base(EventType::Track, a.at + a.delay_ms, "p");
        purchase.event = Some("purchase".into());
        purchase.value = Some(a.total);
        let mut props = Map::new();
        props.insert("order_id".into(), json!(a.order_id));
        props.insert("total".into(), json!(a.total));
        props.insert("payment_method".into(), json!(a.payment));
        purchase.properties = Some(props);
        out.push(purchase);
    }
    Ok(out)
}

/// Shares of a policy's traffic live in `doc`, per allocation, in allocation order:
/// the bucket shares, or for a policy with a `contextualModel` the mean probability
/// the model gives each allocation over `sample`'s contexts.
fn weights(
    doc: &BundleDocument,
    contract: HashContract,
    policy_id: &str,
    sample: &[Arrival],
) -> Result<Vec<(String, f64)>> {
    let Some((li, pi)) = doc.find_policy(policy_id) else {
        return Ok(Vec::new());
    };
    let policy = &doc.bundle().layers[li].policies[pi];
    let names = policy.allocations.iter().map(|a| a.name.clone());
    if policy.contextual_model.is_some() {
        let resolver = compile(doc, contract)?;
        let mut sums = vec![0.0; policy.allocations.len()];
        let mut n = 0u64;
        for a in sample {
            let d = resolver
                .distribution(li, &a.context, &ResolveOptions::default())
                .map_err(|e| cannot_resolve(&e))?;
            if let Some(d) = d.filter(|d| d.policy_id == policy.id) {
                for (s, p) in sums.iter_mut().zip(&d.probabilities) {
                    *s += p;
                }
                n += 1;
            }
        }
        let n = n.max(1) as f64;
        return Ok(names.zip(sums).map(|(a, s)| (a, s / n)).collect());
    }
    let counts = policy.effective_counts();
    let total: f64 = counts.iter().map(|&n| f64::from(n)).sum();
    Ok(names
        .zip(counts)
        .map(|(a, n)| {
            let share = if total > 0.0 {
                f64::from(n) / total
            } else {
                0.0
            };
            (a, share)
        })
        .collect())
}

fn cannot_resolve(e: &dyn std::fmt::Display) -> Error {
    SimulationError::Sdk {
        step: "resolve",
        reason: e.to_string(),
    }
    .into()
}

fn compile(doc: &BundleDocument, contract: HashContract) -> Result<Resolver<'_>> {
    Resolver::new(doc.bundle(), contract).map_err(|e| {
        SimulationError::Sdk {
            step: "compile",
            reason: e.to_string(),
        }
        .into()
    })
}

/// What the rows of one batch are made from.
struct BatchPoint<'a> {
    batch: u32,
    units: u64,
    as_of: Millis,
    /// Contexts that weigh a contextual policy's probabilities.
    sample: &'a [Arrival],
}

fn rows_for(
    algorithm: &str,
    at: &BatchPoint<'_>,
    doc: &BundleDocument,
    contract: HashContract,
    statuses: &BTreeMap<String, String>,
    tallies: &BTreeMap<String, Tally>,
) -> Result<Vec<SimRow>> {
    let mut rows = Vec::new();
    for (policy, status) in statuses {
        let tally = tallies.get(policy).cloned().unwrap_or_default();
        let best_share = (at.batch > 0 && tally.batch_units > 0)
            .then(|| tally.batch_best as f64 / tally.batch_units as f64);
        for (allocation, weight) in weights(doc, contract, policy, at.sample)? {
            rows.push(SimRow {
                algorithm: algorithm.to_owned(),
                batch: at.batch,
                units: at.units,
                as_of: format_rfc3339(at.as_of),
                policy_id: policy.clone(),
                status: status.clone(),
                served: tally.served.get(&allocation).copied().unwrap_or(0),
                allocation,
                weight,
                cumulative_regret: tally.regret,
                best_share,
            });
        }
    }
    Ok(rows)
}

/// The rows of one algorithm and its final tallies per policy.
type AlgorithmRun = (Vec<SimRow>, BTreeMap<String, Tally>);

/// Runs one algorithm through every batch.
fn run_one(
    opts: &SimulateOptions,
    algorithm: &str,
    arrivals: &[Arrival],
    progress: &dyn Progress,
) -> Result<AlgorithmRun> {
    let config = opts.world.config(algorithm)?;
    let fx = opts.world.truth();
    let mut doc = BundleDocument::from_value(
        opts.world.bundle(algorithm, opts.gamma),
        "the world's bundle",
    )?;
    let batch_size = opts.batch as usize;
    let policies: BTreeMap<String, Vec<String>> = config
        .optimization
        .keys()
        .map(|id| {
            let names = doc
                .find_policy(id)
                .map(|(li, pi)| {
                    doc.bundle().layers[li].policies[pi]
                        .allocations
                        .iter()
                        .map(|a| a.name.clone())
                        .collect()
                })
                .unwrap_or_default();
            (id.clone(), names)
        })
        .collect();
    let mut statuses: BTreeMap<String, String> = policies
        .keys()
        .map(|p| (p.clone(), "initial".to_owned()))
        .collect();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let first = BatchPoint {
        batch: 0,
        units: 0,
        as_of: opts.start,
        sample: &arrivals[..batch_size.min(arrivals.len())],
    };
    let mut rows = rows_for(algorithm, &first, &doc, opts.contract, &statuses, &tallies)?;
    let mut events: Vec<Event> = Vec::new();
    for (b, chunk) in arrivals.chunks(batch_size).enumerate() {
        for t in tallies.values_mut() {
            t.batch_units = 0;
            t.batch_best = 0;
        }
        let resolver = compile(&doc, opts.contract)?;
        for a in chunk {
            events.extend(serve(&resolver, a, &fx, &policies, &mut tallies)?);
        }
        let last = chunk.last().expect("chunks are never empty");
        let as_of = last.at + opts.arrival_interval_ms;
        let batch = u32::try_from(b + 1).expect("batches fit in u32");
        let served = (b * batch_size + chunk.len()) as u64;
        if algorithm == world::UNIFORM {
            for s in statuses.values_mut() {
                "not_retrained".clone_into(s);
            }
        } else {
            let mut builder = TableBuilder::default();
            for e in events.iter().filter(|e| e.timestamp <= as_of) {
                builder.push(e.clone());
            }
            let loaded = Loaded {
                tables: builder.finish()?,
                report: LoadReport::default(),
                rejected: Vec::new(),
            };
            let engine = Engine::new(RetrainOptions {
                as_of: Some(as_of),
                seed: derive(opts.seed, &format!("simulate:{algorithm}:retrain:{batch}")),
                ..RetrainOptions::default()
            });
            let outcome = engine.retrain_loaded(&config, doc.clone(), loaded)?;
            for p in &outcome.report.policies {
                statuses.insert(p.policy_id.clone(), p.status.as_str().to_owned());
            }
            doc = outcome.bundle;
        }
        let at = BatchPoint {
            batch,
            units: served,
            as_of,
            sample: chunk,
        };
        rows.extend(rows_for(
            algorithm,
            &at,
            &doc,
            opts.contract,
            &statuses,
            &tallies,
        )?);
        progress.advance(1);
    }
    Ok((rows, tallies))
}

/// Runs the simulation: every algorithm over the same arrivals, in parallel.
///
/// # Errors
///
/// [`Error::Parameter`] for zero units or batch, [`Error::Simulation`] for an unknown algorithm; any
/// error of a retrain.
pub fn simulate(opts: &SimulateOptions) -> Result<Simulation> {
    simulate_with_progress(opts, &NoProgress)
}

/// [`simulate`], reporting one unit of progress per batch retrained.
///
/// # Errors
///
/// As [`simulate`].
pub fn simulate_with_progress(
    opts: &SimulateOptions,
    progress: &dyn Progress,
) -> Result<Simulation> {
    ParameterError::at_least_one("units", opts.units)?;
    ParameterError::at_least_one("batch", opts.batch)?;
    if opts.arrival_interval_ms <= 0 {
        return Err(ParameterError::new(
            "arrival_interval_ms",
            "positive",
            opts.arrival_interval_ms,
        )
        .into());
    }
    if let Some(g) = opts.gamma {
        ParameterError::positive("gamma", g)?;
    }
    if let Some(bad) = opts
        .algorithms
        .iter()
        .find(|a| !ALGORITHMS.contains(&a.as_str()))
    {
        return Err(SimulationError::UnknownAlgorithm {
            name: bad.clone(),
            known: ALGORITHMS.join(", "),
        }
        .into());
    }
    let arrivals: Vec<Arrival> = (0..opts.units)
        .into_par_iter()
        .map(|i| arrival(opts, i))
        .collect();
    let batches = opts.units.div_ceil(opts.batch);
    progress.start(
        "retrain batches",
        u64::from(batches) * opts.algorithms.len() as u64,
    );
    let per_algorithm: Vec<Result<AlgorithmRun>> = opts
        .algorithms
        .par_iter()
        .map(|a| run_one(opts, a, &arrivals, progress))
        .collect();
    progress.finish();
    let mut rows = Vec::new();
    let mut expected_conversion: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut oracle_conversion: BTreeMap<String, f64> = BTreeMap::new();
    for r in per_algorithm {
        let (r, tallies) = r?;
        rows.extend(r);
        if expected_conversion.is_empty() {
            // The truth averaged over the units each policy served: the same for
            // every algorithm up to which units fall in the policy's holdout.
            for (policy, t) in tallies {
                let n: u64 = t.served.values().sum();
                oracle_conversion.insert(policy.clone(), t.oracle / n.max(1) as f64);
                let means = t
                    .expected
                    .into_iter()
                    .map(|(a, sum)| (a, sum / n.max(1) as f64))
                    .collect();
                expected_conversion.insert(policy, means);
            }
        }
    }
    let best = expected_conversion
        .iter()
        .filter_map(|(p, m)| {
            let (a, _) = m.iter().max_by(|x, y| x.1.total_cmp(y.1))?;
            Some((p.clone(), a.clone()))
        })
        .collect();
    let policies = opts
        .world
        .config(world::UNIFORM)?
        .optimization
        .keys()
        .cloned()
        .collect();
    Ok(Simulation {
        seed: opts.seed,
        units: opts.units,
        batch: opts.batch,
        policies,
        best,
        expected_conversion,
        oracle_conversion,
        rows,
    })
}
