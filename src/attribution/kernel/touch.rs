//! One goal event's touches settled: the time rules, the strongest link and the
//! multi-touch model, giving its outcomes and credits.

use super::rows::{Credit, Goal0, Outcome, OutcomeRow, RewardUnit, Touch};
use crate::attribution::params::{AttributionParams, TouchModel};
use crate::config::AttributionMode;

/// The event's time rules: `(in time, older than the window)`.
fn time_rules(p: &AttributionParams, at: i64, event: i64) -> (bool, bool) {
    let not_before = at <= event.saturating_add(p.clock_skew_ms);
    match p.window_ms {
        Some(w) => {
            let old = event > at.saturating_add(w);
            (not_before && !old, old)
        }
        None => (not_before, false),
    }
}

/// Weights of one event's in-time, strongest-link touches of one policy (`at` of
/// each), summing to 1; exact ties in time share.
pub(super) fn weights(model: TouchModel, event: i64, at: &[i64], out: &mut Vec<f64>) {
    out.clear();
    let n = at.len() as f64;
    let ends = |t: i64| at.iter().filter(|&&x| x == t).count() as f64;
    let (lo, hi) = at
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    match model {
        TouchModel::FirstTouch | TouchModel::LastTouch => {
            let end = if model == TouchModel::FirstTouch {
                lo
            } else {
                hi
            };
            let k = ends(end);
            out.extend(at.iter().map(|&t| if t == end { 1.0 / k } else { 0.0 }));
        }
        TouchModel::Linear => out.extend(at.iter().map(|_| 1.0 / n)),
        TouchModel::TimeDecay { half_life_ms } => {
            out.extend(at.iter().map(|&t| {
                let age = if event > t { (event - t) as f64 } else { 0.0 };
                0.5f64.powf(age / half_life_ms)
            }));
            let sum: f64 = out.iter().sum();
            for w in out.iter_mut() {
                *w /= sum;
            }
        }
        TouchModel::PositionBased { first: f, last: l } => {
            let (n_first, n_last) = (ends(lo), ends(hi));
            let n_mid = n - n_first - n_last;
            let (f2, l2) = if f + l > 0.0 {
                (f / (f + l), l / (f + l))
            } else {
                (0.5, 0.5)
            };
            out.extend(at.iter().map(|&t| {
                let (is_first, is_last) = (t == lo, t == hi);
                if is_first && is_last {
                    1.0 / n
                } else if is_first && n_mid == 0.0 {
                    f2 / n_first
                } else if is_last && n_mid == 0.0 {
                    l2 / n_last
                } else if is_first {
                    f / n_first
                } else if is_last {
                    l / n_last
                } else {
                    (1.0 - f - l) / n_mid
                }
            }));
        }
    }
}

/// Per-task output buffers.
#[derive(Default)]
pub(super) struct Out {
    pub(super) rewards: Vec<RewardUnit>,
    pub(super) credits: Vec<Credit>,
    pub(super) outcomes: Vec<OutcomeRow>,
    pub(super) kept: Vec<u32>,
    /// [`super::rows::count_multi`] of the units done.
    pub(super) multi: Vec<u64>,
    /// Scratch.
    pub(super) touches: Vec<Touch>,
    pub(super) at: Vec<i64>,
    pub(super) w: Vec<f64>,
}

impl Out {
    /// Applies the time rules, the strongest link and the model to `self.touches`
    /// (one goal event's), and pushes its outcomes and credits.
    pub(super) fn settle(&mut self, g: &Goal0, p: &AttributionParams) {
        if let [t] = self.touches[..] {
            self.settle_one(g, p, t);
            return;
        }
        // Taken out while its groups are settled, then put back for its buffer.
        let mut touches = std::mem::take(&mut self.touches);
        touches.sort_unstable_by_key(|t| (t.policy, t.pa, t.at, t.row));
        for group in touches.chunk_by(|a, b| a.policy == b.policy) {
            self.settle_policy(g, p, group);
        }
        self.touches = touches;
    }

    /// One touch: its time rules decide; the model gives it everything.
    fn settle_one(&mut self, g: &Goal0, p: &AttributionParams, t: Touch) {
        let (ok, old) = time_rules(p, t.at, g.ts);
        let outcome = match (ok, old) {
            (true, _) => Outcome::Credited,
            (false, true) => Outcome::OutsideWindow,
            (false, false) => Outcome::BeforeExposure,
        };
        self.outcomes.push((g.track, t.policy, outcome));
        if ok {
            self.credits.push(Credit {
                track: g.track,
                unit: t.unit,
                row: t.row,
                pa: t.pa,
                at: t.at,
                weight: 1.0,
            });
        }
    }

    /// The touches of one policy (`group`, sorted by pair, time, row): the outcome,
    /// then, if any is in time, the credits of the in-time touches of the strongest
    /// link, one per pair.
    fn settle_policy(&mut self, g: &Goal0, p: &AttributionParams, group: &[Touch]) {
        let (mut any_in, mut any_old, mut linked) = (false, false, false);
        for t in group {
            let (ok, old) = time_rules(p, t.at, g.ts);
            any_in |= ok;
            any_old |= old;
            linked |= ok && t.linked;
        }
        let outcome = if any_in {
            Outcome::Credited
        } else if any_old {
            Outcome::OutsideWindow
        } else {
            Outcome::BeforeExposure
        };
        self.outcomes.push((g.track, group[0].policy, outcome));
        if !any_in {
            return;
        }
        let keep = |t: &Touch| time_rules(p, t.at, g.ts).0 && t.linked == linked;
        self.at.clear();
        self.at
            .extend(group.iter().filter(|t| keep(t)).map(|t| t.at));
        weights(p.model, g.ts, &self.at, &mut self.w);
        let mut w = self.w.iter();
        let mut last: Option<usize> = None;
        for t in group.iter().filter(|t| keep(t)) {
            let weight = *w.next().expect("one weight per kept touch");
            match last {
                // Cumulative credits are per unit × allocation; decision-mode
                // touches are one per decision × allocation and stay apart (the
                // unit-key rule may reach several decisions of one allocation).
                Some(k) if self.credits[k].pa == t.pa && p.mode == AttributionMode::Cumulative => {
                    let c = &mut self.credits[k];
                    c.at = c.at.max(t.at);
                    c.weight += weight;
                }
                _ => {
                    self.credits.push(Credit {
                        track: g.track,
                        unit: t.unit,
                        row: t.row,
                        pa: t.pa,
                        at: t.at,
                        weight,
                    });
                    last = Some(self.credits.len() - 1);
                }
            }
        }
    }
}
