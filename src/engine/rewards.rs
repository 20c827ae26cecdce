//! Attribution once per run. Every optimised policy learns from the reward rows of its
//! goal under its attribution settings; policies that share a goal and settings share
//! one attribution, and the same attribution gives the attribution report. Before,
//! a retrain attributed every policy's goal twice (rewards, then the report).
//!
//! [`policy_rewards`] is the one public way to the rewards a policy learns from: the
//! goal's values read ([`crate::goal::goal_value_tables`]), attribution
//! ([`crate::attribution`]), rewards of the goal's type and its cap
//! ([`crate::goal::goal_rewards_with`]), with the run's overrides of the config.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use polars::prelude::{DataFrame, IntoLazy, LazyFrame};

use super::summed::ArmSummary;
use crate::attribution::{AttributionParams, AttributionReport, Credits, ReportCounts, TouchModel};
use crate::config::{AttributionMode, AttributionModel, Goal, GoalType, OptimizationSpec};
use crate::error::{AttributionError, Result};
use crate::events::EventTables;
use crate::goal::{
    attribution_goal, goal_rewards_with, goal_value_tables, CapReport, GoalValueReport,
};
use crate::timing::timed;

/// Run-wide overrides of the config's attribution settings (the CLI's
/// `--attribution`, `--attribution-model` and `--session-gap-minutes`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AttributionOverrides {
    /// Attribution mode for every policy.
    pub mode: Option<AttributionMode>,
    /// Multi-touch model for every policy (the config's half-life and position weights
    /// still apply).
    pub model: Option<AttributionModel>,
    /// Inactivity gap that ends a session for events without `sessionId`.
    pub session_gap_ms: Option<i64>,
}

impl AttributionOverrides {
    /// The attribution settings of a policy: its config, with these overrides.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Parameter`] for a model parameter out of range.
    pub fn params(&self, spec: &OptimizationSpec) -> Result<AttributionParams> {
        let mut p = AttributionParams::from_spec(spec)?;
        if let Some(mode) = self.mode {
            p = p.with_mode(mode);
        }
        if let Some(name) = self.model {
            p = p.with_model(TouchModel::new(
                name,
                spec.half_life_days,
                spec.position_weights,
            )?);
        }
        if let Some(gap) = self.session_gap_ms {
            p = p.with_session_gap_ms(gap);
        }
        Ok(p)
    }
}

/// The rewards of one goal under one set of attribution settings.
#[derive(Clone)]
pub struct GoalRewards {
    /// Reward rows of every policy exposed before the goal event (the columns of
    /// [`crate::attribution::rewards`]), `reward` of the goal's type, capped.
    pub rewards: DataFrame,
    /// How the goal's values were read.
    pub values: GoalValueReport,
    /// The cap of each policy, when the goal has one.
    pub caps: Vec<CapReport>,
}

impl GoalRewards {
    /// The reward rows, as a lazy frame.
    pub fn lazy(&self) -> LazyFrame {
        self.rewards.clone().lazy()
    }

    /// The cap applied to one policy's rewards, if any.
    #[must_use]
    pub fn cap_of(&self, policy_id: &str) -> Option<CapReport> {
        self.caps.iter().find(|c| c.policy_id == policy_id).cloned()
    }
}

/// The rewards a policy learns from: its goal's values read, attributed under
/// `params`, rewards of the goal's type, capped by the goal's cap (computed from
/// these rows unless `caps` fixes them, as a breakdown of a run does). `retrain`,
/// `metrics` and the replay of logged events all read rewards through here.
///
/// # Errors
///
/// [`crate::Error::Attribution`] for goals attribution cannot compute;
/// [`crate::Error::Polars`] if a query fails.
pub fn policy_rewards(
    tables: &EventTables,
    goal: &Goal,
    params: &AttributionParams,
    caps: Option<&[CapReport]>,
) -> Result<GoalRewards> {
    Ok(attribute(tables, goal, params, caps, false)?.0)
}

/// [`policy_rewards`], and the credits of the goal's events from the same pass when
/// `with_credits`.
fn attribute(
    tables: &EventTables,
    goal: &Goal,
    params: &AttributionParams,
    caps: Option<&[CapReport]>,
    with_credits: bool,
) -> Result<(GoalRewards, Option<Credits>)> {
    let (valued, values) = timed("  goal_value_tables", || goal_value_tables(tables, goal))?;
    let (raw, credits) = if with_credits {
        let (raw, credits) = raw_and_credits(tables, &valued, goal, params)?;
        (raw, Some(credits))
    } else {
        let raw = crate::attribution::rewards(&valued, &attribution_goal(goal), params)?;
        (raw, None)
    };
    let (rewards, caps) = goal_rewards_with(raw, goal, caps)?;
    let rewards = GoalRewards {
        rewards: timed("  goal_rewards collect", || rewards.collect())?,
        values,
        caps,
    };
    Ok((rewards, credits))
}

/// The raw reward rows of `goal` over its valued tables, and the credits of its events.
fn raw_and_credits(
    tables: &EventTables,
    valued: &EventTables,
    goal: &Goal,
    params: &AttributionParams,
) -> Result<(LazyFrame, Credits)> {
    let (raw, credits) =
        crate::attribution::rewards_and_credits(valued, &attribution_goal(goal), params)?;
    // `mean` goals leave goal events without a value out of the valued tables;
    // the report counts every goal event, so it is credited on the tables given.
    let credits = if goal.goal_type == GoalType::Mean {
        crate::attribution::credits(tables, &goal.event, params)?
    } else {
        credits
    };
    Ok((raw, credits))
}

/// A goal attributed once in a run: its rewards, and what the attribution report of
/// each policy reads.
pub(super) struct Attributed {
    /// The rewards (in a run over a log's partitions, without the rows of the
    /// policies in `summed`).
    pub rewards: GoalRewards,
    reports: Reports,
    /// Multi-armed policies whose rows were summed in each partition, by policy id
    /// ([`super::summed`]).
    summed: BTreeMap<String, ArmSummary>,
}

/// What attribution reports come from.
enum Reports {
    /// The credits of the goal's events, in memory.
    Credits(Box<Credits>),
    /// The reports themselves, by policy id, counted over a log's partitions.
    Counted(BTreeMap<String, AttributionReport>),
}

impl Attributed {
    /// A goal attributed over the partitions of a log: the rewards of their reward
    /// rows merged, and the merged report of each policy with this goal and settings.
    pub(super) fn counted(
        rewards: GoalRewards,
        reports: BTreeMap<String, AttributionReport>,
        summed: BTreeMap<String, ArmSummary>,
    ) -> Self {
        Self {
            rewards,
            reports: Reports::Counted(reports),
            summed,
        }
    }

    /// The summed rows of `policy_id`, when they were summed instead of kept.
    pub(super) fn summary(&self, policy_id: &str) -> Option<&ArmSummary> {
        self.summed.get(policy_id)
    }
}

/// The attributions of one run, computed on first use from the event tables and
/// shared by every policy with the same goal and settings; or, in a run over a log's
/// partitions, computed beforehand and merged.
pub(super) struct Attributions<'t> {
    tables: Option<&'t EventTables>,
    done: RefCell<Vec<(Goal, AttributionParams, Rc<Attributed>)>>,
    /// Goals and settings attribution refused (in a partitioned run).
    failed: Vec<(Goal, AttributionParams, AttributionError)>,
}

impl<'t> Attributions<'t> {
    /// Attributions computed from `tables` on first use.
    pub(super) fn new(tables: &'t EventTables) -> Self {
        Self {
            tables: Some(tables),
            done: RefCell::new(Vec::new()),
            failed: Vec::new(),
        }
    }

    /// Attributions computed beforehand (over a log's partitions), or why not.
    pub(super) fn merged(
        all: Vec<(
            Goal,
            AttributionParams,
            std::result::Result<Rc<Attributed>, AttributionError>,
        )>,
    ) -> Self {
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for (g, p, r) in all {
            match r {
                Ok(a) => done.push((g, p, a)),
                Err(e) => failed.push((g, p, e)),
            }
        }
        Self {
            tables: None,
            done: RefCell::new(done),
            failed,
        }
    }

    /// The rewards of `goal` under `params`, attributed once.
    ///
    /// # Errors
    ///
    /// As [`policy_rewards`]; [`crate::Error::Attribution`] in a partitioned run for a
    /// goal and settings that were not attributed beforehand.
    pub(super) fn get(&self, goal: &Goal, params: &AttributionParams) -> Result<Rc<Attributed>> {
        if let Some((_, _, r)) = self
            .done
            .borrow()
            .iter()
            .find(|(g, p, _)| g == goal && p == params)
        {
            return Ok(Rc::clone(r));
        }
        if let Some((_, _, e)) = self
            .failed
            .iter()
            .find(|(g, p, _)| g == goal && p == params)
        {
            return Err(e.clone().into());
        }
        let Some(tables) = self.tables else {
            return Err(AttributionError::NotPartitioned(goal.event.clone()).into());
        };
        let (rewards, credits) = attribute(tables, goal, params, None, true)?;
        let credits = credits.expect("asked for with_credits");
        let r = Rc::new(Attributed {
            rewards,
            reports: Reports::Credits(Box::new(credits)),
            summed: BTreeMap::new(),
        });
        self.done
            .borrow_mut()
            .push((goal.clone(), *params, Rc::clone(&r)));
        Ok(r)
    }

    /// The attribution report of `policy_id`, whose goal and settings these are.
    ///
    /// # Errors
    ///
    /// As [`Attributions::get`]; [`crate::Error::Polars`] if a query fails.
    pub(super) fn report(
        &self,
        goal: &Goal,
        params: &AttributionParams,
        policy_id: &str,
    ) -> Result<AttributionReport> {
        self.get(goal, params)?
            .report(self.tables, goal, params, policy_id)
    }

    /// The tables attributions are computed from (`None` in a partitioned run).
    pub(super) fn tables(&self) -> Option<&'t EventTables> {
        self.tables
    }
}

impl Attributed {
    /// The attribution report of `policy_id`, whose goal and settings these are, from
    /// the credits over `tables` or from the counts of a partitioned run.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Polars`] if a query fails.
    pub(super) fn report(
        &self,
        tables: Option<&EventTables>,
        goal: &Goal,
        params: &AttributionParams,
        policy_id: &str,
    ) -> Result<AttributionReport> {
        match (&self.reports, tables) {
            (Reports::Credits(credits), Some(tables)) => crate::attribution::attribution_report(
                tables,
                credits,
                &goal.event,
                policy_id,
                params,
            ),
            (Reports::Counted(reports), _) => {
                Ok(reports.get(policy_id).cloned().unwrap_or_default())
            }
            (Reports::Credits(_), None) => unreachable!("credits are only kept with the tables"),
        }
    }
}

/// One partition's attribution of a goal: its reward rows before the goal's type and
/// cap are applied, how its values were read, and the report counts of `policies`.
pub(super) struct PartAttribution {
    /// Reward rows (the columns of [`crate::attribution::rewards`] before `reward`).
    pub raw: DataFrame,
    /// How the goal's values were read.
    pub values: GoalValueReport,
    /// Report counts by policy id.
    pub reports: BTreeMap<String, ReportCounts>,
}

/// Attributes `goal` under `params` over one partition's tables.
///
/// # Errors
///
/// As [`policy_rewards`].
pub(super) fn attribute_part(
    tables: &EventTables,
    goal: &Goal,
    params: &AttributionParams,
    policies: &[String],
) -> Result<PartAttribution> {
    let (valued, values) = goal_value_tables(tables, goal)?;
    let (raw, credits) = raw_and_credits(tables, &valued, goal, params)?;
    let reports = policies
        .iter()
        .map(|id| {
            let r = crate::attribution::report_counts(tables, &credits, &goal.event, id, params)?;
            Ok((id.clone(), r))
        })
        .collect::<Result<_>>()?;
    Ok(PartAttribution {
        raw: raw.collect()?,
        values,
        reports,
    })
}

/// The rewards of a goal from its raw reward rows (a partitioned run's, merged), with
/// the goal's type and cap applied as in memory (the cap computed from these rows
/// unless `caps` fixes it).
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
pub(super) fn goal_rewards(
    raw: DataFrame,
    goal: &Goal,
    values: GoalValueReport,
    caps: Option<&[CapReport]>,
) -> Result<GoalRewards> {
    let (rewards, caps) = goal_rewards_with(raw.lazy(), goal, caps)?;
    Ok(GoalRewards {
        rewards: rewards.collect()?,
        values,
        caps,
    })
}
