//! Plausibility checks on the values of an export and an objection file:
//! each check is defined once here, and every path (JSON Lines, a staged
//! copy, Parquet read in place by the query through `validate_fields`, the
//! objection reader) calls the same function. They run per row, so the good
//! path neither allocates nor formats; only an error builds its message.

use chrono::{DateTime, NaiveDate, Utc};

/// 1970-01-01T00:00:00Z in UTC microseconds: the earliest instant accepted.
/// Nothing on these platforms predates the Unix epoch; an earlier instant
/// is a zero or negative placeholder, or a unit mix-up.
pub(crate) const EARLIEST_INSTANT_US: i64 = 0;
/// 2100-01-01T00:00:00Z in UTC microseconds: the first instant refused. A
/// later one is a unit mix-up (milliseconds read as seconds) or a
/// "never" placeholder such as 9999-12-31, which would otherwise read as a
/// real, far-future time to the rules.
pub(crate) const END_INSTANT_US: i64 = 4_102_444_800_000_000;
/// 1900-01-01 as days since 1970-01-01: the earliest birth date accepted.
/// No user of these platforms was born before; earlier dates are
/// placeholders (`0001-01-01`, `1800-01-01`) that would pass as adults.
pub(crate) const EARLIEST_BIRTH_DAYS: i32 = -25_567;

fn rfc3339(us: i64) -> String {
    DateTime::from_timestamp_micros(us).map_or_else(|| format!("{us} µs since 1970"), |t| t.to_rfc3339())
}

/// An instant (UTC microseconds) must lie in [1970-01-01, 2100-01-01).
pub(crate) fn instant_in_range(us: i64) -> Result<(), String> {
    if (EARLIEST_INSTANT_US..END_INSTANT_US).contains(&us) {
        return Ok(());
    }
    Err(format!(
        "{} is outside the accepted range 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z",
        rfc3339(us)
    ))
}

/// An instant as parsed from text, checked the same way.
pub(crate) fn datetime_in_range(t: DateTime<Utc>) -> Result<(), String> {
    instant_in_range(t.timestamp_micros())
}

/// Something cannot end before it began (`deleted_at` before `created_at`;
/// the message names both as `end_field` and `start_field`).
pub(crate) fn not_before(end_field: &str, end_us: i64, start_field: &str, start_us: i64) -> Result<(), String> {
    if end_us >= start_us {
        return Ok(());
    }
    Err(format!(
        "{end_field} {} is before {start_field} {}",
        rfc3339(end_us),
        rfc3339(start_us)
    ))
}

/// A birth date (days since 1970-01-01) must lie from 1900-01-01 up to the
/// build's as-of date: a person not yet born at the as-of cannot be judged
/// at it (their age would be negative), and such a date is a typo or a
/// placeholder in practice.
pub(crate) fn birth_date(days: i32, as_of: NaiveDate) -> Result<(), String> {
    let latest = veto_core::time::to_days(as_of);
    if (EARLIEST_BIRTH_DAYS..=latest).contains(&days) {
        return Ok(());
    }
    // Not `from_days`: a Parquet date32 can lie beyond chrono's range.
    let date = NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days.into())))
        .map_or_else(|| format!("{days} days since 1970-01-01"), |d| d.to_string());
    if days < EARLIEST_BIRTH_DAYS {
        Err(format!("{date} is before 1900-01-01"))
    } else {
        Err(format!("{date} is in the future: after the build's as-of date {as_of}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(s: &str) -> i64 {
        veto_core::time::parse_rfc3339(s).unwrap().timestamp_micros()
    }

    #[test]
    fn the_bounds_are_the_documented_instants() {
        assert_eq!(EARLIEST_INSTANT_US, us("1970-01-01T00:00:00Z"));
        assert_eq!(END_INSTANT_US, us("2100-01-01T00:00:00Z"));
        assert_eq!(
            veto_core::time::from_days(EARLIEST_BIRTH_DAYS),
            NaiveDate::from_ymd_opt(1900, 1, 1).unwrap()
        );
    }

    #[test]
    fn instants_in_and_out_of_range() {
        assert!(instant_in_range(us("1970-01-01T00:00:00Z")).is_ok());
        assert!(instant_in_range(us("2099-12-31T23:59:59.999999Z")).is_ok());
        assert_eq!(
            instant_in_range(us("1969-12-31T23:59:59Z")).unwrap_err(),
            "1969-12-31T23:59:59+00:00 is outside the accepted range 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z"
        );
        assert!(instant_in_range(us("2100-01-01T00:00:00Z")).is_err());
        assert!(instant_in_range(i64::MIN).unwrap_err().contains("µs since 1970"));
    }

    #[test]
    fn birth_dates_from_1900_to_the_as_of() {
        let as_of = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let days = |y, m, d| veto_core::time::to_days(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert!(birth_date(days(1900, 1, 1), as_of).is_ok());
        assert!(birth_date(days(2025, 7, 1), as_of).is_ok());
        assert_eq!(
            birth_date(days(2025, 7, 2), as_of).unwrap_err(),
            "2025-07-02 is in the future: after the build's as-of date 2025-07-01"
        );
        assert_eq!(
            birth_date(days(1899, 12, 31), as_of).unwrap_err(),
            "1899-12-31 is before 1900-01-01"
        );
        assert!(
            birth_date(i32::MAX, as_of)
                .unwrap_err()
                .contains("days since 1970-01-01")
        );
        assert!(birth_date(i32::MIN, as_of).unwrap_err().contains("before 1900-01-01"));
    }
}
