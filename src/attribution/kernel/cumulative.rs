//! Cumulative mode: per unit in key order, sessions derived, exposures deduplicated,
//! and each goal event credited through its decision, its session or its unit; the
//! reward unit is the unit × allocation.

use std::collections::HashMap;

use rayon::prelude::*;

use super::code::Coded;
use super::group::{grouped, grouped_by};
use super::intern::{Identity, Session, NO_SESSION};
use super::rows::{
    add_counts, count_multi, Attributed, Credit, Goal0, Outcome, OutcomeRow, RewardUnit, Touch,
    UnitRow,
};
use super::touch::Out;
use super::{Map, NONE, UNIT_CHUNK};
use crate::attribution::params::AttributionParams;
use crate::config::AttributionMode;
use crate::events::EventTables;

/// Cumulative-mode attribution of the coded input: units visited in key order, in
/// parallel chunks ([`UnitPass`]); then the SDK arrays' credits and the credits to
/// other units' rows are added, and the reward rows put in output order.
pub(super) fn cumulative<'a>(
    tables: &'a EventTables,
    c: Coded<'a>,
    params: &AttributionParams,
) -> Attributed<'a> {
    let unit_rank = c.units.ranks();
    let chunks: Vec<(Out, Vec<Credit>)> = {
        let pass = UnitPass::new(&c, &unit_rank, params);
        (0..c.units.len.div_ceil(UNIT_CHUNK))
            .into_par_iter()
            .map(|chunk| pass.chunk(chunk))
            .collect()
    };
    let Coded {
        pairs,
        values,
        xs,
        goals,
        arrays,
        ..
    } = c;
    let mut rewards = Vec::with_capacity(chunks.iter().map(|c| c.0.rewards.len()).sum());
    let (mut credits, mut outcomes, mut kept, mut foreign) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut multi = Vec::new();
    for (o, f) in chunks {
        rewards.extend(o.rewards);
        credits.push(o.credits);
        outcomes.push(o.outcomes);
        kept.push(o.kept);
        multi = add_counts(multi, o.multi);
        foreign.extend(f);
    }
    let (array_credits, array_outcomes) = array_credits(arrays, &goals, &pairs.policy_of);
    // Credits of arrays and of other units' decisions, into the reward rows of their
    // unit: rows are in unit-rank order, each unit's contiguous.
    if !(foreign.is_empty() && array_credits.is_empty()) {
        let rank_of_row = |r: &RewardUnit| unit_rank[xs[r.row as usize].unit as usize];
        let late = foreign.iter().chain(&array_credits);
        add_credits(&mut rewards, rank_of_row, late, &unit_rank, &values);
    }
    // Output order: policy, allocation, then unit key (rows are in unit-key order).
    let pa_rank = pairs.ranks();
    let ranks: Vec<u32> = rewards.iter().map(|r| pa_rank[r.pa as usize]).collect();
    let (_, rewards) = grouped(&rewards, &ranks, pa_rank.len());
    credits.push(array_credits);
    outcomes.push(array_outcomes);
    Attributed {
        tables,
        mode: AttributionMode::Cumulative,
        pairs,
        rewards,
        credits,
        outcomes,
        goals,
        kept,
        multi: Some(multi),
    }
}

/// What every chunk of the per-unit pass reads: the exposure rows and goal events
/// bucketed by unit rank (a counting sort, so that each unit's work reads contiguous
/// memory), and the coded input.
struct UnitPass<'c> {
    /// Unit code of each rank.
    by_rank: Vec<u32>,
    x_off: Vec<u32>,
    x_sorted: Vec<UnitRow>,
    g_off: Vec<u32>,
    g_sorted: Vec<Goal0>,
    lpa_pair: &'c [u32],
    policy_of: &'c [u32],
    dx_offsets: &'c [u32],
    dx: &'c [Touch],
    params: &'c AttributionParams,
}

/// One unit's scratch, reused from unit to unit of a chunk.
#[derive(Default)]
struct Scratch {
    /// Rows in time order (time, row, session).
    rows: Vec<UnitRow>,
    /// Dedup keys: (session, layer × policy × allocation, time, row).
    dedup: Vec<(Session, u32, i64, u32)>,
    /// Touches kept by dedup, with their session.
    kept: Vec<(Session, Touch)>,
    /// The kept touches' policy and pair codes.
    pairs: Vec<(u32, u32)>,
}

impl<'c> UnitPass<'c> {
    fn new(c: &'c Coded<'_>, unit_rank: &[u32], params: &'c AttributionParams) -> Self {
        let (xs, goals) = (&c.xs, &c.goals);
        let n_units = unit_rank.len();
        let mut by_rank = vec![0u32; n_units];
        for (u, &r) in unit_rank.iter().enumerate() {
            by_rank[r as usize] = u as u32;
        }
        let rank_of = |u: u32| {
            if u == NONE {
                NONE
            } else {
                unit_rank[u as usize]
            }
        };
        let x_rank: Vec<u32> = xs.par_iter().map(|r| rank_of(r.unit)).collect();
        let unit_row = |r: usize| {
            let x = &xs[r];
            UnitRow {
                ts: x.ts,
                row: r as u32,
                lpa: if x.eligible { x.lpa } else { NONE },
                session: x.session,
            }
        };
        let (x_off, x_sorted) = grouped_by(unit_row, &x_rank, n_units);
        let g_rank: Vec<u32> = goals.par_iter().map(|g| rank_of(g.unit)).collect();
        let (g_off, g_sorted) = grouped(goals, &g_rank, n_units);
        Self {
            by_rank,
            x_off,
            x_sorted,
            g_off,
            g_sorted,
            lpa_pair: &c.lpa_pair,
            policy_of: &c.pairs.policy_of,
            dx_offsets: &c.dx_offsets,
            dx: &c.dx,
            params,
        }
    }

    /// The units of ranks in chunk `chunk`, in rank order: their outputs, and the
    /// credits to another unit's reward rows (a decision exposed under another unit
    /// key), summed after all units are done.
    fn chunk(&self, chunk: usize) -> (Out, Vec<Credit>) {
        let mut out = Out::default();
        let mut foreign: Vec<Credit> = Vec::new();
        let mut scratch = Scratch::default();
        let start = chunk * UNIT_CHUNK;
        for rank in start..(start + UNIT_CHUNK).min(self.by_rank.len()) {
            let u = self.by_rank[rank];
            self.sessions(rank, &mut scratch.rows);
            self.dedup(u, &mut scratch, &mut out.kept);
            scratch.pairs.clear();
            scratch
                .pairs
                .extend(scratch.kept.iter().map(|(_, t)| (t.policy, t.pa)));
            count_multi(&mut scratch.pairs, &mut out.multi);
            let first = out.rewards.len();
            reward_units(&scratch.kept, &mut out.rewards);
            for g in &self.g_sorted[self.g_off[rank] as usize..self.g_off[rank + 1] as usize] {
                self.credit(g, u, &scratch, first, &mut out, &mut foreign);
            }
        }
        (out, foreign)
    }

    /// The unit's rows in time order into `rows`, sessions derived: a row without
    /// `sessionId` more than the gap after the unit's previous such row starts a new
    /// one.
    fn sessions(&self, rank: usize, rows: &mut Vec<UnitRow>) {
        rows.clear();
        rows.extend_from_slice(
            &self.x_sorted[self.x_off[rank] as usize..self.x_off[rank + 1] as usize],
        );
        if rows.len() > 1 {
            rows.sort_unstable();
        }
        let mut derived = 0u64;
        let mut last: Option<i64> = None;
        for row in rows.iter_mut() {
            if row.session == NO_SESSION {
                if last.is_none_or(|l| row.ts - l > self.params.session_gap_ms) {
                    derived += 1;
                }
                last = Some(row.ts);
                row.session = Identity(0, derived);
            }
        }
    }

    /// Dedup of unit `u`'s rows: the first per (session, layer × policy ×
    /// allocation), as touches into `s.kept` and rows into `kept_rows`.
    fn dedup(&self, u: u32, s: &mut Scratch, kept_rows: &mut Vec<u32>) {
        let dedup = &mut s.dedup;
        dedup.clear();
        dedup.extend(
            s.rows
                .iter()
                .filter(|x| x.lpa != NONE)
                .map(|x| (x.session, x.lpa, x.ts, x.row)),
        );
        if dedup.len() > 1 {
            dedup.sort_unstable();
        }
        s.kept.clear();
        for (k, d) in dedup.iter().enumerate() {
            if k > 0 && dedup[k - 1].0 == d.0 && dedup[k - 1].1 == d.1 {
                continue;
            }
            let pa = self.lpa_pair[d.1 as usize];
            s.kept.push((
                d.0,
                Touch {
                    pa,
                    policy: self.policy_of[pa as usize],
                    row: d.3,
                    unit: u,
                    at: d.2,
                    linked: false,
                },
            ));
            kept_rows.push(d.3);
        }
    }

    /// Credits goal event `g` of unit `u` (one without an SDK array): its touches
    /// are its decision's exposures plus the kept rows of its session, or, without
    /// a known decision, every kept row of the unit (the unit-key rule, unless
    /// `unlinkedEvents: drop`). Credits to the unit's own reward
    /// rows (from `first` on in `out.rewards`) are added there; others go to
    /// `foreign`.
    fn credit(
        &self,
        g: &Goal0,
        u: u32,
        s: &Scratch,
        first: usize,
        out: &mut Out,
        foreign: &mut Vec<Credit>,
    ) {
        if g.has_array {
            return;
        }
        out.touches.clear();
        if g.decision == NONE {
            if !self.params.unit_key_rule() {
                return;
            }
            out.touches.extend(s.kept.iter().map(|(_, t)| *t));
        } else {
            let d = g.decision as usize;
            out.touches.extend_from_slice(
                &self.dx[self.dx_offsets[d] as usize..self.dx_offsets[d + 1] as usize],
            );
            if let Some(session) = self.session_of(g, &s.rows) {
                out.touches.extend(
                    s.kept
                        .iter()
                        .filter(|(ks, _)| *ks == session)
                        .map(|(_, t)| *t),
                );
            }
        }
        if out.touches.is_empty() {
            return;
        }
        let credited = out.credits.len();
        out.settle(g, self.params);
        for cr in &out.credits[credited..] {
            if cr.unit != u {
                foreign.push(*cr);
            } else if let Some(r) = out.rewards[first..].iter_mut().find(|r| r.pa == cr.pa) {
                r.goal_events += cr.weight;
                r.goal_value += cr.weight * g.value;
            }
        }
    }

    /// A goal event's session: explicit, or that of the unit's latest row within
    /// the gap.
    fn session_of(&self, g: &Goal0, rows: &[UnitRow]) -> Option<Session> {
        if g.session != NO_SESSION {
            return Some(g.session);
        }
        let k = rows.partition_point(|x| x.ts <= g.ts);
        k.checked_sub(1)
            .filter(|&k| g.ts - rows[k].ts <= self.params.session_gap_ms)
            .map(|k| rows[k].session)
    }
}

/// Reward units of one unit: the first kept row per pair, appended to `rewards`.
fn reward_units(kept: &[(Session, Touch)], rewards: &mut Vec<RewardUnit>) {
    let first = rewards.len();
    for (_, t) in kept {
        match rewards[first..].iter_mut().find(|r| r.pa == t.pa) {
            Some(r) if (r.at, r.row) <= (t.at, t.row) => {}
            Some(r) => {
                r.at = t.at;
                r.row = t.row;
            }
            None => rewards.push(RewardUnit {
                row: t.row,
                pa: t.pa,
                at: t.at,
                goal_events: 0.0,
                goal_value: 0.0,
            }),
        }
    }
}

/// The SDK's arrays, as sent: one credit per (event, pair), weights summed, and one
/// `credited` outcome per (event, policy).
fn array_credits(
    arrays: Vec<(u32, u32, f64)>,
    goals: &[Goal0],
    policy_of: &[u32],
) -> (Vec<Credit>, Vec<OutcomeRow>) {
    let mut credits: Vec<Credit> = Vec::new();
    let mut outcomes: Vec<OutcomeRow> = Vec::new();
    if arrays.is_empty() {
        return (credits, outcomes);
    }
    let ts_of: Map<u32, (i64, u32)> = goals
        .iter()
        .filter(|g| g.has_array)
        .map(|g| (g.track, (g.ts, g.unit)))
        .collect::<HashMap<_, _, _>>();
    let mut sorted = arrays;
    sorted.sort_by_key(|&(t, pa, _)| (t, pa));
    for (t, pa, w) in sorted {
        match credits.last_mut() {
            Some(c) if c.track == t && c.pa == pa => c.weight += w,
            _ => {
                let (at, unit) = ts_of[&t];
                credits.push(Credit {
                    track: t,
                    unit,
                    row: NONE,
                    pa,
                    at,
                    weight: w,
                });
            }
        }
        let policy = policy_of[pa as usize];
        if !outcomes
            .iter()
            .rev()
            .take_while(|o| o.0 == t)
            .any(|o| o.1 == policy)
        {
            outcomes.push((t, policy, Outcome::Credited));
        }
    }
    (credits, outcomes)
}

/// Adds `late` credits into the reward rows of their unit. `rewards` are in
/// unit-rank order (`rank_of_row`), each unit's rows contiguous.
fn add_credits<'c>(
    rewards: &mut [RewardUnit],
    rank_of_row: impl Fn(&RewardUnit) -> u32,
    late: impl Iterator<Item = &'c Credit>,
    unit_rank: &[u32],
    values: &[f64],
) {
    let n_units = unit_rank.len();
    let mut unit_start = vec![0u32; n_units + 1];
    for r in rewards.iter() {
        unit_start[rank_of_row(r) as usize + 1] += 1;
    }
    for k in 0..n_units {
        unit_start[k + 1] += unit_start[k];
    }
    for cr in late {
        if cr.unit == NONE {
            continue;
        }
        let rank = unit_rank[cr.unit as usize] as usize;
        let span = unit_start[rank] as usize..unit_start[rank + 1] as usize;
        if let Some(r) = rewards[span].iter_mut().find(|r| r.pa == cr.pa) {
            r.goal_events += cr.weight;
            r.goal_value += cr.weight * values[cr.track as usize];
        }
    }
}
