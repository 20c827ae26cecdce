//! # bandit-engine
//!
//! The optimization engine of an experimentation platform. It reads what happened
//! (exposure, decision and track events), turns track events into rewards with the
//! platform's attribution rules, fits bandit policies, and republishes the platform's
//! config bundle with new bucket ranges, which SDKs then serve.
//!
//! ```no_run
//! use bandit_engine::{Engine, RetrainInputs, RetrainOptions};
//!
//! let inputs = RetrainInputs::from_paths(
//!     "datasets/demo/.traffical/config.yaml",
//!     "datasets/demo/bundle.json",
//!     &["datasets/demo/events.ndjson"],
//! );
//! let outcome = Engine::new(RetrainOptions::default()).retrain(&inputs)?;
//! for policy in &outcome.report.policies {
//!     println!("{}: {:?}", policy.policy_id, policy.status);
//! }
//! outcome.publish("target/demo-out")?;
//! # Ok::<(), bandit_engine::Error>(())
//! ```
//!
//! The stages, each usable on its own: [`events`] (read and validate) → [`enforce`]
//! (track events against their schemas, undefined events discovered) →
//! [`attribution`] (track events to rewards) → [`policy`] (fit and allocate) →
//! [`state`] (what each policy learned, kept between runs) → [`bundle`] (rewrite) →
//! [`publish`] (guards and atomic writes). [`sdk`] is what an SDK does with a bundle
//! (hash, conditions, resolution), with no polars. [`engine`] strings them together; [`synth`]
//! makes seeded synthetic worlds to test them on; [`codegen`] writes TypeScript types
//! for the config's events; [`replay`] evaluates policies off-policy on logged data;
//! [`fit`] fits one algorithm to a researcher's csv or parquet table. [`algorithm`]
//! names the algorithms and holds their parameters, shared by [`config`], [`policy`],
//! [`fit`] and [`simulate`].
#![warn(missing_docs)]

pub mod algorithm;
pub mod attribution;
pub mod bundle;
pub mod codegen;
pub mod config;
pub mod enforce;
pub mod engine;
mod error;
pub mod events;
pub mod exact;
pub mod fit;
pub mod goal;
pub(crate) mod input;
pub mod linalg;
pub mod memory;
pub mod metrics;
pub mod partition;
pub mod policy;
pub mod progress;
pub mod publish;
pub mod replay;
pub mod reward;
pub mod sdk;
pub mod simulate;
pub mod state;
pub(crate) mod stats;
pub mod synth;
pub(crate) mod text;
pub mod time;
pub(crate) mod timing;
pub mod warehouse;

pub use engine::{Engine, RetrainInputs, RetrainOptions, RetrainOutcome};
pub use error::{Error, ParameterError, Result};
/// The polars the public API takes and returns (`LazyFrame`, `DataFrame`), so a caller
/// uses the same version without naming it in its own `Cargo.toml`.
pub use polars;

/// The README's library example, compiled by `cargo test` so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
