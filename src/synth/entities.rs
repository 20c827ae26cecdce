//! A seeded per-entity world: product pages where each product has its own best
//! image order (fixed allocations) and its own best first gallery image (dynamic
//! allocations, one per image), with a skewed popularity so that some products have
//! plenty of traffic and many have little.
//!
//! It is separate from the demo world ([`super::generate`]) so that the demo's data
//! and the quickstart's numbers stay as they are. Every product view is resolved
//! against the bundle as an SDK would ([`crate::sdk::resolve()`]); decision and
//! exposure events log the context the policies' `contextLogging` allows
//! (`productId`, `imageCount`); a purchase carries the decision id.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{alloc, logged_layers};
use crate::error::SimulationError;
use crate::error::{Error, ParameterError, Result};
use crate::events::{Event, EventType};
use crate::sdk::{resolve, Bundle, HashContract};
use crate::time::{parse_rfc3339, Millis};

/// Parameters of the per-entity world.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityWorldParams {
    /// Product views.
    pub views: u32,
    /// Products.
    pub products: u32,
    /// Master seed.
    pub seed: u64,
    /// First instant.
    pub start: Millis,
    /// Hours the views spread over.
    pub hours: u32,
}

impl Default for EntityWorldParams {
    fn default() -> Self {
        Self {
            views: 20_000,
            products: 40,
            seed: 11,
            start: parse_rfc3339("2026-11-01T00:00:00Z").expect("a valid constant"),
            hours: 48,
        }
    }
}

/// The truth of one product.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductTruth {
    /// Number of images (the dynamic policy's allocation count).
    pub images: u32,
    /// The best image order (an allocation name of `policy_image_order`).
    pub best_order: String,
    /// The best first image (an index of `policy_gallery_start`).
    pub best_start: u32,
    /// Share of views.
    pub popularity: f64,
}

/// A per-entity world.
#[derive(Clone, Debug)]
pub struct EntityWorld {
    /// The bundle, as JSON.
    pub bundle: Value,
    /// `.traffical/config.yaml` text.
    pub config_yaml: String,
    /// Events, in time order.
    pub events: Vec<Event>,
    /// Per product id.
    pub truth: BTreeMap<String, ProductTruth>,
}

/// Image orders of `policy_image_order`.
pub const ORDERS: [&str; 3] = ["default", "lifestyle_first", "closeup_first"];
/// Conversion of a view with neither best choice.
pub const BASE_RATE: f64 = 0.04;
/// Added by the product's best image order.
pub const ORDER_LIFT: f64 = 0.08;
/// Added by the product's best first image.
pub const START_LIFT: f64 = 0.04;

/// The per-entity bundle: a fixed-allocation and a dynamic-allocation per-entity
/// policy, in two layers.
#[must_use]
pub fn entity_bundle() -> Value {
    json!({
        "version": "2026-10-31T00:00:00.000Z",
        "orgId": "org_demo",
        "projectId": "proj_shop",
        "env": "production",
        "hashing": {"unitKey": "userId", "bucketCount": 10000},
        "parameters": [
            {"key": "pdp.imageOrder", "type": "string", "default": "default", "layerId": "layer_pdp", "namespace": "pdp"},
            {"key": "pdp.galleryStart", "type": "number", "default": 0, "layerId": "layer_gallery", "namespace": "pdp"}
        ],
        "layers": [
            {"id": "layer_pdp", "policies": [
                {"id": "policy_image_order", "key": "image-order", "state": "running", "kind": "adaptive",
                 "allocations": [
                    alloc("alloc_order_default", ORDERS[0], [0, 3332], json!({"pdp.imageOrder": ORDERS[0]})),
                    alloc("alloc_order_lifestyle", ORDERS[1], [3333, 6665], json!({"pdp.imageOrder": ORDERS[1]})),
                    alloc("alloc_order_closeup", ORDERS[2], [6666, 9999], json!({"pdp.imageOrder": ORDERS[2]}))
                 ],
                 "conditions": [],
                 "entityConfig": {"entityKeys": ["productId"], "resolutionMode": "bundle"},
                 "contextLogging": {"allowedFields": ["productId"]}}
            ]},
            {"id": "layer_gallery", "policies": [
                {"id": "policy_gallery_start", "key": "gallery-start", "state": "running", "kind": "adaptive",
                 "allocations": [],
                 "conditions": [],
                 "entityConfig": {"entityKeys": ["productId"], "resolutionMode": "bundle",
                                  "dynamicAllocations": {"countKey": "imageCount"}},
                 "contextLogging": {"allowedFields": ["productId", "imageCount"]}}
            ]}
        ]
    })
}

/// The per-entity world's config.
pub const ENTITY_CONFIG: &str = r#"# Per-entity policies of the product pages.
version: "1.0"
events:
  purchase:
    valueType: currency
    unit: USD
    description: Completed purchase
optimization:
  policy_image_order:
    algorithm: thompson_bernoulli
    goal: { event: purchase, type: conversion_rate }
    attribution: decision
    minExposuresBeforeShift: 50
    explorationFloor: 0.02
    entityConfig:
      entityKeys: [productId]
      minEntityExposures: 30
      priorStrength: 20
  policy_gallery_start:
    algorithm: thompson_bernoulli
    goal: { event: purchase, type: conversion_rate }
    attribution: decision
    minExposuresBeforeShift: 20
    explorationFloor: 0.02
    entityConfig:
      dynamicAllocations: { countKey: imageCount }
"#;

/// Generates the per-entity world.
///
/// # Errors
///
/// [`Error::Parameter`] for zero views, products or hours.
pub fn entity_world(params: &EntityWorldParams) -> Result<EntityWorld> {
    ParameterError::at_least_one("views", params.views)?;
    ParameterError::at_least_one("products", params.products)?;
    ParameterError::at_least_one("hours", params.hours)?;
    let bundle_json = entity_bundle();
    let bundle: Bundle =
        serde_json::from_value(bundle_json.clone()).expect("the entity bundle is valid");
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let (truth, products) = draw_products(&mut rng, params.products);
    let span = f64::from(params.hours) * 3_600_000.0;
    let mut views = ProductViews {
        bundle: &bundle,
        rng,
        next_id: 0,
        events: Vec::new(),
    };
    for v in 0..params.views {
        let ts = params.start + (f64::from(v) / f64::from(params.views) * span) as i64;
        views.view(v, ts, &products, &truth)?;
    }
    let mut events = views.events;
    events.sort_by_key(|e| e.timestamp);
    Ok(EntityWorld {
        bundle: bundle_json,
        config_yaml: ENTITY_CONFIG.to_owned(),
        events,
        truth,
    })
}

/// Each product's image count, best choices and popularity (Zipf-like: product `i`
/// gets weight 1 / (i + 1)); and the (product, share) list views pick from.
fn draw_products(
    rng: &mut ChaCha8Rng,
    n: u32,
) -> (BTreeMap<String, ProductTruth>, Vec<(String, f64)>) {
    let raw: Vec<f64> = (0..n).map(|i| 1.0 / f64::from(i + 1)).collect();
    let total: f64 = raw.iter().sum();
    let mut truth = BTreeMap::new();
    let mut products = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let id = format!("prod-{i:03}");
        let images = 2 + (rng.random::<f64>() * 4.0) as u32;
        let t = ProductTruth {
            images,
            best_order: ORDERS[(rng.random::<f64>() * 3.0) as usize % 3].to_owned(),
            best_start: (rng.random::<f64>() * f64::from(images)) as u32 % images,
            popularity: w / total,
        };
        products.push((id.clone(), t.popularity));
        truth.insert(id, t);
    }
    (truth, products)
}

/// A view's purchase probability: the base rate plus the lifts of the product's
/// best choices among the served `picks`.
fn conversion(product: &ProductTruth, picks: &[(String, String)]) -> f64 {
    let mut p = BASE_RATE;
    for (policy, allocation) in picks {
        if policy == "policy_image_order" && *allocation == product.best_order {
            p += ORDER_LIFT;
        }
        if policy == "policy_gallery_start" && *allocation == product.best_start.to_string() {
            p += START_LIFT;
        }
    }
    p
}

/// The simulation's state across product views.
struct ProductViews<'b> {
    bundle: &'b Bundle,
    rng: ChaCha8Rng,
    next_id: u64,
    events: Vec<Event>,
}

impl ProductViews<'_> {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{:08}", self.next_id)
    }

    /// View `v` at `ts`: a user and a product drawn, resolved as an SDK would, logged
    /// as a decision and an exposure, and maybe a purchase a minute later.
    fn view(
        &mut self,
        v: u32,
        ts: Millis,
        products: &[(String, f64)],
        truth: &BTreeMap<String, ProductTruth>,
    ) -> Result<()> {
        let bundle = self.bundle;
        let user = format!("user_{:06}", (self.rng.random::<f64>() * 5000.0) as u32);
        let product = super::pick(&mut self.rng, products).clone();
        let t_product = &truth[&product];
        let mut ctx = Map::new();
        ctx.insert("userId".into(), json!(user));
        ctx.insert("productId".into(), json!(product));
        ctx.insert("imageCount".into(), json!(t_product.images));
        let r =
            resolve(bundle, &ctx, HashContract::Sha256V2).map_err(|e| SimulationError::Sdk {
                step: "resolve",
                reason: e.to_string(),
            })?;
        let (layers, picks) = logged_layers(&r);
        let p = conversion(t_product, &picks);
        let logged: Map<String, Value> = ["productId", "imageCount"]
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), ctx.get(*k)?.clone())))
            .collect();
        let decision_id = self.id("dec");
        let base = |kind: EventType, at: Millis| Event {
            org_id: Some("org_demo".to_owned()),
            project_id: Some("proj_shop".to_owned()),
            env: Some("production".to_owned()),
            session_id: Some(format!("sess_{user}_{}", v / 50)),
            config_version: Some(bundle.version.clone()),
            decision_id: Some(decision_id.clone()),
            ..Event::new(kind, user.clone(), at)
        };
        let mut decision = base(EventType::Decision, ts);
        decision.id = Some(self.id("evt"));
        decision.assignments = Some(r.assignments.clone());
        decision.layers = layers.clone();
        decision.context = Some(logged.clone());
        self.events.push(decision);
        let mut exposure = base(EventType::Exposure, ts + 100);
        exposure.id = Some(self.id("evt"));
        exposure.assignments = Some(r.assignments);
        exposure.layers = crate::synth::exposed_layers(layers);
        exposure.context = Some(logged);
        if !exposure.layers.is_empty() {
            self.events.push(exposure);
        }
        if self.rng.random::<f64>() < p {
            let mut purchase = base(EventType::Track, ts + 60_000);
            purchase.id = Some(self.id("evt"));
            purchase.event = Some("purchase".into());
            purchase.value = Some(20.0);
            self.events.push(purchase);
        }
        Ok(())
    }
}

impl EntityWorld {
    /// Writes `bundle.json`, `.traffical/config.yaml`, `events.ndjson` and
    /// `truth.json` into `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if a file cannot be written.
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.write_events(dir, &self.events, "events.ndjson")?;
        let traffical = dir.join(".traffical");
        std::fs::create_dir_all(&traffical).map_err(|e| Error::io(&traffical, e))?;
        let write =
            |name: &Path, text: String| std::fs::write(name, text).map_err(|e| Error::io(name, e));
        write(
            &dir.join("bundle.json"),
            serde_json::to_string_pretty(&self.bundle).expect("JSON serialises") + "\n",
        )?;
        write(&traffical.join("config.yaml"), self.config_yaml.clone())?;
        write(
            &dir.join("truth.json"),
            serde_json::to_string_pretty(&self.truth).expect("the truth serialises") + "\n",
        )
    }

    /// Writes `events` as ndjson to `dir/name`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be written.
    pub fn write_events(&self, dir: &Path, events: &[Event], name: &str) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut text = String::new();
        for e in events {
            text.push_str(&serde_json::to_string(e).expect("events serialise"));
            text.push('\n');
        }
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }
}
