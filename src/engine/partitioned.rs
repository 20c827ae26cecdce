//! A retrain over a log split by unit key into partitions ([`crate::partition`]):
//! each partition loaded, enforced and attributed on its own, what the policies read
//! merged, then the same per-policy run as in memory.
//!
//! | what a run reads | from a partition | merged |
//! |---|---|---|
//! | reward rows of each goal and settings | the partition's rows | concatenated and sorted by policy, allocation and unit (decision mode: decision id): the order attribution gives, a total one, so the rows are those of the log in memory; the goal's type and cap are applied after |
//! | attribution report of each policy | counts ([`ReportCounts`]) | added (the credit sum exactly) |
//! | goal value report | counts, first event without a value | added; the first by file and line |
//! | exposures of contextual and per-entity policies (their contexts) | the rows of those policies | concatenated in partition order (rows of one unit stay in input order) |
//! | latest exposure per policy, latest event | maxima | maxima |
//! | out-of-range buckets | count | added |
//! | schema enforcement | counts and rejected records | added; records sorted by file and line |
//! | goal values too large to square | the first few | the first few by file and line |

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use polars::prelude::*;

use super::overflow::{huge_rows, HugeValue, PLACES_NAMED};
use super::rewards::{
    attribute_part, goal_rewards, Attributed, AttributionOverrides, Attributions, PartAttribution,
};
use super::source::{Merged, Source};
use super::summed::{ArmSummary, SumPlan};
use super::{run_columns, Checks, Engine, RetrainOutcome, RunEvents};
use crate::attribution::{AttributionParams, ReportCounts};
use crate::bundle::BundleDocument;
use crate::config::{Algorithm, AttributionMode, Goal, ProjectConfig};
use crate::enforce;
use crate::error::{AttributionError, Error, Result};
use crate::events::{EventTables, LoadOptions, LoadReport, Loaded};
use crate::goal::GoalValueReport;
use crate::partition::MemoryLimit;
use crate::sdk::model::Bundle;
use crate::state::EngineState;
use crate::time::{parse_rfc3339, Millis};

/// One goal and settings to attribute in every partition, with the policies that
/// learn from it.
struct Need {
    goal: Goal,
    params: AttributionParams,
    policies: Vec<String>,
    parts: Vec<DataFrame>,
    /// Policies whose rows are summed instead of kept ([`super::summed`]).
    plans: Vec<SumPlan>,
    summed: BTreeMap<String, ArmSummary>,
    values: Option<GoalValueReport>,
    reports: BTreeMap<String, ReportCounts>,
    error: Option<AttributionError>,
}

/// Collects what each partition gives.
pub(super) struct Collector {
    needs: Vec<Need>,
    context_policies: Vec<String>,
    goal_events: Vec<String>,
    bucket_count: u32,
    files: BTreeMap<String, usize>,
    contexts: Vec<DataFrame>,
    huge: BTreeMap<String, Vec<(usize, HugeValue)>>,
    latest: BTreeMap<String, Millis>,
    latest_event: Option<Millis>,
    out_of_range: Option<(String, u64)>,
}

impl Collector {
    /// What a run of `config` over `bundle` reads, with the attribution settings of
    /// each optimised policy (`params`, in config order; `None` where invalid) and the
    /// input files in order (for sorting by file and line); the exposure contexts of
    /// every policy when `every_context` (breakdowns by context), else of those that
    /// learn from them. The rows of the policies of `plans` are summed in each
    /// partition instead of kept.
    pub(super) fn new(
        config: &ProjectConfig,
        bundle: &Bundle,
        params: &[(String, Option<AttributionParams>)],
        files: &[String],
        every_context: bool,
        plans: &[SumPlan],
    ) -> Self {
        let mut needs: Vec<Need> = Vec::new();
        let mut context_policies = Vec::new();
        let mut goal_events: Vec<String> = Vec::new();
        for ((id, spec), (_, p)) in config.optimization.iter().zip(params) {
            if !goal_events.contains(&spec.goal.event) {
                goal_events.push(spec.goal.event.clone());
            }
            if every_context || reads_contexts(bundle, id, spec) {
                context_policies.push(id.clone());
            }
            let Some(p) = p else { continue };
            let plan = plans.iter().find(|q| &q.policy_id == id).cloned();
            match needs
                .iter_mut()
                .find(|n| n.goal == spec.goal && n.params == *p)
            {
                Some(n) => {
                    n.policies.push(id.clone());
                    n.plans.extend(plan);
                }
                None => needs.push(Need {
                    goal: spec.goal.clone(),
                    params: *p,
                    policies: vec![id.clone()],
                    parts: Vec::new(),
                    plans: plan.into_iter().collect(),
                    summed: BTreeMap::new(),
                    values: None,
                    reports: BTreeMap::new(),
                    error: None,
                }),
            }
        }
        Self {
            needs,
            context_policies,
            goal_events,
            bucket_count: bundle.hashing.bucket_count,
            files: files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.clone(), i))
                .collect(),
            contexts: Vec::new(),
            huge: BTreeMap::new(),
            latest: BTreeMap::new(),
            latest_event: None,
            out_of_range: None,
        }
    }

    /// Takes what one partition's tables (enforced) give.
    ///
    /// # Errors
    ///
    /// [`Error::Polars`] if a query fails; errors of attribution other than goals it
    /// does not compute (those are kept for the policies that read them).
    pub(super) fn add(&mut self, tables: &EventTables) -> Result<()> {
        self.latest_event = self.latest_event.max(tables.latest_timestamp());
        for need in &mut self.needs {
            if need.error.is_some() {
                continue;
            }
            match attribute_part(tables, &need.goal, &need.params, &need.policies) {
                Ok(PartAttribution {
                    raw,
                    values,
                    reports,
                }) => {
                    let raw = sum_rows(need, raw, self.latest_event)?;
                    need.parts.push(raw);
                    need.values = Some(match need.values.take() {
                        None => values,
                        Some(v) => merge_values(v, values, &self.files),
                    });
                    for (id, r) in reports {
                        match need.reports.get_mut(&id) {
                            Some(mine) => mine.merge(&r),
                            None => {
                                need.reports.insert(id, r);
                            }
                        }
                    }
                }
                Err(Error::Attribution(e)) => need.error = Some(e),
                Err(e) => return Err(e),
            }
        }
        if !self.context_policies.is_empty() {
            let of_policies = self
                .context_policies
                .iter()
                .map(|id| col("policy_id").eq(lit(id.as_str())))
                .reduce(Expr::or)
                .expect("some policy");
            let rows = tables
                .exposures
                .clone()
                .lazy()
                .filter(col("kind").eq(lit("exposure")).and(of_policies))
                .select([
                    col("kind"),
                    col("policy_id"),
                    col("unit_key"),
                    col("ts"),
                    col("context"),
                ])
                .collect()?;
            self.contexts.push(crate::partition::detached(rows)?);
        }
        for goal in &self.goal_events {
            let found = huge_rows(tables, goal)?;
            if found.is_empty() {
                continue;
            }
            let kept = self.huge.entry(goal.clone()).or_default();
            kept.extend(
                found
                    .into_iter()
                    .map(|h| (self.files.get(&h.file).copied().unwrap_or(usize::MAX), h)),
            );
            kept.sort_by_key(|(f, h)| (*f, h.line));
            kept.truncate(PLACES_NAMED);
        }
        for (id, t) in super::health::latest_exposures(tables)? {
            let e = self.latest.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
        if let Some((warning, n)) = super::health::out_of_range_buckets(tables, self.bucket_count)?
        {
            self.out_of_range = Some(match self.out_of_range.take() {
                Some((w, m)) => (w, m + n),
                None => (warning, n),
            });
        }
        Ok(())
    }

    /// The merged view of every partition taken.
    ///
    /// # Errors
    ///
    /// [`Error::Polars`] if a query fails.
    pub(super) fn finish(self) -> Result<Merged> {
        let mut attributed = Vec::with_capacity(self.needs.len());
        for need in self.needs {
            let outcome = match need.error {
                Some(e) => Err(e),
                None => {
                    let raw = merge_rows(need.parts, need.params.mode)?;
                    let values = need.values.unwrap_or_default();
                    let rewards = goal_rewards(raw, &need.goal, values, None)?;
                    let reports = need
                        .reports
                        .into_iter()
                        .map(|(id, r)| (id, r.finish()))
                        .collect();
                    Ok(Rc::new(Attributed::counted(rewards, reports, need.summed)))
                }
            };
            attributed.push((need.goal, need.params, outcome));
        }
        let contexts = concat_frames(self.contexts)?;
        Ok(Merged {
            attributed,
            contexts,
            huge: self.huge,
            latest: self.latest,
            latest_event: self.latest_event,
            out_of_range: self.out_of_range,
        })
    }
}

/// Whether the learner of policy `id` reads each reward row's exposure context: a
/// linear contextual or a per-entity policy.
fn reads_contexts(bundle: &Bundle, id: &str, spec: &crate::config::OptimizationSpec) -> bool {
    let per_entity = bundle
        .layers
        .iter()
        .flat_map(|l| &l.policies)
        .find(|q| q.id == id)
        .is_some_and(|q| q.entity_config.is_some());
    per_entity || spec.algorithm == Algorithm::LinearContextual
}

/// The policies of a run whose rows can be summed in each partition: multi-armed
/// (neither linear contextual nor per-entity), with valid attribution settings and a
/// goal without a cap; each with the watermark its run will count after (a
/// multi-armed learner adds to any previous statistics of the same key).
fn sum_plans(
    config: &ProjectConfig,
    bundle: &Bundle,
    previous: Option<&EngineState>,
    overrides: AttributionOverrides,
    as_of: Option<Millis>,
) -> Vec<SumPlan> {
    let floor = previous.and_then(|s| parse_rfc3339(&s.as_of));
    let mut plans = Vec::new();
    for (id, spec) in &config.optimization {
        if reads_contexts(bundle, id, spec) || spec.goal.cap.is_some() {
            continue;
        }
        let Ok(params) = overrides.params(spec) else {
            continue;
        };
        let key = super::learning::statistics_key(spec, &params);
        plans.push(SumPlan {
            policy_id: id.clone(),
            watermark: super::learning::reusable(previous, id, &key).map(|(_, t)| t),
            spec: spec.clone(),
            as_of,
            floor,
        });
    }
    plans
}

/// Sums the rows of `need`'s planned policies in one partition's raw reward rows into
/// its summaries, given the latest event seen so far, and gives the rows of its other
/// policies. The rows of policies that do not learn from this goal and settings (the
/// bundle's other policies, which attribution credits too) are dropped: nothing reads
/// them, and kept from every partition they grew with the log (2.5 GB of a 10 M-event
/// retrain with two summed policies and three others).
fn sum_rows(need: &mut Need, raw: DataFrame, latest_event: Option<Millis>) -> Result<DataFrame> {
    let kept: Vec<&str> = need
        .policies
        .iter()
        .filter(|id| !need.plans.iter().any(|q| &q.policy_id == *id))
        .map(String::as_str)
        .collect();
    let others = |raw: DataFrame| -> Result<DataFrame> {
        match kept
            .iter()
            .map(|id| col("policy_id").eq(lit(*id)))
            .reduce(Expr::or)
        {
            None => Ok(raw.clear()),
            Some(mine) => crate::partition::detached(raw.lazy().filter(mine).collect()?),
        }
    };
    if need.plans.is_empty() {
        return others(raw);
    }
    let (rows, _) = crate::goal::goal_rewards_with(raw.clone().lazy(), &need.goal, None)?;
    for plan in &need.plans {
        let part = ArmSummary::of_part(rows.clone(), plan, latest_event)?;
        match need.summed.get_mut(&plan.policy_id) {
            Some(mine) => mine.merge(part),
            None => {
                need.summed.insert(plan.policy_id.clone(), part);
            }
        }
    }
    others(raw)
}

/// The partitions' reward rows as attribution gives them for the whole log: sorted by
/// policy, allocation and unit key (decision mode: decision id), a total order.
pub(super) fn merge_rows(parts: Vec<DataFrame>, mode: AttributionMode) -> Result<DataFrame> {
    let mut all = concat_frames(parts)?;
    if all.height() == 0 {
        all.rechunk_mut();
        return Ok(all);
    }
    let last = match mode {
        AttributionMode::Cumulative => "unit_key",
        AttributionMode::Decision => "decision_id",
    };
    let mut sorted = all.sort(
        ["policy_id", "allocation_name", last],
        SortMultipleOptions::default().with_maintain_order(true),
    )?;
    sorted.rechunk_mut();
    Ok(sorted)
}

/// Frames of one schema stacked in order (an empty frame when there are none).
fn concat_frames(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut frames = frames.into_iter();
    let Some(mut all) = frames.next() else {
        return Ok(DataFrame::empty());
    };
    // Chunks are appended, not copied: the sort that follows gathers them once.
    for f in frames {
        all.vstack_mut(&f)?;
    }
    Ok(all)
}

/// Two partitions' goal value reports as one: counts added, the first event without a
/// value the earlier by file and line.
fn merge_values(
    mut a: GoalValueReport,
    b: GoalValueReport,
    files: &BTreeMap<String, usize>,
) -> GoalValueReport {
    a.goal_events += b.goal_events;
    a.missing_values += b.missing_values;
    a.non_numeric_values += b.non_numeric_values;
    let place = |p: &str| -> (usize, u64) {
        match p.rsplit_once(':') {
            Some((f, l)) => (
                files.get(f).copied().unwrap_or(usize::MAX),
                l.parse().unwrap_or(u64::MAX),
            ),
            None => (usize::MAX, u64::MAX),
        }
    };
    a.first_without_value = match (a.first_without_value.take(), b.first_without_value) {
        (Some(x), Some(y)) => Some(if place(&y) < place(&x) { y } else { x }),
        (x, y) => x.or(y),
    };
    a
}

impl Engine<'_> {
    /// A retrain over the log of `paths` split into `partitions` by unit key: each
    /// partition loaded, enforced and attributed on its own, what the policies read
    /// merged ([`partitioned`]); the same bytes as the run in memory.
    pub(super) fn retrain_partitioned(
        &self,
        config: &ProjectConfig,
        doc: BundleDocument,
        paths: &[PathBuf],
        partitions: usize,
    ) -> Result<RetrainOutcome> {
        let plans = sum_plans(
            config,
            doc.bundle(),
            self.previous.as_ref(),
            self.options.overrides(),
            self.options.as_of,
        );
        let options = PassOptions {
            plans: &plans,
            ..PassOptions::default()
        };
        let pass =
            self.partition_pass(config, &doc, paths, partitions, &options, &mut |_| Ok(()))?;
        drop(pass.spilled);
        let mut merged = pass.merged;
        let attributed = std::mem::take(&mut merged.attributed);
        let events = RunEvents {
            attributions: Attributions::merged(attributed),
            source: Source::Merged(&merged),
            checks: Checks {
                latest: merged.latest.clone(),
                latest_event: merged.latest_event,
            },
            out_of_range: merged.out_of_range.clone(),
            load: pass.load,
            rejected: pass.rejected,
            enforcement: pass.enforcement,
        };
        self.run(config, doc, events)
    }

    /// The number of partitions a run over `paths` uses: `--partitions`, else as many
    /// as the memory limit needs.
    pub(super) fn partitions_for(&self, paths: &[PathBuf]) -> Result<usize> {
        Ok(match self.options.partitions {
            Some(n) => n.max(1),
            None => crate::partition::partitions_needed(
                paths,
                self.options
                    .memory_limit
                    .unwrap_or_else(MemoryLimit::from_machine),
            )?,
        })
    }

    /// Spills the log of `paths` into `partitions` and collects what every partition
    /// gives, enforced, as `pass` says; `each` sees every partition's tables too.
    pub(super) fn partition_pass(
        &self,
        config: &ProjectConfig,
        doc: &BundleDocument,
        paths: &[PathBuf],
        partitions: usize,
        pass: &PassOptions<'_>,
        each: &mut dyn FnMut(&crate::events::EventTables) -> Result<()>,
    ) -> Result<PartitionPass> {
        let options = LoadOptions {
            strict: self.options.strict,
        };
        let keep = run_columns(config, &self.options.overrides());
        let crate::partition::SpilledLoad {
            spilled,
            report: mut load,
            mut rejected,
        } = crate::partition::spill_events(
            paths,
            options,
            &keep,
            partitions,
            self.options.spill_dir.as_deref(),
            self.options
                .memory_limit
                .unwrap_or_else(MemoryLimit::from_machine),
            self.progress,
        )?;
        let params: Vec<(String, Option<AttributionParams>)> = config
            .optimization
            .iter()
            .map(|(id, spec)| (id.clone(), self.options.overrides().params(spec).ok()))
            .collect();
        let files: Vec<String> = load.files.iter().map(|f| f.file.clone()).collect();
        let mut collector = Collector::new(
            config,
            doc.bundle(),
            &params,
            &files,
            pass.every_context,
            pass.plans,
        );
        let mut found = Vec::with_capacity(spilled.len());
        let mut refused = Vec::new();
        self.progress
            .start("partitions attributed", spilled.len() as u64);
        for p in 0..spilled.len() {
            let (part, enforced) = partition_tables(config, &spilled, p, pass.population)?;
            found.push(enforced);
            refused.extend(part.rejected);
            collector.add(&part.tables)?;
            each(&part.tables)?;
            self.progress.advance(1);
        }
        self.progress.finish();
        let enforcement = enforce::finish(config, found);
        enforce::move_counts(&mut load, &refused);
        rejected.append(&mut refused);
        enforce::sort_quarantine(&mut rejected, &load);
        Ok(PartitionPass {
            merged: collector.finish()?,
            spilled,
            load,
            rejected,
            enforcement,
        })
    }
}

/// What a partition pass collects besides what every run reads.
#[derive(Default)]
pub(super) struct PassOptions<'a> {
    /// The exposure contexts of every policy, not only of those that learn from
    /// them (breakdowns by context).
    pub every_context: bool,
    /// Each partition restricted to this population (`metrics`).
    pub population: Option<crate::attribution::Population>,
    /// Multi-armed policies whose rows are summed in each partition instead of kept.
    pub plans: &'a [SumPlan],
}

/// What the partitions of a log gave.
pub(super) struct PartitionPass {
    pub merged: Merged,
    /// The partitions, still on disk (for a second pass).
    pub spilled: crate::partition::Spilled,
    pub load: LoadReport,
    pub rejected: Vec<crate::events::Rejected>,
    pub enforcement: crate::enforce::Enforcement,
}

/// Partition `p`'s tables, enforced (rejected records in its `rejected`) and, when a
/// population is given, restricted to it.
pub(super) fn partition_tables(
    config: &ProjectConfig,
    spilled: &crate::partition::Spilled,
    p: usize,
    population: Option<crate::attribution::Population>,
) -> Result<(Loaded, enforce::PartEnforcement)> {
    let mut part = Loaded {
        tables: spilled.read(p)?,
        report: LoadReport::default(),
        rejected: Vec::new(),
    };
    let enforced = enforce::enforce_part(config, &mut part)?;
    if let Some(population) = population {
        part.tables = crate::attribution::for_population(&part.tables, population)?;
    }
    Ok((part, enforced))
}
