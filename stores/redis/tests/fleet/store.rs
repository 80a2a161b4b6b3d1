//! The store on its own, in this process: what Redis holds, fenced writes, the shared
//! clock, the README's ACL line, reconnection, settings.

use std::time::{Duration, Instant, UNIX_EPOCH};

use apiauth::store::{Store, StoreKey};
use apiauth::{TokenConfig, TokenSource};
use apiauth_redis::RedisStore;

use crate::server::{Answer, TokenServer};
use crate::support::{Redis, credentials, key_of, prefix};

fn source(store: RedisStore, server: &TokenServer) -> TokenSource {
    TokenConfig::new(&server.url, credentials())
        .with_timeout(Duration::from_secs(2))
        .with_store(store)
        .build()
        .unwrap()
}

fn key(server: &TokenServer) -> StoreKey {
    key_of(server, credentials())
}

#[test]
fn redis_holds_one_record_per_slot_under_a_hash_tag_with_its_ttl_and_never_the_secret() {
    let Some(redis) = Redis::any("redis_holds_one_record_per_slot") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let prefix = prefix("what");
    let store = RedisStore::open(&redis.url, &prefix)
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let record = store.record_key(&key(&server));
    let source = source(store, &server);
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-2");
    let keys = redis.keys(&prefix);
    assert_eq!(keys, std::slice::from_ref(&record)); // the lease is released
    let id = record
        .strip_prefix(&prefix)
        .and_then(|k| k.strip_prefix('{'))
        .and_then(|k| k.strip_suffix('}'))
        .unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let ttl: i64 = redis.cmd(&["PTTL", &record]).parse().unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl), "{ttl}");
    let value = redis.cmd(&["GET", &record]);
    assert!(value.contains("tok-2"));
    assert!(!value.contains("fleet-secret"), "{value}");
}

#[test]
fn a_guard_whose_lease_expired_and_was_taken_cannot_write_or_remove() {
    let Some(redis) = Redis::any("a_guard_whose_lease_expired_cannot_write") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let key = key(&server);
    let prefix = prefix("fenced");
    let (a, b) = (
        RedisStore::open(&redis.url, &prefix)
            .unwrap()
            .with_timeout(Duration::from_secs(2)),
        RedisStore::open(&redis.url, &prefix)
            .unwrap()
            .with_timeout(Duration::from_secs(2)),
    );
    let hold = Duration::from_millis(200);
    let mut old = a.lock(&key, Duration::ZERO, hold).unwrap().unwrap();
    // Held: the other host waits in vain, and the lease lasts its hold.
    assert!(b.lock(&key, Duration::ZERO, hold).unwrap().is_none());
    let ttl: u64 = redis.cmd(&["PTTL", &a.lock_key(&key)]).parse().unwrap();
    assert!((100..=200).contains(&ttl), "{ttl}");
    std::thread::sleep(Duration::from_millis(300)); // A is paused past its lease
    let mut new = b
        .lock(&key, Duration::ZERO, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    new.write(b"newer", Duration::from_secs(60)).unwrap();
    let error = old.write(b"older", Duration::from_secs(60)).unwrap_err();
    let id = key.id();
    assert_eq!(
        error.to_string(),
        format!(
            "redis lease of {id} lost (it outlived its hold and another host took it): the record was not changed"
        )
    );
    assert!(old.remove().is_err());
    assert_eq!(redis.cmd(&["GET", &a.record_key(&key)]), "newer");
    drop(old); // its release leaves the newer lease alone
    assert!(b.lock(&key, Duration::ZERO, hold).unwrap().is_none());
    assert_eq!(new.read().unwrap().as_deref(), Some(&b"newer"[..]));
    new.remove().unwrap();
    drop(new);
    assert_eq!(redis.keys(&prefix), Vec::<String>::new());
}

#[test]
fn now_is_redis_time_not_this_hosts() {
    let Some(redis) = Redis::any("now_is_redis_time") else {
        return;
    };
    let store = RedisStore::open(&redis.url, prefix("clock"))
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let now = store.now().unwrap();
    let time = redis.cmd(&["TIME"]);
    let seconds: u64 = time.lines().next().unwrap().parse().unwrap();
    let redis_now = UNIX_EPOCH + Duration::from_secs(seconds);
    let apart = now
        .duration_since(redis_now)
        .unwrap_or_else(|e| e.duration());
    assert!(apart < Duration::from_secs(2), "{apart:?}");
    // Cheap after that: no round trip (a stopped server would make one fail).
    let started = Instant::now();
    for _ in 0..1000 {
        store.now().unwrap();
    }
    assert!(started.elapsed() < Duration::from_millis(100));
}

/// The ACL line the README gives, applied to a real server: the store does all it does
/// (SELECT of database 1, the lease, fenced writes, the release, TIME) as that user, and
/// nothing outside its prefix.
#[test]
fn the_readmes_acl_line_works() {
    let Some(redis) = Redis::own("the_readmes_acl_line_works") else {
        return;
    };
    let readme = include_str!("../../README.md");
    let line = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ACL SETUSER"))
        .unwrap()
        .replace("PASSWORD", "acl-test-pw");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(redis.cmd(&words), "OK");
    assert_eq!(words[2], "billing");
    let url = format!("redis://billing:acl-test-pw@127.0.0.1:{}/1", redis.port);
    let server = TokenServer::start(Answer::Token);
    let key = key(&server);
    let store = RedisStore::open(&url, "apiauth:billing:")
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    assert!(store.now().is_some());
    let mut guard = store
        .lock(&key, Duration::ZERO, Duration::from_secs(10))
        .unwrap()
        .unwrap();
    guard.write(b"record", Duration::from_secs(10)).unwrap();
    assert_eq!(guard.read().unwrap().as_deref(), Some(&b"record"[..]));
    drop(guard);
    // In database 1, as the URL says.
    assert_eq!(redis.cmd_in(1, &["GET", &store.record_key(&key)]), "record");
    assert_eq!(redis.cmd(&["DBSIZE"]), "0");
    assert_eq!(store.read(&key).unwrap().as_deref(), Some(&b"record"[..]));
    let mut guard = store
        .lock(&key, Duration::ZERO, Duration::from_secs(10))
        .unwrap();
    guard.as_mut().unwrap().remove().unwrap();
    drop(guard);
    assert_eq!(redis.cmd_in(1, &["DBSIZE"]), "0");
    // Outside its prefix, the user may do nothing.
    let other = RedisStore::open(&url, "apiauth:payroll:")
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let error = other.read(&key).unwrap_err().to_string();
    let server_name = format!("127.0.0.1:{}/1", redis.port);
    assert_eq!(
        error,
        format!("redis {server_name} cannot read: server answered NOPERM")
    );
    assert!(!error.contains("acl-test-pw"));
}

#[test]
fn a_record_over_64_kib_is_refused_while_read() {
    let Some(redis) = Redis::any("a_record_over_64_kib_is_refused") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let key = key(&server);
    let store = RedisStore::open(&redis.url, prefix("big"))
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let record = store.record_key(&key);
    let big = "x".repeat(64 * 1024 + 1);
    assert_eq!(redis.cmd(&["SET", &record, &big]), "OK");
    let error = store.read(&key).unwrap_err().to_string();
    assert!(
        error.ends_with("cannot read: unexpected reply (value over 64 KiB)"),
        "{error}"
    );
    // A reply cut short is a failure: the store cools down. A new one writes.
    let store = RedisStore::open(&redis.url, prefix("big"))
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let mut guard = store
        .lock(&key, Duration::ZERO, Duration::from_secs(5))
        .unwrap()
        .unwrap();
    let error = guard
        .write(big.as_bytes(), Duration::from_secs(5))
        .unwrap_err();
    assert_eq!(error.to_string(), "redis record not written: over 64 KiB");
    drop(guard);
    let fits = "x".repeat(64 * 1024);
    assert_eq!(redis.cmd(&["SET", &record, &fits]), "OK");
    assert_eq!(store.read(&key).unwrap().map(|v| v.len()), Some(64 * 1024));
}

#[test]
fn a_redis_that_comes_back_is_used_again_after_the_cool_down() {
    let Some(mut redis) = Redis::own("a_redis_that_comes_back_is_used_again") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let prefix = prefix("back");
    let store = RedisStore::open(&redis.url, &prefix)
        .unwrap()
        .with_cool_down(Duration::from_millis(300));
    let source = source(store, &server);
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-1");
    redis.stop();
    source.invalidate();
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-2");
    assert!(redis.start());
    std::thread::sleep(Duration::from_millis(400));
    source.invalidate();
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-3");
    // Fetched under the lease on a new connection, and written for the other hosts.
    let keys = redis.keys(&prefix);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(redis.cmd(&["GET", &keys[0]]).contains("tok-3"));
    assert_eq!(server.requests(), 3);
}

#[test]
fn bad_settings_are_refused_and_messages_hold_no_password() {
    let refused = |url: &str, prefix: &str| RedisStore::open(url, prefix).unwrap_err().to_string();
    assert_eq!(
        refused("redis://127.0.0.1:6379", ""),
        "invalid configuration: redis key prefix must be non-empty, without spaces, braces or control characters"
    );
    assert_eq!(
        refused("redis://127.0.0.1:6379", "app:{x}:"),
        "invalid configuration: redis key prefix must be non-empty, without spaces, braces or control characters"
    );
    assert_eq!(
        refused("http://user:hunter2@x", "p:"),
        "invalid configuration: redis url is not valid: the URL must start with redis:// or rediss://"
    );
    assert_eq!(
        refused("redis://user:hunter2@x:port/0", "p:"),
        "invalid configuration: redis url is not valid: the URL's port is not a number"
    );
    let store = RedisStore::open("redis://user:hunter2@127.0.0.1:1/3", "p:").unwrap();
    assert_eq!(
        format!("{store:?}"),
        r#"RedisStore { server: "127.0.0.1:1/3", tls: false, prefix: "p:", timeout: 250ms, cool_down: 5s, .. }"#
    );
    let error = store.now();
    assert_eq!(error, None);
    let server = TokenServer::start(Answer::Token);
    let error = store.read(&key(&server)).unwrap_err().to_string();
    assert_eq!(
        error,
        "redis 127.0.0.1:1/3 not used for 5s after a failed call"
    );
}

/// With a record key, a record changed by a writer without it is not served: the next
/// host asks for a token of its own (and its signed record replaces the planted one).
#[cfg(feature = "record-mac")]
#[test]
fn a_planted_token_is_not_served_with_a_record_key() {
    let Some(redis) = Redis::any("a_planted_token_is_not_served") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let prefix = prefix("mac");
    let host = || {
        let store = RedisStore::open(&redis.url, &prefix)
            .unwrap()
            .with_record_key("operator-key");
        source(store, &server)
    };
    assert_eq!(host().token().unwrap().access_token().secret(), "tok-1");
    assert_eq!(host().token().unwrap().access_token().secret(), "tok-1");
    let keys = redis.keys(&prefix);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let stored = redis.cmd(&["GET", &keys[0]]);
    assert!(stored.starts_with("mac1."), "{stored}");
    let planted = stored.replace("tok-1", "evil1");
    assert_eq!(redis.cmd(&["SET", &keys[0], &planted]), "OK");
    assert_eq!(host().token().unwrap().access_token().secret(), "tok-2");
    assert_eq!(server.requests(), 2);
    assert!(redis.cmd(&["GET", &keys[0]]).contains("tok-2"));
    assert_eq!(host().token().unwrap().access_token().secret(), "tok-2");
}

/// A server that closes idle connections (`timeout 1`, as managed Redis often does): the
/// next call opens a new one, without a failure or a cool-down.
#[test]
fn an_idle_connection_the_server_closed_is_replaced_at_once() {
    let Some(redis) = Redis::own_with("an_idle_connection_closed", &["--timeout", "1"]) else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let key = key(&server);
    let store = RedisStore::open(&redis.url, prefix("idle"))
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    assert_eq!(store.read(&key).unwrap(), None);
    std::thread::sleep(Duration::from_millis(2500)); // the server closes it
    assert_eq!(store.read(&key).unwrap(), None);
    assert_eq!(store.read(&key).unwrap(), None);
}
