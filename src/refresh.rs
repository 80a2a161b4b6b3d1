//! When the cache refreshes a token and how it backs off after failures: pure functions of
//! the times they are given.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant, SystemTime};

use crate::Error;
use crate::token::Validity;

/// The first wait after a failure; it doubles with each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where a token stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Before its refresh time: use it.
    Fresh,
    /// Inside the refresh window but still valid: use it, and refresh it soon.
    Stale,
    /// Past its expiry on either clock: do not use it.
    Expired,
}

/// A token's refresh time: `margin` before its expiry, but never earlier than half-way
/// through its life, so that a short-lived token is still reused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// How long before expiry the token turns stale.
    early: Duration,
    /// `expires_at - early`, on the monotonic clock: before it, a hit is one comparison.
    pub stale_at: Instant,
}

impl Schedule {
    pub fn new(validity: &Validity, margin: Duration) -> Schedule {
        let early = margin.min(validity.lifetime / 2);
        Schedule {
            early,
            stale_at: validity.expires_at() - early,
        }
    }

    /// Where a token of `validity` stands at `now`; `wall` is read only for a JWT.
    #[inline]
    pub fn freshness(
        &self,
        validity: &Validity,
        now: Instant,
        wall: impl FnOnce() -> SystemTime,
    ) -> Freshness {
        let on_monotonic = match now {
            now if now < self.stale_at => Freshness::Fresh,
            now if now < validity.expires_at() => Freshness::Stale,
            _ => return Freshness::Expired,
        };
        let Some(exp) = validity.jwt_expiry else {
            return on_monotonic;
        };
        match exp.duration_since(wall()) {
            Ok(left) if left > self.early => on_monotonic,
            Ok(left) if !left.is_zero() => Freshness::Stale,
            _ => Freshness::Expired,
        }
    }
}

/// 1 s, 2 s, 4 s, … up to [`MAX_BACKOFF`] for the `in_a_row`-th failure; longer if the
/// server `asked` for it.
pub(crate) fn backoff(in_a_row: u32, asked: Option<Duration>) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << in_a_row.clamp(1, 16).saturating_sub(1));
    doubled.min(MAX_BACKOFF).max(asked.unwrap_or_default())
}

/// How long the server asked the client to wait (`Retry-After`), if it did.
pub(crate) fn retry_after(error: &Error) -> Option<Duration> {
    match error {
        Error::EndpointRefused(e) | Error::CredentialsRejected(e) => e.retry_after,
        _ => None,
    }
}

/// A random duration below `max` (zero for zero), from std's randomly keyed hasher.
pub(crate) fn jitter(max: Duration) -> Duration {
    let random = RandomState::new().hash_one(0u8);
    Duration::from_nanos(random % u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_honours_retry_after() {
        let plain = Error::InvalidResponse("x");
        let secs = |n| backoff(n, retry_after(&plain)).as_secs();
        assert_eq!([1, 2, 3, 7, 100].map(secs), [1, 2, 4, 60, 60]);
        let asked = Error::EndpointRefused(Box::new(crate::EndpointError {
            status: 429,
            code: None,
            description: None,
            uri: None,
            retry_after: Some(Duration::from_secs(120)),
        }));
        assert_eq!(backoff(1, retry_after(&asked)), Duration::from_secs(120));
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(5)) < Duration::from_secs(5));
        }
    }

    #[test]
    fn margin_is_capped_at_half_life() {
        let sent = Instant::now();
        let validity = Validity {
            issued_at: sent,
            lifetime: Duration::from_secs(10),
            jwt_expiry: None,
        };
        let schedule = Schedule::new(&validity, Duration::from_secs(60));
        let at = |s: f64| {
            let now = sent + Duration::from_secs_f64(s);
            schedule.freshness(&validity, now, || unreachable!())
        };
        assert_eq!(at(4.9), Freshness::Fresh);
        assert_eq!(at(5.1), Freshness::Stale);
        assert_eq!(at(10.0), Freshness::Expired);
    }
}
