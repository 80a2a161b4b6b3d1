//! TokenSource: counted token requests under every cache state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use apiauth::{Credentials, DEFAULT_LIFETIME, Error, MAX_LIFETIME, TokenConfig, TokenSource};
use httpmock::Method::POST;
use httpmock::MockServer;

use crate::support::{clock, eventually, jwt_expiring_in, rfc_token};

fn config(server: &MockServer) -> TokenConfig {
    let creds = Credentials::new("id", "secret").unwrap();
    TokenConfig::new(server.url("/token"), creds).with_test_clock(clock())
}

fn source(server: &MockServer) -> TokenSource {
    config(server).build().unwrap()
}

/// A source that has fetched and cached `token` (living `expires_in` s), on a server that
/// no longer serves it: the test mocks what comes next.
fn cached_source(server: &MockServer, token: &str, expires_in: u64) -> TokenSource {
    let mut first = server.mock(|_, then| {
        then.status(200).json_body(rfc_token(token, expires_in));
    });
    let source = source(server);
    assert_eq!(source.token().unwrap().access_token().secret(), token);
    first.delete();
    source
}

/// The token each of 64 threads, released together, gets from `source`.
fn herd_sees(source: &TokenSource) -> Vec<String> {
    let reader = source.clone();
    on_threads(64, move || {
        reader.token().unwrap().access_token().secret().to_owned()
    })
}

/// Runs `f` on `n` threads released together; returns their results.
fn on_threads<T: Send + 'static>(n: usize, f: impl Fn() -> T + Send + Sync + 'static) -> Vec<T> {
    let (f, start) = (Arc::new(f), Arc::new(Barrier::new(n)));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (f, start) = (f.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                f()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn nothing_is_fetched_before_use_and_hits_are_shared() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("A", 3600));
    });
    let source = source(&server);
    mock.assert_calls(0);
    let first = source.token().unwrap();
    let clone = source.clone();
    let second = clone.token().unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    mock.assert_calls(1);
    assert_eq!(source.stats().fetches, 1);
}

#[test]
fn prefetch_fails_fast() {
    let server = MockServer::start();
    server.mock(|_, then| {
        then.status(401).body(r#"{"error":"invalid_client"}"#);
    });
    assert!(matches!(
        source(&server).prefetch(),
        Err(Error::CredentialsRejected(_))
    ));
}

#[test]
fn a_cold_herd_makes_one_request() {
    let server = MockServer::start();
    let mock = server.mock(|_, then| {
        then.status(200)
            .delay(Duration::from_millis(200))
            .json_body(rfc_token("A", 3600));
    });
    let source = source(&server);
    let tokens = on_threads(64, move || {
        source.token().unwrap().access_token().secret().to_owned()
    });
    assert!(tokens.iter().all(|t| t == "A"));
    mock.assert_calls(1);
}

#[test]
fn a_stale_token_is_refreshed_once_in_the_background_while_readers_keep_it() {
    let server = MockServer::start();
    let source = cached_source(&server, "A", 10);
    let slow = server.mock(|_, then| {
        then.status(200)
            .delay(Duration::from_millis(500))
            .json_body(rfc_token("B", 10));
    });
    // 10 s token: the 60 s margin is capped at 5 s, so at 6 s it is stale but valid.
    clock().advance(Duration::from_secs(6));
    let seen = herd_sees(&source);
    // Every reader got the old token at once: none waited for the 500 ms refresh.
    assert!(seen.iter().all(|t| t == "A"), "{seen:?}");
    eventually(|| source.token().unwrap().access_token().secret() == "B");
    slow.assert_calls(1);
    assert_eq!(source.stats().fetches, 2);
}

#[test]
fn an_expired_token_makes_callers_wait_for_one_fetch() {
    let server = MockServer::start();
    let source = cached_source(&server, "A", 10);
    let next = server.mock(|_, then| {
        then.status(200)
            .delay(Duration::from_millis(200))
            .json_body(rfc_token("B", 10));
    });
    clock().advance(Duration::from_secs(11));
    let seen = herd_sees(&source);
    assert!(seen.iter().all(|t| t == "B"), "{seen:?}");
    next.assert_calls(1);
}

#[test]
fn a_failing_endpoint_sees_one_request_per_backoff_window() {
    let server = MockServer::start();
    let mock = server.mock(|_, then| {
        then.status(503)
            .delay(Duration::from_millis(100))
            .body("<html>down</html>");
    });
    let source = source(&server);
    let reader = source.clone();
    let results = on_threads(64, move || reader.token().map(drop));
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::EndpointRefused(d)) if d.status == 503))
    );
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
    let server = MockServer::start();
    let source = cached_source(&server, "A", 10);
    let failing = server.mock(|_, then| {
        then.status(500);
    });
    clock().advance(Duration::from_secs(6));
    assert_eq!(source.token().unwrap().access_token().secret(), "A");
    eventually(|| source.stats().failures == 1);
    for _ in 0..100 {
        assert_eq!(source.token().unwrap().access_token().secret(), "A");
    }
    failing.assert_calls(1);
}

#[test]
fn a_rejection_spares_a_newer_token() {
    let server = MockServer::start();
    let source = cached_source(&server, "A", 3600);
    let old = source.token().unwrap();
    let second = server.mock(|_, then| {
        then.status(200).json_body(rfc_token("B", 3600));
    });
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
fn lifetimes_zero_short_and_huge() {
    // (expires_in, lifetime the token gets, seconds after which it is refreshed)
    for (expires_in, lifetime, refresh_after) in [
        (0, DEFAULT_LIFETIME, 241),
        (5, Duration::from_secs(5), 3),
        (
            10 * 365 * 24 * 3600,
            MAX_LIFETIME,
            MAX_LIFETIME.as_secs() - 59,
        ),
    ] {
        let server = MockServer::start();
        let mock = server.mock(|_, then| {
            then.status(200).json_body(rfc_token("A", expires_in));
        });
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
    let server = MockServer::start();
    let (jwt, _) = jwt_expiring_in(Duration::from_secs(100));
    let mut first = server.mock(|_, then| {
        then.status(200).json_body(rfc_token(&jwt, 3599));
    });
    let source = source(&server);
    source.token().unwrap();
    clock().advance(Duration::from_secs(45));
    source.token().unwrap();
    first.assert_calls(1);
    first.delete();
    let (later, _) = jwt_expiring_in(Duration::from_secs(3600));
    let second = server.mock(|_, then| {
        then.status(200).json_body(rfc_token(&later, 3599));
    });
    // Past exp (100 s) though well inside expires_in (3599 s): a new token, fetched inline.
    clock().advance(Duration::from_secs(60));
    assert_eq!(source.token().unwrap().access_token().secret(), later);
    second.assert_calls(1);
}

#[test]
fn refresh_hook_sees_every_fetch_and_may_panic() {
    let server = MockServer::start();
    server.mock(|_, then| {
        then.status(200).json_body(rfc_token("SECRET-A", 3600));
    });
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
    assert_eq!(source.token().unwrap().access_token().secret(), "SECRET-A");
}

#[test]
fn a_cache_hit_allocates_nothing() {
    let server = MockServer::start();
    server.mock(|_, then| {
        then.status(200).json_body(rfc_token("A", 3600));
    });
    let source = source(&server);
    source.token().unwrap();
    let before = crate::allocations();
    for _ in 0..1000 {
        let token = source.token().unwrap();
        std::hint::black_box(&token);
    }
    assert_eq!(crate::allocations() - before, 0);
}
