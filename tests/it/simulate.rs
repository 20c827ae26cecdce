//! The batched-retrain simulation: known truth, same code path as `retrain`.

use bandit_engine::simulate::{simulate, SimulateOptions, Simulation};

fn small(algorithms: &[&str]) -> SimulateOptions {
    SimulateOptions {
        units: 3_000,
        batch: 500,
        seed: 11,
        algorithms: algorithms.iter().map(|a| (*a).to_owned()).collect(),
        ..SimulateOptions::default()
    }
}

fn regret(sim: &Simulation, algorithm: &str, policy: &str) -> f64 {
    sim.final_regret()[&(algorithm.to_owned(), policy.to_owned())]
}

#[test]
fn thompson_sampling_beats_the_uniform_split_and_finds_the_best_allocation() {
    let sim = simulate(&small(&["uniform", "thompson_bernoulli"])).unwrap();
    assert_eq!(sim.best["policy_checkout_cta"], "urgency");
    assert_eq!(sim.best["policy_discount"], "discount_15");
    for policy in ["policy_checkout_cta", "policy_discount"] {
        let ts = regret(&sim, "thompson_bernoulli", policy);
        let uniform = regret(&sim, "uniform", policy);
        assert!(
            ts > 0.0 && ts < uniform,
            "{policy}: TS {ts} vs uniform {uniform}"
        );
    }
    // The last weights of Thompson sampling favour the best allocation.
    let last_batch = sim.rows.iter().map(|r| r.batch).max().unwrap();
    let best_weight = sim
        .rows
        .iter()
        .find(|r| {
            r.algorithm == "thompson_bernoulli"
                && r.batch == last_batch
                && r.policy_id == "policy_checkout_cta"
                && r.allocation == "urgency"
        })
        .unwrap()
        .weight;
    assert!(best_weight > 0.5, "urgency weight {best_weight}");
}

#[test]
fn uniform_never_moves_and_regret_only_grows() {
    let sim = simulate(&small(&["uniform"])).unwrap();
    // 6 batches plus the initial point, 3 + 4 allocations.
    assert_eq!(sim.rows.len(), 7 * (3 + 4));
    let initial: Vec<f64> = sim
        .rows
        .iter()
        .filter(|r| r.batch == 0)
        .map(|r| r.weight)
        .collect();
    for b in 1..=6 {
        let w: Vec<f64> = sim
            .rows
            .iter()
            .filter(|r| r.batch == b)
            .map(|r| r.weight)
            .collect();
        assert_eq!(w, initial);
        assert!(sim
            .rows
            .iter()
            .filter(|r| r.batch == b)
            .all(|r| r.status == "not_retrained"));
    }
    for policy in &sim.policies {
        let curve: Vec<f64> = sim
            .rows
            .iter()
            .filter(|r| &r.policy_id == policy)
            .map(|r| r.cumulative_regret)
            .collect();
        assert!(
            curve.windows(2).all(|w| w[1] >= w[0]),
            "{policy}: {curve:?}"
        );
        assert!(curve[curve.len() - 1] > 0.0);
    }
    // Every unit is counted once per policy it was served by (a holdout serves some
    // of checkout's layer): served units never exceed arrivals.
    let last: u64 = sim
        .rows
        .iter()
        .filter(|r| r.batch == 6 && r.policy_id == "policy_discount")
        .map(|r| r.served)
        .sum();
    assert!(last > 0 && last <= 3_000, "{last}");
}

#[test]
fn same_seed_same_simulation_and_other_seed_other_draws() {
    let a = simulate(&small(&["ucb1", "epsilon_greedy"])).unwrap();
    let b = simulate(&small(&["ucb1", "epsilon_greedy"])).unwrap();
    assert_eq!(a, b);
    let c = simulate(&SimulateOptions {
        seed: 12,
        ..small(&["ucb1", "epsilon_greedy"])
    })
    .unwrap();
    assert_ne!(a.rows, c.rows);
}

#[test]
fn bad_options_are_refused_with_the_choices() {
    let e = simulate(&small(&["thompson"])).unwrap_err().to_string();
    assert!(
        e.contains("thompson_bernoulli") && e.contains("\"thompson\""),
        "{e}"
    );
    let e = simulate(&SimulateOptions {
        batch: 0,
        ..small(&["uniform"])
    })
    .unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
}

#[cfg(feature = "cli")]
#[test]
fn the_cli_writes_csv_json_and_both_plot_formats() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
        .args([
            "simulate",
            "--quiet",
            "--units",
            "1200",
            "--batch",
            "400",
            "--algorithms",
            "uniform,ucb1",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("simulation.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "algorithm,batch,units,as_of,policy_id,status,allocation,weight,served,cumulative_regret,best_share"
    );
    // 2 algorithms × (3 batches + initial) × 7 allocations.
    assert_eq!(lines.count(), 2 * 4 * 7);
    for stem in ["regret", "allocations"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("ucb1"),
            "{stem}.svg"
        );
        let png = std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("simulation.json")).unwrap())
            .unwrap();
    assert_eq!(json["best"]["policy_checkout_cta"], "urgency");
}
