//! The store on its own, in this process: what Redis holds, time limits, reconnection,
//! the lease's release.

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use apiauth::{TokenConfig, TokenSource};
use apiauth_redis::RedisStore;

use crate::server::{Answer, TokenServer};
use crate::support::{Redis, credentials, prefix};

fn source(store: RedisStore, server: &TokenServer) -> TokenSource {
    TokenConfig::new(&server.url, credentials())
        .with_timeout(Duration::from_secs(2))
        .with_store(store)
        .build()
        .unwrap()
}

fn get(redis: &Redis, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query(&mut redis.connection())
        .unwrap()
}

#[test]
fn redis_holds_the_token_with_its_ttl_and_never_the_secret() {
    let Some(redis) = Redis::any("redis_holds_the_token_with_its_ttl") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let prefix = prefix("what");
    let source = source(RedisStore::open(&redis.url, &prefix).unwrap(), &server);
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-1");
    let keys = redis.keys(&prefix);
    assert_eq!(keys.len(), 1, "{keys:?}"); // the lease is released
    let id = keys[0]
        .strip_prefix(&prefix)
        .and_then(|k| k.strip_suffix(":token"))
        .unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query(&mut redis.connection())
        .unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl), "{ttl}");
    let value = String::from_utf8(get(&redis, &keys[0]).unwrap()).unwrap();
    assert!(value.contains("tok-1"));
    assert!(!value.contains("fleet-secret"), "{value}");
}

#[test]
fn a_redis_that_never_answers_costs_a_time_limit_not_a_hang() {
    // A listener that accepts (the kernel does) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/0", silent.local_addr().unwrap());
    let server = TokenServer::start(Answer::Token);
    let store = RedisStore::open(&url, "apiauth-test:silent:")
        .unwrap()
        .with_timeout(Duration::from_millis(100));
    let source = source(store, &server);
    let (sent, got) = mpsc::channel();
    std::thread::spawn(move || {
        let token = source.token().map(|t| t.access_token().secret().to_owned());
        sent.send(token).unwrap();
    });
    let token = got.recv_timeout(Duration::from_secs(30)).expect("hangs");
    assert_eq!(token.unwrap(), "tok-1");
    assert_eq!(server.requests(), 1);
    drop(silent);
}

#[test]
fn a_redis_that_comes_back_is_used_again() {
    let Some(mut redis) = Redis::own("a_redis_that_comes_back_is_used_again") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let prefix = prefix("back");
    let source = source(RedisStore::open(&redis.url, &prefix).unwrap(), &server);
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-1");
    redis.stop();
    source.invalidate();
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-2");
    assert!(redis.start());
    source.invalidate();
    assert_eq!(source.token().unwrap().access_token().secret(), "tok-3");
    // Fetched under the lease on a new connection, and written for the other hosts.
    let keys = redis.keys(&prefix);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let value = get(&redis, &keys[0]).unwrap();
    assert!(String::from_utf8(value).unwrap().contains("tok-3"));
    assert_eq!(server.requests(), 3);
}

#[test]
fn a_lease_that_expired_and_was_taken_by_another_host_is_not_released() {
    let Some(redis) = Redis::any("a_lease_that_expired_is_not_released") else {
        return;
    };
    let server = TokenServer::start(Answer::Token);
    let prefix = prefix("lease");
    let store = RedisStore::open(&redis.url, &prefix)
        .unwrap()
        .with_lease(Duration::from_millis(1));
    let source = source(store, &server);
    source.token().unwrap();
    let token_key = redis.keys(&prefix).pop().unwrap();
    let lock = token_key.replace(":token", ":lock");
    // While this host's request is under way its 1 ms lease expires, and another host
    // takes the lock.
    let url = redis.url.clone();
    let other = lock.clone();
    *server.hook.lock().unwrap() = Some(Box::new(move || {
        std::thread::sleep(Duration::from_millis(20));
        let mut c = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("SET")
            .arg(&other)
            .arg("another-host")
            .arg("PX")
            .arg(60_000)
            .query::<()>(&mut c)
            .unwrap();
    }));
    assert_eq!(source.refresh().unwrap().access_token().secret(), "tok-2");
    assert_eq!(get(&redis, &lock).as_deref(), Some(&b"another-host"[..]));
}

#[test]
fn bad_settings_are_refused_and_messages_hold_no_password() {
    let error = RedisStore::open("redis://127.0.0.1:6379", "").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid configuration: redis key prefix must be non-empty, without spaces or control characters"
    );
    let error = RedisStore::open("http://user:hunter2@x", "p:").unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let store = RedisStore::open("redis://user:hunter2@127.0.0.1:1/3", "p:").unwrap();
    assert_eq!(
        format!("{store:?}"),
        r#"RedisStore { server: "127.0.0.1:1/3", prefix: "p:", timeout: 250ms, lease: 30s, .. }"#
    );
}
