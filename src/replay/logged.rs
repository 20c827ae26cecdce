//! Logged bandit feedback: what a logging (behaviour) policy showed, where, with which
//! probability, and what happened.
//!
//! The common input of every off-policy estimator, whatever the source: the Open Bandit
//! Dataset ([`super::obd`]), or any log built with [`LoggedBandit::new`] (the engine's
//! own reward tables next). Columnar: one slice per field, one row per (round, position).

use ndarray::Array2;

use crate::error::EvaluationError;
use crate::error::{Error, Result};

/// Logged bandit feedback, validated by [`LoggedBandit::new`].
///
/// Row `i` says: in round `i` the logging policy showed action `action[i]` at slot
/// `position[i]` with probability `pscore[i]`, in context `context.row(i)`, and the
/// reward was `reward[i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedBandit {
    n_actions: usize,
    len_list: usize,
    action: Vec<u32>,
    position: Vec<u32>,
    reward: Vec<f64>,
    pscore: Vec<f64>,
    context: Array2<f64>,
    context_names: Vec<String>,
    action_context: Option<Array2<f64>>,
}

/// The fields of a [`LoggedBandit`], before validation.
#[derive(Clone, Debug, Default)]
pub struct LoggedBanditParts {
    /// Number of actions; actions are `0..n_actions`.
    pub n_actions: usize,
    /// Number of slots (positions); positions are `0..len_list`. 1 for single-slot logs.
    pub len_list: usize,
    /// The logged action of each row.
    pub action: Vec<u32>,
    /// The slot of each row (all 0 for single-slot logs).
    pub position: Vec<u32>,
    /// The observed reward of each row.
    pub reward: Vec<f64>,
    /// The logging policy's probability of the logged action at that slot, in (0, 1].
    pub pscore: Vec<f64>,
    /// Context features, one row per log row (may have zero columns).
    pub context: Array2<f64>,
    /// Names of the context columns (empty, or one per column).
    pub context_names: Vec<String>,
    /// Optional action features, one row per action.
    pub action_context: Option<Array2<f64>>,
}

fn bad(field: &'static str, reason: String) -> Error {
    EvaluationError::Log { field, reason }.into()
}

impl LoggedBanditParts {
    /// One value per row in every column, some rows, some actions and slots.
    fn check_shape(&self) -> Result<()> {
        let n = self.action.len();
        for (name, len) in [
            ("position", self.position.len()),
            ("reward", self.reward.len()),
            ("pscore", self.pscore.len()),
            ("context", self.context.nrows()),
        ] {
            if len != n {
                return Err(bad(
                    name,
                    format!("{len} rows, but the log has {n} actions; every column needs one value per row"),
                ));
            }
        }
        if n == 0 {
            return Err(bad("action", "the log is empty".into()));
        }
        if self.n_actions == 0 || self.len_list == 0 {
            return Err(bad(
                "n_actions",
                format!(
                    "n_actions = {} and len_list = {} must both be at least 1",
                    self.n_actions, self.len_list
                ),
            ));
        }
        Ok(())
    }

    /// Each row's action, slot, propensity and reward, row by row.
    fn check_rows(&self) -> Result<()> {
        for i in 0..self.action.len() {
            if self.action[i] as usize >= self.n_actions {
                return Err(bad(
                    "action",
                    format!(
                        "row {i}: action {} is not below n_actions = {}",
                        self.action[i], self.n_actions
                    ),
                ));
            }
            if self.position[i] as usize >= self.len_list {
                return Err(bad(
                    "position",
                    format!(
                        "row {i}: position {} is not below len_list = {}",
                        self.position[i], self.len_list
                    ),
                ));
            }
            let p = self.pscore[i];
            // Subnormal propensities are refused too: 1/p overflows to infinity and
            // every importance-weighted estimate becomes NaN.
            if !(f64::MIN_POSITIVE..=1.0).contains(&p) {
                return Err(bad(
                    "pscore",
                    format!(
                        "row {i}: propensity {p:e} is not in (0, 1] or is below the smallest normal double (2.2e-308); importance weights divide by it"
                    ),
                ));
            }
            if !self.reward[i].is_finite() {
                return Err(bad(
                    "reward",
                    format!("row {i}: reward {} is not finite", self.reward[i]),
                ));
            }
        }
        Ok(())
    }

    /// The context names and action features fit the columns and actions, and every
    /// context value is finite.
    fn check_features(&self) -> Result<()> {
        if !self.context_names.is_empty() && self.context_names.len() != self.context.ncols() {
            return Err(bad(
                "context_names",
                format!(
                    "{} names for {} context columns",
                    self.context_names.len(),
                    self.context.ncols()
                ),
            ));
        }
        if let Some(ac) = &self.action_context {
            if ac.nrows() != self.n_actions {
                return Err(bad(
                    "action_context",
                    format!(
                        "{} rows, one per action expected ({})",
                        ac.nrows(),
                        self.n_actions
                    ),
                ));
            }
        }
        if self.context.iter().any(|v| !v.is_finite()) {
            return Err(bad("context", "a context value is not finite".into()));
        }
        Ok(())
    }
}

impl LoggedBandit {
    /// Validates the parts: equal lengths, actions below `n_actions`, positions below
    /// `len_list`, propensities in (0, 1], finite rewards.
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] naming the first offending row and field.
    pub fn new(parts: LoggedBanditParts) -> Result<Self> {
        parts.check_shape()?;
        parts.check_rows()?;
        parts.check_features()?;
        Ok(Self {
            n_actions: parts.n_actions,
            len_list: parts.len_list,
            action: parts.action,
            position: parts.position,
            reward: parts.reward,
            pscore: parts.pscore,
            context: parts.context,
            context_names: parts.context_names,
            action_context: parts.action_context,
        })
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.action.len()
    }

    /// Always false: [`LoggedBandit::new`] refuses empty logs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.action.is_empty()
    }

    /// Number of actions.
    #[must_use]
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// Number of slots.
    #[must_use]
    pub fn len_list(&self) -> usize {
        self.len_list
    }

    /// Logged actions.
    #[must_use]
    pub fn action(&self) -> &[u32] {
        &self.action
    }

    /// Slots.
    #[must_use]
    pub fn position(&self) -> &[u32] {
        &self.position
    }

    /// Rewards.
    #[must_use]
    pub fn reward(&self) -> &[f64] {
        &self.reward
    }

    /// Logging propensities.
    #[must_use]
    pub fn pscore(&self) -> &[f64] {
        &self.pscore
    }

    /// Context matrix (rows × features).
    #[must_use]
    pub fn context(&self) -> &Array2<f64> {
        &self.context
    }

    /// Names of the context columns (may be empty).
    #[must_use]
    pub fn context_names(&self) -> &[String] {
        &self.context_names
    }

    /// Action features (actions × features), if any.
    #[must_use]
    pub fn action_context(&self) -> Option<&Array2<f64>> {
        self.action_context.as_ref()
    }

    /// Mean reward: the on-policy value of the logging policy.
    #[must_use]
    pub fn mean_reward(&self) -> f64 {
        self.reward.iter().sum::<f64>() / self.len() as f64
    }

    /// The rows `idx` (in that order) as a new log with the same actions and features.
    #[must_use]
    pub fn select(&self, idx: &[usize]) -> Self {
        Self {
            n_actions: self.n_actions,
            len_list: self.len_list,
            action: idx.iter().map(|&i| self.action[i]).collect(),
            position: idx.iter().map(|&i| self.position[i]).collect(),
            reward: idx.iter().map(|&i| self.reward[i]).collect(),
            pscore: idx.iter().map(|&i| self.pscore[i]).collect(),
            context: self.context.select(ndarray::Axis(0), idx),
            context_names: self.context_names.clone(),
            action_context: self.action_context.clone(),
        }
    }
}
