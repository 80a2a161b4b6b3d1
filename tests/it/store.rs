//! The store behind a source: a store that fails leaves the source working alone, a stale
//! token in the store is served while another process refreshes it, and any `Store`
//! implementation shares tokens and rejections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime};

use apiauth::store::{Store, StoreError, StoreGuard, StoreKey};
use apiauth::{TestClock, TokenConfig, TokenSource};

use crate::fixture::{
    clock, creds, eventually, finishes, numbered_tokens, on_threads, reply, rfc_token, secret_of,
};
use crate::server::{Reply, Server};

/// What `Store::lock` returns.
type Locked<'a> = Result<Option<Box<dyn StoreGuard + 'a>>, StoreError>;

/// A store whose every call fails, as a full or read-only disk does, counting the calls.
#[derive(Debug, Default, Clone)]
struct Broken(Arc<AtomicUsize>);

impl Store for Broken {
    fn read(&self, _: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::new("disk full"))
    }
    fn lock(&self, _: &StoreKey, _: Duration, _: Duration) -> Locked<'_> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::new("read-only file system"))
    }
}

#[test]
fn a_failing_store_keeps_single_flight_inside_the_process() {
    let delay = Duration::from_millis(50);
    let server = Server::start(move |_| Reply {
        delay,
        ..reply(200, rfc_token("T", 3600))
    });
    let broken = Broken::default();
    let config = TokenConfig::new(server.url(), creds()).with_store(broken.clone());
    let source = config.build().unwrap();
    let reader = source.clone();
    assert_eq!(on_threads(8, move || secret_of(&reader)), ["T"; 8]);
    assert_eq!(server.hits(), 1);
    assert_eq!(source.stats().fetches, 1);
    // The store was tried (a read and a lock), and not again once the token was in memory.
    let tried = broken.0.load(Ordering::SeqCst);
    assert!((1..=3).contains(&tried), "{tried}");
    source.token().unwrap();
    assert_eq!(broken.0.load(Ordering::SeqCst), tried);
}

#[cfg(unix)]
#[test]
fn a_stale_token_in_the_store_is_served_at_once_while_another_process_refreshes_it() {
    // The first token request is answered `A` at once, later ones `B` once the gate opens.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let open = gate.clone();
    let server = Server::start(move |n| {
        let (lock, cond) = &*open;
        let _released = cond.wait_while(lock.lock().unwrap(), |released| n > 0 && !*released);
        reply(200, rfc_token(if n == 0 { "A" } else { "B" }, 3600))
    });
    let dir = crate::fixture::temp_dir("store-stale-served");
    let process = || -> TokenSource {
        let cache = apiauth::DiskCache::open(dir.join("apiauth")).unwrap();
        let config = TokenConfig::new(server.url(), creds()).with_disk_cache(cache);
        let config = config.with_test_clock(clock());
        let config = config.with_timeout(Duration::from_secs(30));
        config.build().unwrap()
    };
    assert_eq!(secret_of(&process()), "A");
    // 55 minutes on: the hour's token is stale (refreshed 5 minutes before it expires).
    clock().advance(Duration::from_secs(3320));
    let refreshing = process();
    let refresher = thread::spawn(move || secret_of(&refreshing));
    eventually(|| server.hits() == 2); // its request hangs, lock held
    // Another process gets the stale token at once rather than waiting for the lock.
    let waiter = process();
    assert_eq!(finishes(move || secret_of(&waiter)), "A");
    assert!(!refresher.is_finished());
    assert_eq!(server.hits(), 2);
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    assert_eq!(refresher.join().unwrap(), "B");
    assert_eq!(secret_of(&process()), "B");
    assert_eq!(server.hits(), 2);
}

/// A store in memory, shared by the sources given clones of it: the doc example's, with a
/// lock that excludes.
type Records = HashMap<String, Vec<u8>>;

#[derive(Debug, Default, Clone)]
struct Memory {
    records: Arc<Mutex<Records>>,
    locked: Arc<Mutex<()>>,
    /// Whether it offers its own clock (here the system's), as a store server would.
    clock: bool,
}

/// The lock of a slot, held until the guard is dropped.
#[allow(dead_code)] // the `MutexGuard` is held for its `Drop` alone
struct MemoryGuard<'a>(&'a Memory, StoreKey, MutexGuard<'a, ()>);

impl Store for Memory {
    fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.records.lock().unwrap().get(key.id()).cloned())
    }
    fn lock(&self, key: &StoreKey, _: Duration, _: Duration) -> Locked<'_> {
        let held = self.locked.lock().unwrap();
        Ok(Some(Box::new(MemoryGuard(self, key.clone(), held))))
    }
    fn now(&self) -> Option<SystemTime> {
        self.clock.then(SystemTime::now)
    }
}

impl StoreGuard for MemoryGuard<'_> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.read(&self.1)
    }
    fn write(&mut self, bytes: &[u8], _: Duration) -> Result<(), StoreError> {
        let mut records = self.0.records.lock().unwrap();
        records.insert(self.1.id().to_owned(), bytes.to_vec());
        Ok(())
    }
    fn remove(&mut self) -> Result<(), StoreError> {
        self.0.records.lock().unwrap().remove(self.1.id());
        Ok(())
    }
}

#[test]
fn hosts_whose_wall_clocks_differ_share_a_token_on_the_stores_clock() {
    let server = numbered_tokens();
    for (clock, requests) in [(true, 1), (false, 3)] {
        let store = Memory {
            clock,
            ..Memory::default()
        };
        let host = |wall_ahead| {
            let clock = TestClock::new();
            clock.advance_wall(Duration::from_secs(wall_ahead));
            let config = TokenConfig::new(server.url(), creds()).with_store(store.clone());
            secret_of(&config.with_test_clock(clock).build().unwrap())
        };
        host(0);
        host(7200);
        assert_eq!(server.hits(), requests, "the store's clock: {clock}");
    }
}

#[test]
fn any_store_shares_tokens_and_rejections_between_sources() {
    let server = numbered_tokens();
    let store = Memory::default();
    let config = TokenConfig::new(server.url(), creds()).with_test_clock(clock());
    let host = || config.clone().with_store(store.clone()).build().unwrap();
    let (one, two) = (host(), host());
    let first = one.token().unwrap();
    assert_eq!(secret_of(&two), "T1");
    assert_eq!(server.hits(), 1);
    // The API revokes T1: host one drops it and fetches T2; host two, which still holds T1,
    // is told the same token was rejected and reads T2 from the store.
    assert!(one.reject(&first));
    let second = one.token().unwrap();
    assert_eq!(second.access_token().secret(), "T2");
    let held = two.token().unwrap();
    assert_eq!(held.access_token().secret(), "T1");
    assert!(two.reject(&held));
    assert_eq!(secret_of(&two), "T2");
    assert_eq!(server.hits(), 2);
    // T2 is refused at once too: the rejection window is open for every host, so both keep
    // T2 instead of asking for a token per call.
    assert!(!one.reject(&second));
    let held = two.token().unwrap();
    assert!(!two.reject(&held));
    assert_eq!(server.hits(), 2);
}
