//! The demo shop's visitors: a context each, one to three sessions of one or two page
//! views, every view resolved against the bundle and logged as an SDK would, with the
//! cart and purchase events that follow. Draws come from one seeded generator in a
//! fixed order, so a seed always makes the same world.

use std::collections::BTreeMap;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use serde_json::{json, Map, Value};

use super::{
    exposed_layers, logged_layers, pick, sigmoid, uuid, Effects, COUNTRIES, DEVICES, PAYMENTS,
};
use crate::events::{Event, EventType};
use crate::sdk::Resolver;
use crate::time::Millis;

/// The simulation's state, shared by every visitor.
pub(super) struct Shop<'b> {
    pub(super) rng: ChaCha8Rng,
    pub(super) resolver: Resolver<'b>,
    /// The bundle version every event logs as its `configVersion`.
    pub(super) config_version: &'b str,
    pub(super) fx: &'b Effects,
    /// Revenue per purchase.
    pub(super) lognormal: LogNormal<f64>,
    /// The first instant and the span (ms) over which visitors arrive.
    pub(super) start: Millis,
    pub(super) span_ms: i64,
    pub(super) events: Vec<Event>,
    /// Expected conversion per (policy, allocation): sum of probabilities, count.
    pub(super) expected: BTreeMap<(String, String), (f64, u64)>,
    pub(super) next_id: u64,
}

/// What every event of one visitor carries.
struct Visitor {
    user: String,
    ctx: Map<String, Value>,
    /// A few SDKs send no org, project or env.
    omit_ids: bool,
}

/// What every event of one page view carries.
struct View<'v> {
    visitor: &'v Visitor,
    session: &'v str,
    config_version: &'v str,
    decision_id: String,
}

impl View<'_> {
    fn event(&self, kind: EventType, ts: Millis) -> Event {
        let omit_ids = self.visitor.omit_ids;
        Event {
            org_id: (!omit_ids).then(|| "org_demo".to_owned()),
            project_id: (!omit_ids).then(|| "proj_shop".to_owned()),
            env: (!omit_ids).then(|| "production".to_owned()),
            session_id: Some(self.session.to_owned()),
            sdk_name: Some("js-client".into()),
            sdk_version: Some("0.12.0".into()),
            config_version: Some(self.config_version.to_owned()),
            decision_id: Some(self.decision_id.clone()),
            ..Event::new(kind, self.visitor.user.clone(), ts)
        }
    }
}

impl Shop<'_> {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{:08}", self.next_id)
    }

    /// Unit `u`: draws their context, then their sessions' page views.
    pub(super) fn visitor(&mut self, u: u32) {
        let rng = &mut self.rng;
        let user = format!("user_{u:06}");
        let country = *pick(rng, &COUNTRIES);
        let device = *pick(rng, &DEVICES);
        let visits = 1 + (rng.random::<f64>() * 20.0).powi(2) as u64 / 20;
        let mut ctx = Map::new();
        ctx.insert("userId".into(), json!(user));
        ctx.insert("country".into(), json!(country));
        ctx.insert("device".into(), json!(device));
        ctx.insert("visits".into(), json!(visits));
        let sessions = 1 + (rng.random::<f64>() * 3.0) as u32;
        let mut t = self.start + (rng.random::<f64>() * self.span_ms as f64) as i64;
        let omit_ids = rng.random::<f64>() < 0.02;
        let visitor = Visitor {
            user,
            ctx,
            omit_ids,
        };
        for s in 0..sessions {
            let session = format!("sess_{u:06}_{s}");
            let views = 1 + u32::from(self.rng.random::<f64>() < 0.35);
            for _ in 0..views {
                self.page_view(&visitor, &session, t);
                t += 30_000 + (self.rng.random::<f64>() * 600_000.0) as i64;
            }
            t += 3_600_000 + (self.rng.random::<f64>() * 86_400_000.0) as i64;
        }
    }

    /// One page view at `t`: the decision and exposure an SDK logs, then maybe an
    /// add-to-cart and a purchase with the view's conversion probability.
    fn page_view(&mut self, visitor: &Visitor, session: &str, t: Millis) {
        let r = self
            .resolver
            .resolve(&visitor.ctx)
            .expect("the demo bundle has only bucket-based policies");
        let view = View {
            visitor,
            session,
            config_version: self.config_version,
            decision_id: self.id("dec"),
        };
        let (layers, picks) = logged_layers(&r);
        let p = sigmoid(self.fx.logit(&visitor.ctx, &picks));
        for pk in &picks {
            let e = self.expected.entry(pk.clone()).or_default();
            e.0 += p;
            e.1 += 1;
        }
        let logged: Map<String, Value> = ["country", "device", "visits"]
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), visitor.ctx.get(*k)?.clone())))
            .collect();
        let mut decision = view.event(EventType::Decision, t);
        decision.id = Some(self.id("evt"));
        decision.assignments = Some(r.assignments.clone());
        decision.layers = layers.clone();
        decision.context = Some(logged.clone());
        decision.latency_ms = Some(1 + (self.rng.random::<f64>() * 4.0) as i64);
        self.events.push(decision);
        let mut exposure = view.event(EventType::Exposure, t + 150);
        exposure.id = Some(self.id("evt"));
        exposure.assignments = Some(r.assignments);
        exposure.layers = exposed_layers(layers);
        exposure.context = Some(logged);
        if !exposure.layers.is_empty() {
            self.events.push(exposure);
        }
        if self.rng.random::<f64>() < 0.2 {
            let ts = t + 20_000 + (self.rng.random::<f64>() * 120_000.0) as i64;
            let mut cart = view.event(EventType::Track, ts);
            cart.id = Some(self.id("evt"));
            cart.event = Some("add_to_cart".into());
            cart.value = Some(1.0 + (self.rng.random::<f64>() * 3.0).floor());
            self.events.push(cart);
        }
        if self.rng.random::<f64>() < p {
            let purchase = self.purchase(&view, t);
            self.events.push(purchase);
        }
    }

    /// A purchase after the view at `t`: its order, total and payment, and how it is
    /// delivered (most with the decision id; some by webhook, late, or days later).
    fn purchase(&mut self, view: &View<'_>, t: Millis) -> Event {
        let happened = t + 60_000 + (self.rng.random::<f64>() * 1_800_000.0) as i64;
        let mut purchase = view.event(EventType::Track, happened);
        purchase.id = Some(self.id("evt"));
        purchase.event = Some("purchase".into());
        let rng = &mut self.rng;
        let draw: f64 = self.lognormal.sample(rng);
        let total = (draw * 100.0).round() / 100.0;
        purchase.value = Some(total);
        let mut props = Map::new();
        props.insert("order_id".into(), json!(uuid(rng)));
        props.insert("total".into(), json!(total));
        props.insert("payment_method".into(), json!(pick(rng, &PAYMENTS)));
        purchase.properties = Some(props);
        let route: f64 = rng.random();
        if route < 0.12 {
            // A webhook: no decision id, no session.
            purchase.decision_id = None;
            purchase.session_id = None;
            purchase.sdk_name = Some("node".into());
        } else if route < 0.17 {
            // Delivered late by a batch pipeline.
            purchase.event_timestamp = Some(happened);
            purchase.timestamp = happened + 3_600_000 * (1 + (rng.random::<f64>() * 12.0) as i64);
        } else if route < 0.20 {
            // The email pattern: the decision id comes back days later.
            purchase.timestamp = happened + 86_400_000 * (1 + (rng.random::<f64>() * 3.0) as i64);
            purchase.session_id = None;
        }
        purchase
    }
}
