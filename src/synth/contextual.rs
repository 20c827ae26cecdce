//! A seeded world where the best allocation depends on the context: a home-page hero
//! banner whose best variant differs by device and by the visitor's number of visits.
//!
//! It stands beside the demo shop (`effects()`, [`super::demo_bundle`]) without
//! changing it, so `datasets/demo` and the quickstart numbers stay as they are. The
//! batched-retrain simulator ([`crate::simulate`]) runs on it to show what a
//! contextual bandit learns that a multi-armed one cannot.
//!
//! Truth: a unit converts (purchases) with probability `sigmoid(z)`, where `z`
//! depends on the banner served and the unit's context:
//!
//! | banner | logit `z` | desktop, 1 visit | desktop, 20 | mobile, 1 | mobile, 20 |
//! |--------|-----------|-----------------:|------------:|----------:|-----------:|
//! | `static` | −1.73 | 0.151 | 0.151 | 0.151 | 0.151 |
//! | `carousel` | −2.2 + 1.35·mobile | 0.100 | 0.100 | 0.299 | 0.299 |
//! | `video` | −3.2 + 0.2·visits − 1.2·mobile | 0.047 | 0.690 | 0.015 | 0.401 |
//!
//! So the best banner is `carousel` on mobile up to 17 visits and `video` beyond;
//! on desktop it is `static` up to 7 visits and `video` beyond. Averaged over the
//! population (60 % mobile, visits skewed towards few), `carousel` is the best single
//! banner, which is where a non-contextual bandit settles. With the simulator's
//! contexts (visits `1 + ⌊⌊(20u)²⌋ / 20⌋`, `u` uniform), `carousel` is the best banner
//! for 0.6 · √340 / 20 = 55.3 % of units, `static` for 0.4 · √140 / 20 = 23.7 % and
//! `video` for 21.0 %: a policy blind to the context serves the best banner to at
//! most 55.3 % of units. The country is logged too and has no effect: a feature the
//! model must learn to ignore.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::alloc;

/// The policy the contextual world optimises.
pub const HERO_POLICY: &str = "policy_hero_banner";

/// The contextual world's bundle: one layer, one adaptive policy with three banners
/// on equal bucket ranges and `contextLogging` of country, device and visits. It has
/// no `contextualModel` yet: the first `linear_contextual` retrain publishes one.
#[must_use]
pub fn contextual_bundle() -> Value {
    json!({
        "version": "2026-10-31T00:00:00.000Z",
        "orgId": "org_demo",
        "projectId": "proj_shop",
        "env": "production",
        "hashing": {"unitKey": "userId", "bucketCount": 10000},
        "parameters": [
            {"key": "home.hero", "type": "string", "default": "static", "layerId": "layer_home", "namespace": "home"}
        ],
        "layers": [
            {"id": "layer_home", "policies": [
                {"id": HERO_POLICY, "key": "hero-banner", "state": "running", "kind": "adaptive",
                 "allocations": [
                    alloc("alloc_hero_static", "static", [0, 3332], json!({"home.hero": "static"})),
                    alloc("alloc_hero_carousel", "carousel", [3333, 6665], json!({"home.hero": "carousel"})),
                    alloc("alloc_hero_video", "video", [6666, 9999], json!({"home.hero": "video"}))
                 ],
                 "conditions": [],
                 "contextLogging": {"allowedFields": ["country", "device", "visits"]}}
            ]}
        ]
    })
}

/// The contextual world's `.traffical/config.yaml`, with `ALGORITHM` standing for the
/// algorithm line(s) of the hero policy (see [`contextual_config`]).
const CONTEXTUAL_CONFIG: &str = r#"# The hero banner: its best variant depends on the device and the visits.
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

optimization:
  policy_hero_banner:
    ALGORITHM
    goal: { event: purchase, type: conversion_rate }
    attribution: decision
    minExposuresBeforeShift: 50
    explorationFloor: 0.05          # as the contextual model's actionProbabilityFloor
    maturityMinutes: 30             # purchases follow within 30 minutes
"#;

/// The contextual world's config with the hero policy's `algorithm` line(s), e.g.
/// `"algorithm: thompson_bernoulli"` or `"algorithm: linear_contextual\n    method:
/// lints"` (indented by four spaces after the first line).
#[must_use]
pub fn contextual_config(algorithm_lines: &str) -> String {
    CONTEXTUAL_CONFIG.replace("ALGORITHM", algorithm_lines)
}

/// The truth of the contextual world (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ContextualEffects {
    /// Per banner: (intercept, mobile, visits) on the logit scale.
    pub(crate) banners: BTreeMap<String, (f64, f64, f64)>,
}

pub(crate) fn contextual_effects() -> ContextualEffects {
    let banners = [
        ("static", (-1.73, 0.0, 0.0)),
        ("carousel", (-2.2, 1.35, 0.0)),
        ("video", (-3.2, -1.2, 0.2)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    ContextualEffects { banners }
}

impl ContextualEffects {
    /// Logit of a purchase for a context and the (policy, allocation) pairs served.
    /// A unit the hero policy did not serve converts at the `static` rate.
    pub(crate) fn logit(&self, ctx: &Map<String, Value>, picks: &[(String, String)]) -> f64 {
        let mobile = ctx.get("device").and_then(Value::as_str) == Some("mobile");
        let visits = ctx.get("visits").and_then(Value::as_f64).unwrap_or(1.0);
        let banner = picks
            .iter()
            .find(|(p, _)| p == HERO_POLICY)
            .map_or("static", |(_, a)| a.as_str());
        let (b0, b_mobile, b_visits) = self
            .banners
            .get(banner)
            .copied()
            .unwrap_or((-1.73, 0.0, 0.0));
        b0 + if mobile { b_mobile } else { 0.0 } + b_visits * visits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;
    use crate::synth::sigmoid;

    fn p(device: &str, visits: u64, banner: &str) -> f64 {
        let mut ctx = Map::new();
        ctx.insert("device".into(), json!(device));
        ctx.insert("visits".into(), json!(visits));
        sigmoid(contextual_effects().logit(&ctx, &[(HERO_POLICY.to_owned(), banner.to_owned())]))
    }

    fn best(device: &str, visits: u64) -> &'static str {
        ["static", "carousel", "video"]
            .into_iter()
            .max_by(|a, b| p(device, visits, a).total_cmp(&p(device, visits, b)))
            .unwrap()
    }

    #[test]
    fn the_best_banner_depends_on_device_and_visits() {
        assert_eq!(best("desktop", 1), "static");
        assert_eq!(best("desktop", 7), "static");
        assert_eq!(best("desktop", 8), "video");
        assert_eq!(best("mobile", 1), "carousel");
        assert_eq!(best("mobile", 17), "carousel");
        assert_eq!(best("mobile", 18), "video");
        // The table of the module docs, to three decimals.
        assert!((p("desktop", 20, "video") - 0.690).abs() < 5e-4);
        assert!((p("mobile", 1, "carousel") - 0.299).abs() < 5e-4);
        assert!((p("mobile", 20, "video") - 0.401).abs() < 5e-4);
    }

    #[test]
    fn bundle_and_configs_are_valid_and_agree() {
        let bundle: crate::sdk::Bundle = serde_json::from_value(contextual_bundle()).unwrap();
        assert_eq!(bundle.layers[0].policies[0].id, HERO_POLICY);
        for lines in [
            "algorithm: thompson_bernoulli",
            "algorithm: linear_contextual\n    method: lints",
        ] {
            let config =
                ProjectConfig::from_str_named(&contextual_config(lines), "contextual").unwrap();
            assert!(config.optimization.contains_key(HERO_POLICY));
        }
    }
}
