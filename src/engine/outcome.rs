//! What a run produced, in memory, and publishing it as one version of an output
//! directory.

use std::path::{Path, PathBuf};

use super::report::RunReport;
use crate::bundle::BundleDocument;
use crate::enforce::Discovered;
use crate::error::Result;
use crate::events::{LoadReport, Rejected};
use crate::publish::{Lock, PublishOptions, Store};
use crate::state::EngineState;

/// What a run produced, in memory; [`RetrainOutcome::publish`] writes it.
#[derive(Clone, Debug)]
pub struct RetrainOutcome {
    /// The new bundle (unchanged if no policy was updated).
    pub bundle: BundleDocument,
    /// The run report.
    pub report: RunReport,
    /// Load counts.
    pub load: LoadReport,
    /// Quarantined records.
    pub rejected: Vec<Rejected>,
    /// Track events without a definition, described.
    pub discovered: Discovered,
    /// The bundle the run started from: publishing checks the new one against it.
    pub input_bundle: BundleDocument,
    /// The engine state after this run (it names the new bundle's SHA-256).
    pub state: EngineState,
}

/// Paths [`RetrainOutcome::publish`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The bundle.
    pub bundle: PathBuf,
    /// The run report (JSON).
    pub report: PathBuf,
    /// The quarantine (ndjson).
    pub quarantine: PathBuf,
    /// The discovered event definitions (YAML).
    pub discovered: PathBuf,
    /// The engine state.
    pub state: PathBuf,
    /// `entity_weights.json` in the current version's directory, when the bundle
    /// has an `entityState` (the same object, in the shape the platform's edge
    /// resolution and the SDK spec's fixtures use).
    pub entity_weights: Option<PathBuf>,
    /// The version number in the output directory ([`Store`]).
    pub version: u64,
}

impl RetrainOutcome {
    /// Publishes the run into `dir` as one new version ([`Store`]): `bundle.json`,
    /// `state.json`, `report.json`, `quarantine.ndjson` and `discovered.yaml`, with
    /// the previous versions kept for rollback. Returns the top-level paths (links to
    /// the current version).
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] if the bundle fails a publishing guard
    /// ([`crate::publish::guard`]); [`Error::Locked`] if another process is publishing to
    /// `dir`; [`Error::Io`]. On any error the version in place stays current.
    pub fn publish(&self, dir: impl AsRef<Path>) -> Result<Published> {
        self.publish_with(dir, PublishOptions::default())
    }

    /// [`RetrainOutcome::publish`] with explicit options.
    ///
    /// # Errors
    ///
    /// As [`RetrainOutcome::publish`].
    pub fn publish_with(
        &self,
        dir: impl AsRef<Path>,
        options: PublishOptions,
    ) -> Result<Published> {
        let store = Store::new(dir.as_ref());
        let lock = store.lock()?;
        self.publish_locked(&store, &lock, options)
    }

    /// Publishes into `store` under a lock the caller took **before reading the
    /// inputs** (the bundle and state this run started from), so no other publisher
    /// can have replaced them meanwhile: that is how `retrain` avoids lost updates.
    /// [`RetrainOutcome::publish_with`] takes the lock only here, which is safe only
    /// when nothing else publishes to the directory.
    ///
    /// # Errors
    ///
    /// As [`RetrainOutcome::publish`]; [`Error::Locked`](crate::Error::Locked) also
    /// when `current` moved since the lock was taken.
    pub fn publish_locked(
        &self,
        store: &Store,
        lock: &Lock,
        options: PublishOptions,
    ) -> Result<Published> {
        let dir = store.dir();
        let bundle_text = self.checked_bundle_text(&dir.join("bundle.json"))?;
        let state_text = self.state.to_json_pretty()?;
        let mut report = serde_json::to_string_pretty(&self.report).expect("the report serialises");
        report.push('\n');
        let quarantine = quarantine_bytes(&self.rejected);
        let discovered = self.discovered.to_yaml();
        let entity_weights = self.entity_weights_json();
        let mut files: Vec<(&str, &[u8])> = vec![
            ("report.json", report.as_bytes()),
            ("quarantine.ndjson", &quarantine),
            ("discovered.yaml", discovered.as_bytes()),
        ];
        if let Some(w) = &entity_weights {
            files.push(("entity_weights.json", w.as_bytes()));
        }
        let manifest = store.publish(lock, &bundle_text, Some(&state_text), &files, options)?;
        Ok(Published {
            bundle: dir.join("bundle.json"),
            report: dir.join("report.json"),
            quarantine: dir.join("quarantine.ndjson"),
            discovered: dir.join("discovered.yaml"),
            state: dir.join("state.json"),
            entity_weights: entity_weights
                .is_some()
                .then(|| dir.join("current").join("entity_weights.json")),
            version: manifest.version,
        })
    }

    /// The bundle's top-level `entityState` as `entity_weights.json` text (policy id →
    /// `{_global, entities}`), `None` when the bundle has none.
    #[must_use]
    pub fn entity_weights_json(&self) -> Option<String> {
        let v = self.bundle.raw().get("entityState")?;
        let mut s = serde_json::to_string_pretty(v).expect("a JSON value serialises");
        s.push('\n');
        Some(s)
    }

    /// The bundle's text after every publishing guard, as `target` would receive it.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] naming the failed check.
    pub fn checked_bundle_text(&self, target: &Path) -> Result<String> {
        let text = self.bundle.to_json_pretty();
        crate::publish::check_publishable(
            &text,
            Some(&self.input_bundle),
            &target.display().to_string(),
        )?;
        Ok(text)
    }
}

/// The quarantine file's bytes, as [`crate::events::write_quarantine`] writes them: one JSON object
/// per line.
fn quarantine_bytes(rejected: &[Rejected]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rejected {
        serde_json::to_writer(&mut out, r).expect("a rejected record serialises");
        out.push(b'\n');
    }
    out
}
