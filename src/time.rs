//! RFC 3339 timestamps as milliseconds since the Unix epoch (UTC).
//!
//! Events carry ISO 8601 / RFC 3339 strings (`2026-05-21T10:30:00Z`,
//! `2026-05-21T10:30:00.123+02:00`). Inside the engine every instant is an `i64` of
//! milliseconds since 1970-01-01T00:00:00Z: cheap to compare, sort and store in a
//! column. Sub-millisecond digits are truncated, as JavaScript's `Date` does.

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, <http://howardhinnant.github.io/date_algorithms.html>).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parses an RFC 3339 date-time (`T` or space separator, optional fraction, `Z` or
/// `±HH:MM` offset; the offset is required, as in the events schema's `date-time`).
///
/// Returns `None` for anything else, including impossible dates such as
/// `2026-02-30`.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = i64::from(digits(b, 0, 4)?);
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let h = i64::from(digits(b, i + 1, 2)?);
            let m = i64::from(digits(b, i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 60 + m;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    // A leap second (:60) is folded onto the next second, as most parsers do.
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
        - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

/// Formats an instant as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the shape JavaScript's
/// `Date.prototype.toISOString` gives and the platform's bundles use.
#[must_use]
pub fn format_rfc3339(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_sdks_send() {
        // 2026-05-21T10:30:00Z = 1779359400 s (checked with `date -u -d ... +%s`).
        assert_eq!(
            parse_rfc3339("2026-05-21T10:30:00Z"),
            Some(1_779_359_400_000)
        );
        assert_eq!(
            parse_rfc3339("2026-05-21T10:30:00.123Z"),
            Some(1_779_359_400_123)
        );
        assert_eq!(
            parse_rfc3339("2026-05-21T10:30:00.1239Z"),
            Some(1_779_359_400_123)
        );
        assert_eq!(
            parse_rfc3339("2026-05-21T12:30:00+02:00"),
            Some(1_779_359_400_000)
        );
        assert_eq!(
            parse_rfc3339("2026-05-21 10:30:00.5-00:30"),
            Some(1_779_361_200_500)
        );
    }

    #[test]
    fn rejects_what_is_not_a_date_time() {
        for bad in [
            "2026-05-21",
            "2026-05-21T10:30:00",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-05-21T24:00:00Z",
            "2026-05-21T10:30:00.Z",
            "yesterday at noon!!",
            "2026-05-21T10:30:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        for ms in [0, 1_779_359_400_123, -86_400_001, 951_782_400_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
        assert_eq!(format_rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
