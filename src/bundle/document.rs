//! A bundle as read: the original JSON (key order kept) plus its typed view.
//!
//! The engine owns a few fields: allocation `bucketRange`s of adaptive policies, a
//! policy's `stateVersion` and `contextualModel`, the top-level `entityState`, and the
//! bundle `version`. Edits go through the methods here, which patch the original JSON
//! in place, so every other field comes out exactly as it came in.

use std::path::Path;

use serde_json::Value;

use super::model::{Bundle, BundleLayer, Policy};
use crate::error::{Error, Result};

/// A policy of a [`BundleDocument`], taken with [`BundleDocument::policy_ref`]: what
/// the setters take instead of raw indices, so an edit names the policy it means and
/// a reference from another bundle is refused instead of editing the wrong policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRef {
    layer: usize,
    index: usize,
    id: String,
}

impl PolicyRef {
    /// The policy's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A bundle: original JSON and typed view, kept in step.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleDocument {
    raw: Value,
    bundle: Bundle,
    source: String,
}

fn invalid(source: &str, key: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidBundle {
        file: source.to_owned(),
        key: key.into(),
        reason: reason.into(),
    }
}

impl BundleDocument {
    /// Reads and checks a bundle file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable; [`Error::InvalidBundle`] naming the JSON path of
    /// the first problem if it is not a valid bundle.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let text = crate::input::read_text(path, crate::input::MAX_BUNDLE_BYTES)
            .map_err(|e| Error::io(path, e))?
            .map_err(|p| {
                let key = match p.place() {
                    (0, _) => "bundle".to_owned(),
                    (line, column) => format!("line {line} column {column}"),
                };
                invalid(&source, key, p.reason("a bundle"))
            })?;
        Self::from_str_named(&text, &source)
    }

    /// Parses and checks a bundle from text; `source` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBundle`] as [`BundleDocument::from_path`].
    pub fn from_str_named(text: &str, source: &str) -> Result<Self> {
        // A UTF-8 byte-order mark (Windows editors write one) is not JSON but carries
        // no content; the csv, YAML and ndjson readers skip it too.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let raw: Value = serde_json::from_str(text).map_err(|e| {
            invalid(
                source,
                format!("line {} column {}", e.line(), e.column()),
                format!("not valid JSON: {e}"),
            )
        })?;
        if let Some(key) = crate::input::duplicate_json_key(text) {
            return Err(invalid(
                source,
                key,
                "named twice in one object; JSON readers disagree on which one counts, so the bundle is ambiguous: keep one",
            ));
        }
        Self::from_value(raw, source)
    }

    /// Checks a bundle already parsed as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBundle`] as [`BundleDocument::from_path`].
    pub fn from_value(raw: Value, source: &str) -> Result<Self> {
        let bundle: Bundle = serde_path_to_error::deserialize(&raw).map_err(|e| {
            let path = e.path().to_string();
            invalid(
                source,
                if path == "." {
                    "bundle".to_owned()
                } else {
                    path
                },
                e.into_inner().to_string(),
            )
        })?;
        check(&bundle, source)?;
        Ok(Self {
            raw,
            bundle,
            source: source.to_owned(),
        })
    }

    /// The typed view.
    #[must_use]
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The JSON as it would be written.
    #[must_use]
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// Where the bundle came from.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Finds a policy by id: `(layer index, policy index)`.
    #[must_use]
    pub fn find_policy(&self, policy_id: &str) -> Option<(usize, usize)> {
        self.bundle.layers.iter().enumerate().find_map(|(li, l)| {
            l.policies
                .iter()
                .position(|p| p.id == policy_id)
                .map(|pi| (li, pi))
        })
    }

    /// A reference to the policy `policy_id`, for the setters; `None` when the bundle
    /// has no such policy.
    #[must_use]
    pub fn policy_ref(&self, policy_id: &str) -> Option<PolicyRef> {
        self.find_policy(policy_id).map(|(layer, index)| PolicyRef {
            layer,
            index,
            id: policy_id.to_owned(),
        })
    }

    /// The policy a reference names.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBundle`] when the reference was taken from another bundle that
    /// has the policy elsewhere (or not at all).
    pub fn policy(&self, r: &PolicyRef) -> Result<&Policy> {
        self.check_ref(r)?;
        Ok(&self.bundle.layers[r.layer].policies[r.index])
    }

    /// The layer of the policy a reference names.
    ///
    /// # Errors
    ///
    /// As [`BundleDocument::policy`].
    pub fn layer_of(&self, r: &PolicyRef) -> Result<&BundleLayer> {
        self.check_ref(r)?;
        Ok(&self.bundle.layers[r.layer])
    }

    fn check_ref(&self, r: &PolicyRef) -> Result<()> {
        let here = self
            .bundle
            .layers
            .get(r.layer)
            .and_then(|l| l.policies.get(r.index))
            .is_some_and(|p| p.id == r.id);
        if here {
            Ok(())
        } else {
            Err(invalid(
                &self.source,
                format!("policy {}", r.id),
                "the policy reference was taken from another bundle; take it from this one with policy_ref",
            ))
        }
    }

    fn raw_policy(&mut self, li: usize, pi: usize) -> &mut serde_json::Map<String, Value> {
        self.raw["layers"][li]["policies"][pi]
            .as_object_mut()
            .expect("a checked bundle's policies are objects")
    }

    /// Replaces the bucket ranges of a policy's allocations, in allocation order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBundle`] if the count differs from the allocations' or the new
    /// bundle would not pass its checks; the document is then unchanged.
    pub fn set_bucket_ranges(&mut self, r: &PolicyRef, ranges: &[[u32; 2]]) -> Result<()> {
        self.check_ref(r)?;
        let (li, pi) = (r.layer, r.index);
        let mut next = self.bundle.clone();
        let policy = &mut next.layers[li].policies[pi];
        if ranges.len() != policy.allocations.len() {
            return Err(invalid(
                &self.source,
                format!("layers[{li}].policies[{pi}].allocations"),
                format!(
                    "{} ranges for {} allocations",
                    ranges.len(),
                    policy.allocations.len()
                ),
            ));
        }
        for (a, r) in policy.allocations.iter_mut().zip(ranges) {
            a.bucket_range = *r;
        }
        check(&next, &self.source)?;
        self.bundle = next;
        let allocations = self.raw_policy(li, pi)["allocations"]
            .as_array_mut()
            .expect("a checked policy's allocations are an array");
        for (a, r) in allocations.iter_mut().zip(ranges) {
            a["bucketRange"] = serde_json::json!([r[0], r[1]]);
        }
        Ok(())
    }

    /// Sets a policy's `stateVersion` (added after the last key when absent).
    ///
    /// # Errors
    ///
    /// As [`BundleDocument::policy`]; the document is then unchanged.
    pub fn set_state_version(&mut self, r: &PolicyRef, version: &str) -> Result<()> {
        self.check_ref(r)?;
        let (li, pi) = (r.layer, r.index);
        self.bundle.layers[li].policies[pi].state_version = Some(version.to_owned());
        self.raw_policy(li, pi)
            .insert("stateVersion".into(), Value::String(version.to_owned()));
        Ok(())
    }

    /// Replaces a policy's `contextualModel` (`linear_contextual` policies).
    ///
    /// # Errors
    ///
    /// As [`BundleDocument::policy`]; the document is then unchanged.
    pub fn set_contextual_model(&mut self, r: &PolicyRef, model: Value) -> Result<()> {
        self.check_ref(r)?;
        let (li, pi) = (r.layer, r.index);
        self.bundle.layers[li].policies[pi].contextual_model = Some(model.clone());
        self.raw_policy(li, pi)
            .insert("contextualModel".into(), model);
        Ok(())
    }

    /// Sets one policy's entry of the top-level `entityState` (the object is added
    /// after the last key when absent; other policies' entries stay as they are).
    pub fn set_entity_state(&mut self, policy_id: &str, state: super::model::EntityPolicyState) {
        let value = serde_json::to_value(&state).expect("entity state serialises");
        self.bundle
            .entity_state
            .get_or_insert_with(Default::default)
            .insert(policy_id.to_owned(), state);
        let root = self
            .raw
            .as_object_mut()
            .expect("a checked bundle is an object");
        let slot = root
            .entry("entityState")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(serde_json::Map::new());
        }
        slot.as_object_mut()
            .expect("made an object above")
            .insert(policy_id.to_owned(), value);
    }

    /// Sets the bundle `version`.
    pub fn set_version(&mut self, version: &str) {
        self.bundle.version = version.to_owned();
        self.raw["version"] = Value::String(version.to_owned());
    }

    /// The bundle as the engine writes it: pretty JSON, two-space indent, keys in
    /// their original order, a final newline.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        let mut s =
            serde_json::to_string_pretty(&self.raw).expect("serde_json::Value always serialises");
        s.push('\n');
        s
    }
}

/// Checks what the schema cannot say: ranges inside `[0, bucketCount)` with
/// `start <= end`, no two allocations of a policy overlapping, unique allocation names
/// and policy ids, eligible spans in range.
fn check(b: &Bundle, source: &str) -> Result<()> {
    let n = b.hashing.bucket_count;
    if n == 0 {
        return Err(invalid(source, "hashing.bucketCount", "must be at least 1"));
    }
    let mut policy_ids = std::collections::HashSet::new();
    for (li, layer) in b.layers.iter().enumerate() {
        for (pi, p) in layer.policies.iter().enumerate() {
            let at = format!("layers[{li}].policies[{pi}]");
            if !policy_ids.insert(p.id.as_str()) {
                return Err(invalid(
                    source,
                    format!("{at}.id"),
                    format!("policy id \"{}\" appears twice", p.id),
                ));
            }
            if let Some(span) = p.eligible_bucket_range {
                if span.start > span.end || span.end >= n {
                    return Err(invalid(
                        source,
                        format!("{at}.eligibleBucketRange"),
                        format!(
                            "{{start: {}, end: {}}} is not a span of [0, {n})",
                            span.start, span.end
                        ),
                    ));
                }
            }
            let mut names = std::collections::HashSet::new();
            let mut sorted: Vec<(u32, u32, usize)> = Vec::new();
            for (ai, a) in p.allocations.iter().enumerate() {
                let [s, e] = a.bucket_range;
                if s > e || e >= n {
                    return Err(invalid(
                        source,
                        format!("{at}.allocations[{ai}].bucketRange"),
                        format!("[{s}, {e}] is not an inclusive range of [0, {n})"),
                    ));
                }
                if !names.insert(a.name.as_str()) {
                    return Err(invalid(
                        source,
                        format!("{at}.allocations[{ai}].name"),
                        format!(
                            "allocation name \"{}\" appears twice in policy \"{}\"",
                            a.name, p.id
                        ),
                    ));
                }
                sorted.push((s, e, ai));
            }
            // Overlaps are legal for static policies (first match wins) but make an
            // adaptive policy's shares ambiguous, so only adaptive ones are refused.
            if p.kind == super::model::PolicyKind::Adaptive {
                sorted.sort_unstable();
                for w in sorted.windows(2) {
                    if w[1].0 <= w[0].1 {
                        return Err(invalid(
                            source,
                            format!("{at}.allocations[{}].bucketRange", w[1].2),
                            format!(
                                "overlaps allocations[{}] ([{}, {}]) in adaptive policy \"{}\"",
                                w[0].2, w[0].0, w[0].1, p.id
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
