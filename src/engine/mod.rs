//! The common case in one call: config, bundle and events in; a new bundle, a run
//! report and the quarantine out.
//!
//! `load → enforce → attribute (once per goal and settings: [`rewards`]) → one
//! per-policy run for every learner ([`run`]) → rewrite bundle → next state`. Every
//! time the engine writes comes from `as_of` (by default the latest event time),
//! never the wall clock, so the same inputs and seed give the same bytes.
//!
//! | file | owns |
//! |---|---|
//! | `run.rs` | the per-policy run (gate → prior → count → report → fit → status) and the `PolicyLearner` trait |
//! | `multi_armed.rs`, `contextual.rs`, `entities.rs` | the three learners |
//! | `rewards.rs` | attribution once per run; [`policy_rewards`], the rewards a policy learns from |
//! | `learning.rs` | warm start from the previous state, and the next state |
//! | `partitioned.rs`, `source.rs` | a run over a log larger than memory: partitions attributed on their own, merged; where a run's events come from |
//! | `health.rs` | policy-health checks |
//! | `report.rs`, `outcome.rs` | the run report; publishing a run |
//! | `metrics.rs` | per-allocation metrics from the same attributions |
//! | `cross_check.rs` | the config checked against the bundle |

use std::path::{Path, PathBuf};

mod clock;
mod contextual;
mod cross_check;
mod entities;
pub mod health;
mod learning;
mod metrics;
mod multi_armed;
mod outcome;
mod overflow;
mod partitioned;
mod report;
mod rewards;
mod run;
mod source;
mod summed;

pub use cross_check::cross_check;
pub use entities::cross_check_entities;
pub(crate) use entities::{entity_id, Layout as EntityLayout};
pub use health::{HealthCheck, HealthStatus};
pub use learning::statistics_key;
pub use outcome::{Published, RetrainOutcome};
pub use report::{ArmReport, EntityReport, GoalReport, PolicyReport, RunReport, RunStatus};
pub use rewards::{policy_rewards, AttributionOverrides, GoalRewards};

use crate::bundle::{BundleDocument, PolicyRef};
use crate::config::{Algorithm, AttributionMode, AttributionModel, ProjectConfig};
use crate::enforce::enforce;
use crate::error::Result;
use crate::events::{load_events_projected, LoadOptions, LoadReport, Loaded, Projection};
use crate::partition::MemoryLimit;
use crate::progress::{NoProgress, Progress};
use crate::state::sha256_hex;
use crate::state::EngineState;
use crate::time::{format_rfc3339, Millis};
use crate::timing::{phase, timed};
use rewards::Attributions;
use run::{run_policy, PolicyOutcome, PolicyRun, Publication, RunContext, Saved};
use source::Source;

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
    /// Memory the event tables may use; a log estimated larger is split by unit key
    /// into partitions processed one at a time ([`crate::partition`]). `None`: half
    /// the memory available ([`MemoryLimit::from_machine`]).
    pub memory_limit: Option<MemoryLimit>,
    /// Partitions to split the log into, whatever its size (`Some(1)`: in memory).
    pub partitions: Option<usize>,
    /// Where partitions are spilled (default: the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
}

impl RetrainOptions {
    /// The attribution settings these options override in every policy's config.
    #[must_use]
    pub fn overrides(&self) -> AttributionOverrides {
        AttributionOverrides {
            mode: self.attribution,
            model: self.attribution_model,
            session_gap_ms: self.session_gap_ms,
        }
    }
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
    /// Input errors ([`Io`](crate::Error::Io), [`InvalidConfig`](crate::Error::InvalidConfig),
    /// [`InvalidBundle`](crate::Error::InvalidBundle),
    /// [`InvalidEventFile`](crate::Error::InvalidEventFile), and
    /// [`InvalidRecord`](crate::Error::InvalidRecord) in strict mode); an optimised
    /// policy missing from the bundle or not adaptive is an
    /// [`InvalidConfig`](crate::Error::InvalidConfig). Problems of one policy do not
    /// fail the run: that policy is reported `errored` and keeps its allocations.
    pub fn retrain(&self, inputs: &RetrainInputs) -> Result<RetrainOutcome> {
        let (config, doc) = self.read_config(inputs)?;
        let partitions = self.partitions_for(&inputs.events)?;
        if partitions > 1 {
            return self.retrain_partitioned(&config, doc, &inputs.events, partitions);
        }
        let loaded = timed("load", || self.load_events(&config, &inputs.events))?;
        self.retrain_loaded(&config, doc, loaded)
    }

    /// Loads the events a run under `config` reads, in memory.
    fn load_events(&self, config: &ProjectConfig, paths: &[PathBuf]) -> Result<Loaded> {
        let options = LoadOptions {
            strict: self.options.strict,
        };
        load_events_projected(
            paths,
            options,
            &run_columns(config, &self.options.overrides()),
            self.progress,
        )
    }

    /// Reads and cross-checks the config and bundle.
    fn read_config(&self, inputs: &RetrainInputs) -> Result<(ProjectConfig, BundleDocument)> {
        let config = ProjectConfig::from_path(&inputs.config)?;
        let doc = BundleDocument::from_path(&inputs.bundle)?;
        cross_check(&config, &doc, &inputs.config.display().to_string())?;
        Ok((config, doc))
    }

    /// Runs a retrain from a parsed config, bundle and loaded events, enforcing the
    /// config's event schemas first ([`enforce`]).
    ///
    /// # Errors
    ///
    /// As [`cross_check`] when the config does not fit the bundle;
    /// [`AsOf`](crate::Error::AsOf) when there are no events and no `as_of`, or the as-of would
    /// move time backwards ([`clock`]).
    pub fn retrain_loaded(
        &self,
        config: &ProjectConfig,
        doc: BundleDocument,
        mut loaded: Loaded,
    ) -> Result<RetrainOutcome> {
        cross_check(config, &doc, "the config")?;
        let enforcement = enforce(config, &mut loaded)?;
        let Loaded {
            tables,
            report: load,
            rejected,
        } = loaded;
        let health_checks = phase("health checks");
        let events = RunEvents {
            attributions: Attributions::new(&tables),
            source: Source::Tables(&tables),
            checks: Checks {
                latest: health::latest_exposures(&tables)?,
                latest_event: tables.latest_timestamp(),
            },
            out_of_range: health::out_of_range_buckets(&tables, doc.bundle().hashing.bucket_count)?,
            load,
            rejected,
            enforcement,
        };
        drop(health_checks);
        timed("policies and bundle", || self.run(config, doc, events))
    }

    /// The per-policy runs, the new bundle and the next state, from what the events
    /// gave.
    fn run(
        &self,
        config: &ProjectConfig,
        mut doc: BundleDocument,
        events: RunEvents<'_>,
    ) -> Result<RetrainOutcome> {
        let input_bundle = doc.clone();
        let RunEvents {
            attributions,
            source,
            checks,
            out_of_range,
            load,
            rejected,
            enforcement,
        } = events;
        let as_of = clock::run_as_of(
            self.options.as_of,
            checks.latest_event,
            self.previous.as_ref(),
            &input_bundle,
        )?;
        let stamp = format_rfc3339(as_of);
        let ctx = RunContext {
            attributions: &attributions,
            source,
            previous: self.previous.as_ref(),
            as_of,
            stamp: &stamp,
            seed: self.options.seed,
            input: input_bundle.bundle(),
        };
        let mut next = learning::Collected::default();
        let policies = self.run_policies(config, &ctx, &mut doc, &checks, &mut next)?;
        if policies.iter().any(|p| p.status == RunStatus::Updated) {
            doc.set_version(&clock::next_version(as_of, &input_bundle));
        }
        let mut report = RunReport {
            as_of: stamp.clone(),
            seed: self.options.seed,
            bundle_version: doc.bundle().version.clone(),
            state_warning: learning::foreign_bundle_warning(self.previous.as_ref(), &input_bundle),
            policies,
            ..RunReport::of_load(&load, enforcement.report)
        };
        report.warnings.extend(out_of_range);
        let state = learning::next_state(
            next.into_next_state(
                self.previous.as_ref(),
                &stamp,
                self.options.seed,
                &doc.bundle().version,
                sha256_hex(doc.to_json_pretty().as_bytes()),
            ),
            &report,
        );
        Ok(RetrainOutcome {
            bundle: doc,
            report,
            load,
            rejected,
            discovered: enforcement.discovered,
            input_bundle,
            state,
        })
    }

    /// Every optimised policy's run, in config order, applied to `doc` and `next`.
    fn run_policies(
        &self,
        config: &ProjectConfig,
        ctx: &RunContext<'_>,
        doc: &mut BundleDocument,
        checks: &Checks,
        next: &mut learning::Collected,
    ) -> Result<Vec<PolicyReport>> {
        let input_bundle = doc.clone();
        let mut policies = Vec::new();
        for (policy_id, spec) in &config.optimization {
            let policy_ref = input_bundle
                .policy_ref(policy_id)
                .expect("cross-checked above: every optimised policy is in the bundle");
            let params = self.options.overrides().params(spec);
            next.note_policy(&input_bundle, &policy_ref, spec, params.as_ref().ok())?;
            let run = PolicyRun {
                ctx,
                layer: input_bundle.layer_of(&policy_ref)?,
                policy: input_bundle.policy(&policy_ref)?,
                spec,
                params: params.map_err(|e| e.to_string()),
            };
            let outcome = run_learner(&run);
            policies.push(self.finish_policy(&run, outcome, doc, &policy_ref, checks, next));
        }
        Ok(policies)
    }

    /// A policy's outcome applied to the bundle and the next state, with its health
    /// checks and attribution report.
    fn finish_policy(
        &self,
        run: &PolicyRun<'_>,
        outcome: PolicyOutcome,
        doc: &mut BundleDocument,
        policy_ref: &PolicyRef,
        checks: &Checks,
        next: &mut learning::Collected,
    ) -> PolicyReport {
        let PolicyOutcome {
            mut report,
            mut publication,
            mut saved,
        } = outcome;
        let places = || run.ctx.source.huge_values(&run.spec.goal.event);
        if overflow::refuse_overflow(&mut report, places, &run.spec.goal.event) {
            (publication, saved) = (None, None);
        }
        let id = &run.policy.id;
        match saved {
            Some(Saved::Linear(t)) => {
                next.linear.insert(id.clone(), t);
            }
            Some(Saved::Entities(t)) => {
                next.entities.insert(id.clone(), t);
            }
            Some(Saved::Arms) | None => {}
        }
        if let Some(p) = publication {
            if let Err(e) = publish_into(doc, policy_ref, p, run.ctx.stamp) {
                report.status = RunStatus::Errored;
                report.reason = Some(e.to_string());
            }
        }
        let latest = checks.latest.get(id).copied();
        report.last_exposure_at = latest.map(format_rfc3339);
        let per_entity = run.policy.entity_config.is_some();
        report.health = health::policy_checks(
            &report,
            run.spec,
            run.ctx.as_of,
            latest,
            checks.latest_event,
            run.spec.algorithm == Algorithm::LinearContextual || per_entity,
        );
        if per_entity {
            for h in &mut report.health {
                if h.check == "sample_ratio" {
                    h.detail = "per-entity: each entity is served its own weights; no fixed shares to compare with".into();
                }
            }
        }
        let attribution = run.params.clone().and_then(|p| {
            run.ctx
                .attributions
                .report(&run.spec.goal, &p, id)
                .map_err(|e| e.to_string())
        });
        match attribution {
            Ok(a) => report.attribution = Some(a),
            Err(e) => {
                let note = format!("attribution report: {e}");
                report.reason = Some(match report.reason.take() {
                    Some(r) => format!("{r}; {note}"),
                    None => note,
                });
            }
        }
        report
    }
}

/// What a run takes from its events, in memory or from a log's partitions.
struct RunEvents<'t> {
    attributions: Attributions<'t>,
    source: Source<'t>,
    checks: Checks,
    /// The warning on exposure layers with a bucket beyond the bundle's count.
    out_of_range: Option<(String, u64)>,
    load: LoadReport,
    rejected: Vec<crate::events::Rejected>,
    enforcement: crate::enforce::Enforcement,
}

/// What the health checks read besides a policy's report.
struct Checks {
    /// The latest exposure of each policy.
    latest: std::collections::BTreeMap<String, Millis>,
    /// The latest event.
    latest_event: Option<Millis>,
}

/// Runs a policy with the learner its bundle entry and config call for.
fn run_learner(run: &PolicyRun<'_>) -> PolicyOutcome {
    if let Some(learner) = entities::PerEntity::of(run.policy) {
        run_policy(&learner, run)
    } else if run.spec.algorithm == Algorithm::LinearContextual {
        run_policy(&contextual::LinearContextual, run)
    } else {
        run_policy(&multi_armed::MultiArmed, run)
    }
}

/// Writes an update into the bundle, with the policy's new `stateVersion`.
fn publish_into(
    doc: &mut BundleDocument,
    policy_ref: &PolicyRef,
    publication: Publication,
    stamp: &str,
) -> Result<()> {
    match publication {
        Publication::Ranges(ranges) => doc.set_bucket_ranges(policy_ref, &ranges)?,
        Publication::Model(model) => doc.set_contextual_model(policy_ref, model)?,
        Publication::Entities(state) => doc.set_entity_state(policy_ref.id(), state),
    }
    doc.set_state_version(policy_ref, stamp)
}

/// The columns of the event tables a retrain or a metrics run under `config` and
/// `overrides` reads ([`Projection::run`]): the tracks stay whole when a property
/// schema in `reject` mode may quarantine a track row with its whole record; sessions
/// are kept when a policy attributes in cumulative mode (or its settings are invalid:
/// the run then says why, and a projection must not decide it).
fn run_columns(config: &ProjectConfig, overrides: &AttributionOverrides) -> Projection {
    let rejects = config
        .schemas
        .values()
        .any(|s| s.enforcement == crate::config::SchemaEnforcement::Reject);
    let sessions = config.optimization.values().any(|spec| {
        overrides.params(spec).map_or(true, |p| {
            p.mode == crate::config::AttributionMode::Cumulative
        })
    });
    Projection::run(rejects, sessions)
}
