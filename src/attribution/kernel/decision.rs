//! Decision mode: each goal event credited through its own decision's exposures, or,
//! without a known decision, through every decision of its unit (the unit-key rule);
//! the reward unit is the decision × allocation.

use rayon::prelude::*;

use super::code::Coded;
use super::group::grouped_by;
use super::keys::{Keys, StrCol};
use super::order::{prefix, sort_by_bytes};
use super::rows::{
    add_counts, count_multi, Attributed, Credit, Goal0, OutcomeRow, RewardUnit, Touch,
};
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
        units,
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
    let index = TouchIndex {
        dx_offsets: &dx_offsets,
        dx: &dx,
        by_unit: params.unit_key_rule().then(|| by_unit(&dx, units.len)),
    };
    let (credits, outcomes) = settle_goals(&goals, &index, params);
    // A credit's exposure row is its decision's first exposure of the pair: the
    // reward unit's row.
    for cr in credits.iter().flatten() {
        let r = &mut rewards[slot[unit_at[cr.row as usize] as usize] as usize];
        r.goal_events += cr.weight;
        r.goal_value += cr.weight * values[cr.track as usize];
    }
    let kept = vec![order.iter().map(|&k| dx[k as usize].row).collect()];
    // A touch without a unit code (a null unit key) is in no unit's group: then the
    // report counts from the exposures, and the groups are not scanned for nothing.
    let coded = dx.iter().all(|t| t.unit != NONE);
    let multi = (index.by_unit.as_ref())
        .filter(|_| coded)
        .map(|(offsets, ks)| multi_by_unit(offsets, ks, &dx));
    Ok(Attributed {
        tables,
        mode: AttributionMode::Decision,
        pairs,
        rewards,
        credits,
        outcomes,
        goals,
        kept,
        multi,
    })
}

/// [`super::rows::count_multi`] of every unit, from the touches of `dx` grouped by
/// unit (every decision-mode touch is a kept row).
fn multi_by_unit(offsets: &[u32], ks: &[u32], dx: &[Touch]) -> Vec<u64> {
    let units = offsets.len().saturating_sub(1);
    (0..units.div_ceil(UNIT_CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let (mut counts, mut pairs) = (Vec::new(), Vec::new());
            for u in chunk * UNIT_CHUNK..((chunk + 1) * UNIT_CHUNK).min(units) {
                pairs.clear();
                pairs.extend(
                    ks[offsets[u] as usize..offsets[u + 1] as usize]
                        .iter()
                        .map(|&k| (dx[k as usize].policy, dx[k as usize].pa)),
                );
                count_multi(&mut pairs, &mut counts);
            }
            counts
        })
        .reduce(Vec::new, add_counts)
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

/// Where a goal event's touches come from: its decision's exposures (`dx`, per
/// decision code), or the decisions of its unit (`by_unit`: per unit code, indices
/// into `dx`; `None` when the unit-key rule is off).
struct TouchIndex<'i> {
    dx_offsets: &'i [u32],
    dx: &'i [Touch],
    by_unit: Option<(Vec<u32>, Vec<u32>)>,
}

/// The touches of `dx` grouped by their unit: CSR offsets and indices into `dx`.
fn by_unit(dx: &[Touch], n_units: usize) -> (Vec<u32>, Vec<u32>) {
    let unit: Vec<u32> = dx.iter().map(|t| t.unit).collect();
    grouped_by(|k| k as u32, &unit, n_units)
}

impl TouchIndex<'_> {
    /// `g`'s touches into `out`: its decision's first exposure per policy ×
    /// allocation, or, without a known decision, those of every decision of its
    /// unit (unlinked touches: the unit-key rule, whose time rule keeps the
    /// decisions at or before the event). The platform's events page: "If a track
    /// event has no decisionId and no SDK-built attribution array, the pipeline still
    /// attributes it: [...] any track event after the user's first exposure to an
    /// allocation counts toward that allocation"; decision mode is its finer rule
    /// for events that carry a `decisionId`.
    fn touches(&self, g: &Goal0, out: &mut Vec<Touch>) {
        out.clear();
        if g.decision != NONE {
            let d = g.decision as usize;
            out.extend_from_slice(
                &self.dx[self.dx_offsets[d] as usize..self.dx_offsets[d + 1] as usize],
            );
        } else if let (Some((offsets, ks)), true) = (&self.by_unit, g.unit != NONE) {
            let u = g.unit as usize;
            out.extend(
                ks[offsets[u] as usize..offsets[u + 1] as usize]
                    .iter()
                    .map(|&k| Touch {
                        linked: false,
                        ..self.dx[k as usize]
                    }),
            );
        }
    }
}

/// Credits and outcomes of the goal events, settled in parallel chunks against
/// their touches ([`TouchIndex::touches`]).
fn settle_goals(
    goals: &[Goal0],
    index: &TouchIndex<'_>,
    params: &AttributionParams,
) -> (Vec<Vec<Credit>>, Vec<Vec<OutcomeRow>>) {
    let outs: Vec<Out> = goals
        .par_chunks(UNIT_CHUNK)
        .map(|chunk| {
            let mut out = Out::default();
            for g in chunk {
                index.touches(g, &mut out.touches);
                if !out.touches.is_empty() {
                    out.settle(g, params);
                }
            }
            out
        })
        .collect();
    outs.into_iter().map(|o| (o.credits, o.outcomes)).unzip()
}
