//! A reward too large to square (`value: 1e200`) overflows an allocation's sum of
//! squares. Such a policy cannot be fitted nor its statistics saved (JSON has no
//! infinity), but that is that policy's problem: it is reported `errored`, naming the
//! goal events to blame, keeps its allocations and its previous state, and the other
//! policies go on.

use polars::prelude::*;

use super::report::{PolicyReport, RunStatus};
use crate::events::EventTables;

/// Above this magnitude a value's square overflows a double (`√f64::MAX ≈ 1.34e154`).
const SQUARE_OVERFLOWS: f64 = 1.3e154;

/// Places (file:line value) named at most.
const PLACES: usize = 3;

/// Whether an arm's sums are not finite.
fn overflowed(report: &PolicyReport) -> bool {
    report
        .arms
        .iter()
        .any(|a| !(a.reward_sum.is_finite() && a.reward_sum_sq.is_finite()))
}

/// Marks a policy whose sums overflowed `errored` and not counted (so the next state
/// keeps its previous entry); returns whether it did.
pub(super) fn refuse_overflow(
    report: &mut PolicyReport,
    places: impl FnOnce() -> Vec<String>,
    goal: &str,
) -> bool {
    if !overflowed(report) {
        return false;
    }
    let places = places();
    let blame = if places.is_empty() {
        format!("a `{goal}` value is too large")
    } else {
        format!("`{goal}` values too large: {}", places.join(", "))
    };
    report.status = RunStatus::Errored;
    report.counted = false;
    report.reason = Some(format!(
        "reward sums overflow a double ({blame}; a value's square must stay below 1.8e308): fix or drop those events; the allocations and the saved statistics are kept"
    ));
    true
}

/// Goal events of `goal` whose `value` is too large to square, as `file:line (value)`.
pub(super) fn huge_values(tables: &EventTables, goal: &str) -> PolarsResult<Vec<String>> {
    Ok(huge_rows(tables, goal)?
        .iter()
        .map(HugeValue::to_string)
        .collect())
}

/// A goal event whose value is too large to square: where it is, and the value.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct HugeValue {
    pub file: String,
    pub line: u64,
    pub value: f64,
}

impl std::fmt::Display for HugeValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} ({:e})", self.file, self.line, self.value)
    }
}

/// The first few goal events of `goal` (in table order) whose value is too large to
/// square: a partition's are merged by file and line ([`PLACES`] of them are kept).
pub(super) fn huge_rows(tables: &EventTables, goal: &str) -> PolarsResult<Vec<HugeValue>> {
    let t = &tables.tracks;
    let event = t.column("event")?.str()?;
    let value = t.column("value")?.cast(&DataType::Float64)?;
    let value = value.f64()?;
    let file = t.column("source_file")?.str()?;
    let line = t.column("source_line")?.cast(&DataType::UInt64)?;
    let line = line.u64()?;
    let mut out = Vec::new();
    for i in 0..t.height() {
        let (Some(e), Some(v)) = (event.get(i), value.get(i)) else {
            continue;
        };
        if e == goal && (v.is_nan() || v.abs() >= SQUARE_OVERFLOWS) {
            out.push(HugeValue {
                file: file.get(i).unwrap_or("<memory>").to_owned(),
                line: line.get(i).unwrap_or(0),
                value: v,
            });
            if out.len() == PLACES {
                break;
            }
        }
    }
    Ok(out)
}

/// How many places a refusal names.
pub(super) const PLACES_NAMED: usize = PLACES;
