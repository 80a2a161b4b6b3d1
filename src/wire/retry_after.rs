//! `Retry-After` (RFC 9110 §10.2.3), read strictly: delta-seconds as digits only, or an
//! HTTP-date in one of its three exact forms in GMT. Anything else is no value at all.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest `Retry-After` that is honoured: one hour.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wait a `Retry-After` value asks for, read against `now` and capped at
/// [`MAX_RETRY_AFTER`]; a date in the past is no wait at all. Digits too many for a `u64`
/// are capped like any long wait; a sign, a fraction, a zone other than GMT or any other
/// form is `None` (the caller's own backoff applies).
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim_matches([' ', '\t']);
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else {
        http_date(value)?.duration_since(now).unwrap_or_default()
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

const MONTHS: &str = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec";
const DAYS: &str = "Mon Tue Wed Thu Fri Sat Sun";
const LONG_DAYS: &str = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday";

/// An HTTP-date as a wall-clock time: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime
/// (`Sun Nov  6 08:49:37 1994`) form, each exactly.
pub(crate) fn http_date(value: &str) -> Option<SystemTime> {
    let words: Vec<&str> = value.split(' ').filter(|w| !w.is_empty()).collect();
    let (day, month, year, time) = match words[..] {
        [weekday, day, month, year, time, "GMT"] if day_name(weekday, DAYS, ",") => {
            (digits(day, 2)?, month, digits(year, 4)?, time)
        }
        [weekday, date, time, "GMT"] if day_name(weekday, LONG_DAYS, ",") => {
            let (day, rest) = date.split_once('-')?;
            let (month, year) = rest.split_once('-')?;
            let year = digits(year, 2)?;
            let year = if year < 70 { year + 2000 } else { year + 1900 };
            (digits(day, 2)?, month, year, time)
        }
        [weekday, month, day, time, year] if day_name(weekday, DAYS, "") => {
            let day = digits(day, 1).or_else(|| digits(day, 2))?;
            (day, month, digits(year, 4)?, time)
        }
        _ => return None,
    };
    let month = MONTHS.split(' ').position(|m| m == month)? as u64 + 1;
    let (hour, rest) = time.split_once(':')?;
    let (minute, second) = rest.split_once(':')?;
    let (hour, minute, second) = (digits(hour, 2)?, digits(minute, 2)?, digits(second, 2)?);
    let plausible = year >= 1970 && (1..=31).contains(&day);
    if !plausible || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    // The year from March on, so that a leap day comes last; its months from 0.
    let (y, m) = (year - u64::from(month <= 2), (month + 9) % 12);
    let (era, of_era) = (y / 400, y % 400);
    let of_year = (153 * m + 2) / 5 + day - 1;
    let of_era = of_era * 365 + of_era / 4 - of_era / 100 + of_year;
    let days = (era * 146_097 + of_era).checked_sub(719_468)?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Whether `word` is one of the space-separated `names` followed by exactly `suffix`.
fn day_name(word: &str, names: &str, suffix: &str) -> bool {
    word.strip_suffix(suffix)
        .is_some_and(|w| names.split(' ').any(|name| name == w))
}

/// `text` as a number of exactly `len` ASCII digits.
fn digits(text: &str, len: usize) -> Option<u64> {
    let exact = text.len() == len && text.bytes().all(|b| b.is_ascii_digit());
    exact.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(value: &str) -> Option<u64> {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37
        retry_after(value, now).map(|d| d.as_secs())
    }

    #[test]
    fn seconds_and_each_http_date_form() {
        assert_eq!(wait("120"), Some(120));
        assert_eq!(wait("0"), Some(0));
        assert_eq!(wait("Sun, 06 Nov 1994 08:51:37 GMT"), Some(120));
        assert_eq!(wait("Sunday, 06-Nov-94 08:50:37 GMT"), Some(60));
        assert_eq!(wait("Sun Nov  6 08:49:47 1994"), Some(10));
        assert_eq!(wait("Sat, 05 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(wait("Thu, 01 Jan 2026 00:00:00 GMT"), Some(3600));
    }

    #[test]
    fn long_waits_are_capped_at_an_hour_however_many_digits() {
        assert_eq!(wait("3601"), Some(3600));
        assert_eq!(wait("18446744073709551615"), Some(3600)); // u64::MAX
        assert_eq!(wait("99999999999999999999"), Some(3600)); // 20 digits, past u64
    }

    #[test]
    fn loose_values_are_no_value() {
        for bad in [
            "+120",
            "-5",
            "1.5",
            "120s",
            "0x10",
            "soon",
            "",
            "Sun, 06 Nov 1994 08:51:37 PST",
            "Sun, 06 Nov 1994 08:51:37 +0000",
            "Sun, 06 Nov 1994 08:51:37 UTC",
            "Sun, 06 Nov 1994 08:51:37",
            "Sunday, 06-Nov-94 08:50:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun Nov  6 08:49:47 1994 GMT",
        ] {
            assert_eq!(wait(bad), None, "{bad}");
        }
    }
}
