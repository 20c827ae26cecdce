//! The platform side: `Resolver` (what an SDK serves), `metrics` and `retrain` on a
//! config, a bundle and events given as files or frames.

use std::path::PathBuf;

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::AttributionMode;
use bandit_engine::metrics::AnalysisUnit;
use bandit_engine::polars::prelude::*;
use bandit_engine::sdk::model::Bundle;
use bandit_engine::sdk::{HashContract, Resolver as SdkResolver};
use bandit_engine::state::EngineState;
use bandit_engine::time::parse_rfc3339;
use bandit_engine::{Engine, Error, RetrainInputs, RetrainOptions, RetrainOutcome};
use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::arrow::{import_frame, ArrowFrame};
use crate::errors::{run, value_error, BanditEngineError};
use crate::progress::Reporter;
use crate::records::{contexts_of_frame, frame_of_records};

/// A bundle given as a path, or as its JSON text (`{...}`).
fn bundle_document(bundle: &str) -> bandit_engine::Result<BundleDocument> {
    if bundle.trim_start().starts_with('{') {
        BundleDocument::from_str_named(bundle, "<bundle>")
    } else {
        BundleDocument::from_path(bundle)
    }
}

/// What an SDK serves for a context, with the same resolver the conformance vectors check.
#[pyclass(module = "bandit_engine._native", frozen)]
pub struct Resolver {
    bundle: Bundle,
    contract: HashContract,
}

impl Resolver {
    fn resolver(&self) -> PyResult<SdkResolver<'_>> {
        SdkResolver::new(&self.bundle, self.contract).map_err(|e| {
            BanditEngineError::new_err(format!("cannot resolve with this bundle: {e}"))
        })
    }

    fn resolve_one(r: &SdkResolver<'_>, ctx: &Map<String, Value>) -> PyResult<Value> {
        r.resolve(ctx)
            .map(|res| res.to_json())
            .map_err(|e| BanditEngineError::new_err(e.to_string()))
    }
}

#[pymethods]
impl Resolver {
    /// A resolver for `bundle` (a path, or the bundle's JSON text); `hash` is the SDKs'
    /// assignment hash, `sha256-v2` (default) or `fnv1a-v1`.
    #[new]
    #[pyo3(signature = (bundle, hash="sha256-v2"))]
    fn new(py: Python<'_>, bundle: &str, hash: &str) -> PyResult<Self> {
        let contract = match hash {
            "sha256-v2" => HashContract::Sha256V2,
            "fnv1a-v1" => HashContract::Fnv1aV1,
            other => {
                return Err(value_error(format!(
                    "unknown hash {other:?}: sha256-v2 or fnv1a-v1"
                )))
            }
        };
        let doc = run(py, || bundle_document(bundle))?;
        let r = Self {
            bundle: doc.bundle().clone(),
            contract,
        };
        r.resolver()?;
        Ok(r)
    }

    /// One context (a JSON object's text) resolved: `{"assignments": ..., "layers": [...]}`
    /// as JSON text.
    fn resolve_json(&self, context: &str) -> PyResult<String> {
        let ctx: Map<String, Value> = serde_json::from_str(context)
            .map_err(|e| value_error(format!("a context is a JSON object: {e}")))?;
        Ok(Self::resolve_one(&self.resolver()?, &ctx)?.to_string())
    }

    /// Each row of `frame` as a context: one row out per row in, with the unit key value
    /// and every assigned parameter as columns.
    fn resolve_many(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<ArrowFrame> {
        let df = import_frame(frame)?;
        let contexts = contexts_of_frame(&df)?;
        let r = self.resolver()?;
        let rows = py.detach(|| {
            contexts
                .iter()
                .map(|ctx| {
                    let res = r.resolve(ctx).map_err(|e| e.to_string())?;
                    let mut row = Map::new();
                    row.insert("unitKeyValue".into(), res.unit_key_value.clone().into());
                    row.extend(res.assignments);
                    Ok(row)
                })
                .collect::<Result<Vec<_>, String>>()
        });
        let rows = rows.map_err(BanditEngineError::new_err)?;
        Ok(ArrowFrame::new(frame_of_records(&rows)?))
    }
}

/// Events given as paths; a frame is written to a parquet file in `dir` first (the flat
/// event layout `bandit-engine convert` writes), so the readers and their quarantine
/// see a file with rows to name.
fn event_paths(events: &Bound<'_, PyAny>, dir: &tempfile::TempDir) -> PyResult<Vec<PathBuf>> {
    let items: Vec<Bound<'_, PyAny>> = if events.is_instance_of::<pyo3::types::PyList>()
        || events.is_instance_of::<pyo3::types::PyTuple>()
    {
        events.try_iter()?.collect::<PyResult<_>>()?
    } else {
        vec![events.clone()]
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if let Ok(p) = item.extract::<PathBuf>() {
                return Ok(p);
            }
            let mut df = import_frame(item)?;
            let path = dir.path().join(format!("frame-{i}.parquet"));
            let file = std::fs::File::create(&path)
                .map_err(|e| value_error(format!("{}: {e}", path.display())))?;
            ParquetWriter::new(file)
                .finish(&mut df)
                .map_err(|e| value_error(format!("writing events frame {i}: {e}")))?;
            Ok(path)
        })
        .collect()
}

fn mode(attribution: Option<&str>) -> PyResult<Option<AttributionMode>> {
    match attribution {
        None => Ok(None),
        Some("decision") => Ok(Some(AttributionMode::Decision)),
        Some("cumulative") => Ok(Some(AttributionMode::Cumulative)),
        Some(other) => Err(value_error(format!(
            "unknown attribution {other:?}: decision or cumulative"
        ))),
    }
}

/// `metrics(config, bundle, events, ...)` → per-allocation rows (the CLI's `--json`).
#[pyfunction]
#[pyo3(signature = (config, bundle, events, attribution=None, per="unit", by_context=None, population="exposed", progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn metrics(
    py: Python<'_>,
    config: PathBuf,
    bundle: PathBuf,
    events: &Bound<'_, PyAny>,
    attribution: Option<&str>,
    per: &str,
    by_context: Option<Vec<String>>,
    population: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<ArrowFrame> {
    let reporter = Reporter::new(progress);
    let per = match per {
        "unit" => AnalysisUnit::Unit,
        "decision" => AnalysisUnit::Decision,
        other => {
            return Err(value_error(format!(
                "unknown per {other:?}: unit or decision"
            )))
        }
    };
    let population = match population {
        "exposed" => bandit_engine::attribution::Population::Exposed,
        "assigned" => bandit_engine::attribution::Population::Assigned,
        other => {
            return Err(value_error(format!(
                "unknown population {other:?}: exposed or assigned"
            )))
        }
    };
    let dir = tempfile::tempdir().map_err(|e| value_error(e.to_string()))?;
    let inputs = RetrainInputs {
        config,
        bundle,
        events: event_paths(events, &dir)?,
    };
    let options = RetrainOptions {
        attribution: mode(attribution)?,
        population,
        ..RetrainOptions::default()
    };
    let keys = by_context.unwrap_or_default();
    let rows = run(py, || {
        let (policies, _, _) = Engine::new(options)
            .with_progress(reporter.get())
            .metrics_per(&inputs, &keys, per)?;
        let mut rows = Vec::new();
        for row in policies
            .iter()
            .flat_map(|p| p.allocations.iter().chain(&p.breakdowns))
        {
            match serde_json::to_value(row) {
                Ok(Value::Object(m)) => rows.push(m),
                _ => unreachable!("an allocation row serialises to an object"),
            }
        }
        Ok(rows)
    })?;
    Ok(ArrowFrame::new(frame_of_records(&rows)?))
}

/// A retrain's result: the new bundle, state and report, publishable.
#[pyclass(module = "bandit_engine._native", frozen)]
pub struct Outcome {
    outcome: RetrainOutcome,
}

#[pymethods]
impl Outcome {
    /// The new bundle's JSON text (input key order kept).
    #[getter]
    fn bundle_json(&self) -> String {
        self.outcome.bundle.to_json_pretty()
    }

    /// The new state's JSON text (what `--state` reads next time).
    #[getter]
    fn state_json(&self) -> PyResult<String> {
        self.outcome
            .state
            .to_json_pretty()
            .map_err(crate::errors::to_py)
    }

    /// The run report's JSON text (per policy: status, statistics, ranges).
    #[getter]
    fn report_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.outcome.report).map_err(|e| value_error(e.to_string()))
    }

    /// Publishes to `dir` (versioned, atomic, guarded; locked while writing): the paths
    /// written, and the version number.
    fn publish(&self, py: Python<'_>, dir: PathBuf) -> PyResult<(u64, Vec<(String, String)>)> {
        let p = run(py, || self.outcome.publish(&dir))?;
        let mut files = vec![
            ("bundle", p.bundle),
            ("report", p.report),
            ("quarantine", p.quarantine),
            ("discovered", p.discovered),
            ("state", p.state),
        ];
        if let Some(w) = p.entity_weights {
            files.push(("entity_weights", w));
        }
        Ok((
            p.version,
            files
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.display().to_string()))
                .collect(),
        ))
    }
}

/// `retrain(config, bundle, events, state=None, as_of=None, seed=0, ...)`.
#[pyfunction]
#[pyo3(signature = (config, bundle, events, state=None, as_of=None, seed=0, strict=false, attribution=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn retrain(
    py: Python<'_>,
    config: PathBuf,
    bundle: PathBuf,
    events: &Bound<'_, PyAny>,
    state: Option<PathBuf>,
    as_of: Option<&str>,
    seed: u64,
    strict: bool,
    attribution: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Outcome> {
    let reporter = Reporter::new(progress);
    let as_of = as_of
        .map(|s| {
            parse_rfc3339(s).ok_or_else(|| {
                crate::errors::to_py(Error::AsOf {
                    reason: format!(
                        "as_of {s:?} is not an RFC 3339 time such as 2026-11-25T12:00:00Z"
                    ),
                })
            })
        })
        .transpose()?;
    let dir = tempfile::tempdir().map_err(|e| value_error(e.to_string()))?;
    let inputs = RetrainInputs {
        config,
        bundle,
        events: event_paths(events, &dir)?,
    };
    let options = RetrainOptions {
        as_of,
        seed,
        strict,
        attribution: mode(attribution)?,
        ..RetrainOptions::default()
    };
    let outcome = run(py, || {
        let previous = state.as_ref().map(EngineState::from_path).transpose()?;
        Engine::new(options)
            .with_progress(reporter.get())
            .with_state(previous)
            .retrain(&inputs)
    })?;
    Ok(Outcome { outcome })
}
