//! `retrain --dry-run`, `rollback`, and the hidden publish loop of the crash test.

use std::path::Path;

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use bandit_engine::bundle::{diff, BundleDocument};
use bandit_engine::policy::layout_ranges;
use bandit_engine::publish::{check_publishable, PublishOptions, Store};
use bandit_engine::sdk::model::PolicyKind;
use bandit_engine::state::{sha256_hex, EngineState};
use bandit_engine::time::format_rfc3339;
use bandit_engine::RetrainOutcome;

/// What `retrain --dry-run` prints: the guards' verdict (an error, exit 3, if one
/// fails), the bundle diff and the run summary. Writes nothing.
pub fn dry_run(outcome: &RetrainOutcome, out: &Path) -> Result<String> {
    let text = outcome.checked_bundle_text(&out.join("bundle.json"))?;
    let new = BundleDocument::from_str_named(&text, "new bundle")?;
    let mut s = String::from("dry run: the new bundle passes every publishing guard\n\n");
    s.push_str(&diff::diff(&outcome.input_bundle, &new).render());
    s.push('\n');
    s.push_str(&super::summary::render_dry_run(outcome));
    Ok(s)
}

/// `rollback DIR`: the previous version becomes current; returns what to print.
pub fn rollback(dir: &Path) -> Result<String> {
    let store = Store::new(dir);
    let lock = store.lock()?;
    let (from, to) = store
        .rollback(&lock)
        .with_context(|| format!("rolling back {}", dir.display()))?;
    Ok(format!(
        "{}: version {} (bundle {}) → version {} (bundle {}{})\n",
        dir.display(),
        from.version,
        from.bundle_version,
        to.manifest.version,
        to.manifest.bundle_version,
        to.state
            .as_ref()
            .map(|s| format!(", state as of {}", s.as_of))
            .unwrap_or_default()
    ))
}

/// Publishes `count` versions into `dir` as fast as possible, each with seeded random
/// weights for every adaptive policy of `bundle` and a state naming it, through the
/// same guards and store as `retrain`. The crash test kills it at random points.
pub fn publish_loop(dir: &Path, bundle: &Path, count: u64, seed: u64) -> Result<()> {
    let base = BundleDocument::from_path(bundle)?;
    let store = Store::new(dir);
    let first = store.versions()?.last().copied().unwrap_or(0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ first);
    let adaptive: Vec<(usize, usize)> = base
        .bundle()
        .layers
        .iter()
        .enumerate()
        .flat_map(|(li, l)| {
            l.policies
                .iter()
                .enumerate()
                .filter(|(_, p)| p.kind == PolicyKind::Adaptive)
                .map(move |(pi, _)| (li, pi))
        })
        .collect();
    let target = dir.join("bundle.json").display().to_string();
    for i in 0..count {
        let mut doc = base.clone();
        for &(li, pi) in &adaptive {
            let policy = &base.bundle().layers[li].policies[pi];
            let w: Vec<f64> = policy
                .allocations
                .iter()
                .map(|_| 0.05 + rng.random::<f64>())
                .collect();
            let total: f64 = w.iter().sum();
            let w: Vec<f64> = w.iter().map(|x| x / total).collect();
            let ranges = layout_ranges(policy, &w)?;
            let policy_ref = base
                .policy_ref(&policy.id)
                .expect("the policy was found in this bundle above");
            doc.set_bucket_ranges(&policy_ref, &ranges)?;
        }
        // One minute per version after 2026-01-01, so every version differs.
        let stamp = format_rfc3339(1_767_225_600_000 + 60_000 * (first + i) as i64);
        doc.set_version(&stamp);
        let text = doc.to_json_pretty();
        check_publishable(&text, Some(&base), &target)?;
        let state = EngineState {
            as_of: stamp.clone(),
            seed,
            bundle_version: stamp,
            bundle_sha256: sha256_hex(text.as_bytes()),
            policies: Default::default(),
        };
        let lock = store.lock()?;
        store.publish(
            &lock,
            &text,
            Some(&state.to_json_pretty()?),
            &[("report.json", b"{}\n")],
            PublishOptions { keep: 3 },
        )?;
    }
    Ok(())
}
