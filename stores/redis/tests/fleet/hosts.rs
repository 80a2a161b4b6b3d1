//! The fleet: hosts as separate processes sharing one Redis.

use std::time::Duration;

use crate::server::{Answer, TokenServer};
use crate::support::{Fleet, Host, Redis, prefix};

#[test]
fn eight_cold_hosts_send_one_token_request() {
    let Some(redis) = Redis::any("eight_cold_hosts_send_one_token_request") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let fleet = Fleet::new(&redis, &prefix("cold"), &server.url);
    let hosts = fleet.run(8);
    for host in &hosts {
        assert_eq!(host.result, "token=tok-1", "{host:?}");
    }
    assert_eq!(server.requests(), 1);
    let fetched: usize = hosts.iter().map(|h| h.logged("token fetched from")).sum();
    assert_eq!(fetched, 1);
}

#[test]
fn a_429_seen_by_one_host_stops_the_others_until_retry_after() {
    let Some(redis) = Redis::any("a_429_seen_by_one_host_stops_the_others_until_retry_after")
    else {
        return;
    };
    let server = TokenServer::start(Answer::TooMany);
    let fleet = Fleet::new(&redis, &prefix("429"), &server.url);
    let first = fleet.run(1);
    let expected = format!(
        "error=token endpoint {} returned 429: slow_down",
        server.url
    );
    let expected = expected.as_str();
    assert_eq!(first[0].result, expected);
    assert_eq!(server.requests(), 1);
    let others = fleet.run(7);
    for host in &others {
        assert_eq!(host.result, expected, "{host:?}");
        assert_eq!(
            host.logged("token endpoint not asked: another process"),
            1,
            "{host:?}"
        );
    }
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_host_killed_holding_the_lease_is_replaced_after_the_lease() {
    let Some(redis) = Redis::any("a_host_killed_holding_the_lease_is_replaced_after_the_lease")
    else {
        return;
    };
    let server = TokenServer::start(Answer::HangFirst);
    let prefix = prefix("killed");
    let mut fleet = Fleet::new(&redis, &prefix, &server.url);
    // A lease (and a lock wait) of six times the source's timeout and a second: 13 s.
    fleet.timeout = Duration::from_secs(2);
    let mut holder = fleet.spawn();
    server.wait_for(1); // it holds the lease and its request hangs
    let lock: Vec<String> = redis.keys(&prefix);
    assert_eq!(lock.len(), 1, "{lock:?}");
    assert!(lock[0].ends_with("}:lock"), "{lock:?}");
    let ttl: u64 = redis.cmd(&["PTTL", &lock[0]]).parse().unwrap();
    assert!((12_000..=13_000).contains(&ttl), "{ttl}");
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let next = fleet.run(1);
    assert_eq!(next[0].result, "token=tok-2");
    assert_eq!(server.requests(), 2);
    // It asked under the lease (a host that gave up waiting would not write the token):
    // the token is in Redis and the next host reads it without a request.
    let keys = redis.keys(&prefix);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].ends_with('}'), "{keys:?}");
    assert_eq!(fleet.run(1)[0].result, "token=tok-2");
    assert_eq!(server.requests(), 2);
}

#[test]
fn with_redis_stopped_every_host_still_gets_a_token_with_one_request() {
    let Some(mut redis) = Redis::own("with_redis_stopped_every_host_still_gets_a_token") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let fleet = Fleet::new(&redis, &prefix("stopped"), &server.url);
    for host in fleet.run(4) {
        assert_eq!(host.result, "token=tok-1");
    }
    assert_eq!(server.requests(), 1);
    redis.stop();
    let hosts = fleet.run(8);
    let mut tokens: Vec<&str> = hosts.iter().map(|h| h.result.as_str()).collect();
    tokens.sort();
    let mut expected: Vec<String> = (2..=9).map(|n| format!("token=tok-{n}")).collect();
    expected.sort();
    assert_eq!(tokens, expected);
    assert_eq!(server.requests(), 9);
    for host in &hosts {
        assert_eq!(host.logged("WARN token store failed"), 1, "{host:?}");
    }
}

/// One host runs and stores tok-1; then the API revokes it and 8 hosts start together, each
/// calling the API with the token it gets and, on a 401, rejecting it and calling again.
fn revoked(test: &str) -> Option<(Vec<String>, usize)> {
    let redis = Redis::any(test)?;
    let server = TokenServer::start(Answer::Token);
    let mut fleet = Fleet::new(&redis, &prefix(test), &server.url);
    assert_eq!(fleet.run(1)[0].result, "token=tok-1");
    // The API now refuses tok-1 (it answers 401 to it, 200 to any other).
    fleet.api_url = Some(server.api_url.clone());
    let results = fleet.run(8).into_iter().map(|h| h.result).collect();
    Some((results, server.requests()))
}

/// Every host moves off the revoked token at once, and the fleet asks for one new token:
/// a host that rejects tok-1 after another host did drops it (the rejection record names
/// it) and reads tok-2 from Redis.
#[test]
fn a_revoked_token_costs_the_fleet_one_new_token() {
    let Some((results, requests)) = revoked("revoked-all") else {
        return;
    };
    assert_eq!(requests, 2, "{results:?}");
    for result in &results {
        let ok = ["token=tok-2 api=401,200", "token=tok-2 api=200"];
        assert!(ok.contains(&result.as_str()), "{results:?}");
    }
}

/// 12 hosts one after another, every other one with its wall clock 2 h ahead: what one
/// host stored, the next judges by Redis's clock, not its own.
fn two_hours_apart(test: &str, answer: Answer) -> Option<(Vec<String>, usize)> {
    let redis = Redis::any(test)?;
    let server = TokenServer::start(answer);
    let mut fleet = Fleet::new(&redis, &prefix(test), &server.url);
    let mut results = Vec::new();
    for n in 0..12 {
        fleet.wall_ahead = Duration::from_secs(if n % 2 == 0 { 0 } else { 7200 });
        results.push(fleet.run(1).remove(0).result);
    }
    Some((results, server.requests()))
}

#[test]
fn hosts_two_hours_apart_share_one_token() {
    let Some((results, requests)) = two_hours_apart("apart-token", Answer::Token) else {
        return;
    };
    assert_eq!(results, vec!["token=tok-1"; 12]);
    assert_eq!(requests, 1);
}

#[test]
fn hosts_two_hours_apart_share_a_backoff_of_an_hour() {
    let Some((results, requests)) = two_hours_apart("apart-429", Answer::TooManyForAnHour) else {
        return;
    };
    assert_eq!(requests, 1, "{results:?}");
    for result in &results {
        assert!(result.starts_with("error=token endpoint"), "{results:?}");
        assert!(result.ends_with("returned 429: slow_down"), "{results:?}");
    }
}

/// A host stopped (SIGSTOP) while it asks for a token, past its lease; another host takes
/// the lease and stores tok-2; the first, resumed, gets tok-1 (or gives up on it) but its
/// write is fenced off: tok-2 stays, and the next host uses it.
#[test]
fn a_host_stopped_past_its_lease_writes_nothing_over_the_newer_token() {
    let Some(redis) = Redis::any("a_host_stopped_past_its_lease") else {
        return;
    };
    let server = TokenServer::start(Answer::HoldFirst);
    let prefix = prefix("stopped-holder");
    let mut fleet = Fleet::new(&redis, &prefix, &server.url);
    fleet.timeout = Duration::from_secs(1); // a lease of 7 s (six times and a second)
    let holder = fleet.spawn();
    server.wait_for(1); // it holds the lease; its request waits for the answer
    let signal = |sig: &str| {
        let pid = holder.id().to_string();
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status();
        assert!(status.unwrap().success());
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_millis(7500)); // past its lease
    assert_eq!(redis.keys(&prefix), Vec::<String>::new());
    assert_eq!(fleet.run(1)[0].result, "token=tok-2");
    server.release();
    signal("-CONT");
    let first = Host::of(holder.wait_with_output().unwrap());
    assert!(
        ["token=tok-1", "error="]
            .iter()
            .any(|r| first.result.starts_with(r)),
        "{first:?}"
    );
    let keys = redis.keys(&prefix);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let record = redis.cmd(&["GET", &keys[0]]);
    assert!(record.contains("tok-2"), "{record}");
    assert_eq!(fleet.run(1)[0].result, "token=tok-2");
    assert_eq!(server.requests(), 2);
}
