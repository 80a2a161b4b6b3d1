//! The cache's decisions, written once: what to do with what memory or a store holds, how
//! long to back off after a failure, and what a rejection by an API means. Pure functions
//! of the values they are given: no I/O, no clock of their own.

use std::time::{Duration, Instant, SystemTime};

use crate::refresh::{Freshness, MAX_BACKOFF, backoff};
use crate::wire::MAX_RETRY_AFTER;

/// What the cache does for a caller, given what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
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

/// What a cache (memory, or a store read by a process) holds at a moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// The token held, by where it stands now (`None`: no token, or an expired one).
    pub token: Option<Freshness>,
    /// Whether a failure's backoff is running.
    pub backing_off: bool,
    /// Whether a request is under way (in this process).
    pub fetching: bool,
}

/// The one decision: a fresh token is served; a stale one is served and refreshed once,
/// unless a refresh is under way or backing off; without a usable token, a running backoff
/// answers with its error, a request under way is waited for, and otherwise one is sent.
pub(crate) fn decide(held: Held) -> Decision {
    match held.token {
        Some(Freshness::Fresh) => Decision::Serve,
        Some(Freshness::Stale) if held.fetching || held.backing_off => Decision::Serve,
        Some(Freshness::Stale) => Decision::ServeAndRefresh,
        _ if held.backing_off => Decision::Fail,
        _ if held.fetching => Decision::Wait,
        _ => Decision::Fetch,
    }
}

/// A row of failures: how many in a row, and until when the last one is the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub in_a_row: u32,
    pub retry_at: Instant,
}

/// The backoff after one more failure, `previous` in a row before it, when the server asked
/// for `retry_after`: 1 s doubling to 60 s, or the server's wait if longer, at most an hour.
pub(crate) fn after_failure(
    previous: Option<u32>,
    retry_after: Option<Duration>,
    now: Instant,
) -> Backoff {
    let in_a_row = previous.map_or(1, |n| n.saturating_add(1));
    let wait = backoff(in_a_row, retry_after).min(MAX_RETRY_AFTER);
    Backoff {
        in_a_row,
        retry_at: now + wait,
    }
}

/// How long a shared record (written by any process on the wall clock, from `since` until
/// `until`) still holds at `wall`, or `None` if it no longer does or cannot be trusted: it
/// claims a wait longer than any backoff ([`MAX_RETRY_AFTER`]) or starts in the future (the
/// clock was set back since, or the record is not what it claims).
pub(crate) fn record_left(
    since: SystemTime,
    until: SystemTime,
    wall: SystemTime,
) -> Option<Duration> {
    let wait = until.duration_since(since).ok()?;
    let live = since <= wall && wall < until;
    (live && wait <= MAX_RETRY_AFTER).then(|| until.duration_since(wall).unwrap_or_default())
}

/// The last rejection of a token by an API: how many in a row, and until when a fresh
/// token that is rejected again is kept rather than replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub in_a_row: u32,
    pub retry_at: Instant,
}

/// What to do when an API rejects (401) a token of age `age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnRejection {
    /// Keep the token: a rejection's window is still open, so the API refuses fresh tokens
    /// too, and a new one would only cost a request.
    Keep,
    /// Drop the token (fetch another at once), starting this window.
    Drop(Rejected),
}

/// A token that served a while is taken as revoked and dropped. A token rejected while the
/// window of the previous rejection is open is kept. One rejected soon after that window
/// closed is one more in a row (its window doubles: 1 s, 2 s, … 60 s); one that served well
/// past it starts a new row.
pub(crate) fn on_rejection(previous: Option<Rejected>, age: Duration, now: Instant) -> OnRejection {
    if previous.is_some_and(|p| now < p.retry_at) {
        return OnRejection::Keep;
    }
    let in_a_row = match previous {
        Some(p) if age < backoff(p.in_a_row + 1, None) + MAX_BACKOFF => p.in_a_row + 1,
        _ => 1,
    };
    OnRejection::Drop(Rejected {
        in_a_row,
        retry_at: now + backoff(in_a_row, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::RefreshPolicy;
    use crate::token::Validity;

    const fn held(token: Option<Freshness>, backing_off: bool, fetching: bool) -> Held {
        Held {
            token,
            backing_off,
            fetching,
        }
    }

    #[test]
    fn every_combination_has_one_answer() {
        use Decision::*;
        use Freshness::*;
        let rows = [
            (held(Some(Fresh), true, true), Serve),
            (held(Some(Stale), false, false), ServeAndRefresh),
            (held(Some(Stale), false, true), Serve),
            (held(Some(Stale), true, false), Serve),
            (held(Some(Expired), false, false), Fetch),
            (held(Some(Expired), true, false), Fail),
            (held(None, false, true), Wait),
            (held(None, true, true), Fail),
            (held(None, false, false), Fetch),
        ];
        for (held, expected) in rows {
            assert_eq!(decide(held), expected, "{held:?}");
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
                decide(held(token, false, false))
            };
            let (refreshed, lifetime) = (refreshed as f64, lifetime as f64);
            assert_eq!(at(refreshed - 0.01), Decision::Serve, "{lifetime}");
            assert_eq!(
                at(refreshed + 0.01),
                Decision::ServeAndRefresh,
                "{lifetime}"
            );
            assert_eq!(at(lifetime - 0.01), Decision::ServeAndRefresh, "{lifetime}");
            assert_eq!(at(lifetime), Decision::Fetch, "{lifetime}");
        }
    }

    #[test]
    fn failures_back_off_doubling_honour_retry_after_and_stop_at_an_hour() {
        let now = Instant::now();
        let wait = |previous, asked: Option<u64>| {
            let b = after_failure(previous, asked.map(Duration::from_secs), now);
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
        assert_eq!(record_left(t0, t0 + s(60), t0 + s(10)), Some(s(50)));
        assert_eq!(record_left(t0, t0 + s(60), t0 + s(60)), None); // over
        assert_eq!(record_left(t0, t0 + s(60), t0 - s(1)), None); // from the future
        assert_eq!(record_left(t0, t0 + s(3601), t0), None); // longer than any backoff
        assert_eq!(record_left(t0, t0 - s(1), t0), None); // ends before it starts
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
            OnRejection::Drop(Rejected {
                in_a_row: 2,
                retry_at: later + s(2)
            })
        );
        // A token that served long past the window was revoked: a new row.
        let much_later = now + s(3600);
        let revoked = on_rejection(Some(first), s(3500), much_later);
        assert_eq!(
            revoked,
            OnRejection::Drop(Rejected {
                in_a_row: 1,
                retry_at: much_later + s(1)
            })
        );
    }
}
