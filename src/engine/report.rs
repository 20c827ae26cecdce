//! The run report: per policy, what happened and why, with per-allocation figures.

use serde::Serialize;

use super::health::HealthCheck;
use crate::attribution::AttributionReport;
use crate::enforce::EnforcementReport;
use crate::events::LoadReport;
use crate::goal::{CapReport, GoalValueReport};

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

impl ArmReport {
    /// An allocation before fitting: no figures yet, its live share and range kept.
    pub(super) fn unchanged(name: &str, share: f64, range: [u32; 2]) -> Self {
        Self {
            name: name.to_owned(),
            exposures: 0,
            new_exposures: 0,
            reward_sum: 0.0,
            reward_sum_sq: 0.0,
            mean: None,
            probability_best: None,
            old_share: share,
            new_share: share,
            old_range: range,
            new_range: range,
        }
    }
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

impl RunReport {
    /// A report with the load and enforcement counts filled, before any policy ran.
    pub(super) fn of_load(load: &LoadReport, enforcement: EnforcementReport) -> Self {
        Self {
            as_of: String::new(),
            seed: 0,
            bundle_version: String::new(),
            events_read: load.read(),
            events_accepted: load.accepted(),
            events_quarantined: load.quarantined(),
            warnings: load
                .warnings
                .iter()
                .map(|(w, n)| (w.describe().to_owned(), *n))
                .collect(),
            state_warning: None,
            enforcement,
            policies: Vec::new(),
        }
    }
}

/// Per-entity part of a policy's run report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityReport {
    /// Entities with statistics (this run and previous ones).
    pub entities: u64,
    /// Of those, entities published with their own weights.
    pub published: u64,
    /// Entities below `minEntityExposures`, served `_global`.
    pub below_minimum: u64,
    /// Entities with exposures in this run.
    pub active: u64,
    /// This run's reward rows whose logged context lacked an entity key (counted in
    /// `_global` only): list the keys in `contextLogging.allowedFields`.
    pub rows_without_entity: u64,
    /// This run's reward rows naming no allocation of the policy (not used).
    pub unknown_rows: u64,
    /// `_global` weights after this run.
    pub global_weights: Vec<f64>,
}
