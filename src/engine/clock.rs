//! The run's instant (as-of) and the version it publishes under. Time never moves
//! backwards: an explicit as-of before the input bundle's `version` or the state's
//! `asOf` is refused, a default one (the latest event) never goes before the state's
//! `asOf`, and a bundle that changed gets a `version` later than its input's, so one
//! version string never names two different bundles.

use crate::bundle::BundleDocument;
use crate::error::{Error, Result};
use crate::state::EngineState;
use crate::time::{format_rfc3339, parse_rfc3339, Millis};

/// The run's instant: `explicit` (checked against the inputs), else the latest
/// event time, but not before the state's `asOf`.
///
/// # Errors
///
/// [`Error::AsOf`] for an explicit as-of before the input bundle's version or the
/// state's `asOf`, and when there is no event, no explicit as-of and no state.
/// (The wall clock is not read here: simulations run in their own time. `retrain`
/// checks `--as-of` and the state against the clock, and the event readers
/// quarantine events from the future: [`crate::events::future`].)
pub(super) fn run_as_of(
    explicit: Option<Millis>,
    latest_event: Option<Millis>,
    previous: Option<&EngineState>,
    input: &BundleDocument,
) -> Result<Millis> {
    let err = |reason: String| Error::AsOf { reason };
    let state_as_of = previous.and_then(|s| parse_rfc3339(&s.as_of));
    let Some(t) = explicit else {
        return latest_event.max(state_as_of).ok_or_else(|| {
            err("no event was accepted, so the run has no time: pass --as-of (RFC 3339)".into())
        });
    };
    let bundle_version = parse_rfc3339(&input.bundle().version);
    for (what, floor) in [
        ("the input bundle's version", bundle_version),
        ("the state's asOf", state_as_of),
    ] {
        if let Some(f) = floor.filter(|f| t < *f) {
            return Err(err(format!(
                "as-of {} is before {what} {}: time cannot move backwards (the new bundle's version would be older than its input); give an as-of at or after it",
                format_rfc3339(t),
                format_rfc3339(f)
            )));
        }
    }
    Ok(t)
}

/// The `version` of a bundle changed at `as_of`: `as_of`, or one millisecond after
/// the input's version when `as_of` is not later (a rerun without new events, or an
/// input bundle published after the latest event).
pub(super) fn next_version(as_of: Millis, input: &BundleDocument) -> String {
    match parse_rfc3339(&input.bundle().version) {
        Some(v) if v >= as_of => format_rfc3339(v + 1),
        _ => format_rfc3339(as_of),
    }
}
