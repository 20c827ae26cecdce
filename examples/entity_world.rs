//! Writes the per-entity synthetic world (`bandit_engine::synth::entities`) into a
//! directory, ready for `bandit-engine retrain`:
//!
//! ```text
//! cargo run --example entity_world -- target/entity-world
//! bandit-engine retrain --config target/entity-world/.traffical/config.yaml \
//!     --bundle target/entity-world/bundle.json \
//!     --events target/entity-world/events.ndjson --out target/entity-out
//! ```

use bandit_engine::synth::entities::{entity_world, EntityWorldParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/entity-world".to_owned());
    let world = entity_world(&EntityWorldParams {
        products: 200,
        ..EntityWorldParams::default()
    })?;
    world.write(std::path::Path::new(&dir))?;
    println!("wrote {dir} ({} events)", world.events.len());
    Ok(())
}
