//! The token server's clock, as its answer tells it: the JWT's `iat`, an `issued_at` field
//! (Apigee's, in milliseconds) and the HTTP `Date`. A JWT's `exp` is a time on that clock,
//! so it is compared with these, never with the host's clock, which may be hours off.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{MAX_LIFETIME, jwt};

/// How far a stated issue time (`iat`, `issued_at`) may be from the answer's `Date` and
/// still be believed: 60 s. Farther, the token may be an old one handed out again, or the
/// field in another unit, and `Date` is used instead.
const PLAUSIBLE_GAP: Duration = Duration::from_secs(60);

/// A host clock farther than this from the server's is warned about, once per process.
const WARN_SKEW: Duration = Duration::from_secs(60);

/// The server's clock when it issued the token, from the first plausible of `iat`,
/// `issued_at` and `date`. A stated issue time (`iat`, `issued_at`) counts when it is before
/// `exp` and at most [`MAX_LIFETIME`] before it; it is preferred to `date` when within
/// [`PLAUSIBLE_GAP`] of it, and also when `date` alone would have the token expired (a
/// gateway's broken `Date` must not refuse every token the server just issued). Farther
/// from a `date` that leaves the token alive, the token may be an old one handed out again,
/// and `date` is used. `None` when the answer tells nothing of the server's clock.
pub(crate) fn reading(
    jwt: Option<jwt::Times>,
    issued_at: Option<SystemTime>,
    date: Option<SystemTime>,
) -> Option<SystemTime> {
    let before_exp = |t: &SystemTime| {
        jwt.is_none_or(|jwt| {
            (jwt.exp.duration_since(*t)).is_ok_and(|left| !left.is_zero() && left <= MAX_LIFETIME)
        })
    };
    let stated = [jwt.and_then(|jwt| jwt.iat), issued_at].map(|t| t.filter(before_exp));
    let first = stated.into_iter().flatten().next();
    let Some(date) = date else {
        return first;
    };
    let near_date =
        |t: &SystemTime| (t.duration_since(date)).unwrap_or_else(|e| e.duration()) <= PLAUSIBLE_GAP;
    // Failing that, `date` if it leaves the token alive, else the first stated time.
    let fallback = first.filter(|_| !before_exp(&date)).unwrap_or(date);
    let near = stated.into_iter().flatten().find(near_date);
    Some(near.unwrap_or(fallback))
}

/// Whether `reading` can be the server's clock for a token whose claims say it expires at
/// `exp` and lives `life`: at most `life` away from [`exp` − `life`, `exp`], when it was
/// issued. Farther (a `Date` of 1970 or of year 9999, a stale `iat`), the reading neither
/// lengthens the token's life nor refuses it: `exp` is read on the host's clock.
pub(crate) fn plausible(reading: SystemTime, exp: SystemTime, life: Duration) -> bool {
    let before_exp = exp.duration_since(reading).unwrap_or_default();
    let after_exp = reading.duration_since(exp).unwrap_or_default();
    before_exp <= life.saturating_mul(2) && after_exp <= life
}

/// An answer's `issued_at`: milliseconds since 1970, as a string of digits or a number.
pub(crate) fn issued_at(extras: &Map<String, Value>) -> Option<SystemTime> {
    let millis = match extras.get("issued_at")? {
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok()?,
        Value::Number(n) => n.as_u64()?,
        _ => return None,
    };
    UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

/// Warns, once per process, when the host's clock is more than [`WARN_SKEW`] off the
/// token server's (`skew_ms` as [`skew_ms`] gives it).
pub(crate) fn warn_if_off(skew_ms: i64) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let off = Duration::from_millis(skew_ms.unsigned_abs());
    if off <= WARN_SKEW || WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let side = if skew_ms > 0 { "ahead of" } else { "behind" };
    let secs = (off.as_millis() + 500) / 1000;
    log::warn!(
        "host clock {secs} s {side} the token server; token lifetimes are read in the \
         server's time"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{shifted, skew_ms};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn iat_then_issued_at_then_date() {
        let jwt = |iat| Some(jwt::Times { exp: at(5000), iat });
        // iat wins when it agrees with Date to within a minute.
        assert_eq!(
            reading(jwt(Some(at(1400))), Some(at(1410)), Some(at(1459))),
            Some(at(1400))
        );
        // An iat far from Date (an old token handed out again): issued_at, then Date.
        assert_eq!(
            reading(jwt(Some(at(100))), Some(at(1410)), Some(at(1459))),
            Some(at(1410))
        );
        assert_eq!(
            reading(jwt(Some(at(100))), None, Some(at(1459))),
            Some(at(1459))
        );
        // An issue time at or after exp, or more than MAX_LIFETIME before it, is not one.
        assert_eq!(
            reading(jwt(Some(at(5000))), Some(at(4000)), None),
            Some(at(4000))
        );
        let ancient = Some(jwt::Times {
            exp: at(400 * 86400),
            iat: Some(at(1)),
        });
        assert_eq!(reading(ancient, None, None), None);
        // Without Date, iat stands alone; without anything, the server's time is unknown.
        assert_eq!(reading(jwt(Some(at(1400))), None, None), Some(at(1400)));
        assert_eq!(reading(jwt(None), None, None), None);
        assert_eq!(reading(None, Some(at(7)), None), Some(at(7)));
        // A Date that would have a token expired which its own iat says was just issued (a
        // gateway's broken clock, a year 9999): iat, not an outage.
        assert_eq!(
            reading(jwt(Some(at(1400))), None, Some(at(253_402_300_799))),
            Some(at(1400))
        );
        assert_eq!(
            reading(jwt(Some(at(1400))), None, Some(at(1400 + 7200))),
            Some(at(1400))
        );
        // Without a stated time, Date is all there is.
        assert_eq!(reading(jwt(None), None, Some(at(9000))), Some(at(9000)));
    }

    #[test]
    fn a_reading_is_plausible_within_the_tokens_life_of_its_issue() {
        let (exp, life) = (at(10_000), Duration::from_secs(3600));
        for (reading, plausible_) in [
            (10_000 - 7200, true),
            (10_000 - 7201, false),
            (10_000, true),
            (10_000 + 3600, true),
            (10_000 + 3601, false),
            (0, false),
            (253_402_300_799, false),
        ] {
            assert_eq!(plausible(at(reading), exp, life), plausible_, "{reading}");
        }
    }

    #[test]
    fn issued_at_is_milliseconds_as_text_or_number() {
        let read = |v: Value| issued_at(&Map::from_iter([("issued_at".to_owned(), v)]));
        let ms = UNIX_EPOCH + Duration::from_millis(1712272706170);
        assert_eq!(read(Value::from("1712272706170")), Some(ms));
        assert_eq!(read(Value::from(1712272706170u64)), Some(ms));
        for bad in [
            Value::from("-1"),
            Value::from("1e3"),
            Value::from(""),
            Value::from(-5),
        ] {
            assert_eq!(read(bad.clone()), None, "{bad}");
        }
        assert_eq!(issued_at(&Map::new()), None);
    }

    #[test]
    fn skew_is_signed_and_shifts_back() {
        assert_eq!(skew_ms(at(7200), at(0)), 7_200_000);
        assert_eq!(skew_ms(at(0), at(7200)), -7_200_000);
        assert_eq!(shifted(at(7200), -7_200_000), at(0));
        assert_eq!(shifted(at(0), 7_200_000), at(7200));
        // The extremes neither panic nor wrap.
        assert!(shifted(at(0), i64::MIN) <= at(0) && shifted(at(0), i64::MAX) >= at(0));
    }
}
