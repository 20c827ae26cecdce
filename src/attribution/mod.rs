//! Attribution: which allocation gets the credit for a track event, and the reward
//! table built from it.
//!
//! * Sessions: `sessionId`, or a per-unit inactivity gap
//!   ([`DEFAULT_SESSION_GAP_MS`]).
//! * [`decision_rewards`]: `decision` mode, a track event counts only for the layers
//!   of its own `decisionId`; the reward unit is the decision.
//! * The unit-key rule, in both modes, for a track event with neither a known
//!   `decisionId` nor an SDK array. The platform's events page ("Attribution"): "If a
//!   track event has no decisionId and no SDK-built attribution array, the pipeline
//!   still attributes it: metrics join track events to assignments on unit_key with a
//!   temporal constraint (any track event after the user's first exposure to an
//!   allocation counts toward that allocation). This is what makes events from
//!   webhooks and batch processes work without any explicit threading." Its touches
//!   are the unit's exposures (decision mode: its decisions), kept by the time rules
//!   from the first one on; `unlinkedEvents: drop` turns it off
//!   ([`AttributionParams::unit_key_rule`]).
//! * [`cumulative_rewards`]: `cumulative` mode (the platform's default): the SDK's
//!   attribution array as sent, else the event's decision plus every exposure of its
//!   session up to its time, else the unit-key temporal rule; the reward unit is the
//!   exposed unit × allocation.
//! * [`AttributionParams`]: the multi-touch model ([`TouchModel`]), clock-skew
//!   tolerance and attribution window, applied by both modes in the same steps
//!   (the kernel's `touch` step, the relational `touch` steps).
//! * [`attribution_report`]: what happened to each goal event.
//! * [`relational`]: the rules as polars lazy steps, one per rule: the specification
//!   (and the warehouse SQL's template). [`rewards`] and [`credits()`] compute the same
//!   tables with a fused kernel over integer codes (`kernel/`, one file per pass),
//!   tested equal to them on random logs; `docs/attribution.md` maps each step to
//!   its kernel loop.
//! * [`Credits`]: the credit tables of one goal, from either implementation.
//!
//! Both reward tables have the columns `policy_id`, `allocation_name`, `unit_key`,
//! `decision_id`, `exposed_at`, `probability`, `goal_events` (credited goal events,
//! weighted), `goal_value` (credited `value`), `reward`, sorted, so the policy stage
//! reads either the same way.

mod attribute;
mod credits;
mod kernel;
mod params;
pub mod population;
pub mod relational;
mod report;

pub use crate::error::AttributionError;
pub use attribute::{credits, cumulative_rewards, decision_rewards, rewards, rewards_and_credits};
pub use credits::Credits;
pub use params::{AttributionParams, TouchModel, DEFAULT_HALF_LIFE_MS, DEFAULT_SESSION_GAP_MS};
pub use population::{for_population, Population};
pub use report::{attribution_report, report_counts, AttributionReport, ReportCounts};
