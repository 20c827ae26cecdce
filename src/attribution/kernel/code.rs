//! The coded input of one run: keys interned, exposure and goal rows coded, SDK arrays
//! and the index of each decision's exposures.

use polars::prelude::*;
use rayon::prelude::*;

use super::exposures::exposure_rows;
use super::group::grouped_by;
use super::intern::{explicit, identities, intern, intern_and_look_up, Dict, Identity, NO_SESSION};
use super::keys::{ints, strs, Keys, StrCol};
use super::pairs::Pairs;
use super::rows::{Goal0, Touch, XRow};
use super::{NONE, ROW_SPAN};
use crate::attribution::params::AttributionParams;
use crate::config::AttributionMode;
use crate::error::Result;
use crate::events::EventTables;

/// The coded input of one run.
pub(super) struct Coded<'a> {
    pub(super) units: Dict<'a>,
    pub(super) pairs: Pairs<'a>,
    /// Layer × policy × allocation → pair.
    pub(super) lpa_pair: Vec<u32>,
    pub(super) xs: Vec<XRow>,
    pub(super) goals: Vec<Goal0>,
    /// For the array rule: `(track, pair, weight)` of every array entry of a goal
    /// event.
    pub(super) arrays: Vec<(u32, u32, f64)>,
    /// Per decision code, its first eligible exposure row per pair (CSR).
    pub(super) dx_offsets: Vec<u32>,
    pub(super) dx: Vec<Touch>,
    /// `value` per track row, null as 0.
    pub(super) values: Vec<f64>,
}

/// Codes one run's input: the goal events (once per `id`), the keys each mode joins
/// on, the exposure rows, the SDK arrays and the decision index.
///
/// # Errors
///
/// [`crate::Error::TooManyRows`] for 2³² rows or more (codes are `u32`);
/// [`crate::Error::Polars`] if a table lacks a column.
pub(super) fn code<'a>(
    tables: &'a EventTables,
    goal_event: &str,
    params: &AttributionParams,
) -> Result<Coded<'a>> {
    check_rows(tables)?;
    let x = &tables.exposures;
    let n = x.height();
    let goal_rows = GoalRows::new(tables, goal_event)?;
    let kept_goals = goal_rows.first_per_id()?;
    let cumulative = params.mode == AttributionMode::Cumulative;
    let none = n + goal_rows.rows.len();
    // Decision mode joins on the decision, and on the unit for the unit-key rule:
    // never on sessions.
    let units = if cumulative || params.unit_key_rule() {
        intern(&goal_rows.both("unit_key")?, cumulative)
    } else {
        Dict {
            codes: vec![NONE; none],
            len: 0,
            keys: Vec::new(),
        }
    };
    let sessions = if cumulative {
        identities(&goal_rows.both("session_id")?)
    } else {
        vec![NO_SESSION; none]
    };
    let decisions = decision_codes(&goal_rows, cumulative)?;
    let mut pairs = Pairs::new();
    let (xs, lpa_pair) = exposure_rows(x, &units.codes, &sessions, &decisions.codes, &mut pairs)?;
    let links = ArrayLinks::new(tables, &goal_rows, &kept_goals, cumulative)?;
    let values = track_values(&tables.tracks);
    let codes = KeyCodes {
        units: &units.codes,
        sessions: &sessions,
        decisions: &decisions,
    };
    let goals = goal_events(&goal_rows, &kept_goals, &codes, &links, &values)?;
    let arrays = if cumulative {
        array_entries(&tables.attributions, &links.goal_of, &mut pairs)?
    } else {
        Vec::new()
    };
    let (dx_offsets, dx) = decision_index(&xs, &lpa_pair, &pairs, decisions.len);
    Ok(Coded {
        units,
        pairs,
        lpa_pair,
        xs,
        goals,
        arrays,
        dx_offsets,
        dx,
        values,
    })
}

/// Refuses inputs of 2³² rows or more: rows and codes are `u32`, with `u32::MAX`
/// reserved for "none".
fn check_rows(tables: &EventTables) -> Result<()> {
    let rows = tables.exposures.height() + tables.tracks.height() + tables.attributions.height();
    if rows >= NONE as usize {
        return Err(crate::Error::TooManyRows {
            what: "event rows in one attribution run",
            rows: rows as u64,
            limit: u64::from(NONE - 1),
        });
    }
    Ok(())
}

/// The track rows of the goal event, and the key lists that read them.
struct GoalRows<'a> {
    exposures: &'a DataFrame,
    tracks: &'a DataFrame,
    /// Track rows named by the goal, in table order.
    rows: Vec<u32>,
    /// Whether every track row is a goal event (then keys are read whole).
    every: bool,
}

impl<'a> GoalRows<'a> {
    fn new(tables: &'a EventTables, goal_event: &str) -> Result<Self> {
        let tracks = &tables.tracks;
        let events = Keys::new(vec![(StrCol::new(tracks, "event")?, None)]);
        let rows: Vec<u32> = events.filter_map(|i, e| (e == Some(goal_event)).then_some(i as u32));
        let every = rows.len() == tracks.height();
        Ok(Self {
            exposures: &tables.exposures,
            tracks,
            rows,
            every,
        })
    }

    /// Column `name` of the goal events.
    fn keys(&self, name: &str) -> Result<(StrCol<'a>, Option<&[u32]>)> {
        Ok((
            StrCol::new(self.tracks, name)?,
            (!self.every).then_some(&self.rows[..]),
        ))
    }

    /// Column `name` of the exposures, then of the goal events.
    fn both(&self, name: &str) -> Result<Keys<'a, '_>> {
        Ok(Keys::new(vec![
            (StrCol::new(self.exposures, name)?, None),
            self.keys(name)?,
        ]))
    }

    /// Indices into `rows` of the goal events kept: once per `id` (the first row in
    /// table order), every row without one.
    fn first_per_id(&self) -> Result<Vec<usize>> {
        let ids = intern(&Keys::new(vec![self.keys("event_id")?]), false);
        let mut first = vec![true; ids.len];
        Ok((0..self.rows.len())
            .filter(|&k| match ids.codes[k] {
                NONE => true,
                c => std::mem::replace(&mut first[c as usize], false),
            })
            .collect())
    }
}

/// Codes of the decisions, for the exposures' rows then the goal events'. In
/// cumulative mode decisions are only looked up for goal events: the exposures'
/// decisions no goal event names need no code.
fn decision_codes<'a>(goal_rows: &GoalRows<'a>, cumulative: bool) -> Result<Dict<'a>> {
    Ok(if cumulative {
        let named = Keys::new(vec![goal_rows.keys("decision_id")?]);
        let exposed = Keys::new(vec![(
            StrCol::new(goal_rows.exposures, "decision_id")?,
            None,
        )]);
        let (mut dict, exposed) = intern_and_look_up(&named, &exposed);
        dict.codes = [exposed, dict.codes].concat();
        dict
    } else {
        intern(&goal_rows.both("decision_id")?, false)
    })
}

/// The key codes of the exposures' rows, then the goal events'.
struct KeyCodes<'k, 'a> {
    units: &'k [u32],
    sessions: &'k [Identity],
    decisions: &'k Dict<'a>,
}

/// How goal events and SDK array entries meet: through `track_row`.
struct ArrayLinks {
    /// `track_row` → the goal event it is (first row with it), `NONE` for others.
    goal_of: Vec<u32>,
    /// Per track row: a goal event with an array (cumulative mode only).
    has_array: Vec<bool>,
    /// `track_row` per track row, the goal events' output order.
    track_row: Vec<Option<u32>>,
}

impl ArrayLinks {
    fn new(
        tables: &EventTables,
        goal_rows: &GoalRows<'_>,
        kept_goals: &[usize],
        cumulative: bool,
    ) -> Result<Self> {
        let t = &tables.tracks;
        let track_row: Vec<Option<u32>> = t.column("track_row")?.u32()?.iter().collect();
        let a_row = tables.attributions.column("track_row")?.u32()?;
        let max_row = track_row
            .iter()
            .flatten()
            .max()
            .map_or(0, |&m| m as usize + 1);
        let mut goal_of = vec![NONE; max_row];
        for &k in kept_goals {
            if let Some(r) = track_row[goal_rows.rows[k] as usize] {
                if goal_of[r as usize] == NONE {
                    goal_of[r as usize] = goal_rows.rows[k];
                }
            }
        }
        let mut has_array = vec![false; t.height()];
        if cumulative {
            for r in a_row.iter().flatten() {
                if let Some(&g) = goal_of.get(r as usize) {
                    if g != NONE {
                        has_array[g as usize] = true;
                    }
                }
            }
        }
        Ok(Self {
            goal_of,
            has_array,
            track_row,
        })
    }
}

/// The goal events kept, coded, in `track_row` order. A decision no exposure or
/// decision row carries is no decision.
fn goal_events(
    goal_rows: &GoalRows<'_>,
    kept_goals: &[usize],
    codes: &KeyCodes<'_, '_>,
    links: &ArrayLinks,
    values: &[f64],
) -> Result<Vec<Goal0>> {
    let n = goal_rows.exposures.height();
    let decisions = &codes.decisions.codes;
    let mut known = vec![false; codes.decisions.len];
    for &d in &decisions[..n] {
        if d != NONE {
            known[d as usize] = true;
        }
    }
    let event_ts = ints(goal_rows.tracks, "event_ts")?;
    let mut goals: Vec<Goal0> = kept_goals
        .par_iter()
        .with_min_len(1 << 14)
        .map(|&k| {
            let i = goal_rows.rows[k] as usize;
            let d = decisions[n + k];
            Goal0 {
                track: i as u32,
                unit: codes.units[n + k],
                session: explicit(codes.sessions[n + k]),
                decision: if d != NONE && known[d as usize] {
                    d
                } else {
                    NONE
                },
                ts: event_ts[i].unwrap_or(0),
                value: values[i],
                has_array: links.has_array[i],
            }
        })
        .collect();
    goals.par_sort_by_key(|g| links.track_row[g.track as usize]);
    Ok(goals)
}

/// For the array rule: `(goal event's track row, pair, weight)` of every SDK array
/// entry of a goal event (missing weight = 1), its pairs coded after the exposures'.
fn array_entries<'a>(
    a: &'a DataFrame,
    goal_of: &[u32],
    pairs: &mut Pairs<'a>,
) -> Result<Vec<(u32, u32, f64)>> {
    let mut arrays = Vec::new();
    if a.height() == 0 {
        return Ok(arrays);
    }
    let a_row: Vec<Option<u32>> = a.column("track_row")?.u32()?.iter().collect();
    let a_policy = strs(a, "policy_id")?;
    let a_alloc = strs(a, "allocation_name")?;
    let a_weight: Vec<Option<f64>> = a
        .column("weight")?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect();
    for j in 0..a.height() {
        let (Some(r), Some(p), Some(al)) = (a_row[j], a_policy[j], a_alloc[j]) else {
            continue;
        };
        let track = goal_of.get(r as usize).copied().unwrap_or(NONE);
        if track != NONE {
            arrays.push((track, pairs.code(p, al), a_weight[j].unwrap_or(1.0)));
        }
    }
    Ok(arrays)
}

/// The decisions' first eligible exposure per pair, as CSR offsets and touches:
/// touches grouped by decision (most decisions have one row), then the first per
/// pair in (time, row) order. Only eligible rows are placed, and they have a pair.
fn decision_index(
    xs: &[XRow],
    lpa_pair: &[u32],
    pairs: &Pairs<'_>,
    n_decisions: usize,
) -> (Vec<u32>, Vec<Touch>) {
    let touch = |r: usize| {
        let x = &xs[r];
        let pa = lpa_pair[x.lpa as usize];
        Touch {
            pa,
            policy: pairs.policy_of[pa as usize],
            row: r as u32,
            unit: x.unit,
            at: x.ts,
            linked: true,
        }
    };
    let eligible_decision: Vec<u32> = xs
        .par_iter()
        .with_min_len(1 << 14)
        .map(|x| if x.eligible { x.decision } else { NONE })
        .collect();
    let (offsets, mut dx) = grouped_by(touch, &eligible_decision, n_decisions);
    // In parallel over ranges of decisions, each keeping its touches at the front of
    // its own slice of `dx`; the kept touches are then moved together in place. (A
    // copy of the touches per range, then one more of all of them, were 64 MB beside
    // these 32 MB for a million exposures, at a run's peak.)
    let ranges: Vec<std::ops::Range<usize>> = (0..n_decisions.div_ceil(ROW_SPAN))
        .map(|k| k * ROW_SPAN..((k + 1) * ROW_SPAN).min(n_decisions))
        .collect();
    let mut slices = Vec::with_capacity(ranges.len());
    let mut rest: &mut [Touch] = &mut dx;
    for r in &ranges {
        let len = (offsets[r.end] - offsets[r.start]) as usize;
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
        slices.push(head);
        rest = tail;
    }
    let ends: Vec<Vec<u32>> = ranges
        .par_iter()
        .zip(slices)
        .map(|(r, slice)| first_per_pair(r.clone(), &offsets, slice))
        .collect();
    let mut dx_offsets = Vec::with_capacity(offsets.len());
    dx_offsets.push(0u32);
    let mut kept = 0usize;
    for (r, ends) in ranges.iter().zip(&ends) {
        let start = offsets[r.start] as usize;
        let n = ends.last().map_or(0, |&e| e as usize);
        dx.copy_within(start..start + n, kept);
        dx_offsets.extend(ends.iter().map(|&e| kept as u32 + e));
        kept += n;
    }
    dx.truncate(kept);
    (dx_offsets, dx)
}

/// For each of `decisions`, its first touch per pair in (time, row) order, moved to
/// the front of `touches` (the decisions' touches, grouped by decision), and the end
/// of each decision's touches among them. A touch is only ever moved back, onto one
/// already read, so the pass needs no copy.
fn first_per_pair(
    decisions: std::ops::Range<usize>,
    offsets: &[u32],
    touches: &mut [Touch],
) -> Vec<u32> {
    let base = offsets[decisions.start] as usize;
    let mut ends = Vec::with_capacity(decisions.len());
    let mut kept = 0;
    for d in decisions {
        let (from, to) = (offsets[d] as usize - base, offsets[d + 1] as usize - base);
        if to - from == 1 {
            touches[kept] = touches[from];
            kept += 1;
        } else if to > from {
            touches[from..to].sort_unstable_by_key(|t: &Touch| (t.pa, t.at, t.row));
            let mut last = NONE;
            for i in from..to {
                let t = touches[i];
                if t.pa != last {
                    touches[kept] = t;
                    kept += 1;
                    last = t.pa;
                }
            }
        }
        ends.push(kept as u32);
    }
    ends
}

/// `value` per track row, null as 0.
fn track_values(tracks: &DataFrame) -> Vec<f64> {
    tracks
        .column("value")
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
        .map(|c| {
            c.f64()
                .expect("cast to f64")
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_else(|| vec![0.0; tracks.height()])
}
