//! Retrains the demo project in `datasets/demo` and prints what changed.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! Publishes a new version into `target/quickstart/`: `bundle.json` (the republished
//! bundle), `state.json`, `report.json` and `quarantine.ndjson` (see
//! docs/publishing.md; each run adds a version, `bandit-engine rollback` goes back).

use std::path::Path;

use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = root.join("datasets/demo");
    let inputs = RetrainInputs::from_paths(
        demo.join(".traffical/config.yaml"),
        demo.join("bundle.json"),
        &[demo.join("events.ndjson")],
    );
    let outcome = Engine::new(RetrainOptions {
        seed: 7,
        ..RetrainOptions::default()
    })
    .retrain(&inputs)?;
    let published = outcome.publish(root.join("target/quickstart"))?;
    println!(
        "published version {}: {}",
        published.version,
        published.bundle.display()
    );
    // The report is data; the CLI's `retrain` prints a fuller summary of the same fields.
    for p in &outcome.report.policies {
        println!(
            "\n{} ({}, {})  {}",
            p.policy_id,
            p.layer_id,
            p.algorithm,
            p.status.as_str()
        );
        println!(
            "  {:<12} {:>9} {:>8} {:>7}  {:>6} → {:<6} {:>13}",
            "allocation", "exposures", "reward", "P(best)", "share", "share", "new range"
        );
        for a in &p.arms {
            println!(
                "  {:<12} {:>9} {:>8.0} {:>7} {:>5.1}% → {:>5.1}% {:>13}",
                a.name,
                a.exposures,
                a.reward_sum,
                a.probability_best.map_or("-".into(), |p| format!("{p:.3}")),
                100.0 * a.old_share,
                100.0 * a.new_share,
                format!("[{}, {}]", a.new_range[0], a.new_range[1])
            );
        }
    }
    Ok(())
}
