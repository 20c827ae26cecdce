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

mod algorithm;
mod check;
mod entities;
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

pub use entities::{DynamicAllocations, EntityOptimization};
pub use event::{
    EventDefinition, EventSchema, PropertyGroup, PropertySource, ResolvedProperty,
    SchemaEnforcement, ValueType,
};
pub use optimization::{
    Algorithm, AttributionMode, Cap, ContextFeatures, DesiredDirection, Goal, GoalType,
    LinearMethod, OptimizationSpec, UnlinkedEvents, ValueSource,
};
pub use optimization::{AttributionModel, PositionWeights};
pub use parameter::{
    Constraints, IdAndKey, Namespace, Parameter, ParameterType, ProjectBlock, ProjectFile,
    ProjectLink,
};
pub use property::{Pattern, PropertyFormat, PropertySchema, PropertyType};
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
    /// Where each key path is in the file, for errors found later (the cross-check
    /// against a bundle).
    #[serde(skip)]
    pub(crate) spans: yaml::Spans,
}

impl ProjectConfig {
    /// An [`Error::InvalidConfig`] at `key` (a dotted path such as
    /// `optimization.p.control`), placed at its line and column in the file the
    /// config was read from; `source` names that file.
    #[must_use]
    pub fn error_at(&self, source: &str, key: String, reason: String) -> Error {
        let (line, column) = self.spans.position(&key);
        Error::InvalidConfig {
            file: source.to_owned(),
            line,
            column,
            key,
            reason,
        }
    }

    /// Reads and validates a config file, and the `project.yaml` beside it if any.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable, [`Error::InvalidConfig`] with line, column and key
    /// path if either file does not parse or validate, [`Error::InvalidConfigs`] (each
    /// an `InvalidConfig`, in file order) when the config has several problems.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = read_config_text(path)?;
        let mut cfg = Self::from_str_named(&text, &path.display().to_string())?;
        let link = path.with_file_name("project.yaml");
        if link.is_file() {
            let text = read_config_text(&link)?;
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
        let (mut cfg, spans) = match yaml::parse::<ProjectConfig>(text) {
            Ok(parsed) => parsed,
            Err(first) => return Err(many(source, all_errors(text, first))),
        };
        cfg.schemas = check::check(&cfg, &spans).map_err(|e| many(source, e))?;
        cfg.spans = spans;
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

/// The top-level keys of the file, for "did you mean" on an unknown one.
const TOP_LEVEL: &[&str] = &[
    "version",
    "project",
    "parameters",
    "namespaces",
    "propertyGroups",
    "events",
    "optimization",
];

/// Every problem of a file whose whole-file deserialization failed with `first`.
///
/// Each top-level entry, and each named entry of the sections keyed by name, is
/// deserialized on its own, so that one bad node does not hide the others. The
/// entries that deserialize are then checked across nodes ([`check::check`]) as a
/// file of their own, with a stand-in for each event and property group that did
/// not deserialize (so that references to it are not reported as undefined: its
/// own error says what is wrong).
fn all_errors(text: &str, first: yaml::Located) -> Vec<yaml::Located> {
    let mut errs = Vec::new();
    let root = yaml::load(text).ok();
    let (Some(root), Ok((mut partial, _))) = (root, yaml::parse::<ProjectConfig>("{}")) else {
        return vec![first];
    };
    for entry in yaml::entries(&root).unwrap_or_default() {
        read_section(&mut partial, entry, &mut errs);
    }
    if let Err(more) = check::check(&partial, &yaml::spans(&root)) {
        errs.extend(more);
    }
    if !errs.contains(&first) {
        errs.push(first);
    }
    errs.sort_by_key(|e| (e.line, e.column));
    errs.dedup();
    errs
}

/// Deserializes one top-level entry of the file into `partial`, collecting its
/// errors; an entry of a section keyed by name that fails is left out, or for events
/// and property groups replaced by a stand-in that references nothing and breaks no
/// rule.
fn read_section(
    partial: &mut ProjectConfig,
    (key, (line, column), node): yaml::Entry<'_, '_>,
    errs: &mut Vec<yaml::Located>,
) {
    let stand_in_event = || {
        yaml::parse::<EventDefinition>("valueType: count")
            .map(|(e, _)| e)
            .ok()
    };
    let stand_in_group = || {
        yaml::parse::<PropertyGroup>("properties: {}")
            .map(|(g, _)| g)
            .ok()
    };
    let mut single = |r: std::result::Result<(), yaml::Located>| {
        if let Err(e) = r {
            errs.push(e);
        }
    };
    match key.as_str() {
        "version" => {
            single(yaml::deserialize_at::<Option<String>>(node, &key).map(|v| partial.version = v))
        }
        "project" => single(
            yaml::deserialize_at::<Option<ProjectBlock>>(node, &key).map(|v| partial.project = v),
        ),
        "parameters" => each_entry::<Parameter>(node, &key, errs, |k, v| {
            if let Some(v) = v {
                partial.parameters.insert(k, v);
            }
        }),
        "namespaces" => each_entry::<Namespace>(node, &key, errs, |k, v| {
            if let Some(v) = v {
                partial.namespaces.insert(k, v);
            }
        }),
        "propertyGroups" => each_entry::<PropertyGroup>(node, &key, errs, |k, v| {
            if let Some(v) = v.or_else(stand_in_group) {
                partial.property_groups.insert(k, v);
            }
        }),
        "events" => each_entry::<EventDefinition>(node, &key, errs, |k, v| {
            if let Some(v) = v.or_else(stand_in_event) {
                partial.events.insert(k, v);
            }
        }),
        "optimization" => each_entry::<OptimizationSpec>(node, &key, errs, |k, v| {
            if let Some(v) = v {
                partial.optimization.insert(k, v);
            }
        }),
        other => errs.push(yaml::Located {
            path: other.to_owned(),
            line,
            column,
            reason: yaml::unknown("key", other, TOP_LEVEL),
        }),
    }
}

/// Deserializes each named entry of a section on its own, handing `keep` the value
/// or `None` for an entry that failed (its error collected); a section that is not
/// a mapping is one error.
fn each_entry<T: serde::de::DeserializeOwned>(
    node: &saphyr::MarkedYaml<'_>,
    section: &str,
    errs: &mut Vec<yaml::Located>,
    mut keep: impl FnMut(String, Option<T>),
) {
    match yaml::entries(node) {
        Some(entries) => {
            for (name, _, n) in entries {
                match yaml::deserialize_at::<T>(n, &yaml::join(section, &name)) {
                    Ok(v) => keep(name, Some(v)),
                    Err(e) => {
                        errs.push(e);
                        keep(name, None);
                    }
                }
            }
        }
        None => {
            if let Err(e) = yaml::deserialize_at::<IndexMap<String, T>>(node, section) {
                errs.push(e);
            }
        }
    }
}

/// One problem as [`Error::InvalidConfig`], several as [`Error::InvalidConfigs`].
fn many(source: &str, mut errs: Vec<yaml::Located>) -> Error {
    if errs.len() == 1 {
        return invalid(source, errs.remove(0));
    }
    Error::InvalidConfigs {
        errors: errs.into_iter().map(|l| invalid(source, l)).collect(),
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

/// Positions of the key paths of a YAML file read with [`read_yaml_file`].
pub(crate) type YamlSpans = yaml::Spans;

/// Reads another YAML file of the engine's (`.traffical/warehouse.yaml`) into `T`
/// with this file's rules (typed, unknown keys refused with "did you mean", errors at
/// file:line:column with the key path); its spans place later checks' errors.
///
/// # Errors
///
/// [`Error::Io`] if unreadable, [`Error::InvalidConfig`] if it does not parse.
pub(crate) fn read_yaml_file<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, YamlSpans)> {
    let text = read_config_text(path)?;
    yaml::parse::<T>(&text).map_err(|l| invalid(&path.display().to_string(), l))
}

/// An [`Error::InvalidConfig`] at `key` of a file read with [`read_yaml_file`].
pub(crate) fn yaml_error(source: &str, spans: &YamlSpans, key: &str, reason: String) -> Error {
    invalid(source, spans.locate(key, reason))
}

/// A config file's text, bounded and checked as UTF-8 (see [`crate::input`]).
fn read_config_text(path: &Path) -> Result<String> {
    crate::input::read_text(path, crate::input::MAX_CONFIG_BYTES)
        .map_err(|e| Error::io(path, e))?
        .map_err(|p| {
            let (line, column) = p.place();
            Error::InvalidConfig {
                file: path.display().to_string(),
                line,
                column,
                key: "(top level)".to_owned(),
                reason: p.reason("a config"),
            }
        })
}
