//! `TokenSource::with_disk_cache`: tokens shared by sources that share nothing but a
//! directory, as separate processes do.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use apiauth::{
    ApiClient, Auth, Credentials, DiskCache, Error, TokenConfig, TokenScheme, TokenSource,
};
use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::{Value, json};

use crate::support::{clock, eventually, rfc_token, temp_dir};

fn config(server: &MockServer, dir: &Path) -> TokenConfig {
    let creds = Credentials::new("id", "secret").unwrap();
    let cache = DiskCache::open(dir.join("apiauth")).unwrap();
    TokenConfig::new(server.url("/token"), creds)
        .with_disk_cache(cache)
        .with_test_clock(clock())
}

fn source(server: &MockServer, dir: &Path) -> TokenSource {
    config(server, dir).build().unwrap()
}

/// The token a new source (a new process) gets, and how many requests it sent for it.
fn new_process_gets(server: &MockServer, dir: &Path) -> (String, u64) {
    let source = source(server, dir);
    let token = source.token().unwrap().access_token().secret().to_owned();
    (token, source.stats().fetches)
}

#[test]
fn a_second_source_uses_the_first_ones_token_without_a_request() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("DISK", 3600));
    });
    let dir = temp_dir("disk-shared");
    assert_eq!(new_process_gets(&server, &dir), ("DISK".into(), 1));
    assert_eq!(new_process_gets(&server, &dir), ("DISK".into(), 0));
    // Other scopes are another entry.
    let scoped = config(&server, &dir).with_scope("admin").build().unwrap();
    scoped.token().unwrap();
    assert_eq!(scoped.stats().fetches, 1);
    mock.assert_calls(2);
}

#[test]
fn a_rejected_token_is_dropped_from_disk_too() {
    let server = MockServer::start();
    let first = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200)
            .json_body(rfc_token("OLD", 3600))
            .up_to_n_times(1);
    });
    let second = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("NEW", 3600));
    });
    let api = |token: &str, status: u16| {
        server.mock(|when, then| {
            let header = format!("Bearer {token}");
            when.method(GET)
                .path("/v1/x")
                .header("authorization", header);
            then.status(status).json_body(json!({"token": token}));
        })
    };
    let (old, new) = (api("OLD", 401), api("NEW", 200));
    let dir = temp_dir("disk-rejected");
    assert_eq!(new_process_gets(&server, &dir), ("OLD".into(), 1));
    let client = ApiClient::new(Auth::Token(source(&server, &dir), TokenScheme::Bearer));
    let body: Value = client.get_json(&server.url("/v1/x")).unwrap();
    assert_eq!(body, json!({"token": "NEW"}));
    let calls = [old.calls(), new.calls(), first.calls(), second.calls()];
    assert_eq!(calls, [1, 1, 1, 1]);
    assert_eq!(new_process_gets(&server, &dir), ("NEW".into(), 0));
    // invalidate() empties the entry whatever it holds.
    source(&server, &dir).invalidate();
    assert_eq!(new_process_gets(&server, &dir), ("NEW".into(), 1));
    second.assert_calls(2);
}

#[test]
fn a_fresh_process_keeps_a_stale_token_when_the_refresh_fails() {
    let server = MockServer::start();
    let mut ok = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("STALE", 100));
    });
    let dir = temp_dir("disk-stale");
    new_process_gets(&server, &dir);
    ok.delete();
    let down = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(503);
    });
    // 100 s tokens are stale after 50 s (the margin is at most half the life).
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let later = config(&server, &dir)
        .on_refresh(move |event| seen.lock().unwrap().push(event.result.is_ok()))
        .build()
        .unwrap();
    clock().advance(std::time::Duration::from_secs(60));
    assert_eq!(later.token().unwrap().access_token().secret(), "STALE");
    down.assert_calls(1);
    // The stale token stands in, but the failure counts: stats, hook and backoff.
    assert_eq!((later.stats().fetches, later.stats().failures), (1, 1));
    assert_eq!(*events.lock().unwrap(), [false]);
    assert_eq!(later.token().unwrap().access_token().secret(), "STALE");
    assert!(!later.stats().fetching);
    down.assert_calls(1);
    // Expired: the failure is the answer.
    let expired = source(&server, &dir);
    clock().advance(std::time::Duration::from_secs(101));
    assert!(matches!(expired.token(), Err(Error::EndpointRefused(e)) if e.status == 503));
    down.assert_calls(2);
}

#[test]
fn a_background_refresh_writes_the_new_token_for_others() {
    let server = MockServer::start();
    let mut first = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("ONE", 100));
    });
    let dir = temp_dir("disk-background");
    let source = source(&server, &dir);
    source.token().unwrap();
    first.delete();
    server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("TWO", 3600));
    });
    clock().advance(std::time::Duration::from_secs(60));
    assert_eq!(source.token().unwrap().access_token().secret(), "ONE");
    eventually(|| source.stats().fetches == 2);
    eventually(|| new_process_gets(&server, &dir) == ("TWO".into(), 0));
}

#[test]
fn a_directory_open_to_others_is_refused() {
    let dir = temp_dir("disk-open");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let error = DiskCache::open(&dir).unwrap_err();
    let expected = format!(
        "invalid configuration: cache directory {}: is open to other users (mode 755; chmod 700 it)",
        dir.display()
    );
    assert_eq!(error.to_string(), expected);
    let created = dir.join("new/apiauth");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(DiskCache::open(&created).unwrap().dir(), created);
    let mode = fs::metadata(&created).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_rejected_token_never_comes_back_from_disk() {
    // Every request gets a new token; a second thread keeps asking for tokens, so that a
    // fetch may read the entry while a rejection removes it.
    let server = crate::server::Server::start(|n| crate::server::Reply {
        status: 200,
        body: format!(r#"{{"access_token":"T{n}","expires_in":100000000}}"#),
        delay: std::time::Duration::ZERO,
    });
    let dir = temp_dir("disk-reject-race");
    let creds = Credentials::new("id", "secret").unwrap();
    let source = TokenConfig::new(server.url(), creds)
        .with_disk_cache(DiskCache::open(dir.join("apiauth")).unwrap())
        .with_test_clock(clock())
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (source, stop) = (source.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(source.token());
            }
        })
    };
    let mut came_back = 0;
    for _ in 0..300 {
        let token = source.token().unwrap();
        // Past any rejection backoff: this rejection drops the token.
        clock().advance(std::time::Duration::from_secs(120));
        assert!(source.reject(&token));
        if source.token().unwrap().access_token() == token.access_token() {
            came_back += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
    assert_eq!(came_back, 0);
}

/// The names and contents of the files in `dir`.
fn files_in(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name(), fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_directory_replaced_after_open_is_not_used() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("T", 3600));
    });
    let base = temp_dir("disk-swapped");
    let dir = base.join("apiauth");
    let cache = DiskCache::open(&dir).unwrap();
    let creds = Credentials::new("id", "secret").unwrap();
    let fetches = || {
        let source = TokenConfig::new(server.url("/token"), creds.clone())
            .with_disk_cache(cache.clone())
            .build()
            .unwrap();
        assert_eq!(source.token().unwrap().access_token().secret(), "T");
        source.stats().fetches
    };
    assert_eq!(fetches(), 1);
    assert_eq!(fetches(), 0);
    // A symlink to the same files, then another directory holding a copy of them: each
    // holds a valid entry, and neither is read or written.
    let moved = base.join("moved");
    fs::rename(&dir, &moved).unwrap();
    let before = files_in(&moved);
    std::os::unix::fs::symlink(&moved, &dir).unwrap();
    assert_eq!(fetches(), 1);
    fs::remove_file(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    for (name, bytes) in &before {
        fs::write(dir.join(name), bytes).unwrap();
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(fetches(), 1);
    assert_eq!(files_in(&moved), before);
    assert_eq!(files_in(&dir), before);
    mock.assert_calls(3);
    // Opened again, the new directory is the trusted one.
    let cache = DiskCache::open(&dir).unwrap();
    let source = TokenConfig::new(server.url("/token"), creds)
        .with_disk_cache(cache)
        .build()
        .unwrap();
    source.token().unwrap();
    assert_eq!(source.stats().fetches, 0);
}

#[test]
fn a_directory_others_could_replace_is_refused() {
    let base = temp_dir("disk-ancestors");
    let shared = base.join("shared");
    fs::create_dir(&shared).unwrap();
    let dir = shared.join("apiauth");
    let refused = |why: &str| {
        let error = DiskCache::open(&dir).unwrap_err();
        let expected = format!(
            "invalid configuration: cache directory {}: {} {why}",
            dir.display(),
            shared.display()
        );
        assert_eq!(error.to_string(), expected);
    };
    // Writable by all: anyone could rename our directory and put theirs in its place.
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    refused("is writable by every user");
    // Sticky, as /tmp is: others cannot rename what is not theirs.
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    DiskCache::open(&dir).unwrap();
    // Another user's (the tests run as root, who may give it away).
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&shared, Some(65534), None).unwrap();
    refused("belongs to another user");
    // Reached through another user's symlink.
    let me = std::os::unix::fs::MetadataExt::uid(&fs::metadata(&base).unwrap());
    std::os::unix::fs::chown(&shared, Some(me), None).unwrap();
    let link = base.join("link");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
    let error = DiskCache::open(link.join("apiauth")).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with(&format!("{} belongs to another user", link.display())),
        "{error}"
    );
}

#[test]
fn a_failure_is_shared_until_its_retry_time_and_a_success_clears_it() {
    let server = MockServer::start();
    let mut down = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(503);
    });
    let dir = temp_dir("disk-failure-shared");
    let refused = |source: &TokenSource| match source.token() {
        Err(Error::EndpointRefused(e)) => e.status,
        other => panic!("{other:?}"),
    };
    // The first process fails; the next ones get its error without a request, and keep it
    // for the record's backoff (1 s for a first failure without Retry-After).
    let first = source(&server, &dir);
    assert_eq!(refused(&first), 503);
    let second = source(&server, &dir);
    assert_eq!(refused(&second), 503);
    assert_eq!(second.stats().fetches, 0);
    clock().advance(std::time::Duration::from_millis(900));
    assert_eq!(refused(&second), 503);
    assert_eq!(refused(&source(&server, &dir)), 503);
    down.assert_calls(1);
    // Past it, one process asks again; a success clears the record for everyone.
    clock().advance(std::time::Duration::from_millis(200));
    down.delete();
    let mut up = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("BACK", 100));
    });
    assert_eq!(new_process_gets(&server, &dir), ("BACK".into(), 1));
    assert_eq!(second.token().unwrap().access_token().secret(), "BACK");
    assert_eq!(second.stats().fetches, 0);
    let names: Vec<_> = files_in(&dir.join("apiauth"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().ends_with(".fail")),
        "{names:?}"
    );
    // The next failure starts a new row: 1 s again, not 2 s.
    up.delete();
    let down = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(503);
    });
    clock().advance(std::time::Duration::from_secs(101));
    assert_eq!(refused(&source(&server, &dir)), 503);
    clock().advance(std::time::Duration::from_millis(1100));
    assert_eq!(refused(&source(&server, &dir)), 503);
    down.assert_calls(2);
}

#[test]
fn a_failure_record_from_the_future_is_not_trusted() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(429).header("retry-after", "3600");
    });
    let dir = temp_dir("disk-failure-clock");
    let process = |clock: apiauth::TestClock| {
        let creds = Credentials::new("id", "secret").unwrap();
        TokenConfig::new(server.url("/token"), creds)
            .with_disk_cache(DiskCache::open(dir.join("apiauth")).unwrap())
            .with_test_clock(clock)
            .build()
            .unwrap()
    };
    // Written while the wall clock was two hours ahead; it has been set right since.
    let ahead = apiauth::TestClock::new();
    ahead.advance_wall(std::time::Duration::from_secs(7200));
    assert!(process(ahead.clone()).token().is_err());
    assert!(process(ahead).token().is_err());
    mock.assert_calls(1);
    assert!(process(apiauth::TestClock::new()).token().is_err());
    mock.assert_calls(2);
}

#[test]
fn a_process_backing_off_takes_the_token_another_process_fetched() {
    let server = MockServer::start();
    let mut down = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(429).header("retry-after", "3600");
    });
    let dir = temp_dir("disk-daemon-recovers");
    let daemon = source(&server, &dir);
    assert!(daemon.token().is_err());
    down.delete();
    let up = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("BACK", 3600));
    });
    // `apiauth --refresh` in another process succeeds and lifts the record.
    assert_eq!(
        source(&server, &dir)
            .refresh()
            .unwrap()
            .access_token()
            .secret(),
        "BACK"
    );
    // The long-running process, still inside its hour of backoff, looks in the store (at
    // most once a second) and takes the token instead of failing for the rest of the hour.
    clock().advance(std::time::Duration::from_secs(2));
    assert_eq!(daemon.token().unwrap().access_token().secret(), "BACK");
    assert_eq!(daemon.token().unwrap().access_token().secret(), "BACK");
    up.assert_calls(1);
    assert_eq!(daemon.stats().fetches, 1);
}

#[test]
fn cache_clear_leaves_no_file_that_holds_a_token() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("CLEARED-TOKEN", 3600));
    });
    let dir = temp_dir("disk-clear-all");
    source(&server, &dir).token().unwrap();
    let cache = dir.join("apiauth");
    let entry = fs::read_dir(&cache)
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    // A record of an older format (left by an upgrade), and the entry made readable by
    // others (`cp -p`, a umask): neither is listed, both hold the token.
    let old = cache.join("0123456789abcdef.json");
    let text = fs::read_to_string(&entry).unwrap();
    fs::write(&old, text.replace("\"version\":3", "\"version\":2")).unwrap();
    fs::set_permissions(&entry, fs::Permissions::from_mode(0o644)).unwrap();
    let cache = DiskCache::open(&cache).unwrap();
    assert!(cache.entries().is_empty());
    let removed = cache.remove_entries(|_| true);
    assert_eq!((removed.tokens, removed.records, removed.stray), (0, 0, 2));
    assert_eq!(fs::read_dir(cache.dir()).unwrap().count(), 0);
}

#[test]
fn reject_and_invalidate_do_not_wait_for_another_process_fetching() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("T", 3600));
    });
    let dir = temp_dir("disk-reject-busy");
    // A long timeout: waiting for the lock would take 5 minutes.
    let source = config(&server, &dir)
        .with_timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let token = source.token().unwrap();
    let lock = fs::read_dir(dir.join("apiauth"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "lock"))
        .unwrap();
    // Another process holds the lock, mid-request, for as long as this test runs.
    let held = fs::File::options().write(true).open(&lock).unwrap();
    held.lock().unwrap();
    let (done, worker) = (
        std::sync::Arc::new(std::sync::Mutex::new(None)),
        source.clone(),
    );
    let answer = done.clone();
    std::thread::spawn(move || {
        let retry = worker.reject(&token);
        worker.invalidate();
        *answer.lock().unwrap() = Some(retry);
    });
    eventually(|| done.lock().unwrap().is_some());
    // The memory alone decided: the token is dropped, and not read back from disk.
    assert_eq!(done.lock().unwrap().take(), Some(true));
    drop(held);
    assert_eq!(source.token().unwrap().access_token().secret(), "T");
    mock.assert_calls(2);
}

#[test]
fn hostile_things_at_record_paths_are_reported_once_and_cleared() {
    let capture = crate::logs::capture();
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("T", 3600));
    });
    let dir = temp_dir("disk-hostile");
    source(&server, &dir).token().unwrap();
    let cache = dir.join("apiauth");
    let entry = fs::read_dir(&cache)
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    // A directory (not empty) where the token goes, a FIFO and a symlink where the failure
    // and rejection records go.
    fs::remove_file(&entry).unwrap();
    fs::create_dir(&entry).unwrap();
    fs::write(entry.join("inside"), "x").unwrap();
    let mkfifo = |path: &Path| {
        let made = std::process::Command::new("mkfifo").arg(path).status();
        assert!(made.unwrap().success());
    };
    mkfifo(&entry.with_extension("fail"));
    let target = dir.join("target");
    fs::write(&target, "kept").unwrap();
    std::os::unix::fs::symlink(&target, entry.with_extension("reject")).unwrap();

    // Every token is fetched and served; the store's failure is warned about once.
    let next = source(&server, &dir);
    for _ in 0..2 {
        assert_eq!(next.token().unwrap().access_token().secret(), "T");
        next.invalidate();
    }
    assert_eq!(next.stats().fetches, 2);
    mock.assert_calls(3);
    let shown = format!("cache directory {}", cache.display());
    let warned = (capture.0.lock().unwrap().iter())
        .filter(|line| line.starts_with("WARN apiauth::store") && line.contains(&shown))
        .count();
    assert_eq!(warned, 1);

    // Clearing removes them, and lock-named ones too, counted; nothing else is touched.
    fs::create_dir(cache.join("0123456789abcdef.lock")).unwrap();
    mkfifo(&cache.join("fedcba9876543210.lock"));
    let removed = DiskCache::open(&cache).unwrap().remove_entries(|_| true);
    assert_eq!((removed.tokens, removed.records, removed.stray), (0, 0, 5));
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 0);
    assert_eq!(fs::read_to_string(&target).unwrap(), "kept");
    // The cache works again.
    assert_eq!(new_process_gets(&server, &dir), ("T".to_owned(), 1));
    assert!(fs::symlink_metadata(&entry).unwrap().is_file());
    assert_eq!(new_process_gets(&server, &dir), ("T".to_owned(), 0));
    mock.assert_calls(4);
}
