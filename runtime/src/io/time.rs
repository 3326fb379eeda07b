//! Times as text in, milliseconds since the epoch out, and back: the one place the runtime
//! reads and writes RFC 3339 (events, command-line times, outputs), through chrono.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses an RFC 3339 time (`2024-01-31T12:00:00.250Z`, `...+01:00`, `T` or a space between
/// date and time) to milliseconds since the epoch. Without a zone (`2024-01-31 12:00:00`,
/// seconds optional) the time is UTC. Anything else, or a time chrono cannot represent, is
/// `None`; no text makes it panic or overflow.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(t) {
        return Some(time.timestamp_millis());
    }
    const NAIVE: [&str; 4] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];
    NAIVE.iter().find_map(|f| NaiveDateTime::parse_from_str(t, f).ok()).map(|n| n.and_utc().timestamp_millis())
}

/// An event time as text: milliseconds since the epoch (an integer), or RFC 3339.
pub fn parse_event_time(text: &str) -> Option<i64> {
    let t = text.trim();
    t.parse::<i64>().ok().or_else(|| parse_rfc3339(t))
}

/// Milliseconds since the epoch as RFC 3339 in UTC: `2024-01-31T12:00:00.000Z`; a time past
/// the calendar's range (±262,000 years) as its milliseconds, `<ms>ms`.
pub fn rfc3339(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        // The common years through chrono's RFC 3339 writer (no format string to interpret on
        // every call); the same text as the format below, which writes the others.
        Some(t) if (0..=9999).contains(&chrono::Datelike::year(&t)) => {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(i64::MAX), format!("{}ms", i64::MAX));
    }

    #[test]
    fn the_fast_writer_gives_the_formats_text() {
        // Year 0 to 9999, ends of seconds and days included.
        for ms in [-62_167_219_200_000, 0, 999, 1_000, 86_399_999, 1_700_000_000_123, 253_402_300_799_999] {
            let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
            assert_eq!(rfc3339(ms), t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), "{ms}");
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0, 1_700_000_000_123, -1, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        assert_eq!(parse_rfc3339("2024-01-01 01:00:00"), Some(1_704_070_800_000));
        assert_eq!(parse_rfc3339("2024-01-01T01:00"), Some(1_704_070_800_000));
        assert_eq!(parse_rfc3339("2024-01-01T01:00:00+01:00"), Some(1_704_067_200_000));
        assert_eq!(parse_rfc3339("2024-01-01T01:00:00.5Z"), Some(1_704_070_800_500));
        for bad in
            ["yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T00:00:00.\u{e9}\u{e9}\u{e9}Z", ""]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
