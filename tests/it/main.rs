//! Scenario tests, in one binary so the suite links once.

mod attribution;
mod attribution_kernel;
mod attribution_rules;
mod attribution_units;
mod backends;
mod bundle_io;
mod cli;
mod cli_config;
mod common;
mod config;
mod config_reference;
mod crash;
mod determinism;
mod end_to_end;
mod enforcement;
mod entities;
mod fit;
mod goals;
mod hostile;
mod learners;
mod messages;
mod metrics;
mod ope;
mod policies;
mod publishing;
#[cfg(unix)]
mod races;
mod readers;
mod resolver;
mod simulate;
mod state_compat;
mod trust;
mod typegen;
mod warehouse;
mod warehouse_sql;
mod yardstick;
