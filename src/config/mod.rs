//! `.traffical/config.yaml`: event definitions as code, plus the engine's
//! `optimization:` section.
//!
//! The whole file is read into typed structs: `version`, the legacy `project:` block,
//! `parameters` and `namespaces`, `events` with their property schemas, `propertyGroups`,
//! and `optimization`. A sibling `project.yaml`, when present, is read too
//! ([`ProjectConfig::link`]). Each event's groups are merged into one
//! [`EventSchema`] (rule documented there), which [`EventSchema::validate`] applies to
//! one track event.
//!
//! Every error names the file, line, column and key path:
//!
//! ```
//! use bandit_engine::config::ProjectConfig;
//!
//! let err = ProjectConfig::from_str_named(
//!     "events:\n  purchase:\n    valueType: currency\n    properties:\n      total: { type: number, minimum: zero }\n",
//!     "config.yaml",
//! )
//! .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "config.yaml:5:39 events.purchase.properties.total.minimum: expected a number, found \"zero\""
//! );
//! ```
//!
//! Top-level keys the platform marks as required (`version`, `parameters`) are optional
//! here, so that files holding only events, like the product page's examples, load.

mod check;
mod event;
mod optimization;
mod parameter;
mod property;
mod validate;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;

pub use event::{
    EventDefinition, EventSchema, PropertyGroup, PropertySource, ResolvedProperty,
    SchemaEnforcement, ValueType,
};
pub use optimization::{
    Algorithm, AttributionMode, DesiredDirection, Goal, GoalType, OptimizationSpec, ValueSource,
};
pub use optimization::{AttributionModel, PositionWeights};
pub use parameter::{
    Constraints, IdAndKey, Namespace, Parameter, ParameterType, ProjectBlock, ProjectFile,
    ProjectLink,
};
pub use property::{Format, Pattern, PropertySchema, PropertyType};
pub(crate) use validate::missing;
pub use validate::{check_value, matches_format, validate_property, Rule, Violation};

use crate::error::{Error, Result};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConfig {
    /// File format version; `"1.0"` when present.
    pub version: Option<String>,
    /// Legacy project link (`project: { id, orgId }`); prefer `project.yaml`.
    pub project: Option<ProjectBlock>,
    /// Parameters by full key.
    #[serde(default)]
    pub parameters: IndexMap<String, Parameter>,
    /// Namespace-grouped parameters.
    #[serde(default)]
    pub namespaces: IndexMap<String, Namespace>,
    /// Shared property groups by name.
    #[serde(default)]
    pub property_groups: IndexMap<String, PropertyGroup>,
    /// Event definitions by name.
    #[serde(default)]
    pub events: BTreeMap<String, EventDefinition>,
    /// Per adaptive policy id: how the engine optimises it.
    #[serde(default)]
    pub optimization: BTreeMap<String, OptimizationSpec>,
    /// Each event's schema with its groups merged in, computed when the file is read.
    #[serde(skip)]
    pub schemas: BTreeMap<String, EventSchema>,
    /// The contents of a sibling `project.yaml`, when read with
    /// [`ProjectConfig::from_path`] and present.
    #[serde(skip)]
    pub project_file: Option<ProjectFile>,
}

impl ProjectConfig {
    /// Reads and validates a config file, and the `project.yaml` beside it if any.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable, [`Error::InvalidConfig`] with line, column and key
    /// path if either file does not parse or validate.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut cfg = Self::from_str_named(&text, &path.display().to_string())?;
        let link = path.with_file_name("project.yaml");
        if link.is_file() {
            let text = std::fs::read_to_string(&link).map_err(|e| Error::io(&link, e))?;
            cfg.project_file = Some(ProjectFile::from_str_named(
                &text,
                &link.display().to_string(),
            )?);
        }
        Ok(cfg)
    }

    /// Parses and validates config text; `source` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] as [`ProjectConfig::from_path`].
    pub fn from_str_named(text: &str, source: &str) -> Result<Self> {
        let located = |l: yaml::Located| invalid(source, l);
        let (mut cfg, spans) = yaml::parse::<ProjectConfig>(text).map_err(located)?;
        cfg.schemas = check::check(&cfg, &spans).map_err(located)?;
        Ok(cfg)
    }

    /// The project link: `project.yaml` if it was read, else the legacy block.
    #[must_use]
    pub fn link(&self) -> Option<ProjectLink> {
        match (&self.project_file, &self.project) {
            (Some(f), _) => Some(ProjectLink {
                org_id: f.org.id.clone(),
                project_id: f.project.id.clone(),
            }),
            (None, Some(b)) => Some(ProjectLink {
                org_id: b.org_id.clone(),
                project_id: b.id.clone(),
            }),
            (None, None) => None,
        }
    }

    /// Every parameter by full key (`checkout.button.color`), flat ones first.
    #[must_use]
    pub fn all_parameters(&self) -> Vec<(String, &Parameter)> {
        let flat = self.parameters.iter().map(|(k, p)| (k.clone(), p));
        let grouped = self.namespaces.iter().flat_map(|(ns, b)| {
            b.parameters
                .iter()
                .map(move |(k, p)| (format!("{ns}.{k}"), p))
        });
        flat.chain(grouped).collect()
    }

    /// The merged schema of `event`, if it is defined.
    #[must_use]
    pub fn schema(&self, event: &str) -> Option<&EventSchema> {
        self.schemas.get(event)
    }
}

impl ProjectFile {
    /// Parses `project.yaml` text; `source` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] with position and key path.
    pub fn from_str_named(text: &str, source: &str) -> Result<Self> {
        let (file, spans) = yaml::parse::<ProjectFile>(text).map_err(|l| invalid(source, l))?;
        let checks = [
            ("version", &file.version, "1.0", true),
            ("org.id", &file.org.id, "org_", false),
            ("project.id", &file.project.id, "proj_", false),
        ];
        for (key, found, want, exact) in checks {
            let reason = if exact && found != want {
                format!("expected {want:?}, found {found:?}")
            } else if !exact && !found.starts_with(want) {
                format!("expected an id starting with {want:?}, found {found:?}")
            } else {
                continue;
            };
            return Err(invalid(source, spans.locate(key, reason)));
        }
        Ok(file)
    }
}

fn invalid(source: &str, l: yaml::Located) -> Error {
    Error::InvalidConfig {
        file: source.to_owned(),
        line: l.line,
        column: l.column,
        key: if l.path.is_empty() {
            "(top level)".to_owned()
        } else {
            l.path
        },
        reason: l.reason,
    }
}
