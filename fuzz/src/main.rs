//! The fuzz binary: `bandit-engine-fuzz TARGET` runs one target of `targets.rs` under
//! AFL++'s persistent mode (built and run by `scripts/fuzz.sh` through `cargo afl`).

mod targets;

fn main() {
    let target = std::env::args().nth(1).unwrap_or_default();
    assert!(
        targets::TARGETS.contains(&target.as_str()),
        "usage: bandit-engine-fuzz TARGET, one of {:?}",
        targets::TARGETS
    );
    afl::fuzz!(|data: &[u8]| targets::run(&target, data));
}
