//! `validate` and `generate-types`: the config-as-code commands.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::ProjectConfig;
use bandit_engine::enforce::{enforce, EnforcementReport};
use bandit_engine::engine::cross_check;
use bandit_engine::events::{load_events, LoadOptions, LoadReport};

/// What `validate` found; `problems` non-empty means exit 1.
pub struct Validation {
    problems: Vec<String>,
    config: Option<ProjectConfig>,
    bundle_checked: bool,
    events: Option<(LoadReport, EnforcementReport)>,
}

/// Checks the config, the bundle against it, and the events against its schemas.
/// Problems with the inputs are collected, not returned as errors.
pub fn validate(config: &Path, bundle: Option<&Path>, events: &[PathBuf]) -> Validation {
    let mut v = Validation {
        problems: Vec::new(),
        config: None,
        bundle_checked: false,
        events: None,
    };
    match ProjectConfig::from_path(config) {
        Ok(c) => v.config = Some(c),
        Err(e) => v.problems.extend(problems(&e)),
    }
    if let Some(path) = bundle {
        match BundleDocument::from_path(path) {
            Ok(doc) => {
                if let Some(c) = &v.config {
                    match cross_check(c, &doc, &config.display().to_string()) {
                        Ok(()) => v.bundle_checked = true,
                        Err(e) => v.problems.extend(problems(&e)),
                    }
                }
            }
            Err(e) => v.problems.push(e.to_string()),
        }
    }
    if let (Some(c), false) = (&v.config, events.is_empty()) {
        match load_events(events, LoadOptions::default()) {
            Ok(mut loaded) => match enforce(c, &mut loaded) {
                Ok(e) => v.events = Some((loaded.report, e.report)),
                Err(e) => v.problems.push(e.to_string()),
            },
            Err(e) => v.problems.push(e.to_string()),
        }
    }
    v
}

/// One message per problem: a config with several gives several.
fn problems(e: &bandit_engine::Error) -> Vec<String> {
    match e {
        bandit_engine::Error::InvalidConfigs { errors } => {
            errors.iter().map(ToString::to_string).collect()
        }
        other => vec![other.to_string()],
    }
}

impl Validation {
    /// Whether any input has errors.
    pub fn failed(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The problems, one `error: ` line each, for standard error.
    pub fn errors(&self) -> String {
        let mut s = String::new();
        for p in &self.problems {
            let _ = writeln!(s, "error: {p}");
        }
        s
    }

    /// What checked out, for standard output.
    pub fn text(&self, config: &Path, bundle: Option<&Path>) -> String {
        let mut s = String::new();
        if let Some(c) = &self.config {
            let _ = writeln!(
                s,
                "config {}: ok ({} events, {} property groups, {} parameters, {} optimised policies)",
                config.display(),
                c.events.len(),
                c.property_groups.len(),
                c.all_parameters().len(),
                c.optimization.len()
            );
        }
        if let (Some(b), true) = (bundle, self.bundle_checked) {
            let _ = writeln!(
                s,
                "bundle {}: ok (every optimised policy is in it and adaptive)",
                b.display()
            );
        }
        if let Some((load, report)) = &self.events {
            let _ = writeln!(
                s,
                "events: {} read, {} accepted, {} quarantined",
                load.read(),
                load.accepted(),
                load.quarantined()
            );
            s.push_str(&report.summary());
        }
        s
    }

    /// The report as one JSON object.
    pub fn json(&self, config: &Path, bundle: Option<&Path>) -> serde_json::Value {
        json!({
            "ok": !self.failed(),
            "problems": self.problems,
            "config": {
                "file": config.display().to_string(),
                "ok": self.config.is_some(),
                "events": self.config.as_ref().map(|c| c.events.keys().collect::<Vec<_>>()),
            },
            "bundle": bundle.map(|b| json!({
                "file": b.display().to_string(),
                "ok": self.bundle_checked,
            })),
            "events": self.events.as_ref().map(|(load, report)| json!({
                "read": load.read(),
                "accepted": load.accepted(),
                "quarantined": load.quarantined(),
                "enforcement": report,
            })),
        })
    }
}

/// Writes the TypeScript types of `config` to `out`; returns the number of events.
pub fn generate_types(config: &Path, out: &Path) -> Result<usize> {
    super::paths::check_output_file("--out", out, &[config])?;
    let cfg = ProjectConfig::from_path(config)?;
    let text = bandit_engine::codegen::typescript(&cfg);
    super::paths::write_file(out, &text)?;
    Ok(cfg.schemas.len())
}
