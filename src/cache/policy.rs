//! Every rule of the cache, written once, as pure functions of the values they are given (no
//! I/O, no clock of their own): when a token is fresh, stale or expired; the one decision
//! ([`decide`]) from what is known to the next [`Step`]; how long failures and rejections
//! back off; and when a shared record can be trusted.

use std::time::{Duration, Instant, SystemTime};

use crate::Error;
use crate::token::Validity;

/// The first wait after a failure; it doubles with each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two failures of our own making.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest wait of all, a server's `Retry-After` included: one hour.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(3600);
/// Tokens living at least this long are refreshed half-way through their life.
const LONG_LIVED: Duration = Duration::from_secs(2 * 3600);
/// How long before expiry a shorter-lived token is refreshed (capped at half its life).
const DEFAULT_EARLY: Duration = Duration::from_secs(300);
/// The default jitter is at most this share of how early a token is refreshed.
const JITTER_SHARE: u32 = 20;
/// How often a JWT's `exp` is checked on the wall clock while the token is fresh: a
/// suspended host's monotonic clock stands still, so after a resume only the wall clock
/// knows; it is read at most once per this much monotonic time.
const WALL_CHECK_EVERY: Duration = Duration::from_secs(1);

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

/// What the cache does for a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Hand out the token held.
    Serve,
    /// Hand out the token held, and start one refresh that nobody waits for.
    ServeAndRefresh,
    /// Hand out the error of the last failure: its backoff is still running.
    Fail,
    /// Another thread is fetching: wait for its result.
    Wait,
    /// Send a token request (this caller does it; the others wait).
    Fetch,
}

/// What is known at a moment, from memory or from a slot of a store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    /// The token held, by where it stands now.
    pub token: Option<Freshness>,
    /// Whether a failure's backoff is running.
    pub backing_off: bool,
    /// Whether a request is under way (in this process).
    pub fetching: bool,
}

/// The one decision: a fresh token is served; a stale one is served and refreshed once,
/// unless a refresh is under way or backing off; without a usable token, a running backoff
/// answers with its error, a request under way is waited for, and otherwise one is sent.
pub(crate) fn decide(known: Known) -> Step {
    match known.token {
        Some(Freshness::Fresh) => Step::Serve,
        Some(Freshness::Stale) if known.fetching || known.backing_off => Step::Serve,
        Some(Freshness::Stale) => Step::ServeAndRefresh,
        _ if known.backing_off => Step::Fail,
        _ if known.fetching => Step::Wait,
        _ => Step::Fetch,
    }
}

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
    /// else 5 minutes before (Motorweb's hour: at 55 min); never earlier than half-way. An
    /// explicit margin replaces this (still capped at half the life).
    pub fn early(&self, lifetime: Duration) -> Duration {
        let half = lifetime / 2;
        match self.margin {
            Some(margin) => margin.min(half),
            None if lifetime >= LONG_LIVED => half,
            None => DEFAULT_EARLY.min(half),
        }
    }

    /// The schedule of a token of `validity`, its jitter drawn from `seed` (a hash of the
    /// token, so every process holding it draws the same): a little earlier, so that hosts
    /// with different tokens do not refresh in the same second, but never before half-way.
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

/// A row of failures (or of rejections): how many in a row, and until when the last one
/// is the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub in_a_row: u32,
    pub retry_at: Instant,
}

/// 1 s, 2 s, 4 s, … up to [`MAX_BACKOFF`] for the `in_a_row`-th failure; longer if the
/// server `asked` for it, never over [`MAX_WAIT`].
pub(crate) fn backoff(in_a_row: u32, asked: Option<Duration>) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << in_a_row.clamp(1, 16).saturating_sub(1));
    let wait = doubled.min(MAX_BACKOFF).max(asked.unwrap_or_default());
    wait.min(MAX_WAIT)
}

/// The backoff after one more failure of `error`, `previous` in a row before it.
pub(crate) fn after_failure(previous: Option<u32>, error: &Error, now: Instant) -> Backoff {
    let asked = match error {
        Error::EndpointRefused(e) | Error::CredentialsRejected(e) => e.retry_after,
        _ => None,
    };
    let in_a_row = previous.map_or(1, |n| n.saturating_add(1));
    Backoff {
        in_a_row,
        retry_at: now + backoff(in_a_row, asked),
    }
}

/// How long a shared row (written by any process on the record clock, from `since` until
/// `until`) still holds at `wall`, or `None` if it no longer does or cannot be trusted: it
/// claims a wait longer than any backoff ([`MAX_WAIT`]) or starts in the future (the clock
/// was set back since, or the record is not what it claims).
pub(crate) fn row_left(since: SystemTime, until: SystemTime, wall: SystemTime) -> Option<Duration> {
    let wait = until.duration_since(since).ok()?;
    let live = since <= wall && wall < until;
    (live && wait <= MAX_WAIT).then(|| until.duration_since(wall).unwrap_or_default())
}

/// Whether a shared row ending at `until` still counts towards the next one at `wall`: a
/// row ends with a success, and a record long past (a store without expiry keeps it) no
/// longer counts.
pub(crate) fn row_counts(until: SystemTime, wall: SystemTime) -> bool {
    wall < until + MAX_WAIT
}

/// What to do when an API rejects (401) a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnRejection {
    /// Keep the token: a rejection's window is still open, so the API refuses fresh tokens
    /// too, and a new one would only cost a request.
    Keep,
    /// Drop the token (fetch another at once), starting this window.
    Drop(Backoff),
}

/// A token that served a while is taken as revoked and dropped. A token rejected while the
/// window of the previous rejection is open is kept. One rejected soon after that window
/// closed is one more in a row (its window doubles: 1 s, 2 s, … 60 s); one that served well
/// past it starts a new row.
pub(crate) fn on_rejection(previous: Option<Backoff>, age: Duration, now: Instant) -> OnRejection {
    if previous.is_some_and(|p| now < p.retry_at) {
        return OnRejection::Keep;
    }
    let in_a_row = match previous {
        Some(p) if age < backoff(p.in_a_row.saturating_add(1), None) + MAX_BACKOFF => {
            p.in_a_row.saturating_add(1)
        }
        _ => 1,
    };
    OnRejection::Drop(Backoff {
        in_a_row,
        retry_at: now + backoff(in_a_row, None),
    })
}

/// Whether a token issued at `issued` is the one another process rejected at
/// `rejected_at` (`same`: the same hash, and fetched before that rejection): then it is
/// dropped here too, without counting a rejection twice. The same string fetched again
/// after the rejection, as servers that hand out one token per client do, is a fresh token
/// rejected again.
pub(crate) fn rejected_elsewhere(same: bool, issued: SystemTime, rejected_at: SystemTime) -> bool {
    same && issued < rejected_at
}

/// How long a rejection record is worth keeping past its window: rejections count in a
/// row while a token's age could still make them (see [`on_rejection`]).
pub(crate) const REJECTION_MEMORY: Duration = Duration::from_secs(120);

/// A duration below `max` (zero for zero) drawn from `seed`.
fn jitter(max: Duration, seed: u64) -> Duration {
    Duration::from_nanos(seed % u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Validity;

    const fn known(token: Option<Freshness>, backing_off: bool, fetching: bool) -> Known {
        Known {
            token,
            backing_off,
            fetching,
        }
    }

    #[test]
    fn every_combination_has_one_answer() {
        use Freshness::*;
        use Step::*;
        let rows = [
            (known(Some(Fresh), true, true), Serve),
            (known(Some(Stale), false, false), ServeAndRefresh),
            (known(Some(Stale), false, true), Serve),
            (known(Some(Stale), true, false), Serve),
            (known(Some(Expired), false, false), Fetch),
            (known(Some(Expired), true, false), Fail),
            (known(None, false, true), Wait),
            (known(None, true, true), Fail),
            (known(None, false, false), Fetch),
        ];
        for (known, expected) in rows {
            assert_eq!(decide(known), expected, "{known:?}");
        }
    }

    /// Every row of the README's schedule table: a token of `lifetime` s is fresh until
    /// `refreshed` s, then stale (served and refreshed: an outage is invisible) until it
    /// expires, with the default policy and no jitter.
    #[test]
    fn the_readme_schedule_table() {
        let policy = RefreshPolicy {
            margin: None,
            jitter: Some(Duration::ZERO),
        };
        let rows: [(u64, u64); 5] = [
            (10, 5),
            (600, 300),
            (3599, 3299),
            (2 * 3600, 3600),
            (30 * 86400, 15 * 86400),
        ];
        for (lifetime, refreshed) in rows {
            let issued_at = Instant::now();
            let validity = Validity {
                issued_at,
                issued_wall: SystemTime::now(),
                lifetime: Duration::from_secs(lifetime),
                jwt_expiry: None,
                skew_ms: 0,
                below_floor: false,
            };
            let schedule = policy.schedule(&validity, 0);
            let at = |secs: f64| {
                let now = issued_at + Duration::from_secs_f64(secs);
                let fresh = schedule.freshness(&validity, now, || unreachable!());
                let token = (fresh != Freshness::Expired).then_some(fresh);
                decide(known(token, false, false))
            };
            let (refreshed, lifetime) = (refreshed as f64, lifetime as f64);
            assert_eq!(at(refreshed - 0.01), Step::Serve, "{lifetime}");
            assert_eq!(at(refreshed + 0.01), Step::ServeAndRefresh, "{lifetime}");
            assert_eq!(at(lifetime - 0.01), Step::ServeAndRefresh, "{lifetime}");
            assert_eq!(at(lifetime), Step::Fetch, "{lifetime}");
        }
    }

    #[test]
    fn failures_back_off_doubling_honour_retry_after_and_stop_at_an_hour() {
        let now = Instant::now();
        let wait = |previous, asked: Option<u64>| {
            let refusal = crate::EndpointError {
                url: String::new(),
                status: 429,
                code: None,
                description: None,
                uri: None,
                retry_after: asked.map(Duration::from_secs),
            };
            let b = after_failure(previous, &Error::EndpointRefused(Box::new(refusal)), now);
            (b.in_a_row, b.retry_at.duration_since(now).as_secs())
        };
        assert_eq!(wait(None, None), (1, 1));
        assert_eq!(wait(Some(1), None), (2, 2));
        assert_eq!(wait(Some(6), None), (7, 60));
        assert_eq!(wait(Some(u32::MAX), None), (u32::MAX, 60));
        assert_eq!(wait(None, Some(120)), (1, 120));
        assert_eq!(wait(None, Some(86400)), (1, 3600));
    }

    #[test]
    fn shared_records_hold_only_while_they_can_be_trusted() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = Duration::from_secs;
        assert_eq!(row_left(t0, t0 + s(60), t0 + s(10)), Some(s(50)));
        assert_eq!(row_left(t0, t0 + s(60), t0 + s(60)), None); // over
        assert_eq!(row_left(t0, t0 + s(60), t0 - s(1)), None); // from the future
        assert_eq!(row_left(t0, t0 + s(3601), t0), None); // longer than any backoff
        assert_eq!(row_left(t0, t0 - s(1), t0), None); // ends before it starts
    }

    #[test]
    fn rejections_keep_fresh_tokens_inside_the_window_and_drop_revoked_ones() {
        let now = Instant::now();
        let s = Duration::from_secs;
        let first = on_rejection(None, s(3000), now);
        let OnRejection::Drop(first) = first else {
            panic!("{first:?}")
        };
        assert_eq!((first.in_a_row, first.retry_at), (1, now + s(1)));
        // The new token is rejected at once: kept until the window closes.
        assert_eq!(on_rejection(Some(first), s(0), now), OnRejection::Keep);
        // Rejected again soon after: two in a row, a 2 s window.
        let later = now + s(1);
        let second = on_rejection(Some(first), s(1), later);
        assert_eq!(
            second,
            OnRejection::Drop(Backoff {
                in_a_row: 2,
                retry_at: later + s(2)
            })
        );
        // A token that served long past the window was revoked: a new row.
        let much_later = now + s(3600);
        let revoked = on_rejection(Some(first), s(3500), much_later);
        assert_eq!(
            revoked,
            OnRejection::Drop(Backoff {
                in_a_row: 1,
                retry_at: much_later + s(1)
            })
        );
    }

    #[test]
    fn forged_counts_saturate_and_never_panic() {
        let now = Instant::now();
        let forged = Backoff {
            in_a_row: u32::MAX,
            retry_at: now,
        };
        let dropped = on_rejection(Some(forged), Duration::ZERO, now);
        let window = now + Duration::from_secs(60);
        let expected = Backoff {
            in_a_row: u32::MAX,
            retry_at: window,
        };
        assert_eq!(dropped, OnRejection::Drop(expected));
        let error = Error::Config(String::new());
        assert_eq!(after_failure(Some(u32::MAX), &error, now), expected);
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let secs = |n| backoff(n, None).as_secs();
        assert_eq!([1, 2, 3, 7, 100].map(secs), [1, 2, 4, 60, 60]);
        assert_eq!(backoff(1, Some(Duration::from_secs(120))).as_secs(), 120);
        assert_eq!(backoff(u32::MAX, Some(Duration::MAX)).as_secs(), 3600);
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        assert_eq!(jitter(Duration::ZERO, 12345), Duration::ZERO);
        for seed in 0..100 {
            let seed = crate::cache::record::fnv1a(&[seed]);
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
                let seed = crate::cache::record::fnv1a(&[seed]);
                let schedule = RefreshPolicy::default().schedule(&validity, seed);
                let drawn = validity.expires_at() - schedule.stale_at;
                assert!(drawn >= early && drawn <= early + early / 20, "{lifetime}");
                assert!(drawn <= validity.lifetime / 2, "{lifetime}");
            }
        }
    }
}
