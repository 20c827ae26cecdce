//! Scenario tests, in one binary so the suite links once.

mod bundle_io;
mod common;
mod config;
mod config_reference;
mod end_to_end;
mod readers;
