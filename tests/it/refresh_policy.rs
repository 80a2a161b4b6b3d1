//! When tokens are refreshed, and how long a token endpoint may be down before any caller
//! notices: measured on the controllable clock of the `test-util` feature, never by sleeping.

use std::time::{Duration, UNIX_EPOCH};

use apiauth::{TestClock, TokenConfig, TokenSource};
use serde_json::json;

use crate::fixture::{TokenServer, creds, eventually, jwt_expiring_in, reply, secret_of};
use crate::server::Server;

fn source_at(url: &str, clock: &TestClock) -> TokenSource {
    let config = TokenConfig::new(url, creds()).with_test_clock(clock.clone());
    config.build().unwrap()
}

/// Walks the clock forward by `step` until a call fails; returns how long after the first
/// (failed) refresh attempt that was, and the time of the failure since the token was issued.
fn outage_tolerance(lifetime: u64, step: Duration) -> (Duration, Duration) {
    // One token living `lifetime` s, then 503 for ever.
    let server = TokenServer::start();
    server.mock(|when, then| {
        when.path("/token");
        let body = crate::fixture::rfc_token("ONLY", lifetime);
        then.status(200).json_body(body).up_to_n_times(1);
    });
    let down = server.reply(503, "");
    let clock = TestClock::new();
    let source = source_at(&server.token_url(), &clock);
    source.token().unwrap();
    let (mut elapsed, mut first_attempt) = (Duration::ZERO, None);
    loop {
        clock.advance(step);
        elapsed += step;
        let answer = source.token();
        // Wait for the background refresh, if one started, to fail.
        eventually(|| !source.stats().fetching);
        if down.calls() > 0 {
            first_attempt.get_or_insert(elapsed);
        }
        if answer.is_err() {
            return (elapsed - first_attempt.unwrap(), elapsed);
        }
        assert_eq!(answer.unwrap().access_token().secret(), "ONLY");
    }
}

#[test]
fn an_hours_token_survives_five_minutes_of_outage() {
    let (tolerated, failed_at) = outage_tolerance(3599, Duration::from_secs(5));
    assert!(tolerated >= Duration::from_secs(300), "{tolerated:?}");
    // The first caller-visible error comes only at expiry.
    assert!(failed_at >= Duration::from_secs(3599), "{failed_at:?}");
}

#[test]
fn a_thirty_day_token_survives_fifteen_days_of_outage() {
    let days = |n: u64| Duration::from_secs(n * 86400);
    let (tolerated, failed_at) = outage_tolerance(30 * 86400, Duration::from_secs(3600));
    assert!(tolerated >= days(15), "{tolerated:?}");
    assert!(failed_at >= days(30), "{failed_at:?}");
}

#[test]
fn an_hours_token_costs_at_most_1_1_requests_an_hour() {
    let server = Server::start(|n| {
        let answer = json!({"access_token": format!("T{n}"), "expires_in": 3599});
        reply(200, answer)
    });
    let clock = TestClock::new();
    let source = source_at(server.url(), &clock);
    let hours = 100;
    for _ in 0..hours * 360 {
        clock.advance(Duration::from_secs(10));
        source.token().unwrap();
        eventually(|| !source.stats().fetching);
    }
    let requests = source.stats().fetches;
    // The first token, then one every 3599 - 300 s (minus up to 15 s of jitter).
    assert!(requests <= 1 + hours * 11 / 10, "{requests}");
    assert!(requests >= hours, "{requests}");
}

#[test]
fn a_jwt_past_its_exp_after_a_suspend_is_replaced_within_a_second() {
    let server = TokenServer::start();
    let (first, _) = jwt_expiring_in(Duration::from_secs(3600));
    let (second, _) = jwt_expiring_in(Duration::from_secs(4 * 3600));
    server.mock(|when, then| {
        when.path("/token");
        let body = json!({"access_token": first, "expires_in": 3599});
        then.status(200).json_body(body).up_to_n_times(1);
    });
    let later = server.json(200, json!({"access_token": second, "expires_in": 3599}));
    let clock = TestClock::new();
    let source = source_at(&server.token_url(), &clock);
    assert_eq!(secret_of(&source), first);
    // The host sleeps two hours: its monotonic clock stood still, the wall clock did not.
    clock.advance_wall(Duration::from_secs(2 * 3600));
    // Within the first second after resume the old token may still be handed out (the
    // wall clock is read at most once a second); after it, never.
    clock.advance(Duration::from_millis(1001));
    assert_eq!(secret_of(&source), second);
    later.assert_calls(1);
}

#[test]
fn a_ten_second_token_is_reused_for_five_seconds() {
    let server = TokenServer::start();
    let mock = server.token("SHORT", 10);
    let clock = TestClock::new();
    let source = source_at(&server.token_url(), &clock);
    source.token().unwrap();
    clock.advance(Duration::from_millis(4900));
    source.token().unwrap();
    mock.assert_calls(1);
    clock.advance(Duration::from_millis(200));
    source.token().unwrap();
    eventually(|| mock.calls() == 2);
}

/// A refresh whose answer lives less than a second (a JWT whose `exp` is that close) is a
/// failure: the still-valid token it was to replace stays in use, and nothing is sent
/// again before the backoff.
#[test]
fn a_too_short_lived_refresh_never_replaces_a_valid_token() {
    let clock = TestClock::new();
    let (now, offset) = (std::time::SystemTime::now, Duration::from_secs(400));
    let server = Server::start(move |n| match n {
        0 => reply(200, r#"{"access_token":"A","expires_in":600}"#),
        _ => {
            // `exp` less than a second after the host's clock (moved 400 s) at the answer.
            let secs = (now() + offset).duration_since(UNIX_EPOCH);
            let secs = secs.unwrap().as_secs();
            let (jwt, _) = jwt_expiring_in(Duration::ZERO);
            let claims = format!(r#"{{"sub":"client","exp":{}}}"#, secs + 1);
            let claims = base64::Engine::encode(&base64::prelude::BASE64_URL_SAFE_NO_PAD, claims);
            let parts = jwt.split('.').enumerate();
            let jwt = parts.map(|(i, p)| if i == 1 { &claims } else { p });
            let jwt = jwt.collect::<Vec<_>>().join(".");
            reply(200, json!({"access_token": jwt}))
        }
    });
    let source = source_at(server.url(), &clock);
    assert_eq!(secret_of(&source), "A");
    clock.advance(offset); // A is stale, valid 200 s more: refreshed in the background
    assert_eq!(secret_of(&source), "A");
    eventually(|| source.stats().fetches == 2 && !source.stats().fetching);
    clock.advance(Duration::from_millis(1500)); // the short token would have expired
    assert_eq!(secret_of(&source), "A");
    assert_eq!((server.hits(), source.stats().failures), (2, 1));
}
