//! The attribution report: what happened to each goal event, per policy.
//!
//! Every goal event (once per `id`) lands in exactly one of `credited`,
//! `unattributedBeforeExposure`, `outsideWindow`, `unlinked` and `notExposed` for a
//! policy, so those five add up to `goalEvents`; `creditedByArray`,
//! `creditedByDecision` and `creditedByUnitKey` split `credited` by the rule that
//! reached the event. `duplicates`, `unknownDecision` and `multiAllocationUnits` are
//! counted beside that partition.

use polars::prelude::*;
use serde::Serialize;

use super::credits::Credits;
use super::params::AttributionParams;
use crate::config::AttributionMode;
use crate::error::AttributionError;
use crate::error::Result;
use crate::events::EventTables;
use crate::exact::ExactSum;

/// Counts of one policy's goal events by what attribution did with them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributionReport {
    /// The policy.
    pub policy_id: String,
    /// Its goal's track event name.
    pub goal_event: String,
    /// `cumulative` or `decision`.
    pub mode: &'static str,
    /// The multi-touch model's schema name.
    pub model: &'static str,
    /// `attribute` (the unit-key rule credits goal events without a known decision or
    /// an SDK array) or `drop` (they count as `unlinked`).
    pub unlinked_events: &'static str,
    /// What one reward row of the policy's learner is: `unit` (unit × allocation,
    /// cumulative mode) or `decision` (decision × allocation, decision mode: a unit
    /// with three sessions gives three rows). `metrics` always analyses per unit
    /// (`--per decision` shows the decision view).
    pub reward_unit: &'static str,
    /// Goal events considered (a repeated `id` once).
    pub goal_events: u64,
    /// Goal events credited to at least one allocation of the policy.
    pub credited: u64,
    /// Their total credit (≤ `credited`: an SDK array may send weights below 1).
    pub credit_sum: f64,
    /// Credited events with an SDK attribution array (cumulative mode).
    pub credited_by_array: u64,
    /// Credited events with a known `decisionId`: through their decision's exposures
    /// (in cumulative mode, or their session's).
    pub credited_by_decision: u64,
    /// Credited events without a known decision or an array: the unit-key rule.
    pub credited_by_unit_key: u64,
    /// Not credited: every candidate exposure came after the event (beyond the
    /// clock-skew tolerance).
    pub unattributed_before_exposure: u64,
    /// Not credited: candidate exposures at or before the event, but all more than the
    /// attribution window before it.
    pub outside_window: u64,
    /// Not credited because of `unlinkedEvents: drop`: no SDK array and no
    /// `decisionId`, or one no exposure or decision row carries. Always 0 by default,
    /// when the unit-key rule credits them.
    pub unlinked: u64,
    /// Not credited: the unit (decision mode: the decision) was never exposed to the
    /// policy, or the SDK array does not name it.
    pub not_exposed: u64,
    /// Rows of the goal event dropped as repeats of an `id` already seen.
    pub duplicates: u64,
    /// Goal events naming a `decisionId` that no exposure or decision row carries (in
    /// both modes they fall back to the unit-key rule).
    pub unknown_decision: u64,
    /// Units exposed to two or more allocations of the policy (each allocation keeps
    /// its reward unit; a sign of a changed layout or of a unit key shared by people).
    pub multi_allocation_units: u64,
}

fn count(lf: LazyFrame) -> Result<u64> {
    let df = lf
        .select([len().cast(DataType::UInt64).alias("n")])
        .collect()?;
    Ok(df.column("n")?.u64()?.get(0).unwrap_or(0))
}

/// Track rows named `goal_event`, repeats included: a count over the one column (a
/// filter of the tracks table gathered every column of the matching rows first, about a
/// tenth of a `metrics` run's CPU, once per policy).
fn named_rows(tables: &EventTables, goal_event: &str) -> Result<u64> {
    let named = tables.tracks.column("event")?.str()?.equal(goal_event);
    Ok(named.num_trues() as u64)
}

/// The report of one policy, from the credits of its goal.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails or `credits` lacks a column;
/// [`crate::Error::Attribution`] if its outcomes name an outcome other than
/// `credited`, `outside_window` and `before_exposure`.
pub fn attribution_report(
    tables: &EventTables,
    credits: &Credits,
    goal_event: &str,
    policy_id: &str,
    params: &AttributionParams,
) -> Result<AttributionReport> {
    Ok(report_counts(tables, credits, goal_event, policy_id, params)?.finish())
}

/// An [`AttributionReport`] while it is counted: the reports of partitions of a log
/// (whole units each) merge into the report of the whole, the credit sum exactly.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportCounts {
    /// The report, `credit_sum` and `not_exposed` filled by [`ReportCounts::finish`].
    report: AttributionReport,
    credit_sum: ExactSum,
}

impl ReportCounts {
    /// Adds another partition's counts (of the same policy and settings).
    pub fn merge(&mut self, o: &ReportCounts) {
        let (a, b) = (&mut self.report, &o.report);
        for (x, y) in [
            (&mut a.goal_events, b.goal_events),
            (&mut a.credited, b.credited),
            (&mut a.credited_by_array, b.credited_by_array),
            (&mut a.credited_by_decision, b.credited_by_decision),
            (&mut a.credited_by_unit_key, b.credited_by_unit_key),
            (
                &mut a.unattributed_before_exposure,
                b.unattributed_before_exposure,
            ),
            (&mut a.outside_window, b.outside_window),
            (&mut a.unlinked, b.unlinked),
            (&mut a.duplicates, b.duplicates),
            (&mut a.unknown_decision, b.unknown_decision),
            (&mut a.multi_allocation_units, b.multi_allocation_units),
        ] {
            *x += y;
        }
        self.credit_sum.merge(&o.credit_sum);
    }

    /// The report.
    #[must_use]
    pub fn finish(mut self) -> AttributionReport {
        let r = &mut self.report;
        r.credit_sum = self.credit_sum.value();
        r.not_exposed = r.goal_events.saturating_sub(
            r.credited + r.unattributed_before_exposure + r.outside_window + r.unlinked,
        );
        self.report
    }
}

/// [`attribution_report`]'s counts, to merge with other partitions' ([`ReportCounts`]).
///
/// # Errors
///
/// As [`attribution_report`].
pub fn report_counts(
    tables: &EventTables,
    credits: &Credits,
    goal_event: &str,
    policy_id: &str,
    params: &AttributionParams,
) -> Result<ReportCounts> {
    let goals = credits.goals.clone();
    let goal_events = count(goals.clone())?;
    let duplicates = named_rows(tables, goal_event)?.saturating_sub(goal_events);
    let unknown = col("decision_id")
        .is_not_null()
        .and(col("known_decision").not());
    let unknown_decision = count(goals.clone().filter(unknown.clone()))?;
    let unlinked_goal = col("has_array").not().and(col("known_decision").not());
    let unlinked = if params.unit_key_rule() {
        0
    } else {
        count(goals.clone().filter(unlinked_goal))?
    };
    let Outcomes {
        credited,
        before,
        outside,
    } = outcomes(credits, policy_id)?;
    let by_rule = credited_by_rule(credits, goals, policy_id)?;
    let credit_sum = credit_sum(credits, policy_id)?;
    let multi_allocation_units = multi_allocation_units(credits, policy_id)?;
    Ok(ReportCounts {
        report: AttributionReport {
            policy_id: policy_id.to_owned(),
            goal_event: goal_event.to_owned(),
            mode: match params.mode {
                AttributionMode::Cumulative => "cumulative",
                AttributionMode::Decision => "decision",
            },
            model: params.model.name().as_str(),
            unlinked_events: params.unlinked.as_str(),
            reward_unit: match params.mode {
                AttributionMode::Cumulative => "unit",
                AttributionMode::Decision => "decision",
            },
            goal_events,
            credited,
            credit_sum: 0.0,
            credited_by_array: by_rule[0],
            credited_by_decision: by_rule[1],
            credited_by_unit_key: by_rule[2],
            unattributed_before_exposure: before,
            outside_window: outside,
            unlinked,
            not_exposed: 0,
            duplicates,
            unknown_decision,
            multi_allocation_units,
        },
        credit_sum,
    })
}

/// One policy's (event, policy) outcomes, counted.
struct Outcomes {
    credited: u64,
    before: u64,
    outside: u64,
}

/// Counts `policy_id`'s outcomes in `credits`.
fn outcomes(credits: &Credits, policy_id: &str) -> Result<Outcomes> {
    let outcomes = credits
        .outcomes
        .clone()
        .filter(col("policy_id").eq(lit(policy_id)))
        .group_by([col("outcome")])
        .agg([len().cast(DataType::UInt64).alias("n")])
        .collect()?;
    let mut counts = Outcomes {
        credited: 0,
        before: 0,
        outside: 0,
    };
    let names = outcomes.column("outcome")?.str()?;
    let ns = outcomes.column("n")?.u64()?;
    for (name, n) in names.iter().zip(ns.iter()) {
        let n = n.unwrap_or(0);
        match name {
            Some("credited") => counts.credited += n,
            Some("outside_window") => counts.outside += n,
            Some("before_exposure") => counts.before += n,
            other => {
                // `Credits` has public fields: a table built by hand can hold anything.
                return Err(AttributionError::UnknownOutcome {
                    policy_id: policy_id.to_owned(),
                    outcome: other.map(str::to_owned),
                }
                .into());
            }
        }
    }
    Ok(counts)
}

/// `policy_id`'s credited events by the rule that reached them: `[array, known
/// decision, unit key]`.
fn credited_by_rule(credits: &Credits, goals: LazyFrame, policy_id: &str) -> Result<[u64; 3]> {
    let df = credits
        .outcomes
        .clone()
        .filter(
            col("policy_id")
                .eq(lit(policy_id))
                .and(col("outcome").eq(lit("credited"))),
        )
        .select([col("track_row")])
        .join(
            goals.select([col("track_row"), col("has_array"), col("known_decision")]),
            [col("track_row")],
            [col("track_row")],
            JoinArgs::new(JoinType::Inner),
        )
        .select([
            col("has_array").cast(DataType::UInt64).sum().alias("array"),
            col("has_array")
                .not()
                .and(col("known_decision"))
                .cast(DataType::UInt64)
                .sum()
                .alias("decision"),
            col("has_array")
                .not()
                .and(col("known_decision").not())
                .cast(DataType::UInt64)
                .sum()
                .alias("unit_key"),
        ])
        .collect()?;
    let get = |c: &str| -> Result<u64> { Ok(df.column(c)?.u64()?.get(0).unwrap_or(0)) };
    Ok([get("array")?, get("decision")?, get("unit_key")?])
}

/// `policy_id`'s total credit, summed exactly.
fn credit_sum(credits: &Credits, policy_id: &str) -> Result<ExactSum> {
    let df = credits
        .credits
        .clone()
        .filter(col("policy_id").eq(lit(policy_id)))
        .select([col("weight").cast(DataType::Float64)])
        .collect()?;
    let weights = df.column("weight")?.f64()?;
    Ok(weights.iter().flatten().collect())
}

/// Units exposed to two or more allocations of `policy_id`: as the attribution pass
/// counted them, else from the credits' exposures.
fn multi_allocation_units(credits: &Credits, policy_id: &str) -> Result<u64> {
    if let Some(counted) = &credits.multi_allocation_units {
        return Ok(counted.get(policy_id).copied().unwrap_or(0));
    }
    count(
        credits
            .exposures
            .clone()
            .filter(col("policy_id").eq(lit(policy_id)))
            .group_by([col("unit_key")])
            .agg([col("allocation_name")
                .n_unique()
                .cast(DataType::UInt32)
                .alias("k")])
            .filter(col("k").gt(lit(1u32))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::TableBuilder;

    #[test]
    fn a_report_of_credits_with_an_unknown_or_null_outcome_is_an_error_not_a_panic() {
        let tables = TableBuilder::default().finish().unwrap();
        let params = AttributionParams::default();
        let mut credits = crate::attribution::credits(&tables, "buy", &params).unwrap();
        for outcome in [Some("refunded"), None] {
            credits.outcomes = df!(
                "track_row" => [0u32],
                "policy_id" => ["p"],
                "outcome" => [outcome],
            )
            .unwrap()
            .lazy();
            let err = attribution_report(&tables, &credits, "buy", "p", &params).unwrap_err();
            assert!(
                matches!(
                    err,
                    crate::Error::Attribution(AttributionError::UnknownOutcome { .. })
                ),
                "{err}"
            );
        }
    }
}
