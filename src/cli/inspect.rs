//! `inspect` and `diff`.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};

use bandit_engine::bundle::{diff, BundleDocument};
use bandit_engine::publish::Store;
use bandit_engine::sdk::model::Policy;
use bandit_engine::state::EngineState;

/// An output directory's store, current version number and state.
type Published = (Store, u64, Option<EngineState>);

/// A bundle from a file, or the current bundle (and state) of an output directory.
fn open(path: &Path) -> Result<(BundleDocument, Option<Published>)> {
    if path.is_dir() {
        let store = Store::new(path);
        let v = store
            .current()
            .with_context(|| format!("verifying the current version of {}", path.display()))?
            .with_context(|| {
                format!(
                    "{} has no published version (no {}/current); pass a bundle file or a retrain --out directory",
                    path.display(),
                    path.display()
                )
            })?;
        let id = v.manifest.version;
        Ok((v.bundle, Some((store, id, v.state))))
    } else {
        Ok((BundleDocument::from_path(path)?, None))
    }
}

fn range(r: [u32; 2]) -> String {
    format!("[{}, {}]", r[0], r[1])
}

fn policy_block(s: &mut String, p: &Policy) {
    let eligible = p
        .eligible_bucket_range
        .map(|e| format!("  eligible [{}, {}]", e.start, e.end))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "  policy {} ({:?}, {:?}){eligible}{}",
        p.id,
        p.kind,
        p.state,
        p.state_version
            .as_deref()
            .map(|v| format!("  stateVersion {v}"))
            .unwrap_or_default()
    );
    let counts = p.effective_counts();
    let served: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    for (a, c) in p.allocations.iter().zip(&counts) {
        let _ = writeln!(
            s,
            "    {:<16} {:>15} {:>7} buckets {:>6.2}%",
            a.name,
            range(a.bucket_range),
            c,
            if served == 0 {
                0.0
            } else {
                100.0 * f64::from(*c) / served as f64
            }
        );
    }
    if let Some(m) = &p.contextual_model {
        let _ = writeln!(
            s,
            "    contextual model: gamma {}, actionProbabilityFloor {}, defaultAllocationScore {}",
            m["gamma"], m["actionProbabilityFloor"], m["defaultAllocationScore"]
        );
        for (name, c) in m["coefficients"].as_object().into_iter().flatten() {
            let numeric: Vec<String> = c["numeric"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{} {}", f["key"].as_str().unwrap_or("?"), f["coef"]))
                .collect();
            let categorical: Vec<String> = c["categorical"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    format!(
                        "{} ({} values)",
                        f["key"].as_str().unwrap_or("?"),
                        f["values"].as_object().map_or(0, serde_json::Map::len)
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "      {name}: intercept {}; numeric: {}; categorical: {}",
                c["intercept"],
                if numeric.is_empty() {
                    "-".into()
                } else {
                    numeric.join(", ")
                },
                if categorical.is_empty() {
                    "-".into()
                } else {
                    categorical.join(", ")
                }
            );
        }
    }
}

fn state_block(s: &mut String, st: &EngineState) {
    let _ = writeln!(
        s,
        "\nstate: as of {}, seed {}, bundle {} (sha256 {}…)",
        st.as_of,
        st.seed,
        st.bundle_version,
        &st.bundle_sha256[..st.bundle_sha256.len().min(12)]
    );
    for (id, p) in &st.policies {
        let _ = writeln!(
            s,
            "  {id} ({}): last run {}, last updated {}, statistics through {}",
            p.algorithm,
            p.last_status,
            p.last_updated.as_deref().unwrap_or("never"),
            p.exposures_through.as_deref().unwrap_or("-")
        );
        for (name, a) in &p.arms {
            let mean = if a.exposures > 0 {
                format!("{:.4}", a.reward_sum / a.exposures as f64)
            } else {
                "-".into()
            };
            let _ = writeln!(
                s,
                "    {name:<16} {:>9} exposures  reward {:>10.2}  mean {mean}",
                a.exposures, a.reward_sum
            );
        }
        if let Some(e) = &p.entities {
            let _ = writeln!(
                s,
                "    entities: {} with statistics, keyed by {}{}",
                e.entities.len(),
                e.entity_keys.join(" + "),
                e.count_key
                    .as_deref()
                    .map(|k| format!(", allocations counted by {k}"))
                    .unwrap_or_default()
            );
        }
        if let Some(last) = p.allocation_history.last() {
            let w: Vec<String> = last
                .weights
                .iter()
                .map(|(k, v)| format!("{k} {:.1}%", 100.0 * v))
                .collect();
            let _ = writeln!(
                s,
                "    history: {} entries; latest {}: {}",
                p.allocation_history.len(),
                last.as_of,
                w.join(", ")
            );
        }
    }
}

/// One policy as `inspect --json` shows it: what the SDK serves, without the
/// model's coefficients (they are in the bundle itself).
fn policy_json(p: &Policy) -> serde_json::Value {
    let counts = p.effective_counts();
    let served: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let allocations: Vec<serde_json::Value> = p
        .allocations
        .iter()
        .zip(&counts)
        .map(|(a, &c)| {
            serde_json::json!({
                "name": a.name,
                "bucketRange": a.bucket_range,
                "buckets": c,
                "share": if served == 0 { 0.0 } else { f64::from(c) / served as f64 },
            })
        })
        .collect();
    serde_json::json!({
        "id": p.id,
        "kind": p.kind,
        "state": p.state,
        "stateVersion": p.state_version,
        "eligibleBucketRange": p.eligible_bucket_range,
        "allocations": allocations,
        "contextual": p.contextual_model.is_some(),
        "entityConfig": p.entity_config,
    })
}

/// `inspect PATH --json`: one object with the bundle's layers and policies, its
/// entity state summary and, for an output directory, its versions and state.
pub fn inspect_json(path: &Path) -> Result<String> {
    let (doc, store) = open(path)?;
    let b = doc.bundle();
    let layers: Vec<serde_json::Value> = b
        .layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "id": l.id,
                "unitKey": l.unit_key,
                "policies": l.policies.iter().map(policy_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let entity_state: serde_json::Map<String, serde_json::Value> = b
        .entity_state
        .iter()
        .flatten()
        .map(|(id, e)| {
            (
                id.clone(),
                serde_json::json!({
                    "entities": e.entities.len(),
                    "globalWeights": e.global.weights,
                    "computedAt": e.global.computed_at,
                }),
            )
        })
        .collect();
    let mut out = serde_json::json!({
        "source": doc.source(),
        "version": b.version,
        "orgId": b.org_id,
        "projectId": b.project_id,
        "env": b.env,
        "hashing": {"unitKey": b.hashing.unit_key, "bucketCount": b.hashing.bucket_count},
        "layers": layers,
        "entityState": entity_state,
    });
    if let Some((store, id, state)) = store {
        out["versions"] = serde_json::json!(store.versions()?);
        out["current"] = serde_json::json!(id);
        out["state"] = serde_json::to_value(state)?;
    }
    let mut s = serde_json::to_string_pretty(&out)?;
    s.push('\n');
    Ok(s)
}

/// `inspect PATH`.
pub fn inspect(path: &Path) -> Result<String> {
    let (doc, store) = open(path)?;
    let b = doc.bundle();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "bundle {}  version {}  {}/{}/{}  hashing {} over {} buckets",
        doc.source(),
        b.version,
        b.org_id,
        b.project_id,
        b.env,
        b.hashing.unit_key,
        b.hashing.bucket_count
    );
    for l in &b.layers {
        let _ = writeln!(
            s,
            "\nlayer {}{}",
            l.id,
            l.unit_key
                .as_deref()
                .map(|u| format!("  unitKey {u}"))
                .unwrap_or_default()
        );
        for p in &l.policies {
            policy_block(&mut s, p);
        }
    }
    if let Some(es) = &b.entity_state {
        let _ = writeln!(s, "\nentityState:");
        for (id, e) in es {
            let _ = writeln!(
                s,
                "  {id}: {} entities; _global weights {:?} (computed {})",
                e.entities.len(),
                e.global.weights,
                e.global.computed_at
            );
        }
    }
    if let Some((store, id, state)) = store {
        let versions = store.versions()?;
        let list: Vec<String> = versions.iter().map(u64::to_string).collect();
        let _ = writeln!(s, "\nversions: {} (current {id})", list.join(", "));
        match state {
            Some(st) => state_block(&mut s, &st),
            None => {
                let _ = writeln!(s, "\nstate: none in this version");
            }
        }
    }
    Ok(s)
}

/// `diff OLD NEW`.
pub fn diff(old: &Path, new: &Path, json: bool) -> Result<String> {
    let (a, _) = open(old)?;
    let (b, _) = open(new)?;
    let d = diff::diff(&a, &b);
    if json {
        let mut s = serde_json::to_string_pretty(&d)?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(d.render())
    }
}
