//! When the cache refreshes a token and how it backs off after failures: pure functions of
//! the times they are given.

use std::time::{Duration, Instant, SystemTime};

use crate::Error;
use crate::token::Validity;

/// The first wait after a failure; it doubles with each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two failures.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);

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

/// Tokens living at least this long are refreshed half-way through their life.
const LONG_LIVED: Duration = Duration::from_secs(2 * 3600);
/// How long before expiry a shorter-lived token is refreshed (capped at half its life).
const DEFAULT_EARLY: Duration = Duration::from_secs(300);
/// The default jitter is at most this share of how early a token is refreshed.
const JITTER_SHARE: u32 = 20;
/// How often a JWT's `exp` is checked on the wall clock while the token is fresh: a
/// suspended host's monotonic clock stands still, so after a resume the wall clock is the
/// only one that knows; it is read at most once per this much monotonic time.
pub(crate) const WALL_CHECK_EVERY: Duration = Duration::from_secs(1);

/// When tokens are refreshed: the settings behind every token's [`Schedule`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RefreshPolicy {
    /// The caller's margin, which replaces the default schedule.
    pub margin: Option<Duration>,
    /// The caller's jitter, which replaces the default (a twentieth of the margin).
    pub jitter: Option<Duration>,
}

impl RefreshPolicy {
    /// How early before expiry a token of `lifetime` is refreshed, before jitter: half-way
    /// through its life when it lives 2 h or more (myConnectedFleet's 30 days: after 15),
    /// else 5 minutes before (Motorweb's hour: at 55 min); never earlier than half-way, so
    /// that a 10 s token is still reused for 5 s. An explicit margin replaces this (still
    /// capped at half the life).
    pub fn early(&self, lifetime: Duration) -> Duration {
        let half = lifetime / 2;
        match self.margin {
            Some(margin) => margin.min(half),
            None if lifetime >= LONG_LIVED => half,
            None => DEFAULT_EARLY.min(half),
        }
    }

    /// The schedule of a token of `validity`, with its jitter drawn from `seed` (a hash of
    /// the token, so that every process holding the token draws the same): a little
    /// earlier, so that hosts with different tokens do not refresh in the same second, but
    /// never before half-way.
    pub fn schedule(&self, validity: &Validity, seed: u64) -> Schedule {
        let early = self.early(validity.lifetime);
        let most = self.jitter.unwrap_or(early / JITTER_SHARE);
        let early = (early + jitter(most, seed))
            .min(validity.lifetime / 2)
            .max(early);
        Schedule {
            early,
            stale_at: validity.expires_at() - early,
        }
    }
}

/// A token's refresh time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// How long before expiry the token turns stale.
    early: Duration,
    /// `expires_at - early`, on the monotonic clock.
    pub stale_at: Instant,
}

impl Schedule {
    /// Where a token of `validity` stands at `now`; `wall` is read only for a JWT.
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
        if validity.jwt_expiry.is_none() {
            return on_monotonic;
        }
        match validity.wall_left(wall()) {
            Some(left) if left > self.early => on_monotonic,
            Some(left) if !left.is_zero() => Freshness::Stale,
            _ => Freshness::Expired,
        }
    }

    /// Until when a fresh token may be handed out without looking at a clock again: its
    /// refresh time, or for a JWT the next wall-clock check, whichever comes first.
    pub fn hit_until(&self, validity: &Validity, now: Instant) -> Instant {
        match validity.jwt_expiry {
            Some(_) => self.stale_at.min(now + WALL_CHECK_EVERY),
            None => self.stale_at,
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

/// A duration below `max` (zero for zero) drawn from `seed`.
pub(crate) fn jitter(max: Duration, seed: u64) -> Duration {
    Duration::from_nanos(seed % u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_honours_retry_after() {
        let plain = Error::InvalidResponse(crate::Unusable::NotBearer);
        let secs = |n| backoff(n, retry_after(&plain)).as_secs();
        assert_eq!([1, 2, 3, 7, 100].map(secs), [1, 2, 4, 60, 60]);
        let asked = Error::EndpointRefused(Box::new(crate::EndpointError {
            url: String::new(),
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
        assert_eq!(jitter(Duration::ZERO, 12345), Duration::ZERO);
        for seed in 0..100 {
            let seed = crate::cache::key::fnv1a(&[seed]);
            assert!(jitter(Duration::from_secs(5), seed) < Duration::from_secs(5));
        }
    }

    fn validity(lifetime: u64) -> Validity {
        Validity {
            issued_at: Instant::now(),
            issued_wall: SystemTime::now(),
            lifetime: Duration::from_secs(lifetime),
            jwt_expiry: None,
            skew_ms: 0,
            below_floor: false,
        }
    }

    #[test]
    fn margin_is_capped_at_half_life() {
        let policy = RefreshPolicy {
            margin: Some(Duration::from_secs(60)),
            jitter: None,
        };
        let validity = validity(10);
        let schedule = policy.schedule(&validity, 0);
        let at = |s: f64| {
            let now = validity.issued_at + Duration::from_secs_f64(s);
            schedule.freshness(&validity, now, || unreachable!())
        };
        assert_eq!(at(4.9), Freshness::Fresh);
        assert_eq!(at(5.1), Freshness::Stale);
        assert_eq!(at(10.0), Freshness::Expired);
    }

    #[test]
    fn the_default_schedule_scales_with_the_lifetime() {
        let secs = |lifetime| RefreshPolicy::default().early(Duration::from_secs(lifetime));
        // Motorweb's hour: 5 minutes before; myConnectedFleet's 30 days: half-way.
        assert_eq!(secs(3599), Duration::from_secs(300));
        assert_eq!(secs(30 * 86400), Duration::from_secs(15 * 86400));
        assert_eq!(secs(2 * 3600), Duration::from_secs(3600));
        assert_eq!(secs(10), Duration::from_secs(5));
        // Jitter refreshes a little earlier, never before half-way nor later than the base.
        for lifetime in [10, 3599, 7199, 30 * 86400] {
            let validity = validity(lifetime);
            let early = RefreshPolicy::default().early(validity.lifetime);
            for seed in 0..50u8 {
                let seed = crate::cache::key::fnv1a(&[seed]);
                let schedule = RefreshPolicy::default().schedule(&validity, seed);
                let drawn = validity.expires_at() - schedule.stale_at;
                assert!(drawn >= early && drawn <= early + early / 20, "{lifetime}");
                assert!(drawn <= validity.lifetime / 2, "{lifetime}");
            }
        }
    }
}
