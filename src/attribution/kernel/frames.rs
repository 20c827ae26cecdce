//! The output frames of a run: the reward table and the credit tables, gathered from
//! the input by row number.

use polars::prelude::*;
use rayon::prelude::*;

use super::keys::strs;
use super::rows::{Attributed, RewardUnit};
use super::NONE;
use crate::attribution::credits::Credits;
use crate::config::{AttributionMode, Goal, GoalType};
use crate::error::Result;

/// Rows `idx` of `column` of `df`. The column is made one chunk first: for strings
/// that concatenates the chunks' views and shares their bytes, and the gather then
/// copies 16-byte views. (Gathering across the chunks a parquet reader leaves copied
/// every string through a growing buffer: ten times slower.)
fn gather(df: &DataFrame, column: &str, idx: &[u32]) -> Result<Column> {
    let idx = IdxCa::from_vec("".into(), idx.iter().map(|&i| i as IdxSize).collect());
    Ok(df.column(column)?.rechunk().take(&idx)?)
}

/// The columns of [`Credits::exposures`] (exposure column, name), those an
/// attribution report reads first.
const EXPOSURE_COLUMNS: [(&str, &str); 7] = [
    ("unit_key", "unit_key"),
    ("policy_id", "policy_id"),
    ("allocation_name", "allocation_name"),
    ("layer_id", "layer_id"),
    ("ts", "exposed_at"),
    ("decision_id", "decision_id"),
    ("probability", "probability"),
];

impl Attributed<'_> {
    /// `policy_id` and `allocation_name` of pair codes `pas`: the few names gathered
    /// as views, their bytes stored once.
    fn pair_columns(&self, pas: impl Iterator<Item = u32>) -> Result<[Column; 2]> {
        let k = &self.pairs.keys;
        let idx = IdxCa::from_vec("".into(), pas.map(|p| p as IdxSize).collect());
        let names = |name: &str, all: Vec<&str>| -> Result<Column> {
            Ok(Column::new(name.into(), all).take(&idx)?)
        };
        Ok([
            names("policy_id", k.iter().map(|p| p.0).collect())?,
            names("allocation_name", k.iter().map(|p| p.1).collect())?,
        ])
    }

    /// The reward table of `goal` (see [`crate::attribution::relational`] for its columns). Its
    /// columns are built in parallel: gathers of views from the exposures, and
    /// numbers moved into columns without a copy.
    pub(in crate::attribution) fn rewards(&self, goal: &Goal) -> Result<DataFrame> {
        let x = &self.tables.exposures;
        let rows: Vec<u32> = self.rewards.iter().map(|r| r.row).collect();
        let numbers = |name: &str, f: fn(&RewardUnit) -> f64| {
            let v: Vec<f64> = self.rewards.par_iter().map(f).collect();
            Float64Chunked::from_vec(name.into(), v).into_column()
        };
        let reward: fn(&RewardUnit) -> f64 = match goal.goal_type {
            GoalType::ConversionRate => |r| if r.goal_events > 0.0 { 1.0 } else { 0.0 },
            GoalType::Count => |r| r.goal_events,
            GoalType::Sum | GoalType::Mean => |r| r.goal_value,
        };
        let ((pairs, keys), (probability, numbers)) = rayon::join(
            || {
                rayon::join(
                    || self.pair_columns(self.rewards.iter().map(|r| r.pa)),
                    || -> Result<[Column; 2]> {
                        let (u, d) = rayon::join(
                            || gather(x, "unit_key", &rows),
                            || gather(x, "decision_id", &rows),
                        );
                        Ok([u?, d?])
                    },
                )
            },
            || {
                rayon::join(
                    || -> Result<Column> {
                        Ok(gather(x, "probability", &rows)?.cast(&DataType::Float64)?)
                    },
                    || {
                        let at: Vec<i64> = self.rewards.par_iter().map(|r| r.at).collect();
                        [
                            Int64Chunked::from_vec("exposed_at".into(), at).into_column(),
                            numbers("goal_events", |r| r.goal_events),
                            numbers("goal_value", |r| r.goal_value),
                            numbers("reward", reward),
                        ]
                    },
                )
            },
        );
        let ([policy, allocation], [unit_key, decision_id]) = (pairs?, keys?);
        let [exposed_at, events, value, reward] = numbers;
        Ok(DataFrame::new(
            rows.len(),
            vec![
                policy,
                allocation,
                unit_key,
                decision_id,
                exposed_at,
                probability?,
                events,
                value,
                reward,
            ],
        )?)
    }

    /// The credit, outcome, goal and exposure tables of [`Credits`].
    pub(in crate::attribution) fn credits(&self) -> Result<Credits> {
        self.credits_of(&EXPOSURE_COLUMNS)
    }

    /// [`Attributed::credits`] for an attribution report. The report reads the
    /// exposures only to count the units in several allocations of a policy: when
    /// this pass counted them, the exposures table has no rows (gathering the kept
    /// exposures' strings, then grouping them by unit key for each policy, was about a
    /// tenth of a `metrics` run), else only the columns that count reads (`unit_key`,
    /// `policy_id`, `allocation_name`).
    pub(in crate::attribution) fn report_credits(&self) -> Result<Credits> {
        let columns = &EXPOSURE_COLUMNS[..3];
        if self.multi.is_some() {
            let empty = columns
                .iter()
                .map(|&(_, to)| Column::new_empty(to.into(), &DataType::String))
                .collect();
            return self.credits_with(DataFrame::new(0, empty)?);
        }
        self.credits_of(columns)
    }

    fn credits_of(&self, exposure_columns: &[(&str, &str)]) -> Result<Credits> {
        self.credits_with(self.exposure_frame(exposure_columns)?)
    }

    fn credits_with(&self, exposures: DataFrame) -> Result<Credits> {
        let multi = self.multi.as_ref().map(|counts| {
            (self.pairs.policies.iter())
                .zip(counts)
                .filter(|(_, &n)| n > 0)
                .map(|(&p, &n)| (p.to_owned(), n))
                .collect()
        });
        Ok(Credits {
            credits: self.credit_frame()?.lazy(),
            outcomes: self.outcome_frame()?.lazy(),
            goals: self.goal_frame()?.lazy(),
            exposures: exposures.lazy(),
            multi_allocation_units: multi,
        })
    }

    /// [`Credits::credits`].
    fn credit_frame(&self) -> Result<DataFrame> {
        let x = &self.tables.exposures;
        let t = &self.tables.tracks;
        let c = &self.credits.concat();
        let tracks: Vec<u32> = c.iter().map(|c| c.track).collect();
        // The unit key of the credited exposure, or the event's own (SDK arrays).
        let (x_units, t_units) = (strs(x, "unit_key")?, strs(t, "unit_key")?);
        let unit_key: Vec<Option<&str>> = c
            .iter()
            .map(|c| {
                if c.row == NONE {
                    t_units[c.track as usize]
                } else {
                    x_units[c.row as usize]
                }
            })
            .collect();
        let [policy, allocation] = self.pair_columns(c.iter().map(|c| c.pa))?;
        let mut credit_cols = vec![
            gather(t, "track_row", &tracks)?,
            Column::new("unit_key".into(), unit_key),
            policy,
            allocation,
            Column::new(
                "exposed_at".into(),
                c.iter().map(|c| c.at).collect::<Vec<_>>(),
            ),
            Column::new(
                "weight".into(),
                c.iter().map(|c| c.weight).collect::<Vec<_>>(),
            ),
        ];
        if self.mode == AttributionMode::Decision {
            // The credited decision: the event's own, or one of its unit's (the
            // unit-key rule). Decision-mode credits always name an exposure row.
            let rows: Vec<u32> = c.iter().map(|c| c.row).collect();
            credit_cols.push(gather(x, "decision_id", &rows)?);
        }
        Ok(DataFrame::new(c.len(), credit_cols)?)
    }

    /// [`Credits::outcomes`].
    fn outcome_frame(&self) -> Result<DataFrame> {
        let t = &self.tables.tracks;
        let o = &self.outcomes.concat();
        let o_tracks: Vec<u32> = o.iter().map(|o| o.0).collect();
        let policies = &self.pairs.policies;
        Ok(DataFrame::new(
            o.len(),
            vec![
                gather(t, "track_row", &o_tracks)?,
                Column::new(
                    "policy_id".into(),
                    o.iter().map(|o| policies[o.1 as usize]).collect::<Vec<_>>(),
                ),
                Column::new(
                    "outcome".into(),
                    o.iter().map(|o| o.2.name()).collect::<Vec<_>>(),
                ),
            ],
        )?)
    }

    /// [`Credits::goals`].
    fn goal_frame(&self) -> Result<DataFrame> {
        let t = &self.tables.tracks;
        let g_tracks: Vec<u32> = self.goals.iter().map(|g| g.track).collect();
        Ok(DataFrame::new(
            self.goals.len(),
            vec![
                gather(t, "track_row", &g_tracks)?,
                gather(t, "decision_id", &g_tracks)?,
                Column::new(
                    "known_decision".into(),
                    self.goals
                        .iter()
                        .map(|g| g.decision != NONE)
                        .collect::<Vec<_>>(),
                ),
                Column::new(
                    "has_array".into(),
                    self.goals.iter().map(|g| g.has_array).collect::<Vec<_>>(),
                ),
            ],
        )?)
    }

    /// [`Credits::exposures`].
    fn exposure_frame(&self, columns: &[(&str, &str)]) -> Result<DataFrame> {
        let x = &self.tables.exposures;
        let kept = &self.kept.concat();
        let columns = columns
            .iter()
            .map(|&(from, to)| Ok(gather(x, from, kept)?.with_name(to.into())))
            .collect::<Result<Vec<_>>>()?;
        Ok(DataFrame::new(kept.len(), columns)?)
    }
}
