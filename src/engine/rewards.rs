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
use std::rc::Rc;

use polars::prelude::{DataFrame, IntoLazy, LazyFrame};

use crate::attribution::{AttributionParams, AttributionReport, Credits, TouchModel};
use crate::config::{AttributionMode, AttributionModel, Goal, GoalType, OptimizationSpec};
use crate::error::Result;
use crate::events::EventTables;
use crate::goal::{
    attribution_goal, goal_rewards_with, goal_value_tables, CapReport, GoalValueReport,
};

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
    let (valued, values) = goal_value_tables(tables, goal)?;
    let attribution_goal = attribution_goal(goal);
    let (raw, credits) = if with_credits {
        let (raw, credits) =
            crate::attribution::rewards_and_credits(&valued, &attribution_goal, params)?;
        // `mean` goals leave goal events without a value out of the valued tables;
        // the report counts every goal event, so it is credited on the tables given.
        let credits = if goal.goal_type == GoalType::Mean {
            crate::attribution::credits(tables, &goal.event, params)?
        } else {
            credits
        };
        (raw, Some(credits))
    } else {
        let raw = crate::attribution::rewards(&valued, &attribution_goal, params)?;
        (raw, None)
    };
    let (rewards, caps) = goal_rewards_with(raw, goal, caps)?;
    let rewards = GoalRewards {
        rewards: rewards.collect()?,
        values,
        caps,
    };
    Ok((rewards, credits))
}

/// A goal attributed once in a run: its rewards, and the credits the attribution
/// report reads.
pub(super) struct Attributed {
    /// The rewards.
    pub rewards: GoalRewards,
    credits: Credits,
}

impl Attributed {
    /// The attribution report of one policy from these credits.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Polars`] if a query fails.
    pub fn report(
        &self,
        tables: &EventTables,
        goal: &Goal,
        policy_id: &str,
        params: &AttributionParams,
    ) -> Result<AttributionReport> {
        crate::attribution::attribution_report(
            tables,
            &self.credits,
            &goal.event,
            policy_id,
            params,
        )
    }
}

/// The attributions of one run, computed on first use and shared by every policy
/// with the same goal and settings.
pub(super) struct Attributions<'t> {
    tables: &'t EventTables,
    done: RefCell<Vec<(Goal, AttributionParams, Rc<Attributed>)>>,
}

impl<'t> Attributions<'t> {
    pub(super) fn new(tables: &'t EventTables) -> Self {
        Self {
            tables,
            done: RefCell::new(Vec::new()),
        }
    }

    /// The tables attributed.
    pub(super) fn tables(&self) -> &'t EventTables {
        self.tables
    }

    /// The rewards of `goal` under `params`, attributed once.
    pub(super) fn get(&self, goal: &Goal, params: &AttributionParams) -> Result<Rc<Attributed>> {
        if let Some((_, _, r)) = self
            .done
            .borrow()
            .iter()
            .find(|(g, p, _)| g == goal && p == params)
        {
            return Ok(Rc::clone(r));
        }
        let (rewards, credits) = attribute(self.tables, goal, params, None, true)?;
        let credits = credits.expect("asked for with_credits");
        let r = Rc::new(Attributed { rewards, credits });
        self.done
            .borrow_mut()
            .push((goal.clone(), *params, Rc::clone(&r)));
        Ok(r)
    }
}
