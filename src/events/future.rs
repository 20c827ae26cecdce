//! Events stamped too far ahead of the clock. One exposure at `9999-12-31` would
//! otherwise become the run's default as-of, the bundle's `version` and every
//! watermark, and every later warm start would skip all real exposures. Such an
//! event is quarantined like any malformed record (file, line, field `timestamp`).
//!
//! The clock is the machine's: an event more than [`FUTURE_TOLERANCE_MS`] after it
//! is refused. The tolerance absorbs clock skew between the SDKs and this machine;
//! a log whose events are all in the past is read the same at any time, so results
//! stay deterministic.

use std::sync::atomic::{AtomicI64, Ordering};

use super::model::RecordError;
use crate::time::{format_rfc3339, Millis};

/// How far after this machine's clock an event may be stamped: one day.
pub const FUTURE_TOLERANCE_MS: Millis = 24 * 3_600_000;

/// The latest limit computed; the clock only moves forward, so a timestamp below it
/// is accepted without reading the clock again (one atomic load per event).
static LIMIT: AtomicI64 = AtomicI64::new(i64::MIN);

/// The latest timestamp accepted now: the clock plus [`FUTURE_TOLERANCE_MS`].
#[must_use]
pub fn latest_allowed() -> Millis {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
        });
    let limit = now.saturating_add(FUTURE_TOLERANCE_MS);
    LIMIT.fetch_max(limit, Ordering::Relaxed);
    limit
}

/// Refuses an event stamped after [`latest_allowed`].
///
/// # Errors
///
/// A [`RecordError`] on `timestamp` naming the limit.
pub(super) fn check(timestamp: Millis) -> Result<(), RecordError> {
    if timestamp <= LIMIT.load(Ordering::Relaxed) {
        return Ok(());
    }
    let limit = latest_allowed();
    if timestamp <= limit {
        return Ok(());
    }
    Err(RecordError {
        field: "timestamp".into(),
        reason: format!(
            "{} is more than a day after this machine's clock (latest accepted: {}); an event from the future would become the run's as-of, the bundle version and every watermark",
            format_rfc3339(timestamp),
            format_rfc3339(limit)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    #[test]
    fn the_far_future_is_refused_and_the_present_accepted() {
        let far = parse_rfc3339("9999-12-31T23:59:59Z").unwrap();
        let e = check(far).unwrap_err();
        assert_eq!(e.field, "timestamp");
        assert!(e.reason.contains("9999-12-31T23:59:59"), "{}", e.reason);
        let now = latest_allowed() - FUTURE_TOLERANCE_MS;
        assert!(check(now).is_ok());
        assert!(check(now + FUTURE_TOLERANCE_MS / 2).is_ok(), "clock skew");
        assert!(check(now + 2 * FUTURE_TOLERANCE_MS).is_err());
        assert!(check(0).is_ok());
    }
}
