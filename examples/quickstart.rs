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
    for p in &outcome.report.policies {
        let shares: Vec<String> = p
            .arms
            .iter()
            .map(|a| format!("{} {:.1}%", a.name, 100.0 * a.new_share))
            .collect();
        println!("{}: {:?}, {}", p.policy_id, p.status, shares.join(", "));
    }
    Ok(())
}
