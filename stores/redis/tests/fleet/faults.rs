//! A Redis that is slow, silent or lying, played by loopback servers and proxies of the
//! test's own: every store call ends by its deadline, threads do not wait for each other, a
//! failure costs one deadline and then none during the cool-down. Timings are printed
//! (`--nocapture`) and asserted only with generous bounds.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apiauth::TokenConfig;
use apiauth::store::{Store, StoreKey};
use apiauth_redis::RedisStore;

use crate::server::{Answer, TokenServer};
use crate::support::{Fleet, Redis, credentials, key_of, prefix};

const DEADLINE: Duration = Duration::from_millis(250);
/// A bound no correct run comes near, so that a loaded machine does not fail the test.
const GENEROUS: Duration = Duration::from_secs(2);

fn key() -> StoreKey {
    key_of(&TokenServer::start(Answer::Token), credentials())
}

/// A listener that accepts connections and never answers; counts them.
fn silent() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/0", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, SeqCst);
            held.push(stream); // open, and silent
        }
    });
    (url, accepted)
}

/// A proxy to `upstream` that passes requests at once and replies at once until `slow` is
/// set, then one byte every 200 ms.
fn trickling_proxy(upstream: u16, slow: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/0", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut c, mut s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c, &mut s));
            let slow = slow.clone();
            let (mut client, mut server) = (client, server);
            std::thread::spawn(move || {
                let mut byte = [0];
                while server.read_exact(&mut byte).is_ok() {
                    if slow.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    if client.write_all(&byte).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// A server that answers the first request (the connection's `TIME`) with `time`, and
/// every later one with `then`, followed by `endless` bytes of 'x' written as fast as the
/// client reads them.
fn scripted(time: SystemTime, then: &'static [u8], endless: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/0", listener.local_addr().unwrap());
    let since = time.duration_since(UNIX_EPOCH).unwrap();
    let secs = since.as_secs().to_string();
    let micros = since.subsec_micros().to_string();
    let time = format!(
        "*2\r\n${}\r\n{secs}\r\n${}\r\n{micros}\r\n",
        secs.len(),
        micros.len()
    );
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let time = time.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 4096];
                if stream.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
                let _ = stream.write_all(time.as_bytes());
                while stream.read(&mut buf).unwrap_or(0) > 0 {
                    if stream.write_all(then).is_err() {
                        return;
                    }
                    while endless && stream.write_all(&[b'x'; 4096]).is_ok() {}
                }
            });
        }
    });
    url
}

fn timed<T>(call: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = call();
    (value, started.elapsed())
}

#[test]
fn a_trickling_redis_costs_a_call_its_deadline() {
    let Some(redis) = Redis::any("a_trickling_redis_costs_a_call_its_deadline") else {
        return;
    };
    let key = key();
    let slow = Arc::new(AtomicBool::new(false));
    let url = trickling_proxy(redis.port, slow.clone());
    let store = RedisStore::open(&url, prefix("trickle")).unwrap();
    // A record of 1 KiB: 200 s at one byte per 200 ms.
    let record = store.record_key(&key);
    assert_eq!(redis.cmd(&["SET", &record, &"r".repeat(1024)]), "OK");
    assert_eq!(store.read(&key).unwrap().map(|r| r.len()), Some(1024));
    slow.store(true, SeqCst);
    let (read, took) = timed(|| store.read(&key));
    eprintln!("trickling Redis (one byte per 200 ms), connection open: a read took {took:?}");
    let error = read.unwrap_err().to_string();
    assert!(error.ends_with("cannot read: timed out"), "{error}");
    assert!(took < GENEROUS, "{took:?}");
    // A new connection through the trickle: its handshake alone would take seconds.
    let store = RedisStore::open(&url, prefix("trickle")).unwrap();
    let (read, took) = timed(|| store.read(&key));
    eprintln!("trickling Redis, new connection: a read took {took:?}");
    assert!(read.unwrap_err().to_string().ends_with("timed out"));
    assert!(took < GENEROUS, "{took:?}");
}

#[test]
fn an_endless_reply_is_refused_while_read() {
    let key = key();
    // A value announced as 1 GiB, and bytes without end behind it.
    let url = scripted(SystemTime::now(), b"$1073741824\r\n", true);
    let store = RedisStore::open(&url, prefix("endless")).unwrap();
    let (read, took) = timed(|| store.read(&key));
    eprintln!("a reply of 1 GiB without end: refused after {took:?}");
    let error = read.unwrap_err().to_string();
    assert!(
        error.ends_with("cannot read: unexpected reply (value over 64 KiB)"),
        "{error}"
    );
    assert!(took < GENEROUS, "{took:?}");
    // One within the limit that never ends: the deadline.
    let url = scripted(SystemTime::now(), b"$60000\r\nxx", false);
    let store = RedisStore::open(&url, prefix("endless")).unwrap();
    let (read, took) = timed(|| store.read(&key));
    eprintln!("a 60 kB reply that stops after 2 bytes: given up after {took:?}");
    assert!(
        read.unwrap_err()
            .to_string()
            .ends_with("cannot read: timed out")
    );
    assert!(took < GENEROUS, "{took:?}");
}

#[test]
fn a_silent_redis_costs_one_deadline_then_none_during_the_cool_down() {
    let key = key();
    let (url, accepted) = silent();
    let store = RedisStore::open(&url, prefix("silent")).unwrap();
    let server = url.trim_start_matches("redis://").to_owned();
    let (read, took) = timed(|| store.read(&key));
    eprintln!("a silent Redis: the first call took {took:?} (deadline {DEADLINE:?})");
    assert_eq!(
        read.unwrap_err().to_string(),
        format!("redis {server} cannot read: timed out")
    );
    assert!(took >= DEADLINE && took < GENEROUS, "{took:?}");
    let (lock, took) = timed(|| store.lock(&key, Duration::from_secs(5), Duration::from_secs(5)));
    eprintln!("a silent Redis, cooling down: the next call took {took:?}");
    assert_eq!(
        lock.err().unwrap().to_string(),
        format!("redis {server} not used for 5s after a failed call")
    );
    assert_eq!(store.now(), None);
    assert_eq!(accepted.load(SeqCst), 1);
}

#[test]
fn a_silent_redis_costs_a_token_one_connection_attempt() {
    let (url, accepted) = silent();
    let server = TokenServer::start(Answer::Token);
    let store = RedisStore::open(&url, prefix("silent-token")).unwrap();
    let source = TokenConfig::new(&server.url, credentials())
        .with_timeout(Duration::from_secs(2))
        .with_store(store)
        .build()
        .unwrap();
    let (token, took) = timed(|| source.token());
    eprintln!("a silent Redis: the first token() took {took:?}");
    assert_eq!(token.unwrap().access_token().secret(), "tok-1");
    assert!(took < GENEROUS, "{took:?}");
    assert_eq!(accepted.load(SeqCst), 1);
    assert_eq!(server.requests(), 1);
}

#[test]
fn threads_do_not_queue_behind_a_hung_call() {
    let key = key();
    let (url, _) = silent();
    let store = Arc::new(
        RedisStore::open(&url, prefix("threads"))
            .unwrap()
            .with_timeout(Duration::from_millis(600)),
    );
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            std::thread::spawn(move || {
                let (read, took) = timed(|| store.read(&key));
                assert!(read.is_err());
                took
            })
        })
        .collect();
    let each: Vec<Duration> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let all = started.elapsed();
    eprintln!("8 threads on a silent Redis (deadline 600 ms): {all:?} in all, each {each:?}");
    // One after another behind one connection would be 8 × 600 ms.
    assert!(all < GENEROUS, "{all:?}");
}

#[test]
fn now_follows_redis_clock_not_this_hosts() {
    let two_hours = Duration::from_secs(2 * 3600);
    let url = scripted(SystemTime::now() + two_hours, b"+OK\r\n", false);
    let store = RedisStore::open(&url, prefix("clock")).unwrap();
    let ahead = store
        .now()
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    let near = |d: Duration| d.abs_diff(two_hours) < Duration::from_secs(1);
    assert!(near(ahead), "{ahead:?}");
    let url = scripted(SystemTime::now() - two_hours, b"+OK\r\n", false);
    let store = RedisStore::open(&url, prefix("clock")).unwrap();
    let behind = SystemTime::now()
        .duration_since(store.now().unwrap())
        .unwrap();
    assert!(near(behind), "{behind:?}");
}

/// Through a Redis trickling one byte per 200 ms, `token()` costs a deadline or two (the
/// unlocked read, then nothing: the store cools down) plus the token request, on every
/// thread, and the host logs one warning.
#[test]
fn a_trickling_redis_costs_token_a_deadline_on_every_thread_with_one_warning() {
    let Some(redis) = Redis::any("a_trickling_redis_costs_token_a_deadline") else {
        return;
    };
    let url = trickling_proxy(redis.port, Arc::new(AtomicBool::new(true)));
    let server = TokenServer::start(Answer::Token);
    let store = RedisStore::open(&url, prefix("trickle-token")).unwrap();
    let source = TokenConfig::new(&server.url, credentials())
        .with_timeout(Duration::from_secs(2))
        .with_store(store)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let source = source.clone();
            std::thread::spawn(move || {
                timed(|| source.token().unwrap().access_token().secret().to_owned())
            })
        })
        .collect();
    let each: Vec<(String, Duration)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    eprintln!("4 threads' token() through a trickling Redis: {each:?}");
    for (token, took) in &each {
        assert_eq!(token, "tok-1");
        assert!(*took < GENEROUS, "{took:?}");
    }
    assert_eq!(server.requests(), 1);
    // A host (a process of its own): one warning.
    let mut fleet = Fleet::new(&redis, &prefix("trickle-host"), &server.url);
    fleet.store_timeout = Duration::from_millis(250);
    let (hosts, took) = timed(|| fleet.run_on(&[&url], 1));
    eprintln!("a host through a trickling Redis ran in {took:?}");
    assert_eq!(hosts[0].result, "token=tok-2");
    assert_eq!(hosts[0].logged("WARN token store failed"), 1, "{hosts:?}");
    assert_eq!(hosts[0].logged("WARN"), 1, "{hosts:?}");
}
