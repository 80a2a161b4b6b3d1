//! TokenSource: counted token requests under every cache state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiauth::{Error, Token, TokenConfig, TokenSource};
use httpmock::Mock;

use crate::fixture::{
    TokenServer, clock, eventually, jwt_expiring_in, on_threads, refused, rfc_token, secret_of,
};

fn config(server: &TokenServer) -> TokenConfig {
    server.config().with_test_clock(clock())
}

fn source(server: &TokenServer) -> TokenSource {
    config(server).build().unwrap()
}

/// A source that has fetched and cached `token` (living `expires_in` s), on a server that
/// no longer serves it: the test mocks what comes next.
fn cached_source(server: &TokenServer, token: &str, expires_in: u64) -> TokenSource {
    let mut first = server.token(token, expires_in);
    let source = source(server);
    assert_eq!(secret_of(&source), token);
    first.delete();
    source
}

/// The endpoint answers `status` with `body` after `ms` milliseconds.
fn slow<'a>(server: &'a TokenServer, ms: u64, status: u16, body: &str) -> Mock<'a> {
    server.mock(|when, then| {
        when.path("/token");
        let then = then.status(status).delay(Duration::from_millis(ms));
        then.header("content-type", "application/json").body(body);
    })
}

/// The token each of 64 threads, released together, gets from `source`.
fn herd_sees(source: &TokenSource) -> Vec<String> {
    let reader = source.clone();
    on_threads(64, move || secret_of(&reader))
}

#[test]
fn nothing_is_fetched_before_use_and_hits_are_shared() {
    let server = TokenServer::start();
    let mock = server.token("A", 3600);
    let source = source(&server);
    mock.assert_calls(0);
    let (first, second) = (source.token().unwrap(), source.clone().token().unwrap());
    assert!(Arc::ptr_eq(&first, &second));
    mock.assert_calls(1);
    assert_eq!(source.stats().fetches, 1);
}

#[test]
fn prefetch_fails_fast() {
    let server = TokenServer::start();
    server.reply(401, r#"{"error":"invalid_client"}"#);
    let prefetched = source(&server).prefetch();
    assert!(matches!(prefetched, Err(Error::CredentialsRejected(_))));
}

#[test]
fn prefetch_fetches_now_and_caches_for_the_next_call() {
    let server = TokenServer::start();
    let (mock, source) = (server.token("A", 3600), source(&server));
    source.prefetch().unwrap();
    mock.assert_calls(1);
    assert_eq!(secret_of(&source), "A");
    mock.assert_calls(1);
}

#[test]
fn a_cold_herd_makes_one_request() {
    let server = TokenServer::start();
    let mock = slow(&server, 200, 200, &rfc_token("A", 3600).to_string());
    let tokens = herd_sees(&source(&server));
    assert!(tokens.iter().all(|t| t == "A"));
    mock.assert_calls(1);
}

#[test]
fn a_stale_token_is_refreshed_once_in_the_background_while_readers_keep_it() {
    let server = TokenServer::start();
    let source = cached_source(&server, "A", 10);
    let slow = slow(&server, 500, 200, &rfc_token("B", 10).to_string());
    // 10 s token: the 60 s margin is capped at 5 s, so at 6 s it is stale but valid.
    clock().advance(Duration::from_secs(6));
    let seen = herd_sees(&source);
    // Every reader got the old token at once: none waited for the 500 ms refresh.
    assert!(seen.iter().all(|t| t == "A"), "{seen:?}");
    eventually(|| secret_of(&source) == "B");
    slow.assert_calls(1);
    assert_eq!(source.stats().fetches, 2);
}

#[test]
fn an_expired_token_makes_callers_wait_for_one_fetch() {
    let server = TokenServer::start();
    let source = cached_source(&server, "A", 10);
    let next = slow(&server, 200, 200, &rfc_token("B", 10).to_string());
    clock().advance(Duration::from_secs(11));
    let seen = herd_sees(&source);
    assert!(seen.iter().all(|t| t == "B"), "{seen:?}");
    next.assert_calls(1);
}

#[test]
fn a_failing_endpoint_sees_one_request_per_backoff_window() {
    let server = TokenServer::start();
    let mock = slow(&server, 100, 503, "<html>down</html>");
    let source = source(&server);
    let reader = source.clone();
    let results = on_threads(64, move || reader.token().map(drop));
    let refused =
        |r: &Result<(), Error>| matches!(r, Err(Error::EndpointRefused(d)) if d.status == 503);
    assert!(results.iter().all(refused));
    for _ in 0..100 {
        assert!(matches!(source.token(), Err(Error::EndpointRefused(_))));
    }
    mock.assert_calls(1);
    // After the first backoff (1 s) one more request goes out, then 2 s of quiet.
    clock().advance(Duration::from_millis(1100));
    for _ in 0..100 {
        assert!(source.token().is_err());
    }
    mock.assert_calls(2);
    clock().advance(Duration::from_millis(1500));
    assert!(source.token().is_err());
    mock.assert_calls(2);
    assert_eq!(source.stats().failures, 2);
}

#[test]
fn a_failed_refresh_keeps_the_old_token() {
    let server = TokenServer::start();
    let source = cached_source(&server, "A", 10);
    let failing = server.reply(500, "");
    clock().advance(Duration::from_secs(6));
    assert_eq!(secret_of(&source), "A");
    eventually(|| source.stats().failures == 1);
    for _ in 0..100 {
        assert_eq!(secret_of(&source), "A");
    }
    failing.assert_calls(1);
}

#[test]
fn a_rejection_spares_a_newer_token() {
    let server = TokenServer::start();
    let source = cached_source(&server, "A", 3600);
    let old = source.token().unwrap();
    let second = server.token("B", 3600);
    assert!(source.reject(&old));
    let new = source.token().unwrap();
    assert_eq!(new.access_token().secret(), "B");
    // A second 401 on the old token must not throw away B; a retry would carry B.
    assert!(source.reject(&old));
    assert_eq!(source.stats().rejections, 1);
    assert!(Arc::ptr_eq(&source.token().unwrap(), &new));
    second.assert_calls(1);
    source.invalidate();
    source.token().unwrap();
    second.assert_calls(2);
}

#[test]
fn stats_count_fetches_failures_and_rejections() {
    let server = TokenServer::start();
    let source = cached_source(&server, "A", 3600);
    assert!(source.reject(&source.token().unwrap()));
    server.reply(503, "");
    assert!(source.token().is_err());
    let stats = source.stats();
    assert_eq!((stats.fetches, stats.failures, stats.rejections), (2, 1, 1));
}

/// `source`, holding `mock`'s token since now, refreshes it `secs` s on, not a second before.
fn refreshed_after(source: &TokenSource, mock: &Mock, secs: u64) {
    clock().advance(Duration::from_secs(secs - 1));
    source.token().unwrap();
    assert!(!source.stats().fetching && mock.calls() == 1);
    clock().advance(Duration::from_secs(1));
    source.token().unwrap();
    eventually(|| mock.calls() == 2);
}

#[test]
fn without_jitter_an_hours_token_is_refreshed_exactly_five_minutes_before_expiry() {
    let server = TokenServer::start();
    let mock = server.token("A", 3600);
    let source = config(&server).with_refresh_jitter(Duration::ZERO);
    let source = source.build().unwrap();
    source.token().unwrap();
    refreshed_after(&source, &mock, 3300);
}

#[test]
fn a_ten_minute_margin_refreshes_an_hours_token_at_fifty_minutes() {
    let server = TokenServer::start();
    let mock = server.token("A", 3600);
    let config = config(&server).with_refresh_margin(Duration::from_secs(600));
    let source = config.with_refresh_jitter(Duration::ZERO).build().unwrap();
    source.token().unwrap();
    refreshed_after(&source, &mock, 3000);
}

#[test]
fn refresh_asks_at_once_past_a_failure_backing_off() {
    let server = TokenServer::start();
    let mut down = server.reply(503, "");
    let source = source(&server);
    assert!(source.token().is_err());
    down.delete();
    let up = server.token("B", 3600);
    assert_eq!(refused(source.token()).status, 503);
    assert_eq!(source.refresh().unwrap().access_token().secret(), "B");
    assert_eq!((secret_of(&source), up.calls()), ("B".into(), 1));
}

#[test]
fn lifetimes_zero_short_and_huge() {
    let max = Token::MAX_LIFETIME.as_secs();
    // (expires_in, lifetime the token gets, seconds after which it is refreshed)
    for (expires_in, lifetime, refresh_after) in [
        (0, Token::DEFAULT_LIFETIME, 241),
        (5, Duration::from_secs(5), 3),
        (10 * 365 * 24 * 3600, Token::MAX_LIFETIME, max - 59),
    ] {
        let server = TokenServer::start();
        let mock = server.token("A", expires_in);
        let source = source(&server);
        assert_eq!(source.token().unwrap().lifetime(), lifetime);
        source.token().unwrap();
        mock.assert_calls(1);
        clock().advance(Duration::from_secs(refresh_after));
        source.token().unwrap();
        eventually(|| mock.calls() == 2);
    }
}

#[test]
fn a_jwt_exp_before_expires_in_wins() {
    let server = TokenServer::start();
    let (jwt, _) = jwt_expiring_in(Duration::from_secs(100));
    let (later, _) = jwt_expiring_in(Duration::from_secs(3600));
    let mut first = server.token(&jwt, 3599);
    let source = source(&server);
    source.token().unwrap();
    clock().advance(Duration::from_secs(45));
    source.token().unwrap();
    first.assert_calls(1);
    first.delete();
    let second = server.token(&later, 3599);
    // Past exp (100 s) though well inside expires_in (3599 s): a new token, fetched inline.
    clock().advance(Duration::from_secs(60));
    assert_eq!(secret_of(&source), later);
    second.assert_calls(1);
}

#[test]
fn the_hook_tells_a_background_refresh_from_a_fetch_a_caller_waits_for() {
    let server = TokenServer::start();
    server.token("A", 3600);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let config = config(&server).on_refresh(move |e| log.lock().unwrap().push(e.background));
    let source = config.build().unwrap();
    source.token().unwrap();
    clock().advance(Duration::from_secs(3400));
    source.token().unwrap();
    eventually(|| seen.lock().unwrap().len() == 2);
    assert_eq!(*seen.lock().unwrap(), [false, true]);
}

#[test]
fn refresh_hook_sees_every_fetch_and_may_panic() {
    let server = TokenServer::start();
    server.token("SECRET-A", 3600);
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let source = config(&server).on_refresh(move |event| {
        let printed = format!("{event:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
        assert!(event.result.is_ok() && !event.background);
        counter.fetch_add(1, Ordering::SeqCst);
        panic!("a hook that panics");
    });
    let source = source.build().unwrap();
    source.token().unwrap();
    source.invalidate();
    source.token().unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(secret_of(&source), "SECRET-A");
}

#[test]
fn a_cache_hit_allocates_nothing() {
    let server = TokenServer::start();
    server.token("A", 3600);
    let source = source(&server);
    source.token().unwrap();
    let before = crate::allocations();
    for _ in 0..1000 {
        std::hint::black_box(&source.token().unwrap());
    }
    assert_eq!(crate::allocations() - before, 0);
}
