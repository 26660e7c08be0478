//! Timestamps as veto reads and writes them: RFC 3339 with an offset, held as
//! UTC microseconds (the unit Arrow and Parquet use for `timestamp[us, UTC]`).

use chrono::{DateTime, NaiveDate, Utc};

/// Parses an RFC 3339 timestamp that carries an offset (`Z` or `+02:00`).
/// A timestamp without an offset is refused: its instant would be a guess.
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 timestamp with offset ({e}): {s:?}"))
}

/// Parses an ISO 8601 calendar date (`YYYY-MM-DD`).
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|e| format!("not a date YYYY-MM-DD ({e}): {s:?}"))
}

/// UTC microseconds since the Unix epoch.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant for UTC microseconds since the Unix epoch.
pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Days since 1970-01-01 (Arrow `date32`) for a date.
pub fn to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The date for Arrow `date32` days since 1970-01-01.
pub fn from_days(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(days as i64)
}
