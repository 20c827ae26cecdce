//! The common case in one call: config, bundle and events in; a new bundle, a run
//! report and the quarantine out.
//!
//! `load → attribute → reward table → fit → allocate → rewrite bundle`. Every time the
//! engine writes comes from `as_of` (by default the latest event time), never the
//! wall clock, so the same inputs and seed give the same bytes.

use std::path::{Path, PathBuf};

use polars::prelude::{col, lit, IntoLazy, LazyFrame};
use serde::Serialize;

mod contextual;
mod entities;
pub mod health;
mod learning;

pub use entities::{cross_check_entities, EntityReport};
pub use health::{HealthCheck, HealthStatus};

use crate::attribution::{AttributionParams, AttributionReport, TouchModel};
use crate::bundle::BundleDocument;
use crate::config::{
    Algorithm, AttributionMode, AttributionModel, OptimizationSpec, ProjectConfig,
};
use crate::enforce::{enforce, Discovered, EnforcementReport};
use crate::error::{Error, Result};
use crate::events::{load_events_with_progress, LoadOptions, LoadReport, Loaded, Rejected};
use crate::goal::{
    attribution_goal, goal_rewards_with, goal_value_tables, CapReport, GoalValueReport,
};
use crate::policy::{apply_floor, cap_shift, fit_multi_armed, layout_ranges, Learner};
use crate::progress::{NoProgress, Progress};
use crate::publish::{self, PublishOptions, Store};
use crate::reward::{arm_stats, ArmStats};
use crate::sdk::model::{PolicyKind, PolicyState};
use crate::state::{sha256_hex, EngineState};
use crate::time::{format_rfc3339, parse_rfc3339, Millis};

/// Where the inputs are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrainInputs {
    /// `.traffical/config.yaml`.
    pub config: PathBuf,
    /// The current config bundle.
    pub bundle: PathBuf,
    /// Event files (ndjson, csv, parquet).
    pub events: Vec<PathBuf>,
}

impl RetrainInputs {
    /// Inputs from paths.
    pub fn from_paths(
        config: impl Into<PathBuf>,
        bundle: impl Into<PathBuf>,
        events: &[impl AsRef<Path>],
    ) -> Self {
        Self {
            config: config.into(),
            bundle: bundle.into(),
            events: events.iter().map(|p| p.as_ref().to_path_buf()).collect(),
        }
    }
}

/// How to run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetrainOptions {
    /// The run's instant; default: the latest event time.
    pub as_of: Option<Millis>,
    /// Master seed of every random draw.
    pub seed: u64,
    /// Stop at the first malformed record instead of quarantining it.
    pub strict: bool,
    /// Attribution mode for every policy, overriding the config.
    pub attribution: Option<AttributionMode>,
    /// Multi-touch model for every policy, overriding the config (the config's
    /// half-life and position weights still apply).
    pub attribution_model: Option<AttributionModel>,
    /// Inactivity gap that ends a session for events without `sessionId`;
    /// `None` is 30 minutes.
    pub session_gap_ms: Option<i64>,
    /// Who counts as treated in `metrics` (exposed units, or assigned units: intent to
    /// treat). Retrains always learn from exposed units.
    pub population: crate::attribution::Population,
}

/// Outcome of one policy in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// New allocations were published.
    Updated,
    /// The fit left the allocations as they were.
    NoChange,
    /// Some allocation has fewer exposures than `minExposuresBeforeShift`.
    InsufficientExposures,
    /// Less than `windowSizeMinutes` since the policy's `stateVersion`.
    TooSoon,
    /// The policy could not be fitted; the reason says why. Its allocations are kept.
    Errored,
}

impl RunStatus {
    /// The report name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::NoChange => "no_change",
            Self::InsufficientExposures => "insufficient_exposures",
            Self::TooSoon => "too_soon",
            Self::Errored => "errored",
        }
    }
}

/// One allocation in the run report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmReport {
    /// Allocation name.
    pub name: String,
    /// Units of analysis exposed (decisions, in decision mode), as used by the fit:
    /// the previous state's totals plus this run's new exposures.
    pub exposures: u64,
    /// Of those, exposures counted for the first time in this run.
    pub new_exposures: u64,
    /// Sum of rewards (conversions, for conversion rates), as used by the fit.
    pub reward_sum: f64,
    /// Sum of squared rewards, as used by the fit.
    pub reward_sum_sq: f64,
    /// Mean reward.
    pub mean: Option<f64>,
    /// Posterior probability of being best, when fitted.
    pub probability_best: Option<f64>,
    /// Share of the policy's buckets before.
    pub old_share: f64,
    /// Share after (equal to `old_share` unless updated).
    pub new_share: f64,
    /// Range before.
    pub old_range: [u32; 2],
    /// Range after.
    pub new_range: [u32; 2],
}

/// One policy in the run report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// Policy id.
    pub policy_id: String,
    /// Its layer.
    pub layer_id: String,
    /// Algorithm name.
    pub algorithm: &'static str,
    /// What happened.
    pub status: RunStatus,
    /// Why, for anything but `updated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Per allocation, in bundle order.
    pub arms: Vec<ArmReport>,
    /// The latest exposure of this policy in the events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exposure_at: Option<String>,
    /// The statistics cover reward rows exposed up to this instant (the state's
    /// watermark after this run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics_through: Option<String>,
    /// Policy-health checks ([`health`]).
    pub health: Vec<HealthCheck>,
    /// Per-entity policies: entities seen, published, falling back ([`entities`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<EntityReport>,
    /// How the goal's values were read, and the cap applied, in this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<GoalReport>,
    /// Outcome maturity (`maturityMinutes`): exposures after this instant were too
    /// recent to count in this update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matured_through: Option<String>,
    /// Reward units (exposed units, or decisions) held back as immature: not counted
    /// now, counted by a later run that sees their exposure again.
    pub immature_exposures: u64,
    /// Set when exposures held back by the previous run may be missing from this
    /// run's events (they start after the state's watermark).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maturity_warning: Option<String>,
    /// What attribution did with the goal's events ([`AttributionReport`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<AttributionReport>,
    /// Whether the policy's statistics were computed in this run (it passed the
    /// state and window gates).
    #[serde(skip)]
    pub(crate) counted: bool,
}

/// How a policy's goal was computed in a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalReport {
    /// Where values came from and how many goal events had none.
    pub values: GoalValueReport,
    /// The cap, when the goal has one and there were rewards to cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<CapReport>,
}

/// The run report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The run's instant.
    pub as_of: String,
    /// Master seed.
    pub seed: u64,
    /// The published bundle's version.
    pub bundle_version: String,
    /// Records read, accepted, quarantined.
    pub events_read: u64,
    /// Records accepted.
    pub events_accepted: u64,
    /// Records quarantined.
    pub events_quarantined: u64,
    /// Warnings of accepted records, by kind.
    pub warnings: Vec<(String, u64)>,
    /// Set when the previous state (`--state`) was published with another bundle
    /// than this run's input: the bundle changed outside the engine, or the wrong
    /// state was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_warning: Option<String>,
    /// Schema enforcement on track events: counts by event, property and rule, and
    /// the undefined events discovered. Its rejections are in `events_quarantined`.
    pub enforcement: EnforcementReport,
    /// Per optimised policy, in id order.
    pub policies: Vec<PolicyReport>,
}

/// What a run produced, in memory; [`RetrainOutcome::publish`] writes it.
#[derive(Clone, Debug)]
pub struct RetrainOutcome {
    /// The new bundle (unchanged if no policy was updated).
    pub bundle: BundleDocument,
    /// The run report.
    pub report: RunReport,
    /// Load counts.
    pub load: LoadReport,
    /// Quarantined records.
    pub rejected: Vec<Rejected>,
    /// Track events without a definition, described.
    pub discovered: Discovered,
    /// The bundle the run started from: publishing checks the new one against it.
    pub input_bundle: BundleDocument,
    /// The engine state after this run (it names the new bundle's SHA-256).
    pub state: EngineState,
}

/// Paths [`RetrainOutcome::publish`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The bundle.
    pub bundle: PathBuf,
    /// The run report (JSON).
    pub report: PathBuf,
    /// The quarantine (ndjson).
    pub quarantine: PathBuf,
    /// The discovered event definitions (YAML).
    pub discovered: PathBuf,
    /// The engine state.
    pub state: PathBuf,
    /// `entity_weights.json` in the current version's directory, when the bundle
    /// has an `entityState` (the same object, in the shape the platform's edge
    /// resolution and the SDK spec's fixtures use).
    pub entity_weights: Option<PathBuf>,
    /// The version number in the output directory ([`Store`]).
    pub version: u64,
}

impl RetrainOutcome {
    /// Publishes the run into `dir` as one new version ([`Store`]): `bundle.json`,
    /// `state.json`, `report.json`, `quarantine.ndjson` and `discovered.yaml`, with
    /// the previous versions kept for rollback. Returns the top-level paths (links to
    /// the current version).
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] if the bundle fails a publishing guard
    /// ([`publish::guard`]); [`Error::Locked`] if another process is publishing to
    /// `dir`; [`Error::Io`]. On any error the version in place stays current.
    pub fn publish(&self, dir: impl AsRef<Path>) -> Result<Published> {
        self.publish_with(dir, PublishOptions::default())
    }

    /// [`RetrainOutcome::publish`] with explicit options.
    ///
    /// # Errors
    ///
    /// As [`RetrainOutcome::publish`].
    pub fn publish_with(
        &self,
        dir: impl AsRef<Path>,
        options: PublishOptions,
    ) -> Result<Published> {
        let dir = dir.as_ref();
        let bundle_text = self.checked_bundle_text(&dir.join("bundle.json"))?;
        let state_text = self.state.to_json_pretty()?;
        let mut report = serde_json::to_string_pretty(&self.report).expect("the report serialises");
        report.push('\n');
        let quarantine = quarantine_bytes(&self.rejected);
        let discovered = self.discovered.to_yaml();
        let entity_weights = self.entity_weights_json();
        let mut files: Vec<(&str, &[u8])> = vec![
            ("report.json", report.as_bytes()),
            ("quarantine.ndjson", &quarantine),
            ("discovered.yaml", discovered.as_bytes()),
        ];
        if let Some(w) = &entity_weights {
            files.push(("entity_weights.json", w.as_bytes()));
        }
        let store = Store::new(dir);
        let lock = store.lock()?;
        let manifest = store.publish(&lock, &bundle_text, Some(&state_text), &files, options)?;
        Ok(Published {
            bundle: dir.join("bundle.json"),
            report: dir.join("report.json"),
            quarantine: dir.join("quarantine.ndjson"),
            discovered: dir.join("discovered.yaml"),
            state: dir.join("state.json"),
            entity_weights: entity_weights
                .is_some()
                .then(|| dir.join("current").join("entity_weights.json")),
            version: manifest.version,
        })
    }

    /// The bundle's top-level `entityState` as `entity_weights.json` text (policy id →
    /// `{_global, entities}`), `None` when the bundle has none.
    #[must_use]
    pub fn entity_weights_json(&self) -> Option<String> {
        let v = self.bundle.raw().get("entityState")?;
        let mut s = serde_json::to_string_pretty(v).expect("a JSON value serialises");
        s.push('\n');
        Some(s)
    }

    /// The bundle's text after every publishing guard, as `target` would receive it.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] naming the failed check.
    pub fn checked_bundle_text(&self, target: &Path) -> Result<String> {
        let text = self.bundle.to_json_pretty();
        publish::check_publishable(
            &text,
            Some(&self.input_bundle),
            &target.display().to_string(),
        )?;
        Ok(text)
    }
}

/// The quarantine file's bytes, as [`crate::events::write_quarantine`] writes them: one JSON object
/// per line.
fn quarantine_bytes(rejected: &[Rejected]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rejected {
        serde_json::to_writer(&mut out, r).expect("a rejected record serialises");
        out.push(b'\n');
    }
    out
}

/// The engine: options plus the calls that string the stages together.
pub struct Engine<'p> {
    options: RetrainOptions,
    progress: &'p dyn Progress,
    previous: Option<EngineState>,
}

impl Engine<'static> {
    /// An engine with these options and no progress reporting.
    #[must_use]
    pub fn new(options: RetrainOptions) -> Self {
        Self {
            options,
            progress: &NoProgress,
            previous: None,
        }
    }
}

impl<'p> Engine<'p> {
    /// Reports progress of long stages to `progress`.
    #[must_use]
    pub fn with_progress<'q>(self, progress: &'q dyn Progress) -> Engine<'q> {
        Engine {
            options: self.options,
            progress,
            previous: self.previous,
        }
    }

    /// Starts from the state of a previous run (`state.json`): multi-armed policies
    /// add this run's new exposures to its statistics, and the allocation history
    /// continues ([`learning`]).
    #[must_use]
    pub fn with_state(mut self, previous: Option<EngineState>) -> Self {
        self.previous = previous;
        self
    }

    /// Runs a retrain from files.
    ///
    /// # Errors
    ///
    /// Input errors ([`Error::Io`], [`Error::InvalidConfig`], [`Error::InvalidBundle`],
    /// [`Error::InvalidEventFile`], and [`Error::InvalidRecord`] in strict mode); an
    /// optimised policy missing from the bundle or not adaptive is an
    /// [`Error::InvalidConfig`]. Problems of one policy do not fail the run: that
    /// policy is reported `errored` and keeps its allocations.
    pub fn retrain(&self, inputs: &RetrainInputs) -> Result<RetrainOutcome> {
        let (config, doc, loaded) = self.load(inputs)?;
        self.retrain_loaded(&config, doc, loaded)
    }

    /// Reads and cross-checks the config and bundle, then loads the events.
    fn load(&self, inputs: &RetrainInputs) -> Result<(ProjectConfig, BundleDocument, Loaded)> {
        let config = ProjectConfig::from_path(&inputs.config)?;
        let doc = BundleDocument::from_path(&inputs.bundle)?;
        cross_check(&config, &doc, &inputs.config.display().to_string())?;
        let options = LoadOptions {
            strict: self.options.strict,
        };
        let loaded = load_events_with_progress(&inputs.events, options, self.progress)?;
        Ok((config, doc, loaded))
    }

    /// Runs a retrain from a parsed config, bundle and loaded events, enforcing the
    /// config's event schemas first ([`enforce`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when there are no events and no `as_of`.
    pub fn retrain_loaded(
        &self,
        config: &ProjectConfig,
        mut doc: BundleDocument,
        mut loaded: Loaded,
    ) -> Result<RetrainOutcome> {
        let input_bundle = doc.clone();
        let enforcement = enforce(config, &mut loaded)?;
        let as_of = match self
            .options
            .as_of
            .or_else(|| loaded.tables.latest_timestamp())
        {
            Some(t) => t,
            None => {
                return Err(Error::InvalidParameter {
                    name: "as_of",
                    reason: "no event was accepted, so there is no latest event time: pass --as-of"
                        .into(),
                })
            }
        };
        let stamp = format_rfc3339(as_of);
        let latest_event = loaded.tables.latest_timestamp();
        let latest = health::latest_exposures(&loaded.tables)?;
        let mut keys = std::collections::BTreeMap::new();
        let mut live_since = std::collections::BTreeMap::new();
        let mut entity_totals = std::collections::BTreeMap::new();
        let mut linear_totals = std::collections::BTreeMap::new();
        let mut policies = Vec::new();
        for (policy_id, spec) in &config.optimization {
            let (li, pi) = doc
                .find_policy(policy_id)
                .expect("cross-checked: optimised policies exist");
            keys.insert(
                policy_id.clone(),
                self.params(spec)
                    .map(|p| learning::statistics_key(spec, &p))
                    .unwrap_or_default(),
            );
            live_since.insert(
                policy_id.clone(),
                doc.bundle().layers[li].policies[pi].state_version.clone(),
            );
            let per_entity = entities::is_per_entity(&doc.bundle().layers[li].policies[pi]);
            let (mut report, model) = if per_entity {
                let o = self.fit_entities(&doc, li, pi, spec, &loaded.tables, as_of, &stamp);
                if let Some(t) = o.totals {
                    entity_totals.insert(policy_id.clone(), t);
                }
                if let Some(state) = o.state {
                    doc.set_entity_state(policy_id, state);
                    doc.set_state_version(li, pi, &stamp);
                }
                (o.report, None)
            } else {
                let (report, model, linear) =
                    self.fit_policy(&doc, li, pi, spec, &loaded.tables, as_of);
                if let Some(t) = linear {
                    linear_totals.insert(policy_id.clone(), t);
                }
                (report, model)
            };
            report.last_exposure_at = latest.get(policy_id).copied().map(format_rfc3339);
            if let (RunStatus::Updated, Some(model)) = (report.status, model) {
                doc.set_contextual_model(li, pi, model);
                doc.set_state_version(li, pi, &stamp);
            } else if report.status == RunStatus::Updated && !per_entity {
                let ranges: Vec<[u32; 2]> = report.arms.iter().map(|a| a.new_range).collect();
                if let Err(e) = doc.set_bucket_ranges(li, pi, &ranges) {
                    report.status = RunStatus::Errored;
                    report.reason = Some(e.to_string());
                } else {
                    doc.set_state_version(li, pi, &stamp);
                }
            }
            report.health = health::policy_checks(
                &report,
                spec,
                as_of,
                latest.get(policy_id).copied(),
                latest_event,
                spec.algorithm == Algorithm::LinearContextual || per_entity,
            );
            if per_entity {
                for h in &mut report.health {
                    if h.check == "sample_ratio" {
                        h.detail = "per-entity: each entity is served its own weights; no fixed shares to compare with".into();
                    }
                }
            }
            match self.attribution_report(&loaded.tables, policy_id, spec) {
                Ok(a) => report.attribution = Some(a),
                Err(e) => {
                    let note = format!("attribution report: {e}");
                    report.reason = Some(match report.reason.take() {
                        Some(r) => format!("{r}; {note}"),
                        None => note,
                    });
                }
            }
            policies.push(report);
        }
        if policies.iter().any(|p| p.status == RunStatus::Updated) {
            doc.set_version(&stamp);
        }
        let report = RunReport {
            as_of: stamp.clone(),
            seed: self.options.seed,
            bundle_version: doc.bundle().version.clone(),
            events_read: loaded.report.read(),
            events_accepted: loaded.report.accepted(),
            events_quarantined: loaded.report.quarantined(),
            warnings: loaded
                .report
                .warnings
                .iter()
                .map(|(w, n)| (w.describe().to_owned(), *n))
                .collect(),
            state_warning: learning::foreign_bundle_warning(self.previous.as_ref(), &input_bundle),
            enforcement: enforcement.report,
            policies,
        };
        let state = learning::next_state(
            learning::NextState {
                previous: self.previous.as_ref(),
                keys,
                live_since,
                as_of: &stamp,
                seed: self.options.seed,
                bundle_version: &doc.bundle().version,
                bundle_sha256: sha256_hex(doc.to_json_pretty().as_bytes()),
                entities: entity_totals,
                linear: linear_totals,
            },
            &report,
        );
        Ok(RetrainOutcome {
            bundle: doc,
            report,
            load: loaded.report,
            rejected: loaded.rejected,
            discovered: enforcement.discovered,
            input_bundle,
            state,
        })
    }

    fn fit_policy(
        &self,
        doc: &BundleDocument,
        li: usize,
        pi: usize,
        spec: &OptimizationSpec,
        tables: &crate::events::EventTables,
        as_of: Millis,
    ) -> contextual::ContextualOutcome {
        if spec.algorithm == Algorithm::LinearContextual {
            return self.fit_contextual(doc, li, pi, spec, tables, as_of);
        }
        (self.fit_multi(doc, li, pi, spec, tables, as_of), None, None)
    }

    /// The report of a policy before fitting, with its old shares and covered buckets;
    /// `Err` with the final report when the policy is not running or it is too soon.
    // The `Err` is the policy's final report, built once per policy: boxing it buys nothing.
    #[allow(clippy::result_large_err)]
    fn gate(
        &self,
        doc: &BundleDocument,
        li: usize,
        pi: usize,
        spec: &OptimizationSpec,
        as_of: Millis,
    ) -> std::result::Result<(PolicyReport, Vec<f64>, u64), PolicyReport> {
        let bundle = doc.bundle();
        let layer = &bundle.layers[li];
        let policy = &layer.policies[pi];
        let effective = policy.effective_counts();
        let covered: u64 = effective.iter().map(|&c| u64::from(c)).sum();
        let old_shares: Vec<f64> = effective
            .iter()
            .map(|&c| f64::from(c) / covered.max(1) as f64)
            .collect();
        let report = PolicyReport {
            policy_id: policy.id.clone(),
            layer_id: layer.id.clone(),
            algorithm: spec.algorithm.as_str(),
            status: RunStatus::NoChange,
            reason: None,
            arms: policy
                .allocations
                .iter()
                .zip(&old_shares)
                .map(|(a, &s)| ArmReport {
                    name: a.name.clone(),
                    exposures: 0,
                    new_exposures: 0,
                    reward_sum: 0.0,
                    reward_sum_sq: 0.0,
                    mean: None,
                    probability_best: None,
                    old_share: s,
                    new_share: s,
                    old_range: a.bucket_range,
                    new_range: a.bucket_range,
                })
                .collect(),
            last_exposure_at: None,
            statistics_through: None,
            health: Vec::new(),
            entities: None,
            goal: None,
            matured_through: None,
            immature_exposures: 0,
            maturity_warning: None,
            attribution: None,
            counted: false,
        };
        let fail = |mut r: PolicyReport, status: RunStatus, reason: String| {
            r.status = status;
            r.reason = Some(reason);
            r
        };
        if policy.state != PolicyState::Running {
            return Err(fail(
                report,
                RunStatus::NoChange,
                format!(
                    "policy is {:?}, not running; SDKs do not serve it",
                    policy.state
                )
                .to_lowercase(),
            ));
        }
        if let (Some(window), Some(prev)) = (
            spec.window_size_minutes,
            policy.state_version.as_deref().and_then(parse_rfc3339),
        ) {
            let elapsed = (as_of - prev) as f64 / 60_000.0;
            if elapsed < window {
                return Err(fail(
                    report,
                    RunStatus::TooSoon,
                    format!(
                        "{elapsed:.1} minutes since stateVersion {}, windowSizeMinutes is {window}",
                        format_rfc3339(prev)
                    ),
                ));
            }
        }
        Ok((report, old_shares, covered))
    }

    fn fit_multi(
        &self,
        doc: &BundleDocument,
        li: usize,
        pi: usize,
        spec: &OptimizationSpec,
        tables: &crate::events::EventTables,
        as_of: Millis,
    ) -> PolicyReport {
        let policy = &doc.bundle().layers[li].policies[pi];
        let (mut report, old_shares, covered) = match self.gate(doc, li, pi, spec, as_of) {
            Ok(g) => g,
            Err(r) => return r,
        };
        let fail = |mut r: PolicyReport, status: RunStatus, reason: String| {
            r.status = status;
            r.reason = Some(reason);
            r
        };
        let key = match self.params(spec) {
            Ok(p) => learning::statistics_key(spec, &p),
            Err(e) => return fail(report, RunStatus::Errored, e.to_string()),
        };
        let prior = learning::reusable(self.previous.as_ref(), &policy.id, &key);
        let watermark = prior.map(|(_, t)| t);
        let cutoff = learning::maturity_cutoff(spec, as_of);
        let counted = self
            .counted_rewards(tables, spec, &policy.id, watermark, cutoff)
            .and_then(|c| Ok((arm_stats(c.rewarded.clone())?, c)));
        let (stats, c) = match counted {
            Ok(s) => s,
            Err(e) => return fail(report, RunStatus::Errored, e.to_string()),
        };
        let latest = c.latest;
        report.goal = Some(c.goal);
        report.immature_exposures = c.immature;
        report.matured_through = cutoff.map(format_rfc3339);
        report.maturity_warning = c.warning;
        let empty = Default::default();
        let by_name = stats.get(&policy.id).unwrap_or(&empty);
        let new_arms: Vec<ArmStats> = policy
            .allocations
            .iter()
            .map(|a| by_name.get(&a.name).copied().unwrap_or_default())
            .collect();
        let arms: Vec<ArmStats> = policy
            .allocations
            .iter()
            .zip(&new_arms)
            .map(|(a, s)| match prior {
                Some((p, _)) => learning::prior(p, &a.name).merge(*s),
                None => *s,
            })
            .collect();
        for ((r, s), new) in report.arms.iter_mut().zip(&arms).zip(&new_arms) {
            r.exposures = s.n;
            r.new_exposures = new.n;
            r.reward_sum = s.sum;
            r.reward_sum_sq = s.sum_sq;
            r.mean = s.mean();
        }
        report.counted = true;
        report.statistics_through = learning::advance(watermark, latest);
        let unknown: Vec<&str> = by_name
            .keys()
            .map(String::as_str)
            .filter(|n| !policy.allocations.iter().any(|a| a.name == *n))
            .collect();
        let unknown_note = (!unknown.is_empty()).then(|| {
            format!(
                "exposures name allocations not in the bundle, ignored: {}",
                unknown.join(", ")
            )
        });
        if let Some(thin) = arms
            .iter()
            .zip(&policy.allocations)
            .find(|(s, _)| s.n < spec.min_exposures_before_shift)
        {
            return fail(
                report,
                RunStatus::InsufficientExposures,
                format!(
                    "allocation {} has {} exposures, minExposuresBeforeShift is {}",
                    thin.1.name, thin.0.n, spec.min_exposures_before_shift
                ),
            );
        }
        let learner = Learner::new(spec.algorithm_params(), spec.objective());
        let fit =
            match learner.and_then(|l| fit_multi_armed(&l, &arms, &policy.id, self.options.seed)) {
                Ok(f) => f,
                Err(e) => return fail(report, RunStatus::Errored, e.to_string()),
            };
        let mut weights = apply_floor(&fit.weights, spec.exploration_floor);
        if let Some(max) = spec.max_shift_per_update {
            weights = cap_shift(&old_shares, &weights, max);
        }
        if let Err(reason) = publish::guard::check_weights(&weights) {
            return fail(
                report,
                RunStatus::Errored,
                format!("the fit gave weights that are not a distribution: {reason}"),
            );
        }
        let ranges = match layout_ranges(policy, &weights) {
            Ok(r) => r,
            Err(e) => return fail(report, RunStatus::Errored, e.to_string()),
        };
        for (i, (r, range)) in report.arms.iter_mut().zip(&ranges).enumerate() {
            r.probability_best = fit.probability_best.as_ref().map(|p| p[i]);
            r.new_range = *range;
            r.new_share = f64::from(range[1] - range[0] + 1) / covered as f64;
        }
        report.reason = unknown_note;
        report.status = if report.arms.iter().all(|a| a.new_range == a.old_range) {
            RunStatus::NoChange
        } else {
            RunStatus::Updated
        };
        report
    }
}

impl Engine<'_> {
    /// The reward table of one optimised policy's goal, under the run's attribution
    /// settings (the options, else the policy's config).
    fn rewards(
        &self,
        tables: &crate::events::EventTables,
        spec: &OptimizationSpec,
    ) -> Result<LazyFrame> {
        Ok(self.rewards_with_report(tables, spec)?.0)
    }

    /// [`Engine::rewards`] with the goal stage's report ([`crate::goal`]): goal values
    /// read before the credit join, rewards of the goal type (capped) after it.
    fn rewards_with_report(
        &self,
        tables: &crate::events::EventTables,
        spec: &OptimizationSpec,
    ) -> Result<(LazyFrame, GoalValueReport, Vec<CapReport>)> {
        self.rewards_capped(tables, spec, None)
    }

    /// [`Engine::rewards_with_report`] with the caps fixed (`Some`) instead of
    /// computed from these tables.
    fn rewards_capped(
        &self,
        tables: &crate::events::EventTables,
        spec: &OptimizationSpec,
        caps: Option<&[CapReport]>,
    ) -> Result<(LazyFrame, GoalValueReport, Vec<CapReport>)> {
        let (valued, values) = goal_value_tables(tables, &spec.goal)?;
        let raw = crate::attribution::rewards(
            &valued,
            &attribution_goal(&spec.goal),
            &self.params(spec)?,
        )?;
        let (rewards, caps) = goal_rewards_with(raw, &spec.goal, caps)?;
        Ok((rewards, values, caps))
    }

    /// The reward rows of `policy_id` this run counts: exposed after the state's
    /// `watermark`, mature at `cutoff` (outcome maturity), with a reward; and what
    /// the report says of them. Shared by multi-armed and per-entity policies.
    fn counted_rewards(
        &self,
        tables: &crate::events::EventTables,
        spec: &OptimizationSpec,
        policy_id: &str,
        watermark: Option<Millis>,
        cutoff: Option<Millis>,
    ) -> Result<learning::Counted> {
        let (r, values, caps) = self.rewards_with_report(tables, spec)?;
        let warning = learning::held_back_warning(r.clone(), policy_id, spec, watermark)?;
        let (mature, immature) =
            learning::mature(learning::since(r, watermark), policy_id, cutoff)?;
        let latest = learning::latest_exposed(mature.clone(), policy_id)?;
        Ok(learning::Counted {
            rewarded: mature.filter(col("reward").is_not_null()),
            latest,
            immature,
            goal: GoalReport {
                values,
                cap: caps.into_iter().find(|c| c.policy_id == policy_id),
            },
            warning,
        })
    }

    /// The attribution params of a policy: its config, with the run's overrides.
    fn params(&self, spec: &OptimizationSpec) -> Result<AttributionParams> {
        let mut p = AttributionParams::from_spec(spec)?;
        if let Some(mode) = self.options.attribution {
            p = p.with_mode(mode);
        }
        if let Some(name) = self.options.attribution_model {
            p = p.with_model(TouchModel::new(
                name,
                spec.half_life_days,
                spec.position_weights,
            )?);
        }
        if let Some(gap) = self.options.session_gap_ms {
            p = p.with_session_gap_ms(gap);
        }
        Ok(p)
    }

    /// The attribution report of one optimised policy's goal.
    fn attribution_report(
        &self,
        tables: &crate::events::EventTables,
        policy_id: &str,
        spec: &OptimizationSpec,
    ) -> Result<AttributionReport> {
        let params = self.params(spec)?;
        let credits = crate::attribution::credits(tables, &spec.goal.event, &params)?;
        crate::attribution::attribution_report(
            tables,
            &credits,
            &spec.goal.event,
            policy_id,
            &params,
        )
    }

    /// Per-allocation metrics of every optimised policy, with the load report.
    ///
    /// # Errors
    ///
    /// As [`Engine::retrain`] for inputs; [`Error::Polars`] if a query fails.
    pub fn metrics(
        &self,
        inputs: &RetrainInputs,
    ) -> Result<(Vec<crate::metrics::PolicyMetrics>, LoadReport)> {
        let (out, _, load) = self.metrics_with_attribution(inputs, &[])?;
        Ok((out, load))
    }

    /// [`Engine::metrics`] with further breakdowns by exposure-context keys
    /// (`country`, `device`): each value's rows count only the units exposed in that
    /// context, numerator and denominator alike ([`crate::metrics::with_context_dimension`]).
    ///
    /// # Errors
    ///
    /// As [`Engine::metrics`].
    pub fn metrics_by_context(
        &self,
        inputs: &RetrainInputs,
        context_keys: &[String],
    ) -> Result<(Vec<crate::metrics::PolicyMetrics>, LoadReport)> {
        let (out, _, load) = self.metrics_with_attribution(inputs, context_keys)?;
        Ok((out, load))
    }

    /// [`Engine::metrics_by_context`], with the attribution report of every optimised
    /// policy.
    ///
    /// # Errors
    ///
    /// As [`Engine::metrics`].
    pub fn metrics_with_attribution(
        &self,
        inputs: &RetrainInputs,
        context_keys: &[String],
    ) -> Result<(
        Vec<crate::metrics::PolicyMetrics>,
        Vec<AttributionReport>,
        LoadReport,
    )> {
        let (config, doc, mut loaded) = self.load(inputs)?;
        enforce(&config, &mut loaded)?;
        loaded.tables =
            crate::attribution::for_population(&loaded.tables, self.options.population)?;
        let mut out = Vec::new();
        let mut attribution = Vec::new();
        for (policy_id, spec) in &config.optimization {
            let (li, pi) = doc
                .find_policy(policy_id)
                .expect("cross-checked: optimised policies exist");
            let policy = &doc.bundle().layers[li].policies[pi];
            let control = spec.control.as_deref();
            let (rewards, _, caps) = self.rewards_with_report(&loaded.tables, spec)?;
            let mut metrics =
                crate::metrics::policy_metrics_against(rewards.clone(), policy, control)?;
            for key in context_keys {
                let sliced = crate::metrics::with_context_dimension(
                    rewards.clone(),
                    loaded.tables.lazy().exposures,
                    policy_id,
                    key,
                )?;
                let column = sliced.column("dimension_value")?.str()?;
                let mut values: Vec<Option<String>> = (0..column.len())
                    .map(|i| column.get(i).map(str::to_owned))
                    .collect();
                values.sort_by(|a, b| (a.is_none(), a).cmp(&(b.is_none(), b)));
                values.dedup();
                for value in values {
                    let slice = match &value {
                        Some(v) => col("dimension_value").eq(lit(v.as_str())),
                        None => col("dimension_value").is_null(),
                    };
                    let split = crate::metrics::policy_metrics_against(
                        sliced.clone().lazy().filter(slice),
                        policy,
                        control,
                    )?;
                    metrics
                        .breakdowns
                        .extend(split.allocations.into_iter().map(|mut a| {
                            a.breakdown = Some(crate::metrics::Breakdown {
                                dimension: format!("context.{key}"),
                                dimension_value: value.clone(),
                            });
                            a
                        }));
                }
            }
            let dimensions: Vec<&str> = config
                .schema(&spec.goal.event)
                .map(|s| {
                    s.properties
                        .iter()
                        .filter(|(_, p)| p.schema.dimension)
                        .map(|(k, _)| k.as_str())
                        .collect()
                })
                .unwrap_or_default();
            for dimension in dimensions {
                let mut values: Vec<Option<String>> =
                    crate::goal::dimension_values(&loaded.tables, &spec.goal.event, dimension)?
                        .into_iter()
                        .map(|(_, v)| v)
                        .collect();
                // Sorted, events without the property last.
                values.sort_by(|a, b| (a.is_none(), a).cmp(&(b.is_none(), b)));
                values.dedup();
                for value in values {
                    let restricted = crate::goal::restrict_to_dimension(
                        &loaded.tables,
                        &spec.goal.event,
                        dimension,
                        value.as_deref(),
                    )?;
                    // The whole run's cap, so that the slices are capped alike.
                    let (rewards, _, _) = self.rewards_capped(&restricted, spec, Some(&caps))?;
                    let split = crate::metrics::policy_metrics_against(rewards, policy, control)?;
                    metrics
                        .breakdowns
                        .extend(split.allocations.into_iter().map(|mut a| {
                            a.breakdown = Some(crate::metrics::Breakdown {
                                dimension: dimension.to_owned(),
                                dimension_value: value.clone(),
                            });
                            a
                        }));
                }
            }
            out.push(metrics);
            attribution.push(self.attribution_report(&loaded.tables, policy_id, spec)?);
        }
        Ok((out, attribution, loaded.report))
    }
}

/// Checks the config against the bundle: every optimised policy must exist in the
/// bundle and be adaptive, its `control` (if named) one of the policy's allocations,
/// and the `contextFeatures` of a `linear_contextual` policy
/// must be among its `contextLogging.allowedFields` (only those are logged). Every
/// problem is reported, in file order. `source` names the config in errors.
///
/// # Errors
///
/// [`Error::InvalidConfig`] at `optimization.<policy>` for a policy that is missing
/// (with the closest id) or static, or at `optimization.<policy>.contextFeatures...`
/// for a key that is not allowed (with the closest allowed field);
/// [`Error::InvalidConfigs`] when there are several.
pub fn cross_check(config: &ProjectConfig, doc: &BundleDocument, source: &str) -> Result<()> {
    let mut errors = Vec::new();
    for (policy_id, spec) in &config.optimization {
        let err = |key: String, reason: String| {
            let (line, column) = config.spans.position(&key);
            Error::InvalidConfig {
                file: source.to_owned(),
                line,
                column,
                key,
                reason,
            }
        };
        let at = format!("optimization.{policy_id}");
        match doc.find_policy(policy_id) {
            None => {
                let ids: Vec<&str> = doc
                    .bundle()
                    .layers
                    .iter()
                    .flat_map(|l| l.policies.iter().map(|p| p.id.as_str()))
                    .collect();
                let hint = crate::text::did_you_mean(policy_id, ids.iter().copied(), 4)
                    .map(|c| format!(" (did you mean \"{c}\"?)"))
                    .unwrap_or_default();
                errors.push(err(
                    at,
                    format!(
                        "policy \"{policy_id}\" is not in bundle {}{hint}",
                        doc.source()
                    ),
                ));
            }
            Some((li, pi)) if doc.bundle().layers[li].policies[pi].kind != PolicyKind::Adaptive => {
                errors.push(err(at, format!("policy \"{policy_id}\" is static in the bundle; only adaptive policies can be optimised")));
            }
            Some((li, pi)) => {
                let policy = &doc.bundle().layers[li].policies[pi];
                let allowed: Vec<&str> = policy
                    .context_logging
                    .as_ref()
                    .map(|c| c.allowed_fields.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                for (list, i, key) in spec
                    .context_features
                    .as_ref()
                    .map(crate::config::ContextFeatures::keys)
                    .unwrap_or_default()
                {
                    if allowed.contains(&key) {
                        continue;
                    }
                    let hint = crate::text::did_you_mean(key, allowed.iter().copied(), 4)
                        .map(|c| format!(" (did you mean \"{c}\"?)"))
                        .unwrap_or_default();
                    let listed = if allowed.is_empty() {
                        "the policy has no contextLogging.allowedFields".to_owned()
                    } else {
                        format!("allowed: {}", allowed.join(", "))
                    };
                    errors.push(err(
                        format!("{at}.contextFeatures.{list}[{i}]"),
                        format!("\"{key}\" is not in the bundle policy's contextLogging.allowedFields, so it is never logged{hint}; {listed}"),
                    ));
                }
                if let Some(control) = spec.control.as_deref() {
                    if !policy.allocations.iter().any(|a| a.name == control) {
                        let names = policy.allocations.iter().map(|a| a.name.as_str());
                        let hint = crate::text::did_you_mean(control, names, 4)
                            .map(|c| format!(" (did you mean \"{c}\"?)"))
                            .unwrap_or_default();
                        errors.push(err(
                            format!("{at}.control"),
                            format!("policy \"{policy_id}\" has no allocation \"{control}\"{hint}"),
                        ));
                    }
                }
            }
        }
    }
    if let Err(e) = cross_check_entities(config, doc, source) {
        errors.push(e);
    }
    errors.sort_by_key(|e| match e {
        Error::InvalidConfig { line, column, .. } => (*line, *column),
        _ => (0, 0),
    });
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(Error::InvalidConfigs { errors }),
    }
}
