//! `.traffical/config.yaml`: event definitions as code, plus the engine's
//! `optimization:` section.
//!
//! This first version reads what retraining needs: each event's `valueType`, and per
//! adaptive policy its algorithm, goal, attribution mode and the platform's knobs.
//! Property schemas, groups and parameters are accepted and kept as YAML values for
//! the schema-enforcement stage.

mod optimization;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use optimization::{
    Algorithm, AttributionMode, DesiredDirection, Goal, GoalType, OptimizationSpec, ValueSource,
};

use crate::error::{Error, Result};

/// How a track event's value is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Money (`value` is an amount).
    Currency,
    /// A count.
    Count,
    /// A proportion.
    Rate,
    /// Happened or not.
    Boolean,
}

/// What happens to a track event that breaks its property schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaEnforcement {
    /// No validation.
    Off,
    /// Validate, count and report, keep the event (the default: losing a reward
    /// because of a schema typo is worse than learning from it).
    #[default]
    Warn,
    /// Quarantine invalid events.
    Reject,
}

/// One event definition.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventDefinition {
    /// How to read its value.
    pub value_type: Option<ValueType>,
    /// Unit of the value (`USD`).
    pub unit: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Schema version.
    pub schema_version: Option<serde_norway::Value>,
    /// Enforcement of the property schema.
    #[serde(default)]
    pub schema_enforcement: SchemaEnforcement,
    /// Property schemas (validated by the schema stage).
    pub properties: Option<serde_norway::Value>,
    /// Property groups used.
    pub property_groups: Option<Vec<String>>,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConfig {
    /// File format version.
    pub version: Option<serde_norway::Value>,
    /// Project link.
    pub project: Option<serde_norway::Value>,
    /// Parameters.
    pub parameters: Option<serde_norway::Value>,
    /// Namespaces.
    pub namespaces: Option<serde_norway::Value>,
    /// Shared property groups.
    pub property_groups: Option<serde_norway::Value>,
    /// Event definitions by name.
    #[serde(default)]
    pub events: BTreeMap<String, EventDefinition>,
    /// Per adaptive policy id: how the engine optimises it.
    #[serde(default)]
    pub optimization: BTreeMap<String, OptimizationSpec>,
}

impl ProjectConfig {
    /// Reads and validates a config file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable, [`Error::InvalidConfig`] with line, column and key
    /// path if it does not parse or validate.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_str_named(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `source` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] as [`ProjectConfig::from_path`].
    pub fn from_str_named(text: &str, source: &str) -> Result<Self> {
        let de = serde_norway::Deserializer::from_str(text);
        let cfg: ProjectConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = inner.location().map_or((0, 0), |l| (l.line(), l.column()));
            let mut reason = inner.to_string();
            // serde_norway appends " at line L column C"; we print it in front.
            if let Some(i) = reason.find(" at line ") {
                reason.truncate(i);
            }
            // ... and may start with the key path, which we also print in front.
            if let Some(rest) = reason.strip_prefix(&format!("{key}: ")) {
                reason = rest.to_owned();
            }
            Error::InvalidConfig {
                file: source.to_owned(),
                line,
                column,
                key,
                reason,
            }
        })?;
        cfg.validate(source)?;
        Ok(cfg)
    }

    fn validate(&self, source: &str) -> Result<()> {
        for (policy, spec) in &self.optimization {
            spec.validate(policy, &self.events, source)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_product_page_events() {
        let cfg = ProjectConfig::from_str_named(
            "events:\n  purchase:\n    valueType: currency\n    unit: USD\n    description: Completed purchase\n  signup:\n    valueType: boolean\n",
            "config.yaml",
        )
        .unwrap();
        assert_eq!(cfg.events["purchase"].value_type, Some(ValueType::Currency));
        assert_eq!(
            cfg.events["signup"].schema_enforcement,
            SchemaEnforcement::Warn
        );
    }

    #[test]
    fn errors_name_line_column_and_key() {
        let err = ProjectConfig::from_str_named(
            "events:\n  purchase:\n    valueType: money\n",
            "config.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("config.yaml:3:16 events.purchase.valueType: unknown variant `money`"),
            "{err}"
        );
    }
}
