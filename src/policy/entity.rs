//! Per-entity bandits: one multi-armed fit per entity, with the global posterior as a
//! scaled prior, fitted in parallel.
//!
//! **Rule.** Let `Gₖ` be arm `k`'s statistics pooled over every entity (`n`, `Σr`,
//! `Σr²`) and `m` the `priorStrength`. An entity's arm `k` is fitted on its own
//! statistics plus `Gₖ` scaled to `n' = min(Gₖ.n, round(m))` pseudo-exposures
//! (`Σr` and `Σr²` scaled by the same factor `n'/Gₖ.n`, so the pseudo data keep the
//! global mean and variance). With `thompson_bernoulli` this is the Beta posterior
//! `Beta(α₀ + w·Sₖ + sₖ, β₀ + w·Fₖ + fₖ)`, `w = n'/Gₖ.n`: the global posterior,
//! flattened to at most `m` observations, as the entity's prior (empirical-Bayes
//! shrinkage in the spirit of Gelman et al., *Bayesian Data Analysis*, 3rd ed., §5.3,
//! with a fixed prior sample size instead of a fitted one). An entity with little
//! data therefore sits near the global weights and moves away as its own exposures
//! outweigh `m`. Entities with fewer than `minEntityExposures` exposures in all are
//! not published at all: the SDK then serves `_global`, the fit on `G` itself.
//!
//! Weights come from [`fit_multi_armed`] (for `thompson_bernoulli` with `K ≤ 10`,
//! probability of being best by one-dimensional quadrature, no sampling), then the
//! exploration floor and the `maxShiftPerUpdate` cap against the weights the SDK
//! served the entity before. Entities are fitted with rayon and collected in input
//! order; each fit depends only on its own input and a seed derived from the policy
//! and entity ids, so the result does not depend on the thread count.

use rayon::prelude::*;

use super::{apply_floor, cap_shift, fit_multi_armed, Learner};
use crate::error::Result;
use crate::reward::ArmStats;

/// The per-entity knobs, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntityKnobs {
    /// Exposures an entity needs before it gets its own weights.
    pub min_entity_exposures: u64,
    /// Global pseudo-exposures per arm in each entity's prior.
    pub prior_strength: f64,
    /// Minimum share of any allocation, for `_global` and every entity.
    pub exploration_floor: f64,
    /// At most this share of traffic moves per update, against what was served.
    pub max_shift_per_update: Option<f64>,
}

/// One entity to fit.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityInput {
    /// Entity id (the SDK's `entityKeys` values joined by `_`).
    pub id: String,
    /// Statistics per arm; the length is the entity's number of allocations.
    pub arms: Vec<ArmStats>,
    /// The weights SDKs served this entity before (for the shift cap), when known
    /// and of the same length.
    pub served: Option<Vec<f64>>,
}

impl EntityInput {
    /// Exposures over all arms.
    #[must_use]
    pub fn exposures(&self) -> u64 {
        self.arms.iter().map(|a| a.n).sum()
    }
}

/// Global and per-entity weights of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct EntitiesFit {
    /// `_global`: the fit on the pooled statistics, floored and capped.
    pub global: Vec<f64>,
    /// Probability of being best of the pooled fit, for Thompson algorithms.
    pub global_probability_best: Option<Vec<f64>>,
    /// Per input entity, in input order: its weights, or `None` when it has fewer
    /// than `minEntityExposures` exposures (SDKs then use `global`).
    pub entities: Vec<Option<Vec<f64>>>,
}

/// The global statistics of arm `k` scaled to at most `strength` pseudo-exposures.
#[must_use]
pub fn scaled_prior(global: ArmStats, strength: f64) -> ArmStats {
    if global.n == 0 {
        return ArmStats::default();
    }
    let n = global.n.min(strength.round() as u64);
    // `x · n / N` rather than `x · (n / N)`: exact when every reward is 0 or 1, so
    // the pseudo successes never exceed the pseudo trials.
    let scale = |x: f64| x * n as f64 / global.n as f64;
    ArmStats {
        n,
        sum: scale(global.sum),
        sum_sq: scale(global.sum_sq),
    }
}

/// Fits `_global` on `global` and every entity on its own statistics plus the scaled
/// global prior (rule in the module docs). `label` (the policy id) keys the seeds:
/// entity `e` uses `label/e`. `served_global` are the `_global` weights served before.
///
/// # Errors
///
/// As [`fit_multi_armed`] (an algorithm without a multi-armed form, impossible
/// statistics); the first failing entity in input order is reported, with its id.
pub fn fit_entities(
    learner: &Learner,
    knobs: EntityKnobs,
    global: &[ArmStats],
    served_global: Option<&[f64]>,
    entities: &[EntityInput],
    label: &str,
    seed: u64,
) -> Result<EntitiesFit> {
    let finish = |weights: &[f64], served: Option<&[f64]>| {
        let mut w = apply_floor(weights, knobs.exploration_floor);
        if let (Some(max), Some(old)) = (knobs.max_shift_per_update, served) {
            if old.len() == w.len() {
                w = cap_shift(old, &w, max);
            }
        }
        w
    };
    let g = fit_multi_armed(learner, global, label, seed)?;
    let global_weights = finish(&g.weights, served_global);
    let fitted: Vec<Result<Option<Vec<f64>>>> = entities
        .par_iter()
        .map(|e| {
            if e.exposures() < knobs.min_entity_exposures || e.arms.is_empty() {
                return Ok(None);
            }
            let arms: Vec<ArmStats> = e
                .arms
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    let prior = global.get(k).copied().unwrap_or_default();
                    s.merge(scaled_prior(prior, knobs.prior_strength))
                })
                .collect();
            let fit = fit_multi_armed(learner, &arms, &format!("{label}/{}", e.id), seed).map_err(
                |err| super::PolicyError::Entity {
                    entity: e.id.clone(),
                    source: Box::new(err),
                },
            )?;
            Ok(Some(finish(&fit.weights, e.served.as_deref())))
        })
        .collect();
    let entities = fitted.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(EntitiesFit {
        global: global_weights,
        global_probability_best: g.probability_best,
        entities,
    })
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;
    use crate::algorithm::{Algorithm, AlgorithmParams, Objective};

    /// `thompson_bernoulli` with its defaults on a conversion-rate goal.
    fn bernoulli() -> Learner {
        let params = AlgorithmParams::defaults(Algorithm::ThompsonBernoulli);
        let objective = Objective {
            decrease: false,
            binary_rewards: true,
        };
        Learner::new(params, objective).unwrap()
    }

    /// [`KNOBS`] with an exploration floor and a shift cap.
    fn knobs(floor: f64, max_shift: Option<f64>) -> EntityKnobs {
        EntityKnobs {
            exploration_floor: floor,
            max_shift_per_update: max_shift,
            ..KNOBS
        }
    }

    fn arm(n: u64, sum: f64) -> ArmStats {
        ArmStats {
            n,
            sum,
            sum_sq: sum,
        }
    }

    const KNOBS: EntityKnobs = EntityKnobs {
        min_entity_exposures: 10,
        prior_strength: 20.0,
        exploration_floor: 0.0,
        max_shift_per_update: None,
    };

    #[test]
    fn the_prior_is_the_global_data_scaled_to_the_strength() {
        let p = scaled_prior(arm(1000, 100.0), 20.0);
        assert_eq!(p.n, 20);
        assert_abs_diff_eq!(p.sum, 2.0, epsilon = 1e-12);
        // Less global data than the strength: all of it.
        assert_eq!(scaled_prior(arm(5, 1.0), 20.0), arm(5, 1.0));
        assert_eq!(scaled_prior(ArmStats::default(), 20.0), ArmStats::default());
    }

    #[test]
    fn an_entity_with_few_exposures_is_left_to_the_global_weights() {
        let global = [arm(1000, 100.0), arm(1000, 50.0)];
        let few = EntityInput {
            id: "p1".into(),
            arms: vec![arm(4, 0.0), arm(5, 5.0)],
            served: None,
        };
        let fit = fit_entities(&bernoulli(), KNOBS, &global, None, &[few], "pol", 1).unwrap();
        assert_eq!(fit.entities, vec![None]);
        assert!(fit.global[0] > 0.99, "{:?}", fit.global);
    }

    #[test]
    fn an_entity_equals_a_plain_fit_on_its_data_plus_the_scaled_prior() {
        let global = [arm(1000, 100.0), arm(1000, 50.0)];
        let e = EntityInput {
            id: "p1".into(),
            arms: vec![arm(30, 3.0), arm(30, 12.0)],
            served: None,
        };
        let fit = fit_entities(&bernoulli(), KNOBS, &global, None, &[e], "pol", 1).unwrap();
        // Beta(1 + 2 + 3, 1 + 18 + 27) against Beta(1 + 1 + 12, 1 + 19 + 18).
        let by_hand = crate::policy::beta_probability_best(&[(6.0, 46.0), (14.0, 38.0)]);
        let got = fit.entities[0].as_ref().unwrap();
        assert_abs_diff_eq!(got[0], by_hand[0], epsilon = 1e-12);
        assert_abs_diff_eq!(got[1], by_hand[1], epsilon = 1e-12);
        // The entity's own data wins against the global leader.
        assert!(got[1] > 0.9);
    }

    #[test]
    fn floor_and_shift_cap_apply_per_entity() {
        let global = [arm(1000, 100.0), arm(1000, 50.0)];
        let e = EntityInput {
            id: "p1".into(),
            arms: vec![arm(500, 10.0), arm(500, 200.0)],
            served: Some(vec![0.5, 0.5]),
        };
        let fit = fit_entities(
            &bernoulli(),
            knobs(0.05, Some(0.1)),
            &global,
            Some(&[0.5, 0.5]),
            &[e],
            "pol",
            1,
        )
        .unwrap();
        let w = fit.entities[0].as_ref().unwrap();
        assert_abs_diff_eq!(w[1], 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(fit.global[0], 0.6, epsilon = 1e-12);
        assert!(w.iter().all(|&x| x >= 0.05));
    }

    #[test]
    fn entities_of_different_sizes_fit_side_by_side() {
        // Dynamic allocations: an arm beyond the global ones gets no prior.
        let global = [arm(100, 10.0), arm(100, 10.0)];
        let e = EntityInput {
            id: "p1".into(),
            arms: vec![arm(20, 2.0), arm(20, 2.0), arm(20, 15.0)],
            served: None,
        };
        let fit = fit_entities(&bernoulli(), KNOBS, &global, None, &[e], "pol", 1).unwrap();
        let w = fit.entities[0].as_ref().unwrap();
        assert_eq!(w.len(), 3);
        assert!(w[2] > 0.99);
    }

    #[test]
    fn fitted_types_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<EntityInput>();
        send_sync::<EntitiesFit>();
        send_sync::<EntityKnobs>();
    }

    proptest::proptest! {
        #[test]
        fn every_published_entity_gets_a_floored_distribution(
            stats in proptest::collection::vec(
                proptest::collection::vec((0u64..200, 0.0f64..1.0), 3),
                1..20,
            ),
            floor in 0.0f64..0.3,
            strength in 0.0f64..50.0,
        ) {
            let mut global = vec![ArmStats::default(); 3];
            let entities: Vec<EntityInput> = stats
                .iter()
                .enumerate()
                .map(|(i, arms)| EntityInput {
                    id: format!("e{i}"),
                    arms: arms
                        .iter()
                        .enumerate()
                        .map(|(k, &(n, rate))| {
                            let a = arm(n, (n as f64 * rate).floor());
                            global[k] = global[k].merge(a);
                            a
                        })
                        .collect(),
                    served: None,
                })
                .collect();
            let knobs = EntityKnobs { prior_strength: strength, ..knobs(floor, None) };
            let fit = fit_entities(&bernoulli(), knobs, &global, None, &entities, "pol", 3).unwrap();
            let floor = floor.min(1.0 / 3.0);
            for (e, w) in entities.iter().zip(&fit.entities) {
                proptest::prop_assert_eq!(w.is_some(), e.exposures() >= 10);
                for w in w.iter().chain(std::iter::once(&fit.global)) {
                    proptest::prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                    proptest::prop_assert!(w.iter().all(|&x| x >= floor - 1e-12));
                }
            }
        }
    }

    #[test]
    fn the_result_does_not_depend_on_the_thread_count() {
        let global: Vec<ArmStats> = (0..4).map(|k| arm(4000, 400.0 + 10.0 * k as f64)).collect();
        let entities: Vec<EntityInput> = (0..300)
            .map(|i| EntityInput {
                id: format!("e{i}"),
                arms: (0..4)
                    .map(|k| arm(10 + (i * 7 + k * 3) % 50, ((i + k) % 9) as f64))
                    .collect(),
                served: None,
            })
            .collect();
        let params = AlgorithmParams::ThompsonGaussian {
            prior_alpha: 1.0,
            prior_beta: 1.0,
            draws: 200,
        };
        let s = Learner::new(params, Objective::default()).unwrap();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit_entities(&s, KNOBS, &global, None, &entities, "pol", 9).unwrap())
        };
        assert_eq!(run(1), run(3));
    }
}
