//! The engine's state between runs (`state.json`): what each policy has learned so
//! far and how its allocations moved.
//!
//! ```json
//! {
//!   "format": "bandit-engine/state",
//!   "formatVersion": 1,
//!   "checksum": "sha256:…",
//!   "state": {
//!     "asOf": "2026-11-20T00:00:00.000Z",
//!     "seed": 7,
//!     "bundleVersion": "2026-11-20T00:00:00.000Z",
//!     "bundleSha256": "…",
//!     "policies": {
//!       "policy_checkout_cta": {
//!         "algorithm": "thompson_bernoulli",
//!         "statistics": "purchase/conversion_rate/decision",
//!         "lastStatus": "updated",
//!         "lastUpdated": "2026-11-20T00:00:00.000Z",
//!         "exposuresThrough": "2026-11-19T23:58:12.000Z",
//!         "arms": { "control": { "exposures": 493, "rewardSum": 30.0, "rewardSumSq": 30.0 } },
//!         "allocationHistory": [ { "asOf": "…", "weights": { "control": 0.057 } } ]
//!       }
//!     }
//!   }
//! }
//! ```
//!
//! * `checksum` is the SHA-256 of the compact JSON of `state` as the engine writes it
//!   (fields in the order above, maps sorted by key, floats in shortest round-trip
//!   form). A state whose checksum does not match is refused: it was truncated or
//!   edited.
//! * `bundleSha256` is the SHA-256 of the bundle file published with this state, so
//!   a bundle and a state that do not belong together are detected.
//! * `arms` are the cumulative sufficient statistics the last fit used, counted over
//!   exposures up to `exposuresThrough`. The next run adds only reward rows exposed
//!   after it, so feeding the whole event history every time and feeding only new
//!   events give the same statistics. `statistics` names the goal and attribution
//!   they were computed under; when the config changes either, they are discarded.
//! * `entities` (per-entity policies only) holds each entity's statistics, one line
//!   per entity ([`super::entity_totals`]), added to like `arms`.
//! * `allocationHistory` holds the weights each time they changed (the first entry
//!   is the weights found live), the last [`HISTORY_LIMIT`] entries.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The `format` of a state file.
pub const STATE_FORMAT: &str = "bandit-engine/state";
/// The `formatVersion` this engine writes and reads.
pub const STATE_FORMAT_VERSION: u32 = 1;
/// Entries of `allocationHistory` kept per policy.
pub const HISTORY_LIMIT: usize = 256;

/// Lowercase hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The learning state of every optimised policy after a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineState {
    /// The run's instant.
    pub as_of: String,
    /// The run's master seed.
    pub seed: u64,
    /// `version` of the bundle published with this state.
    pub bundle_version: String,
    /// SHA-256 (hex) of the bundle file published with this state.
    pub bundle_sha256: String,
    /// Per policy id.
    pub policies: BTreeMap<String, PolicyLearning>,
}

/// What the engine knows about one policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyLearning {
    /// Algorithm of the last run.
    pub algorithm: String,
    /// Goal event, goal type and attribution mode the statistics were computed
    /// under (`event/type/mode`).
    pub statistics: String,
    /// Status of the last run (`updated`, `no_change`, ...).
    pub last_status: String,
    /// When the allocations last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// The statistics cover reward rows exposed up to this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposures_through: Option<String>,
    /// Cumulative statistics per allocation name.
    pub arms: BTreeMap<String, ArmTotals>,
    /// Weights over time, oldest first.
    pub allocation_history: Vec<HistoryEntry>,
    /// Per-entity statistics of a per-entity policy ([`super::entity_totals`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<super::entity_totals::EntityTotals>,
    /// Linear statistics of a `linear_contextual` policy, with their feature layout
    /// ([`crate::policy::linear_state`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<crate::policy::linear_state::LinearTotals>,
}

/// Cumulative statistics of one allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArmTotals {
    /// Exposed units (decisions in decision mode).
    pub exposures: u64,
    /// Sum of rewards.
    pub reward_sum: f64,
    /// Sum of squared rewards.
    pub reward_sum_sq: f64,
}

/// The weights in force from an instant on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryEntry {
    /// The run that set them.
    pub as_of: String,
    /// Share of the policy's buckets per allocation name.
    pub weights: BTreeMap<String, f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileOut<'a> {
    format: &'static str,
    format_version: u32,
    checksum: String,
    state: &'a EngineState,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileIn {
    format: String,
    format_version: u32,
    checksum: String,
    state: serde_json::Value,
}

fn invalid(source: &str, key: &str, reason: impl Into<String>) -> Error {
    Error::InvalidState {
        file: source.to_owned(),
        key: key.to_owned(),
        reason: reason.into(),
    }
}

impl EngineState {
    /// The checksum of this state: `sha256:` and the hex SHA-256 of its compact JSON.
    #[must_use]
    pub fn checksum(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("the state serialises");
        format!("sha256:{}", sha256_hex(&canonical))
    }

    /// The file text: pretty JSON with format, version and checksum, final newline.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if a statistic is not finite (JSON cannot hold it).
    pub fn to_json_pretty(&self) -> Result<String> {
        for (id, p) in &self.policies {
            let bad = p
                .arms
                .iter()
                .find(|(_, a)| !(a.reward_sum.is_finite() && a.reward_sum_sq.is_finite()))
                .map(|(n, _)| format!("policies.{id}.arms.{n}"))
                .or_else(|| {
                    p.entities
                        .as_ref()
                        .and_then(super::entity_totals::EntityTotals::first_non_finite)
                        .map(|k| format!("policies.{id}.entities.{k}"))
                })
                .or_else(|| {
                    p.allocation_history.iter().enumerate().find_map(|(i, h)| {
                        h.weights
                            .iter()
                            .find(|(_, w)| !w.is_finite())
                            .map(|(n, _)| {
                                format!("policies.{id}.allocationHistory[{i}].weights.{n}")
                            })
                    })
                });
            if let Some(key) = bad {
                return Err(invalid(
                    "<state>",
                    &key,
                    "not a finite number; refusing to write a state JSON cannot hold",
                ));
            }
        }
        let mut s = serde_json::to_string_pretty(&FileOut {
            format: STATE_FORMAT,
            format_version: STATE_FORMAT_VERSION,
            checksum: self.checksum(),
            state: self,
        })
        .expect("the state serialises");
        s.push('\n');
        Ok(s)
    }

    /// Parses and verifies a state file's text; `source` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if it is not JSON, not a state file, of a newer format
    /// version, malformed (naming the JSON path), or its checksum does not match.
    pub fn from_str_named(text: &str, source: &str) -> Result<Self> {
        // A UTF-8 byte-order mark carries no content (see the bundle reader).
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file: FileIn = serde_json::from_str(text).map_err(|e| {
            invalid(
                source,
                &format!("line {} column {}", e.line(), e.column()),
                format!("not a state file: {e}"),
            )
        })?;
        if file.format != STATE_FORMAT {
            return Err(invalid(
                source,
                "format",
                format!("expected \"{STATE_FORMAT}\", found \"{}\"", file.format),
            ));
        }
        if file.format_version != STATE_FORMAT_VERSION {
            return Err(invalid(
                source,
                "formatVersion",
                format!(
                    "this engine reads version {STATE_FORMAT_VERSION}, the file is version {}; use the bandit-engine that wrote it, or start without --state",
                    file.format_version
                ),
            ));
        }
        let state: EngineState = serde_path_to_error::deserialize(&file.state).map_err(|e| {
            invalid(
                source,
                &format!("state.{}", e.path()),
                e.into_inner().to_string(),
            )
        })?;
        let expected = state.checksum();
        if expected != file.checksum {
            return Err(invalid(
                source,
                "checksum",
                format!(
                    "{} does not match the content ({expected}): the file was truncated or edited; restore it (bandit-engine rollback) or start without --state",
                    file.checksum
                ),
            ));
        }
        Ok(state)
    }

    /// Reads and verifies a state file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable; otherwise as [`EngineState::from_str_named`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let text = crate::input::read_text(path, crate::input::MAX_STATE_BYTES)
            .map_err(|e| Error::io(path, e))?
            .map_err(|p| invalid(&source, "state", p.reason("a state file")))?;
        Self::from_str_named(&text, &source)
    }
}

impl PolicyLearning {
    /// Appends weights to the history, dropping the oldest beyond [`HISTORY_LIMIT`].
    pub fn push_history(&mut self, entry: HistoryEntry) {
        self.allocation_history.push(entry);
        let extra = self.allocation_history.len().saturating_sub(HISTORY_LIMIT);
        self.allocation_history.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample() -> EngineState {
        let mut p = PolicyLearning {
            algorithm: "thompson_bernoulli".into(),
            statistics: "purchase/conversion_rate/decision".into(),
            last_status: "updated".into(),
            last_updated: Some("2026-11-20T00:00:00.000Z".into()),
            exposures_through: Some("2026-11-19T23:00:00.000Z".into()),
            ..Default::default()
        };
        p.arms.insert(
            "control".into(),
            ArmTotals {
                exposures: 10,
                reward_sum: 3.0,
                reward_sum_sq: 3.0,
            },
        );
        p.push_history(HistoryEntry {
            as_of: "2026-11-20T00:00:00.000Z".into(),
            weights: [("control".to_owned(), 0.1)].into_iter().collect(),
        });
        EngineState {
            as_of: "2026-11-20T00:00:00.000Z".into(),
            seed: 7,
            bundle_version: "v".into(),
            bundle_sha256: sha256_hex(b"bundle"),
            policies: [("p".to_owned(), p)].into_iter().collect(),
        }
    }

    #[test]
    fn sha256_of_abc_is_the_fips_180_2_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn an_edited_or_truncated_state_is_refused() {
        let text = sample().to_json_pretty().unwrap();
        assert_eq!(
            EngineState::from_str_named(&text, "s.json").unwrap(),
            sample()
        );
        let edited = text.replace("\"exposures\": 10", "\"exposures\": 11");
        assert_ne!(edited, text);
        let e = EngineState::from_str_named(&edited, "s.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.json: checksum: sha256:"), "{e}");
        let e = EngineState::from_str_named(&text[..text.len() / 2], "s.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a state file"), "{e}");
        let newer = text.replace("\"formatVersion\": 1", "\"formatVersion\": 2");
        let e = EngineState::from_str_named(&newer, "s.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.json: formatVersion: this engine reads version 1"),
            "{e}"
        );
    }

    #[test]
    fn a_non_finite_statistic_is_not_written() {
        let mut s = sample();
        s.policies
            .get_mut("p")
            .unwrap()
            .arms
            .get_mut("control")
            .unwrap()
            .reward_sum = f64::NAN;
        let e = s.to_json_pretty().unwrap_err().to_string();
        assert!(e.contains("policies.p.arms.control"), "{e}");
    }

    #[test]
    fn history_keeps_the_latest_entries() {
        let mut p = PolicyLearning::default();
        for i in 0..HISTORY_LIMIT + 3 {
            p.push_history(HistoryEntry {
                as_of: i.to_string(),
                weights: BTreeMap::new(),
            });
        }
        assert_eq!(p.allocation_history.len(), HISTORY_LIMIT);
        assert_eq!(p.allocation_history[0].as_of, "3");
    }

    proptest! {
        #[test]
        fn state_round_trips_through_its_file(
            seed in any::<u64>(),
            arms in prop::collection::btree_map("[a-z_]{1,8}", (any::<u64>(), -1e12f64..1e12, 0f64..1e24), 0..5),
            weights in prop::collection::vec(0f64..1.0, 0..5),
        ) {
            let mut p = PolicyLearning { algorithm: "ucb1".into(), ..Default::default() };
            for (name, (n, s, q)) in arms {
                p.arms.insert(name, ArmTotals { exposures: n, reward_sum: s, reward_sum_sq: q });
            }
            p.push_history(HistoryEntry {
                as_of: "t".into(),
                weights: weights.iter().enumerate().map(|(i, w)| (format!("a{i}"), *w)).collect(),
            });
            let s = EngineState { seed, policies: [("x".to_owned(), p)].into_iter().collect(), ..Default::default() };
            let text = s.to_json_pretty().unwrap();
            let back = EngineState::from_str_named(&text, "s").unwrap();
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(back.to_json_pretty().unwrap(), text);
        }
    }
}
