//! Decision mode: each goal event credited through its own decision's exposures; the
//! reward unit is the decision × allocation.

use rayon::prelude::*;

use super::code::Coded;
use super::keys::{Keys, StrCol};
use super::order::{prefix, sort_by_bytes};
use super::rows::{Attributed, Credit, Goal0, OutcomeRow, RewardUnit, Touch};
use super::touch::Out;
use super::{NONE, UNIT_CHUNK};
use crate::attribution::params::AttributionParams;
use crate::config::AttributionMode;
use crate::error::Result;
use crate::events::EventTables;

/// Decision-mode attribution of the coded input: reward units are every (decision,
/// pair) of the decision index, in output order; each goal event naming a known
/// decision is settled against that decision's touches.
pub(super) fn decision<'a>(
    tables: &'a EventTables,
    c: Coded<'a>,
    params: &AttributionParams,
) -> Result<Attributed<'a>> {
    let Coded {
        pairs,
        goals,
        values,
        dx_offsets,
        dx,
        xs,
        ..
    } = c;
    // Where each exposure row is a reward unit: its index in `dx`.
    let mut unit_at = vec![NONE; xs.len()];
    for (k, t) in dx.iter().enumerate() {
        unit_at[t.row as usize] = k as u32;
    }
    let order = reward_order(tables, &pairs.ranks(), &dx, &unit_at)?;
    let mut slot = vec![0u32; dx.len()];
    for (s, &k) in order.iter().enumerate() {
        slot[k as usize] = s as u32;
    }
    let mut rewards: Vec<RewardUnit> = order
        .iter()
        .map(|&k| {
            let t = dx[k as usize];
            RewardUnit {
                row: t.row,
                pa: t.pa,
                at: t.at,
                goal_events: 0.0,
                goal_value: 0.0,
            }
        })
        .collect();
    let (credits, outcomes) = settle_goals(&goals, &dx_offsets, &dx, params);
    // A credit's exposure row is its decision's first exposure of the pair: the
    // reward unit's row.
    for cr in credits.iter().flatten() {
        let r = &mut rewards[slot[unit_at[cr.row as usize] as usize] as usize];
        r.goal_events += cr.weight;
        r.goal_value += cr.weight * values[cr.track as usize];
    }
    let kept = vec![order.iter().map(|&k| dx[k as usize].row).collect()];
    Ok(Attributed {
        tables,
        mode: AttributionMode::Decision,
        pairs,
        rewards,
        credits,
        outcomes,
        goals,
        kept,
    })
}

/// The reward units (indices into `dx`) sorted by policy, allocation, decision id.
/// The ids are read in row order (the rows of `dx` are scattered in the table).
fn reward_order(
    tables: &EventTables,
    pa_rank: &[u32],
    dx: &[Touch],
    unit_at: &[u32],
) -> Result<Vec<u32>> {
    let ids = Keys::new(vec![(StrCol::new(&tables.exposures, "decision_id")?, None)]);
    let mut keyed: Vec<(u32, u128, u32)> = ids.filter_map(|r, id| {
        let k = unit_at[r];
        (k != NONE).then(|| {
            let id = id.expect("an exposure with a decision has an id");
            (pa_rank[dx[k as usize].pa as usize], prefix(id), k)
        })
    });
    sort_by_bytes(&mut keyed, |k| {
        ids.get(dx[k as usize].row as usize)
            .expect("an exposure with a decision has an id")
    });
    Ok(keyed.into_iter().map(|(_, _, k)| k).collect())
}

/// Credits and outcomes of the goal events, settled in parallel chunks against
/// their decision's touches (events without a known decision have none).
fn settle_goals(
    goals: &[Goal0],
    dx_offsets: &[u32],
    dx: &[Touch],
    params: &AttributionParams,
) -> (Vec<Vec<Credit>>, Vec<Vec<OutcomeRow>>) {
    let outs: Vec<Out> = goals
        .par_chunks(UNIT_CHUNK)
        .map(|chunk| {
            let mut out = Out::default();
            for g in chunk {
                if g.decision == NONE {
                    continue;
                }
                let d = g.decision as usize;
                out.touches.clear();
                out.touches
                    .extend_from_slice(&dx[dx_offsets[d] as usize..dx_offsets[d + 1] as usize]);
                if !out.touches.is_empty() {
                    out.settle(g, params);
                }
            }
            out
        })
        .collect();
    outs.into_iter().map(|o| (o.credits, o.outcomes)).unzip()
}
