//! A seeded synthetic world: a realistic project (bundle, config, events) whose
//! truths are known, to test the engine end to end and to demo it.
//!
//! Units arrive over `days` days with a context (country, device, visits), have one
//! to three sessions, and in each session one or two page views. Every page view is
//! resolved against the bundle exactly as an SDK would ([`crate::sdk::Resolver`],
//! under the chosen hash contract) and logged as a decision event and an exposure
//! event (repeat views in a session repeat the exposure, as SDKs without dedup do).
//! A purchase follows with a probability from a logistic model with per-allocation and
//! context effects; most purchases carry the decision id, some do not (webhooks), some
//! arrive late with `eventTimestamp`, a few arrive days later (the email pattern).
//! A small share of lines are malformed in the ways real pipelines see.
//!
//! The truth (model coefficients and each allocation's expected conversion rate over
//! the generated population) is written beside the data.

pub(crate) mod contextual;
pub mod entities;
mod shop;
mod stream;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::LogNormal;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, ParameterError, Result};
use crate::events::{Event, Layer};
use crate::sdk::{Bundle, HashContract, Resolution, Resolver};
use crate::time::{parse_rfc3339, Millis};
use shop::Shop;
pub use stream::{generate_into, Written};

/// Parameters of a synthetic world.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthParams {
    /// Number of units (users).
    pub units: u32,
    /// Master seed.
    pub seed: u64,
    /// First instant of the simulation.
    pub start: Millis,
    /// Days the arrivals spread over.
    pub days: u32,
    /// Share of lines written malformed.
    pub malformed_rate: f64,
    /// Hash contract the simulated SDK resolves with.
    pub contract: HashContract,
}

impl Default for SynthParams {
    fn default() -> Self {
        Self {
            units: 2000,
            seed: 42,
            start: parse_rfc3339("2026-11-01T00:00:00Z").expect("a valid constant"),
            days: 7,
            malformed_rate: 0.003,
            contract: HashContract::Sha256V2,
        }
    }
}

/// The known truth behind a world.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Truth {
    /// Seed the world was made with.
    pub seed: u64,
    /// Logit of a purchase per page view, before effects.
    pub base_logit: f64,
    /// Additive logit effect per policy and allocation.
    pub allocation_effects: BTreeMap<String, BTreeMap<String, f64>>,
    /// Additive logit effect of context: `mobile`, `log_visits`.
    pub context_effects: BTreeMap<String, f64>,
    /// Interaction: extra logit of an allocation on mobile (policy → allocation → effect).
    pub mobile_interactions: BTreeMap<String, BTreeMap<String, f64>>,
    /// Expected purchase probability per page view for each allocation, averaged over
    /// the generated units and the other layers' assignments.
    pub expected_conversion: BTreeMap<String, BTreeMap<String, f64>>,
    /// The allocation with the highest expected conversion, per policy.
    pub best_allocation: BTreeMap<String, String>,
    /// Log-normal revenue per purchase: `mu`, `sigma` of ln(value).
    pub revenue_lognormal: (f64, f64),
}

/// A generated world.
#[derive(Clone, Debug)]
pub struct World {
    /// The config bundle, as JSON.
    pub bundle: Value,
    /// `.traffical/config.yaml` text.
    pub config_yaml: String,
    /// Valid events, in time order.
    pub events: Vec<Event>,
    /// Lines of ndjson, valid and malformed, in the order written.
    pub lines: Vec<String>,
    /// Number of malformed lines among them.
    pub malformed: usize,
    /// The truth.
    pub truth: Truth,
}

fn alloc(id: &str, name: &str, range: [u32; 2], overrides: Value) -> Value {
    json!({"id": id, "name": name, "key": name, "bucketRange": range, "overrides": overrides})
}

/// The demo project's bundle: four layers, static and adaptive policies, a holdout
/// through `eligibleBucketRange`, conditions, and fields the engine does not own.
#[must_use]
pub fn demo_bundle() -> Value {
    json!({
        "version": "2026-10-31T00:00:00.000Z",
        "orgId": "org_demo",
        "projectId": "proj_shop",
        "env": "production",
        "hashing": {"unitKey": "userId", "bucketCount": 10000},
        "parameters": [
            {"key": "checkout.ctaText", "type": "string", "default": "Complete Purchase", "layerId": "layer_checkout", "namespace": "checkout"},
            {"key": "checkout.showUrgency", "type": "boolean", "default": false, "layerId": "layer_checkout", "namespace": "checkout"},
            {"key": "ui.primaryColor", "type": "string", "default": "#1F2937", "layerId": "layer_ui", "namespace": "ui"},
            {"key": "pricing.discount", "type": "number", "default": 0, "layerId": "layer_pricing", "namespace": "pricing"},
            {"key": "home.hero", "type": "json", "default": {"layout": "grid", "items": 8}, "layerId": "layer_home", "namespace": "home"}
        ],
        "layers": [
            {"id": "layer_checkout", "policies": [
                {"id": "policy_checkout_cta", "key": "checkout-cta", "state": "running", "kind": "adaptive",
                 "eligibleBucketRange": {"start": 0, "end": 8999},
                 "allocations": [
                    alloc("alloc_cta_control", "control", [0, 2999], json!({"checkout.ctaText": "Complete Purchase"})),
                    alloc("alloc_cta_buy_now", "buy_now", [3000, 5999], json!({"checkout.ctaText": "Buy Now"})),
                    alloc("alloc_cta_urgency", "urgency", [6000, 8999], json!({"checkout.ctaText": "Buy Now - Limited Stock!", "checkout.showUrgency": true}))
                 ],
                 "conditions": [],
                 "contextLogging": {"allowedFields": ["country", "device", "visits"]}},
                {"id": "policy_checkout_holdout", "key": "checkout-holdout", "state": "running", "kind": "static",
                 "allocations": [alloc("alloc_holdout", "holdout", [9000, 9999], json!({}))],
                 "conditions": []}
            ]},
            {"id": "layer_ui", "policies": [
                {"id": "policy_color_test", "key": "color-test", "state": "running", "kind": "static",
                 "allocations": [
                    alloc("alloc_color_control", "control", [0, 4999], json!({"ui.primaryColor": "#1F2937"})),
                    alloc("alloc_color_blue", "blue", [5000, 9999], json!({"ui.primaryColor": "#2563EB"}))
                 ],
                 "conditions": []}
            ]},
            {"id": "layer_pricing", "policies": [
                {"id": "policy_discount", "key": "discount", "state": "running", "kind": "adaptive",
                 "allocations": [
                    alloc("alloc_discount_0", "discount_0", [0, 2499], json!({"pricing.discount": 0})),
                    alloc("alloc_discount_5", "discount_5", [2500, 4999], json!({"pricing.discount": 5})),
                    alloc("alloc_discount_10", "discount_10", [5000, 7499], json!({"pricing.discount": 10})),
                    alloc("alloc_discount_15", "discount_15", [7500, 9999], json!({"pricing.discount": 15}))
                 ],
                 "conditions": [{"field": "country", "op": "in", "values": ["US", "CA", "GB"]}]}
            ]},
            {"id": "layer_home", "policies": [
                {"id": "policy_hero_draft", "state": "draft", "kind": "static",
                 "allocations": [alloc("alloc_hero_carousel", "carousel", [0, 9999], json!({"home.hero": {"layout": "carousel", "items": 5}}))],
                 "conditions": []}
            ]}
        ],
        "domBindings": [
            {"parameterKey": "checkout.ctaText", "selector": "#checkout-cta", "property": "textContent", "urlPattern": "^/checkout"}
        ]
    })
}

/// The demo project's `.traffical/config.yaml`.
pub const DEMO_CONFIG: &str = r#"# Event definitions and the optimizer's settings for the demo shop.
version: "1.0"
events:
  purchase:
    valueType: currency
    unit: USD
    description: Completed purchase
    schemaEnforcement: warn
    properties:
      order_id: { type: string, required: true, format: uuid }
      total: { type: number, required: true, minimum: 0 }
      payment_method:
        type: string
        required: true
        enum: [credit_card, paypal, apple_pay]
        dimension: true
  add_to_cart:
    valueType: count
    description: Item added to cart

optimization:
  policy_checkout_cta:
    algorithm: thompson_bernoulli
    goal: { event: purchase, type: conversion_rate }
    attribution: decision
    minExposuresBeforeShift: 100
    maxShiftPerUpdate: 0.5
    explorationFloor: 0.02
  policy_discount:                # attribution: cumulative, the platform's default
    algorithm: thompson_bernoulli
    goal: { event: purchase, type: conversion_rate }
    minExposuresBeforeShift: 50     # exposed units per allocation
    windowSizeMinutes: 60
"#;

/// Where the world's users come from, with their shares.
pub(crate) const COUNTRIES: [(&str, f64); 5] = [
    ("US", 0.45),
    ("CA", 0.1),
    ("GB", 0.1),
    ("DE", 0.2),
    ("FR", 0.15),
];
/// Their devices, with shares.
pub(crate) const DEVICES: [(&str, f64); 2] = [("mobile", 0.6), ("desktop", 0.4)];
/// How purchases are paid, with shares.
pub(crate) const PAYMENTS: [(&str, f64); 3] =
    [("credit_card", 0.6), ("paypal", 0.3), ("apple_pay", 0.1)];

pub(crate) struct Effects {
    base: f64,
    alloc: BTreeMap<String, BTreeMap<String, f64>>,
    mobile: f64,
    log_visits: f64,
    mobile_x: BTreeMap<String, BTreeMap<String, f64>>,
}

pub(crate) fn effects() -> Effects {
    let m = |pairs: &[(&str, f64)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    let mut alloc = BTreeMap::new();
    alloc.insert(
        "policy_checkout_cta".to_owned(),
        m(&[("control", 0.0), ("buy_now", 0.12), ("urgency", 0.45)]),
    );
    alloc.insert("policy_checkout_holdout".to_owned(), m(&[("holdout", 0.0)]));
    alloc.insert(
        "policy_color_test".to_owned(),
        m(&[("control", 0.0), ("blue", 0.03)]),
    );
    alloc.insert(
        "policy_discount".to_owned(),
        m(&[
            ("discount_0", 0.0),
            ("discount_5", 0.10),
            ("discount_10", 0.22),
            ("discount_15", 0.30),
        ]),
    );
    let mut mobile_x = BTreeMap::new();
    mobile_x.insert("policy_checkout_cta".to_owned(), m(&[("urgency", 0.15)]));
    Effects {
        base: -3.1,
        alloc,
        mobile: -0.25,
        log_visits: 0.35,
        mobile_x,
    }
}

impl Effects {
    pub(crate) fn logit(&self, ctx: &Map<String, Value>, picks: &[(String, String)]) -> f64 {
        let mobile = ctx.get("device").and_then(Value::as_str) == Some("mobile");
        let visits = ctx.get("visits").and_then(Value::as_f64).unwrap_or(1.0);
        let mut z = self.base + self.log_visits * visits.ln();
        if mobile {
            z += self.mobile;
        }
        for (p, a) in picks {
            z += self
                .alloc
                .get(p)
                .and_then(|m| m.get(a))
                .copied()
                .unwrap_or(0.0);
            if mobile {
                z += self
                    .mobile_x
                    .get(p)
                    .and_then(|m| m.get(a))
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        z
    }
}

/// Of the layers a decision logged, those an exposure event repeats: served by a
/// policy and not attribution-only.
pub(crate) fn exposed_layers(layers: Vec<Layer>) -> Vec<Layer> {
    layers
        .into_iter()
        .filter(|l| !l.attribution_only && l.policy_id.is_some())
        .collect()
}

/// The layers an SDK logs for a resolution (those with a bucket), and the
/// (policy, allocation) pairs it served.
pub(crate) fn logged_layers(r: &Resolution) -> (Vec<Layer>, Vec<(String, String)>) {
    let layers = r
        .layers
        .iter()
        .filter_map(|l| {
            Some(Layer {
                layer_id: l.layer_id.clone(),
                bucket: l.bucket?,
                policy_id: l.policy_id.clone(),
                policy_key: l.policy_key.clone(),
                allocation_id: l.allocation_id.clone(),
                allocation_name: l.allocation_name.clone(),
                allocation_key: l.allocation_key.clone(),
                probability: l.probability,
                attribution_only: l.attribution_only,
                ..Layer::default()
            })
        })
        .collect();
    let picks = r
        .layers
        .iter()
        .filter_map(|l| Some((l.policy_id.clone()?, l.allocation_name.clone()?)))
        .collect();
    (layers, picks)
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

pub(crate) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, f64)]) -> &'a T {
    let mut u: f64 = rng.random();
    for (item, w) in items {
        if u < *w {
            return item;
        }
        u -= w;
    }
    &items[items.len() - 1].0
}

pub(crate) fn uuid(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

const MALFORMED_KINDS: usize = 8;

/// Turns a valid event line into one of eight kinds of malformed line.
fn corrupt(line: &str, kind: usize) -> String {
    let mut v: Value = serde_json::from_str(line).expect("the generator writes valid JSON");
    let o = v.as_object_mut().expect("events are objects");
    match kind {
        0 => return line[..line.len() / 2].to_owned(),
        1 => {
            o.remove("unitKey");
        }
        2 => {
            o.insert("timestamp".into(), json!("yesterday 10:30"));
        }
        3 => {
            o.insert("type".into(), json!("click"));
        }
        4 => match o
            .get_mut("layers")
            .and_then(Value::as_array_mut)
            .and_then(|l| l.first_mut())
        {
            Some(l) => l["bucket"] = json!(-1),
            None => {
                o.insert("value".into(), json!("12.50"));
            }
        },
        5 => match o
            .get_mut("layers")
            .and_then(Value::as_array_mut)
            .and_then(|l| l.first_mut())
        {
            Some(l) => l["probability"] = json!(1.5),
            None => {
                o.remove("event");
            }
        },
        6 => {
            o.insert("context".into(), json!("device=mobile"));
        }
        _ => {
            o.insert("value".into(), json!("12.50"));
            o.insert("type".into(), json!("track"));
            o.insert("event".into(), json!("purchase"));
        }
    }
    serde_json::to_string(&v).expect("JSON values serialise")
}

/// Generates a world.
///
/// # Errors
///
/// [`Error::Parameter`] for zero units or days, or a malformed rate outside
/// [0, 0.5].
pub fn generate(params: &SynthParams) -> Result<World> {
    check_params(params)?;
    let (bundle_json, bundle) = bundle();
    let fx = effects();
    let mut shop = new_shop(params, &bundle, &fx);
    for u in 0..params.units {
        shop.visitor(u);
    }
    let Shop {
        mut rng,
        mut events,
        expected,
        ..
    } = shop;
    events.sort_by_key(|e| e.timestamp);
    let (lines, malformed) = ndjson_lines(&events, params.malformed_rate, &mut rng);
    Ok(World {
        bundle: bundle_json,
        config_yaml: DEMO_CONFIG.to_owned(),
        events,
        lines,
        malformed,
        truth: truth(params.seed, &fx, REVENUE, expected),
    })
}

/// Log-normal revenue per purchase: `mu`, `sigma` of ln(value).
const REVENUE: (f64, f64) = (3.8, 0.6);

fn check_params(params: &SynthParams) -> Result<()> {
    ParameterError::at_least_one("units", params.units)?;
    ParameterError::at_least_one("days", params.days)?;
    if !(0.0..=0.5).contains(&params.malformed_rate) {
        return Err(
            ParameterError::new("malformed_rate", "in [0, 0.5]", params.malformed_rate).into(),
        );
    }
    Ok(())
}

/// The demo bundle as JSON and typed.
fn bundle() -> (Value, Bundle) {
    let json = demo_bundle();
    let bundle: Bundle = serde_json::from_value(json.clone()).expect("the demo bundle is valid");
    (json, bundle)
}

/// The shop before its first visitor.
fn new_shop<'b>(params: &SynthParams, bundle: &'b Bundle, fx: &'b Effects) -> Shop<'b> {
    Shop {
        rng: ChaCha8Rng::seed_from_u64(params.seed),
        resolver: Resolver::new(bundle, params.contract)
            .expect("the demo bundle compiles: it is built here"),
        config_version: &bundle.version,
        fx,
        lognormal: LogNormal::new(REVENUE.0, REVENUE.1).expect("valid constants"),
        start: params.start,
        span_ms: i64::from(params.days) * 86_400_000,
        events: Vec::new(),
        expected: BTreeMap::new(),
        next_id: 0,
    }
}

/// Whether to put a malformed line before the next event's; draws once per event, in
/// event order, so the streaming writer ([`stream`]) draws as [`generate`] does.
fn malformed_before(
    line: &str,
    rate: f64,
    malformed: &mut usize,
    rng: &mut ChaCha8Rng,
) -> Option<String> {
    if rng.random::<f64>() < rate {
        let bad = corrupt(line, *malformed % MALFORMED_KINDS);
        *malformed += 1;
        Some(bad)
    } else {
        None
    }
}

/// The events as ndjson lines, with a malformed line (of each kind in turn) put
/// before a share `rate` of them; and the number of malformed lines.
fn ndjson_lines(events: &[Event], rate: f64, rng: &mut ChaCha8Rng) -> (Vec<String>, usize) {
    let mut lines = Vec::with_capacity(events.len());
    let mut malformed = 0usize;
    for e in events {
        let line = serde_json::to_string(e).expect("events serialise");
        if let Some(bad) = malformed_before(&line, rate, &mut malformed, rng) {
            lines.push(bad);
        }
        lines.push(line);
    }
    (lines, malformed)
}

/// The truth: the model's effects, and each allocation's expected conversion (from
/// the (sum of probabilities, count) per policy and allocation) with the best one.
fn truth(
    seed: u64,
    fx: &Effects,
    revenue: (f64, f64),
    expected: BTreeMap<(String, String), (f64, u64)>,
) -> Truth {
    let mut expected_conversion: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for ((p, a), (sum, n)) in expected {
        expected_conversion
            .entry(p)
            .or_default()
            .insert(a, sum / n as f64);
    }
    let best_allocation = expected_conversion
        .iter()
        .map(|(p, m)| {
            (
                p.clone(),
                m.iter()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(a, _)| a.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    Truth {
        seed,
        base_logit: fx.base,
        allocation_effects: fx.alloc.clone(),
        context_effects: [
            ("mobile".to_owned(), fx.mobile),
            ("log_visits".to_owned(), fx.log_visits),
        ]
        .into_iter()
        .collect(),
        mobile_interactions: fx.mobile_x.clone(),
        expected_conversion,
        best_allocation,
        revenue_lognormal: revenue,
    }
}

/// Writes a world as a project directory: `bundle.json`, `.traffical/config.yaml`,
/// `events.ndjson` and `truth.json`.
///
/// # Errors
///
/// [`Error::Io`] if a file cannot be written.
pub fn write_world(world: &World, dir: &Path) -> Result<()> {
    let io = |p: &Path, e| Error::io(p, e);
    write_project(dir, &world.bundle, &world.config_yaml, &world.truth)?;
    let path = dir.join("events.ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| io(&path, e))?);
    for l in &world.lines {
        out.write_all(l.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| io(&path, e))?;
    }
    out.flush().map_err(|e| io(&path, e))
}

/// Writes `bundle.json`, `.traffical/config.yaml` and `truth.json` into `dir`.
fn write_project(dir: &Path, bundle: &Value, config_yaml: &str, truth: &Truth) -> Result<()> {
    let io = |p: &Path, e| Error::io(p, e);
    let traffical = dir.join(".traffical");
    std::fs::create_dir_all(&traffical).map_err(|e| io(&traffical, e))?;
    let write = |name: &Path, text: &str| std::fs::write(name, text).map_err(|e| io(name, e));
    let mut bundle = serde_json::to_string_pretty(bundle).expect("JSON serialises");
    bundle.push('\n');
    write(&dir.join("bundle.json"), &bundle)?;
    write(&traffical.join("config.yaml"), config_yaml)?;
    let mut truth = serde_json::to_string_pretty(truth).expect("the truth serialises");
    truth.push('\n');
    write(&dir.join("truth.json"), &truth)
}
