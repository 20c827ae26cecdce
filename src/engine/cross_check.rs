//! The config checked against the bundle before anything runs.

use super::entities::cross_check_entities;
use crate::bundle::BundleDocument;
use crate::config::ProjectConfig;
use crate::error::{Error, Result};
use crate::sdk::model::PolicyKind;

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
        let err = |key: String, reason: String| {
            let (line, column) = config.spans.position(&key);
            Error::InvalidConfig {
                file: source.to_owned(),
                line,
                column,
                key,
                reason,
            }
        };
        let at = format!("optimization.{policy_id}");
        match doc.find_policy(policy_id) {
            None => {
                let ids: Vec<&str> = doc
                    .bundle()
                    .layers
                    .iter()
                    .flat_map(|l| l.policies.iter().map(|p| p.id.as_str()))
                    .collect();
                let hint = crate::text::did_you_mean(policy_id, ids.iter().copied(), 4)
                    .map(|c| format!(" (did you mean \"{c}\"?)"))
                    .unwrap_or_default();
                errors.push(err(
                    at,
                    format!(
                        "policy \"{policy_id}\" is not in bundle {}{hint}",
                        doc.source()
                    ),
                ));
            }
            Some((li, pi)) if doc.bundle().layers[li].policies[pi].kind != PolicyKind::Adaptive => {
                errors.push(err(at, format!("policy \"{policy_id}\" is static in the bundle; only adaptive policies can be optimised")));
            }
            Some((li, pi)) => {
                let policy = &doc.bundle().layers[li].policies[pi];
                let allowed: Vec<&str> = policy
                    .context_logging
                    .as_ref()
                    .map(|c| c.allowed_fields.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                for (list, i, key) in spec
                    .context_features
                    .as_ref()
                    .map(crate::config::ContextFeatures::keys)
                    .unwrap_or_default()
                {
                    if allowed.contains(&key) {
                        continue;
                    }
                    let hint = crate::text::did_you_mean(key, allowed.iter().copied(), 4)
                        .map(|c| format!(" (did you mean \"{c}\"?)"))
                        .unwrap_or_default();
                    let listed = if allowed.is_empty() {
                        "the policy has no contextLogging.allowedFields".to_owned()
                    } else {
                        format!("allowed: {}", allowed.join(", "))
                    };
                    errors.push(err(
                        format!("{at}.contextFeatures.{list}[{i}]"),
                        format!("\"{key}\" is not in the bundle policy's contextLogging.allowedFields, so it is never logged{hint}; {listed}"),
                    ));
                }
                if let Some(control) = spec.control.as_deref() {
                    if !policy.allocations.iter().any(|a| a.name == control) {
                        let names = policy.allocations.iter().map(|a| a.name.as_str());
                        let hint = crate::text::did_you_mean(control, names, 4)
                            .map(|c| format!(" (did you mean \"{c}\"?)"))
                            .unwrap_or_default();
                        errors.push(err(
                            format!("{at}.control"),
                            format!("policy \"{policy_id}\" has no allocation \"{control}\"{hint}"),
                        ));
                    }
                }
            }
        }
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
