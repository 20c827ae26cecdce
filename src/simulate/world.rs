//! The worlds a simulation can run in, and what each algorithm name means in them.

use serde_json::{json, Map, Value};

use crate::algorithm::Algorithm;
use crate::config::ProjectConfig;
use crate::error::Result;
use crate::fit::FitAlgorithm;
use crate::policy::contextual::ContextualSettings;
use crate::synth::contextual::ContextualEffects;
use crate::synth::contextual::{contextual_bundle, contextual_config, contextual_effects};
use crate::synth::{demo_bundle, effects, Effects, DEMO_CONFIG};

/// The arms a simulation can compare: `uniform` (no retraining), the multi-armed
/// algorithms of the `optimization:` section, and `linear_contextual` as LinUCB
/// (`linucb`) or linear Thompson sampling (`lints`), its `method`.
/// Their names come from [`FitAlgorithm::ALL`], the list `fit` knows.
pub const ALGORITHMS: [&str; 7] = {
    let mut names = [UNIFORM; 7];
    let mut i = 0;
    while i < FitAlgorithm::ALL.len() {
        names[i + 1] = FitAlgorithm::ALL[i].as_str();
        i += 1;
    }
    names
};

/// The arm that never retrains.
pub(super) const UNIFORM: &str = "uniform";

/// What the contextual world compares by default: the linear methods against the
/// best-known multi-armed algorithm and no learning at all.
const CONTEXTUAL_DEFAULTS: [&str; 4] = [
    UNIFORM,
    FitAlgorithm::ThompsonBernoulli.as_str(),
    FitAlgorithm::Linucb.as_str(),
    FitAlgorithm::Lints.as_str(),
];

/// Which world with known truth units come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorldKind {
    /// The demo shop of `bandit-engine synth` (checkout and discount policies):
    /// every effect is additive on the logit scale, so the best allocation is the
    /// same in every context.
    #[default]
    Shop,
    /// The hero banner of [`crate::synth::contextual`]: the best banner depends on
    /// the device and the number of visits.
    Contextual,
}

impl WorldKind {
    /// The algorithms compared when none are named.
    #[must_use]
    pub fn default_algorithms(self) -> Vec<String> {
        let names: &[&str] = match self {
            Self::Shop => &ALGORITHMS[..5],
            Self::Contextual => &CONTEXTUAL_DEFAULTS,
        };
        names.iter().map(|a| (*a).to_owned()).collect()
    }

    /// The bundle live before the first retrain. With `gamma` and a linear
    /// algorithm, every optimised policy starts with a `contextualModel` of that
    /// softmax temperature, the default floor (0.05) and no coefficients (every
    /// allocation scores `defaultAllocationScore`, so traffic starts uniform); the
    /// engine keeps these settings when it publishes coefficients. Without `gamma`
    /// the first fit publishes the defaults ([`ContextualSettings::default`]).
    pub(super) fn bundle(self, algorithm: &str, gamma: Option<f64>) -> Value {
        let mut bundle = match self {
            Self::Shop => demo_bundle(),
            Self::Contextual => contextual_bundle(),
        };
        let (Some(gamma), true) = (gamma, is_linear(algorithm)) else {
            return bundle;
        };
        let optimised: Vec<String> = self
            .config(UNIFORM)
            .map(|c| c.optimization.keys().cloned().collect())
            .unwrap_or_default();
        let settings = ContextualSettings {
            gamma,
            ..ContextualSettings::default()
        };
        let mut model = serde_json::to_value(settings).expect("settings serialise");
        model["coefficients"] = json!({});
        let layers = bundle["layers"].as_array_mut().into_iter().flatten();
        for policy in layers.flat_map(|l| l["policies"].as_array_mut().into_iter().flatten()) {
            if optimised.iter().any(|id| policy["id"] == id.as_str()) {
                policy["contextualModel"] = model.clone();
            }
        }
        bundle
    }

    /// The world's config with every optimised policy switched to `algorithm`
    /// (`uniform` keeps the world's own: it never retrains).
    pub(super) fn config(self, algorithm: &str) -> Result<ProjectConfig> {
        // The worlds' own configs learn with thompson_bernoulli.
        let own = format!("algorithm: {}", Algorithm::ThompsonBernoulli.as_str());
        let lines = match algorithm {
            UNIFORM => own.clone(),
            linear if is_linear(linear) => format!(
                "algorithm: {}\n    method: {algorithm}",
                Algorithm::LinearContextual.as_str()
            ),
            other => format!("algorithm: {other}"),
        };
        let text = match self {
            Self::Shop => DEMO_CONFIG.replace(&own, &lines),
            Self::Contextual => contextual_config(&lines),
        };
        ProjectConfig::from_str_named(&text, &format!("simulated config ({algorithm})"))
    }

    pub(super) fn truth(self) -> Truth {
        match self {
            Self::Shop => Truth::Shop(effects()),
            Self::Contextual => Truth::Contextual(contextual_effects()),
        }
    }
}

/// Whether an algorithm name of [`ALGORITHMS`] is `linear_contextual`.
pub(super) fn is_linear(algorithm: &str) -> bool {
    algorithm
        .parse::<FitAlgorithm>()
        .is_ok_and(FitAlgorithm::is_linear)
}

/// The true conversion model of a world.
pub(super) enum Truth {
    Shop(Effects),
    Contextual(ContextualEffects),
}

impl Truth {
    /// Logit of a conversion for a context and the (policy, allocation) pairs served.
    pub(super) fn logit(&self, ctx: &Map<String, Value>, picks: &[(String, String)]) -> f64 {
        match self {
            Self::Shop(fx) => fx.logit(ctx, picks),
            Self::Contextual(fx) => fx.logit(ctx, picks),
        }
    }
}
