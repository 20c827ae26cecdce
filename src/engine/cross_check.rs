//! The config checked against the bundle before anything runs.

use super::entities::cross_check_entities;
use crate::bundle::BundleDocument;
use crate::config::{OptimizationSpec, ProjectConfig};
use crate::error::{Error, Result};
use crate::sdk::model::{Policy, PolicyKind};

/// Checks the config against the bundle: every optimised policy must exist in the
/// bundle and be adaptive, its `control` (if named) one of the policy's allocations,
/// and the `contextFeatures` of a `linear_contextual` policy
/// must be among its `contextLogging.allowedFields` (only those are logged). Every
/// problem is reported, in file order. `source` names the config in errors.
///
/// # Errors
///
/// [`Error::InvalidConfig`] at `optimization.<policy>` for a policy that is missing
/// (with the closest id) or static, or at `optimization.<policy>.contextFeatures...`
/// for a key that is not allowed (with the closest allowed field);
/// [`Error::InvalidConfigs`] when there are several.
pub fn cross_check(config: &ProjectConfig, doc: &BundleDocument, source: &str) -> Result<()> {
    let mut errors = Vec::new();
    for (policy_id, spec) in &config.optimization {
        let at = format!("optimization.{policy_id}");
        let found = doc.find_policy(policy_id);
        let problems = match found.map(|(li, pi)| &doc.bundle().layers[li].policies[pi]) {
            None => vec![(at, missing(doc, policy_id))],
            Some(p) if p.kind != PolicyKind::Adaptive => vec![(
                at,
                format!("policy \"{policy_id}\" is static in the bundle; only adaptive policies can be optimised"),
            )],
            Some(policy) => {
                let mut found = unlogged_features(policy, spec, &at);
                found.extend(unknown_control(policy, spec, &at));
                found
            }
        };
        errors.extend(
            problems
                .into_iter()
                .map(|(key, reason)| config.error_at(source, key, reason)),
        );
    }
    if let Err(e) = cross_check_entities(config, doc, source) {
        errors.push(e);
    }
    errors.sort_by_key(|e| match e {
        Error::InvalidConfig { line, column, .. } => (*line, *column),
        _ => (0, 0),
    });
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(Error::InvalidConfigs { errors }),
    }
}

/// " (did you mean \"x\"?)" when a candidate is close to `name`.
fn hint<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    crate::text::did_you_mean(name, candidates, 4)
        .map(|c| format!(" (did you mean \"{c}\"?)"))
        .unwrap_or_default()
}

/// Why an optimised policy is missing from the bundle, with the closest id.
fn missing(doc: &BundleDocument, policy_id: &str) -> String {
    let ids = doc
        .bundle()
        .layers
        .iter()
        .flat_map(|l| l.policies.iter().map(|p| p.id.as_str()));
    let hint = hint(policy_id, ids);
    format!(
        "policy \"{policy_id}\" is not in bundle {}{hint}",
        doc.source()
    )
}

/// `contextFeatures` that the policy's `contextLogging.allowedFields` do not list
/// (SDKs never log them), by key path.
fn unlogged_features(policy: &Policy, spec: &OptimizationSpec, at: &str) -> Vec<(String, String)> {
    let allowed: Vec<&str> = policy
        .context_logging
        .as_ref()
        .map(|c| c.allowed_fields.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let listed = if allowed.is_empty() {
        "the policy has no contextLogging.allowedFields".to_owned()
    } else {
        format!("allowed: {}", allowed.join(", "))
    };
    spec.context_features
        .as_ref()
        .map(crate::config::ContextFeatures::keys)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, _, key)| !allowed.contains(key))
        .map(|(list, i, key)| {
            let hint = hint(key, allowed.iter().copied());
            (
                format!("{at}.contextFeatures.{list}[{i}]"),
                format!("\"{key}\" is not in the bundle policy's contextLogging.allowedFields, so it is never logged{hint}; {listed}"),
            )
        })
        .collect()
}

/// A `control` that names no allocation of the policy.
fn unknown_control(policy: &Policy, spec: &OptimizationSpec, at: &str) -> Option<(String, String)> {
    let control = spec.control.as_deref()?;
    if policy.allocations.iter().any(|a| a.name == control) {
        return None;
    }
    let hint = hint(control, policy.allocations.iter().map(|a| a.name.as_str()));
    Some((
        format!("{at}.control"),
        format!(
            "policy \"{}\" has no allocation \"{control}\"{hint}",
            policy.id
        ),
    ))
}
