//! Per-entity fitting throughput: the whole per-entity fit of a policy (scaled global
//! prior, probability of being best by quadrature, floor), 5 arms per entity.
//!
//! ```text
//! cargo bench --bench entity
//! ```
//!
//! * `entity_fit/entities`: 1 000 and 10 000 entities × 5 arms (entities per second;
//!   goal: 10 000 in under 1 s on 2 cores).
//!
//! Statistics come from a seeded ChaCha8 generator, so runs compare.

use std::time::Duration;

use bandit_engine::algorithm::{Algorithm, AlgorithmParams, Objective};
use bandit_engine::policy::{fit_entities, EntityInput, EntityKnobs, Learner};
use bandit_engine::reward::ArmStats;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ARMS: usize = 5;

fn entities(n: usize) -> (Vec<ArmStats>, Vec<EntityInput>) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut global = vec![ArmStats::default(); ARMS];
    let inputs: Vec<EntityInput> = (0..n)
        .map(|i| {
            let arms: Vec<ArmStats> = (0..ARMS)
                .map(|k| {
                    let n = rng.random_range(5..400u64);
                    let rate = 0.02 + 0.01 * k as f64 + 0.05 * rng.random::<f64>();
                    let s = (n as f64 * rate).round();
                    let a = ArmStats {
                        n,
                        sum: s,
                        sum_sq: s,
                    };
                    global[k] = global[k].merge(a);
                    a
                })
                .collect();
            EntityInput {
                id: format!("prod-{i:06}"),
                arms,
                served: None,
            }
        })
        .collect();
    (global, inputs)
}

fn entity_fit(c: &mut Criterion) {
    let conversion = Objective {
        decrease: false,
        binary_rewards: true,
    };
    let learner = Learner::new(
        AlgorithmParams::defaults(Algorithm::ThompsonBernoulli),
        conversion,
    )
    .expect("the defaults are valid");
    let knobs = EntityKnobs {
        min_entity_exposures: 30,
        prior_strength: 20.0,
        exploration_floor: 0.01,
        max_shift_per_update: None,
    };
    let mut group = c.benchmark_group("entity_fit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for n in [1_000usize, 10_000] {
        let (global, inputs) = entities(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("entities", n), &inputs, |b, inputs| {
            b.iter(|| {
                fit_entities(&learner, knobs, &global, None, inputs, "policy_bench", 7)
                    .expect("the fit succeeds")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, entity_fit);
criterion_main!(benches);
