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
    print!("{}", bandit_engine::summary::render(&outcome, &published));
    Ok(())
}
