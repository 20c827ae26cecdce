//! The goal stage, on both sides of attribution.
//!
//! **Before** the credit join ([`goal_value_tables`]): each goal event's value is
//! read from where the goal says (`value`, a named `values` entry, or a property)
//! and written into the `value` column the attribution stages sum, so attribution
//! itself never needs to know where values come from.
//!
//! **After** it ([`goal_rewards`]): the credited sums of each reward unit
//! (`goal_events`, `goal_value`) become the `reward` of the goal type, capped at a
//! quantile when the goal says so.
//!
//! | goal type | reward per reward unit | a goal event without a usable value |
//! |---|---|---|
//! | `conversion_rate` | 1 if any credited goal event, else 0 | value not read |
//! | `count` | credited goal events (weighted) | value not read |
//! | `sum` | credited sum of values | counts as a conversion with value 0, reported |
//! | `mean` | credited mean value over its goal events; none (null) without one | left out of the goal (it cannot be averaged), reported |
//!
//! A value is *usable* when it is a JSON number; a missing entry, `null`, or any other
//! JSON type (a string such as `"12.50"`, a boolean) is not: strings are not coerced,
//! because a number sent as text usually means an integration bug that the count in
//! the report should surface. A `count` goal counts events whatever the event's
//! `valueType`: to add up a count-typed value (items per add-to-cart), use `sum`.
//!
//! `desiredDirection` is not applied here: rewards and metrics stay in the goal's own
//! units, and the optimiser flips the direction when it fits
//! ([`crate::policy::fit_multi_armed`]).

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Goal, GoalType, ValueSource};
use crate::error::Result;
use crate::events::EventTables;
use crate::stats::quantile_sorted;

/// How a goal's values were read in one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalValueReport {
    /// Where the value comes from: `value`, `values.<name>` or `properties.<name>`.
    pub source: String,
    /// Goal events in the input (repeated event ids included).
    pub goal_events: u64,
    /// Goal events whose value is absent or `null`.
    pub missing_values: u64,
    /// Goal events whose value is present but not a number.
    pub non_numeric_values: u64,
    /// What happened to those events: `counted as 0`, `left out` or `not read`.
    pub without_value: &'static str,
    /// The first such event, as `file:line`, to go and look at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_without_value: Option<String>,
}

/// A cap applied to one policy's rewards.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapReport {
    /// Policy id.
    pub policy_id: String,
    /// The configured quantile.
    pub quantile: f64,
    /// The reward it corresponds to in this run.
    pub value: f64,
    /// Reward units whose reward was lowered to it.
    pub capped_units: u64,
}

/// Where `source` is written in reports.
fn source_name(source: &ValueSource) -> String {
    match source {
        ValueSource::Value => "value".into(),
        ValueSource::Values(n) => format!("values.{n}"),
        ValueSource::Property(n) => format!("properties.{n}"),
    }
}

/// The goal as the attribution stages see it: they sum `value` (already the goal's
/// value), and [`goal_rewards`] turns the sums into the goal's reward.
#[must_use]
pub fn attribution_goal(goal: &Goal) -> Goal {
    Goal {
        goal_type: GoalType::Sum,
        value: ValueSource::Value,
        cap: None,
        ..goal.clone()
    }
}

enum Read {
    Number(f64),
    Missing,
    NotNumber,
}

fn read_json(text: Option<&str>, key: &str) -> Read {
    let Some(text) = text else {
        return Read::Missing;
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Read::NotNumber;
    };
    match map.get(key) {
        None | Some(Value::Null) => Read::Missing,
        Some(Value::Number(n)) => n.as_f64().map_or(Read::NotNumber, Read::Number),
        Some(_) => Read::NotNumber,
    }
}

/// The event tables with each goal event's `value` replaced by the goal's value, and
/// for `mean` goals the goal events without a usable value left out; with the count
/// of such events. Other track events and the other tables are unchanged.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
pub fn goal_value_tables(
    tables: &EventTables,
    goal: &Goal,
) -> Result<(EventTables, GoalValueReport)> {
    let reads_value = matches!(goal.goal_type, GoalType::Sum | GoalType::Mean);
    let is_goal = col("event").eq(lit(goal.event.as_str()));
    let rows = tables
        .tracks
        .clone()
        .lazy()
        .filter(is_goal.clone())
        .select([
            col("track_row"),
            col("value"),
            col("values"),
            col("properties"),
            col("source_file"),
            col("source_line"),
        ])
        .collect()?;
    let mut report = GoalValueReport {
        source: source_name(&goal.value),
        goal_events: rows.height() as u64,
        without_value: match goal.goal_type {
            GoalType::Sum => "counted as 0",
            GoalType::Mean => "left out",
            GoalType::ConversionRate | GoalType::Count => "not read",
        },
        ..GoalValueReport::default()
    };
    if !reads_value {
        return Ok((tables.clone(), report));
    }
    let goal_value = read_goal_values(&rows, &goal.value, &mut report)?;
    let tracks = if goal.value == ValueSource::Value {
        // Each goal event's value is its own `value`: the table is kept as it is (a
        // join on `track_row` and a sort of every track row were a tenth of a
        // `metrics` run), but for a `mean` goal's events without one.
        if goal.goal_type == GoalType::Mean {
            without_valueless_goals(&tables.tracks, is_goal)?
        } else {
            tables.tracks.clone()
        }
    } else {
        let read = DataFrame::new_infer_height(vec![
            rows.column("track_row")?.clone(),
            Column::new("__goal_value".into(), goal_value),
        ])?;
        with_goal_values(&tables.tracks, read, is_goal, goal.goal_type)?
    };
    Ok((
        EventTables {
            exposures: tables.exposures.clone(),
            tracks,
            attributions: tables.attributions.clone(),
        },
        report,
    ))
}

/// The value of each goal event row of `rows` read from `source` (`None` when not
/// usable), counting the missing and non-numeric ones in `report`.
fn read_goal_values(
    rows: &DataFrame,
    source: &ValueSource,
    report: &mut GoalValueReport,
) -> Result<Vec<Option<f64>>> {
    let value = rows.column("value")?.f64()?;
    let values = rows.column("values")?.str()?;
    let properties = rows.column("properties")?.str()?;
    let file = rows.column("source_file")?.str()?;
    let line = rows.column("source_line")?.u64()?;
    let mut goal_value: Vec<Option<f64>> = Vec::with_capacity(rows.height());
    for i in 0..rows.height() {
        let read = match source {
            ValueSource::Value => value.get(i).map_or(Read::Missing, Read::Number),
            ValueSource::Values(k) => read_json(values.get(i), k),
            ValueSource::Property(k) => read_json(properties.get(i), k),
        };
        let v = match read {
            Read::Number(x) => Some(x),
            Read::Missing => {
                report.missing_values += 1;
                None
            }
            Read::NotNumber => {
                report.non_numeric_values += 1;
                None
            }
        };
        if v.is_none() && report.first_without_value.is_none() {
            report.first_without_value = Some(format!(
                "{}:{}",
                file.get(i).unwrap_or("(input)"),
                line.get(i).map_or("?".to_owned(), |l| l.to_string())
            ));
        }
        goal_value.push(v);
    }
    Ok(goal_value)
}

/// `tracks` with the goal events' `value` replaced by `read`'s `__goal_value` (by
/// `track_row`), for `mean` goals those without one left out, in `track_row` order.
fn with_goal_values(
    tracks: &DataFrame,
    read: DataFrame,
    is_goal: Expr,
    goal_type: GoalType,
) -> Result<DataFrame> {
    let names: Vec<Expr> = tracks
        .get_column_names()
        .into_iter()
        .map(|n| col(n.as_str()))
        .collect();
    let mut out = tracks
        .clone()
        .lazy()
        .join(
            read.lazy(),
            [col("track_row")],
            [col("track_row")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(
            when(is_goal.clone())
                .then(col("__goal_value"))
                .otherwise(col("value"))
                .alias("value"),
        )
        .select(names);
    if goal_type == GoalType::Mean {
        out = out.filter(valueless_goal(is_goal).not());
    }
    Ok(out
        .sort(["track_row"], SortMultipleOptions::default())
        .collect()?)
}

/// `tracks` without the goal events that have no `value`, in their order.
fn without_valueless_goals(tracks: &DataFrame, is_goal: Expr) -> Result<DataFrame> {
    Ok(tracks
        .clone()
        .lazy()
        .filter(valueless_goal(is_goal).not())
        .collect()?)
}

/// A goal event without a `value` (a `mean` goal leaves these out).
fn valueless_goal(is_goal: Expr) -> Expr {
    is_goal.and(col("value").is_null())
}

/// The event tables with only the goal events whose `property` reads as `value`
/// (`None`: the property is absent or null) kept: a breakdown of the numerator by an
/// event dimension. Values read as their JSON text, strings unquoted.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
pub fn restrict_to_dimension(
    tables: &EventTables,
    goal_event: &str,
    property: &str,
    value: Option<&str>,
) -> Result<EventTables> {
    let dims = dimension_values(tables, goal_event, property)?;
    let keep: Vec<u32> = dims
        .iter()
        .filter(|(_, v)| v.as_deref() == value)
        .map(|(r, _)| *r)
        .collect();
    let n = keep.len();
    let keep = df!("track_row" => keep, "__keep" => vec![true; n])?;
    let names: Vec<Expr> = tables
        .tracks
        .get_column_names()
        .into_iter()
        .map(|n| col(n.as_str()))
        .collect();
    let is_goal = col("event").eq(lit(goal_event));
    let tracks = tables
        .tracks
        .clone()
        .lazy()
        .join(
            keep.lazy(),
            [col("track_row")],
            [col("track_row")],
            JoinArgs::new(JoinType::Left),
        )
        .filter(is_goal.not().or(col("__keep").is_not_null()))
        .select(names)
        .sort(["track_row"], SortMultipleOptions::default())
        .collect()?;
    Ok(EventTables {
        exposures: tables.exposures.clone(),
        tracks,
        attributions: tables.attributions.clone(),
    })
}

/// `(track_row, value of property)` of every goal event, as [`restrict_to_dimension`]
/// reads them.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
pub fn dimension_values(
    tables: &EventTables,
    goal_event: &str,
    property: &str,
) -> Result<Vec<(u32, Option<String>)>> {
    let rows = tables
        .tracks
        .clone()
        .lazy()
        .filter(col("event").eq(lit(goal_event)))
        .select([col("track_row"), col("properties")])
        .collect()?;
    let row = rows.column("track_row")?.u32()?;
    let props = rows.column("properties")?.str()?;
    Ok((0..rows.height())
        .filter_map(|i| {
            let r = row.get(i)?;
            let v = props
                .get(i)
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .and_then(|v| match v.get(property) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                });
            Some((r, v))
        })
        .collect())
}

/// The reward of the goal type from a reward table's credited sums, capped at the
/// goal's quantile per policy when it has one. Reward units without a reward
/// (`mean` goals, no goal event) have a null `reward`.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks `policy_id`, `goal_events` or
/// `goal_value`.
pub fn goal_rewards(rewards: LazyFrame, goal: &Goal) -> Result<(LazyFrame, Vec<CapReport>)> {
    goal_rewards_with(rewards, goal, None)
}

/// [`goal_rewards`] with the caps of another table (`Some`): a breakdown of a run
/// uses the whole run's thresholds, so that its slices are capped alike.
///
/// # Errors
///
/// As [`goal_rewards`].
pub fn goal_rewards_with(
    rewards: LazyFrame,
    goal: &Goal,
    fixed: Option<&[CapReport]>,
) -> Result<(LazyFrame, Vec<CapReport>)> {
    let converted = col("goal_events").gt(lit(0.0));
    let reward = match goal.goal_type {
        GoalType::ConversionRate => when(converted).then(lit(1.0)).otherwise(lit(0.0)),
        GoalType::Count => col("goal_events"),
        GoalType::Sum => col("goal_value"),
        GoalType::Mean => when(converted)
            .then(col("goal_value") / col("goal_events"))
            .otherwise(lit(NULL).cast(DataType::Float64)),
    };
    let rewards = rewards.with_column(reward.alias("reward"));
    let Some(cap) = goal.cap else {
        return Ok((rewards, Vec::new()));
    };
    let df = rewards.collect()?;
    let policy = df.column("policy_id")?.str()?;
    let events = df.column("goal_events")?.f64()?;
    let reward = df.column("reward")?.f64()?;
    let mut by_policy: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for i in 0..df.height() {
        if let (Some(p), Some(e), Some(r)) = (policy.get(i), events.get(i), reward.get(i)) {
            if e > 0.0 {
                by_policy.entry(p).or_default().push(r);
            }
        }
    }
    let mut caps = Vec::new();
    for (p, mut rs) in by_policy {
        rs.sort_by(f64::total_cmp);
        let value = match fixed {
            Some(f) => f.iter().find(|c| c.policy_id == p).map(|c| c.value),
            None => quantile_sorted(&rs, cap.quantile),
        };
        if let Some(value) = value {
            let capped_units = rs.iter().filter(|&&r| r > value).count() as u64;
            caps.push(CapReport {
                policy_id: p.to_owned(),
                quantile: cap.quantile,
                value,
                capped_units,
            });
        }
    }
    let table = df!(
        "policy_id" => caps.iter().map(|c| c.policy_id.as_str()).collect::<Vec<_>>(),
        "__cap" => caps.iter().map(|c| c.value).collect::<Vec<_>>(),
    )?;
    let names: Vec<Expr> = df
        .get_column_names()
        .into_iter()
        .map(|n| col(n.as_str()))
        .collect();
    let capped = df
        .lazy()
        .join(
            table.lazy(),
            [col("policy_id")],
            [col("policy_id")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(
            when(col("reward").gt(col("__cap")))
                .then(col("__cap"))
                .otherwise(col("reward"))
                .alias("reward"),
        )
        .select(names);
    Ok((capped, caps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_linearly_as_numpy() {
        // numpy.quantile([1, 2, 3, 4, 100], 0.9) == 61.6
        let q = quantile_sorted(&[1.0, 2.0, 3.0, 4.0, 100.0], 0.9).unwrap();
        assert!((q - 61.6).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn json_values_are_numbers_only() {
        assert!(matches!(read_json(Some(r#"{"a": 2.5}"#), "a"), Read::Number(x) if x == 2.5));
        assert!(matches!(
            read_json(Some(r#"{"a": "2.5"}"#), "a"),
            Read::NotNumber
        ));
        assert!(matches!(
            read_json(Some(r#"{"a": null}"#), "a"),
            Read::Missing
        ));
        assert!(matches!(read_json(Some(r#"{"b": 1}"#), "a"), Read::Missing));
        assert!(matches!(read_json(None, "a"), Read::Missing));
    }
}
