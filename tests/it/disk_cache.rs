//! `TokenSource::with_disk_cache`: tokens shared by sources that share nothing but a
//! directory, as separate processes do.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown, lchown, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apiauth::{
    ApiClient, Auth, Credentials, DiskCache, TestClock, TokenConfig, TokenScheme, TokenSource,
};

use crate::cli::{User, generic, stderr};
use serde_json::{Value, json};

use crate::fixture::{
    Raw, TokenServer, chmod, clock, eventually, finishes, jwt_expiring_in, mkfifo, on_threads,
    refused, reply, respond, secret_of, temp_dir,
};
use crate::server::Server;

fn config(server: &TokenServer, dir: &Path) -> TokenConfig {
    let cache = DiskCache::open(dir.join("apiauth")).unwrap();
    let config = server.config().with_disk_cache(cache);
    config.with_test_clock(clock())
}

fn source(server: &TokenServer, dir: &Path) -> TokenSource {
    config(server, dir).build().unwrap()
}

/// The token a new source (a new process) gets, and how many requests it sent for it.
fn new_process_gets(server: &TokenServer, dir: &Path) -> (String, u64) {
    let source = source(server, dir);
    (secret_of(&source), source.stats().fetches)
}

/// The first file in `dir` whose name ends in `.{extension}`.
fn file_ending(dir: &Path, extension: &str) -> PathBuf {
    let mut paths = fs::read_dir(dir).unwrap().map(|f| f.unwrap().path());
    let ends = |p: &PathBuf| p.extension().is_some_and(|e| e == extension);
    paths.find(ends).unwrap()
}

#[test]
fn a_second_source_uses_the_first_ones_token_without_a_request() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-shared"));
    let mock = server.token("DISK", 3600);
    assert_eq!(new_process_gets(&server, &dir), ("DISK".into(), 1));
    assert_eq!(new_process_gets(&server, &dir), ("DISK".into(), 0));
    // Other scopes are another entry.
    let scoped = config(&server, &dir).with_scope("admin").build().unwrap();
    scoped.token().unwrap();
    assert_eq!(scoped.stats().fetches, 1);
    mock.assert_calls(2);
}

#[test]
fn a_jwt_read_back_from_disk_keeps_its_exp() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-jwt-exp"));
    let (jwt, exp) = jwt_expiring_in(Duration::from_secs(1800));
    server.token(&jwt, 3600);
    let exp = Some(UNIX_EPOCH + Duration::from_secs(exp));
    assert_eq!(source(&server, &dir).token().unwrap().jwt_expiry(), exp);
    let read = source(&server, &dir);
    let token = read.token().unwrap();
    assert_eq!((token.jwt_expiry(), read.stats().fetches), (exp, 0));
}

#[test]
fn a_token_read_back_past_its_recorded_exp_on_the_wall_clock_is_not_served() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-jwt-past"));
    let (jwt, exp) = jwt_expiring_in(Duration::from_secs(1800));
    let mock = server.token(&jwt, 3600);
    source(&server, &dir).token().unwrap();
    // The record's exp 20 minutes before its lifetime ends (its writer's clock was off).
    let entry = file_ending(&dir.join("apiauth"), "json");
    let (text, ms) = (fs::read_to_string(&entry).unwrap(), |s| {
        format!("\"exp_ms\":{s}000")
    });
    fs::write(&entry, text.replace(&ms(exp), &ms(exp - 1200))).unwrap();
    clock().advance_wall(Duration::from_secs(700));
    source(&server, &dir).token().unwrap();
    mock.assert_calls(2);
}

#[test]
fn a_listing_shows_the_slots_settings_and_its_rejection_window() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-list-rejected"));
    server.token("T", 3600);
    let source = config(&server, &dir).with_scope("read").build().unwrap();
    let before = SystemTime::now();
    assert!(source.reject(&source.token().unwrap()));
    let entries = DiskCache::open(dir.join("apiauth")).unwrap().entries();
    let [entry] = &entries[..] else {
        panic!("{entries:?}")
    };
    let url = server.token_url();
    let read = ["read".to_owned()];
    let listed = (entry.token_url(), entry.client_id(), entry.scopes());
    assert_eq!(listed, (&*url, "id", &read[..]));
    let until = entry.rejected_until(before).unwrap();
    assert_eq!(entry.rejected_until(until), None);
}

#[test]
fn a_listed_two_hour_token_says_it_turns_stale_half_way() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-list-times"));
    server.token("T", 7200);
    source(&server, &dir).token().unwrap();
    let entries = DiskCache::open(dir.join("apiauth")).unwrap().entries();
    let entry = &entries[0];
    let (issued, expires) = (entry.issued_at().unwrap(), entry.expires_at().unwrap());
    let after = |time: SystemTime| time.duration_since(issued).unwrap().as_secs();
    let stale = after(entry.stale_at().unwrap());
    assert_eq!((entries.len(), after(expires), stale), (1, 7200, 3600));
}

#[test]
fn a_listed_entrys_debug_shows_its_token_url_without_the_query() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-list-debug"));
    server.token("LISTED-TOKEN", 3600);
    let cache = DiskCache::open(dir.join("apiauth")).unwrap();
    let url = format!("{}?key=PROBE", server.token_url());
    let config = TokenConfig::new(url, crate::fixture::creds()).with_disk_cache(cache.clone());
    config.build().unwrap().token().unwrap();
    let shown = format!("{:?}", cache.entries());
    let url = format!("token_url: \"{}\"", server.token_url());
    assert!(shown.contains(&url) && !shown.contains("PROBE") && !shown.contains("LISTED"));
}

#[test]
fn a_rejected_token_is_dropped_from_disk_too() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["OLD", "NEW"]);
    let old = server.api("/v1/x", ("authorization", "Bearer OLD"), 401);
    let new = server.api("/v1/x", ("authorization", "Bearer NEW"), 200);
    let dir = temp_dir("disk-rejected");
    assert_eq!(new_process_gets(&server, &dir), ("OLD".into(), 1));
    let client = ApiClient::new(Auth::Token(source(&server, &dir), TokenScheme::Bearer));
    let body: Value = client.get_json(&server.url("/v1/x")).unwrap();
    assert_eq!(body, json!({"for": "Bearer NEW"}));
    assert_eq!([old.calls(), new.calls(), tokens.calls()], [1, 1, 2]);
    assert_eq!(new_process_gets(&server, &dir), ("NEW".into(), 0));
    // invalidate() empties the entry whatever it holds.
    source(&server, &dir).invalidate();
    assert_eq!(new_process_gets(&server, &dir), ("NEW".into(), 1));
    assert_eq!(tokens.calls(), 3);
}

#[test]
fn a_fresh_process_keeps_a_stale_token_when_the_refresh_fails() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-stale"));
    let mut ok = server.token("STALE", 100);
    new_process_gets(&server, &dir);
    ok.delete();
    let down = server.reply(503, "");
    // 100 s tokens are stale after 50 s (the margin is at most half the life).
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let later =
        config(&server, &dir).on_refresh(move |e| log.lock().unwrap().push(e.result.is_ok()));
    let later = later.build().unwrap();
    clock().advance(Duration::from_secs(60));
    assert_eq!(secret_of(&later), "STALE");
    down.assert_calls(1);
    // The stale token stands in, but the failure counts: stats, hook and backoff.
    assert_eq!((later.stats().fetches, later.stats().failures), (1, 1));
    assert_eq!(*seen.lock().unwrap(), [false]);
    assert_eq!(secret_of(&later), "STALE");
    assert!(!later.stats().fetching);
    down.assert_calls(1);
    // Expired: the failure is the answer.
    let expired = source(&server, &dir);
    clock().advance(Duration::from_secs(101));
    assert_eq!(refused(expired.token()).status, 503);
    down.assert_calls(2);
}

#[test]
fn a_background_refresh_writes_the_new_token_for_others() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-background"));
    let mut first = server.token("ONE", 100);
    let source = source(&server, &dir);
    source.token().unwrap();
    first.delete();
    server.token("TWO", 3600);
    clock().advance(Duration::from_secs(60));
    assert_eq!(secret_of(&source), "ONE");
    eventually(|| source.stats().fetches == 2);
    eventually(|| new_process_gets(&server, &dir) == ("TWO".into(), 0));
}

#[test]
fn a_directory_open_to_others_is_refused() {
    let dir = temp_dir("disk-open");
    chmod(&dir, 0o755);
    let error = DiskCache::open(&dir).unwrap_err();
    let open = "is open to other users (mode 755; chmod 700 it)";
    let shown = dir.display();
    let expected = format!("invalid configuration: cache directory {shown}: {open}");
    assert_eq!(error.to_string(), expected);
    let created = dir.join("new/apiauth");
    chmod(&dir, 0o700);
    assert_eq!(DiskCache::open(&created).unwrap().dir(), created);
    let mode = fs::metadata(&created).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_rejected_token_never_comes_back_from_disk() {
    // Every request gets a new token; a second thread keeps asking for tokens, so that a
    // fetch may read the entry while a rejection removes it.
    let server = Server::start(|n| {
        let answer = format!(r#"{{"access_token":"T{n}","expires_in":100000000}}"#);
        reply(200, answer)
    });
    let cache = DiskCache::open(temp_dir("disk-reject-race").join("apiauth")).unwrap();
    let config = TokenConfig::new(server.url(), crate::fixture::creds()).with_disk_cache(cache);
    let source = config.with_test_clock(clock()).build().unwrap();
    let (stop, reader) = (Arc::new(AtomicBool::new(false)), source.clone());
    let stopped = stop.clone();
    let reader = std::thread::spawn(move || {
        while !stopped.load(Relaxed) {
            drop(reader.token());
        }
    });
    let mut came_back = 0;
    for _ in 0..300 {
        let token = source.token().unwrap();
        // Past any rejection backoff: this rejection drops the token.
        clock().advance(Duration::from_secs(120));
        assert!(source.reject(&token));
        came_back += usize::from(source.token().unwrap().access_token() == token.access_token());
    }
    stop.store(true, Relaxed);
    reader.join().unwrap();
    assert_eq!(came_back, 0);
}

/// The names and contents of the files in `dir`.
fn files_in(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let files = fs::read_dir(dir).unwrap().map(|e| e.unwrap());
    let read = |e: fs::DirEntry| (e.file_name(), fs::read(e.path()).unwrap());
    let mut files: Vec<_> = files.map(read).collect();
    files.sort();
    files
}

#[test]
fn a_directory_replaced_after_open_is_not_used() {
    let server = TokenServer::start();
    let mock = server.token("T", 3600);
    let base = temp_dir("disk-swapped");
    let dir = base.join("apiauth");
    let cache = DiskCache::open(&dir).unwrap();
    let fetches = || {
        let source = server.config().with_disk_cache(cache.clone());
        let source = source.build().unwrap();
        assert_eq!(secret_of(&source), "T");
        source.stats().fetches
    };
    assert_eq!((fetches(), fetches()), (1, 0));
    // A symlink to the same files, then another directory holding a copy of them: each
    // holds a valid entry, and neither is read or written.
    let moved = base.join("moved");
    fs::rename(&dir, &moved).unwrap();
    let before = files_in(&moved);
    symlink(&moved, &dir).unwrap();
    assert_eq!(fetches(), 1);
    fs::remove_file(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    for (name, bytes) in &before {
        fs::write(dir.join(name), bytes).unwrap();
        chmod(&dir.join(name), 0o600);
    }
    assert_eq!(fetches(), 1);
    assert_eq!((files_in(&moved), files_in(&dir)), (before.clone(), before));
    mock.assert_calls(3);
    // Opened again, the new directory is the trusted one.
    let cache = DiskCache::open(&dir).unwrap();
    let source = server.config().with_disk_cache(cache).build().unwrap();
    source.token().unwrap();
    assert_eq!(source.stats().fetches, 0);
}

#[test]
fn a_file_where_the_directory_goes_is_refused() {
    let path = temp_dir("disk-file").join("apiauth");
    fs::write(&path, "").unwrap();
    let error = DiskCache::open(&path).unwrap_err().to_string();
    let shown = path.display();
    let exists = format!("invalid configuration: cache directory {shown}: File exists");
    assert_eq!(error, format!("{exists} (os error 17)"));
}

#[test]
fn a_directory_others_could_replace_is_refused() {
    let base = temp_dir("disk-ancestors");
    let shared = base.join("shared");
    fs::create_dir(&shared).unwrap();
    let dir = shared.join("apiauth");
    let refused = |why: &str| {
        let error = DiskCache::open(&dir).unwrap_err();
        let (dir, shared) = (dir.display(), shared.display());
        let expected = format!("invalid configuration: cache directory {dir}: {shared} {why}");
        assert_eq!(error.to_string(), expected);
    };
    // Writable by all: anyone could rename our directory and put theirs in its place.
    chmod(&shared, 0o777);
    refused("is writable by every user");
    // Sticky, as /tmp is: others cannot rename what is not theirs.
    chmod(&shared, 0o1777);
    DiskCache::open(&dir).unwrap();
    // Another user's (the tests run as root, who may give it away).
    chmod(&shared, 0o755);
    chown(&shared, Some(65534), None).unwrap();
    refused("belongs to another user");
    // Reached through another user's symlink.
    let me = std::os::unix::fs::MetadataExt::uid(&fs::metadata(&base).unwrap());
    chown(&shared, Some(me), None).unwrap();
    let link = base.join("link");
    symlink(&shared, &link).unwrap();
    lchown(&link, Some(65534), None).unwrap();
    let error = DiskCache::open(link.join("apiauth")).unwrap_err();
    let error = error.to_string();
    let expected = format!("{} belongs to another user", link.display());
    assert!(error.ends_with(&expected), "{error}");
}

#[test]
fn a_failure_is_shared_until_its_retry_time_and_a_success_clears_it() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-failure-shared"));
    let mut down = server.reply(503, "");
    let status = |source: &TokenSource| refused(source.token()).status;
    // The first process fails; the next ones get its error without a request, and keep it
    // for the record's backoff (1 s for a first failure without Retry-After).
    assert_eq!(status(&source(&server, &dir)), 503);
    let second = source(&server, &dir);
    assert_eq!(status(&second), 503);
    assert_eq!(second.stats().fetches, 0);
    clock().advance(Duration::from_millis(900));
    let statuses = (status(&second), status(&source(&server, &dir)));
    assert_eq!(statuses, (503, 503));
    down.assert_calls(1);
    // Past it, one process asks again; a success clears the record for everyone.
    clock().advance(Duration::from_millis(200));
    down.delete();
    let mut up = server.token("BACK", 100);
    assert_eq!(new_process_gets(&server, &dir), ("BACK".into(), 1));
    assert_eq!(secret_of(&second), "BACK");
    assert_eq!(second.stats().fetches, 0);
    let files = files_in(&dir.join("apiauth"));
    let names: Vec<_> = files.into_iter().map(|(n, _)| n).collect();
    let failure = names.iter().any(|n| n.to_string_lossy().ends_with(".fail"));
    assert!(!failure, "{names:?}");
    // The next failure starts a new row: 1 s again, not 2 s.
    up.delete();
    let down = server.reply(503, "");
    clock().advance(Duration::from_secs(101));
    assert_eq!(status(&source(&server, &dir)), 503);
    clock().advance(Duration::from_millis(1100));
    assert_eq!(status(&source(&server, &dir)), 503);
    down.assert_calls(2);
}

#[test]
fn a_failure_record_from_the_future_is_not_trusted() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-failure-clock"));
    let mock = server.reply_with(429, &[("retry-after", "3600")], "");
    let process = |clock: TestClock| {
        let cache = DiskCache::open(dir.join("apiauth")).unwrap();
        let config = server.config().with_disk_cache(cache);
        config.with_test_clock(clock).build().unwrap()
    };
    // Written while the wall clock was two hours ahead; it has been set right since.
    let ahead = TestClock::new();
    ahead.advance_wall(Duration::from_secs(7200));
    assert!(process(ahead.clone()).token().is_err());
    assert!(process(ahead).token().is_err());
    mock.assert_calls(1);
    assert!(process(TestClock::new()).token().is_err());
    mock.assert_calls(2);
}

#[test]
fn a_process_backing_off_takes_the_token_another_process_fetched() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-daemon-recovers"));
    let mut down = server.reply_with(429, &[("retry-after", "3600")], "");
    let daemon = source(&server, &dir);
    assert!(daemon.token().is_err());
    down.delete();
    let up = server.token("BACK", 3600);
    // `apiauth --refresh` in another process succeeds and lifts the record.
    let refreshed = source(&server, &dir).refresh().unwrap();
    assert_eq!(refreshed.access_token().secret(), "BACK");
    // The long-running process, still inside its hour of backoff, looks in the store (at
    // most once a second) and takes the token instead of failing for the rest of the hour.
    clock().advance(Duration::from_secs(2));
    let twice = (secret_of(&daemon), secret_of(&daemon));
    assert_eq!(twice, ("BACK".into(), "BACK".into()));
    up.assert_calls(1);
    assert_eq!(daemon.stats().fetches, 1);
}

#[test]
fn cache_clear_leaves_no_file_that_holds_a_token() {
    let server = TokenServer::start();
    server.token("CLEARED-TOKEN", 3600);
    let dir = temp_dir("disk-clear-all");
    source(&server, &dir).token().unwrap();
    let cache = dir.join("apiauth");
    let entry = file_ending(&cache, "json");
    // A record of an older format (left by an upgrade), and the entry made readable by
    // others (`cp -p`, a umask): neither is listed, both hold the token.
    let text = fs::read_to_string(&entry).unwrap();
    let old = text.replace("\"version\":5", "\"version\":4");
    assert_ne!(old, text);
    let readable = cache.join("0123456789abcdef.json");
    fs::write(&readable, text).unwrap();
    chmod(&readable, 0o644);
    fs::write(&entry, old).unwrap();
    let cache = DiskCache::open(&cache).unwrap();
    assert!(cache.entries().is_empty());
    let removed = cache.remove_entries(|_| true);
    assert_eq!((removed.tokens, removed.records, removed.stray), (0, 0, 2));
    assert_eq!(fs::read_dir(cache.dir()).unwrap().count(), 0);
}

#[test]
fn a_filtered_clear_takes_its_clients_old_format_record_and_leaves_the_others() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-clear-old-format"));
    server.token("T", 3600);
    let cache = DiskCache::open(dir.join("apiauth")).unwrap();
    for id in ["a", "b"] {
        let config = TokenConfig::new(server.token_url(), Credentials::new(id, "s").unwrap());
        let source = config.with_disk_cache(cache.clone()).build().unwrap();
        source.token().unwrap();
    }
    // What an older binary leaves: the same records in the format before this one.
    let records = || {
        let paths = fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().path());
        paths.filter(|p| p.extension().is_some_and(|e| e == "json"))
    };
    for path in records() {
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"version\":5", "\"version\":4")).unwrap();
    }
    assert!(cache.entries().is_empty());
    let removed = cache.remove_entries(|entry| entry.client_id() == "b");
    assert_eq!((removed.tokens, removed.records, removed.stray), (0, 0, 1));
    let left: Vec<String> = records().map(|p| fs::read_to_string(p).unwrap()).collect();
    let [record] = &left[..] else {
        panic!("{left:?}")
    };
    assert!(record.contains("\"client_id\":\"a\"") && record.contains("\"version\":4"));
}

#[test]
fn reject_and_invalidate_do_not_wait_for_another_process_fetching() {
    let (server, dir) = (TokenServer::start(), temp_dir("disk-reject-busy"));
    let mock = server.token("T", 3600);
    // A long timeout: waiting for the lock would take 5 minutes.
    let config = config(&server, &dir).with_timeout(Duration::from_secs(60));
    let source = config.build().unwrap();
    let token = source.token().unwrap();
    let lock = file_ending(&dir.join("apiauth"), "lock");
    // Another process holds the lock, mid-request, for as long as this test runs.
    let held = fs::File::options().write(true).open(&lock).unwrap();
    held.lock().unwrap();
    let worker = source.clone();
    let retry = finishes(move || (worker.reject(&token), worker.invalidate()).0);
    // The memory alone decided: the token is dropped, and not read back from disk.
    assert!(retry);
    drop(held);
    assert_eq!(secret_of(&source), "T");
    mock.assert_calls(2);
}

#[test]
fn hostile_things_at_record_paths_are_reported_once_and_cleared() {
    let capture = crate::logs::capture();
    let (server, dir) = (TokenServer::start(), temp_dir("disk-hostile"));
    let mock = server.token("T", 3600);
    source(&server, &dir).token().unwrap();
    let cache = dir.join("apiauth");
    let entry = file_ending(&cache, "json");
    // A directory (not empty) where the token goes, a FIFO and a symlink where the failure
    // and rejection records go.
    fs::remove_file(&entry).unwrap();
    fs::create_dir(&entry).unwrap();
    fs::write(entry.join("inside"), "x").unwrap();
    mkfifo(&entry.with_extension("fail"));
    let target = dir.join("target");
    fs::write(&target, "kept").unwrap();
    symlink(&target, entry.with_extension("reject")).unwrap();

    // Every token is fetched and served; the store's failure is warned about once.
    let next = source(&server, &dir);
    for _ in 0..2 {
        assert_eq!(secret_of(&next), "T");
        next.invalidate();
    }
    assert_eq!(next.stats().fetches, 2);
    mock.assert_calls(3);
    let shown = format!("cache directory {}", cache.display());
    let lines = capture.0.lock().unwrap().clone();
    let store = |l: &&String| l.starts_with("WARN apiauth::store") && l.contains(&shown);
    let warned = lines.iter().filter(store);
    assert_eq!(warned.count(), 1);

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

// A disk cache on a full disk: processes (here, sources of their own on one directory,
// whose file locks exclude one another as processes' do) do not queue behind one another
// when no record can be written.

const OK: &str = "HTTP/1.1 200 OK\r\nconnection: close";

/// A mounted tmpfs, unmounted when dropped.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A tmpfs of 1 MiB mounted at a new directory and filled up: files can be made (lock
/// files) but not written. `None` where mounting is not allowed (not root).
fn full_tmpfs() -> Option<Mounted> {
    let dir = temp_dir("full-disk");
    let mut mount = Command::new("mount");
    let mount = mount.args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]);
    let mount = mount.arg(&dir);
    if !mount.status().is_ok_and(|s| s.success()) {
        let ci = std::env::var_os("CI").is_some();
        assert!(!ci, "CI must be able to mount a tmpfs");
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return None;
    }
    DiskCache::open(dir.join("apiauth")).unwrap(); // made, mode 0700, while there is room
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    while filler.write_all(&[0; 65536]).is_ok() {}
    Some(Mounted(dir))
}

#[test]
fn a_full_disk_never_serializes_the_processes() {
    let Some(mounted) = full_tmpfs() else { return };
    // The endpoint answers every request after 1 s, counting the most in flight at once.
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (now, max) = (in_flight.clone(), most.clone());
    let server = Raw::start(move |_, stream, _| {
        max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
        thread::sleep(Duration::from_secs(1));
        now.fetch_sub(1, SeqCst);
        respond(&stream, OK, r#"{"access_token":"T","expires_in":3600}"#);
    });
    let cache = DiskCache::open(mounted.0.join("apiauth")).unwrap();
    let creds = Credentials::new("id", "s3cr3t").unwrap();
    let config = TokenConfig::new(server.url(), creds).with_disk_cache(cache);
    // A source of its own for each thread, as a process has.
    let tokens = on_threads(16, move || secret_of(&config.clone().build().unwrap()));
    assert_eq!(tokens, ["T"; 16]);
    // No record could be written, so each process asks; but the first holder's failed
    // write releases the others at once (before: one request at a time, 16 s in all).
    assert_eq!(server.hits(), 16);
    let most = most.load(SeqCst);
    assert!(most >= 8, "at most {most} requests in flight at once");
}

#[test]
fn a_stopped_lock_holder_is_waited_for_a_bounded_time_and_records_nothing_when_resumed() {
    // The first connection is held and never answered; every later one gets a token.
    let server = Raw::start(|n, stream, _| match n {
        0 => thread::sleep(Duration::from_secs(3600)),
        _ => respond(&stream, OK, r#"{"access_token":"LATER","expires_in":3600}"#),
    });
    let url = server.url();
    let user = User::new("stopped-holder", "id", "s3cr3t");
    let args = format!("{} --timeout 1", generic("token", url));
    // The holder takes the lock, sends, and is stopped while it waits for the answer.
    let holder = user.spawn(&args);
    crate::fixture::eventually(|| server.hits() == 1);
    let signal = |sig: &str| {
        let pid = holder.id().to_string();
        let killed = Command::new("kill").args([sig, &pid]).status();
        assert!(killed.unwrap().success());
    };
    signal("-STOP");
    // Another process waits for the lock at most one time limit and a second, then asks
    // on its own (before: five time limits).
    let waiter = user.run(&args);
    assert_eq!(waiter.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&waiter.stdout), "LATER\n");
    // Resumed past its lease (5 × 1 s), the holder times out on waking: a timeout the
    // endpoint never caused, which it must not record for the others.
    thread::sleep(Duration::from_millis(5500));
    signal("-CONT");
    let holder = holder.wait_with_output().unwrap();
    assert_eq!(holder.status.code(), Some(4));
    let next = user.run(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&next.stdout), stderr(&next));
    let actual = (next.status.code(), &*stdout);
    assert_eq!(actual, (Some(0), "LATER\n"), "{stderr}");
    assert_eq!(server.hits(), 3);
}

#[test]
fn a_slow_holder_that_progresses_keeps_single_flight() {
    // Each phase of the answer inside a 2 s limit, the whole longer than it.
    let endpoint = Raw::start(|_, mut stream, _| {
        let body = r#"{"access_token":"T","expires_in":3600}"#;
        thread::sleep(Duration::from_millis(1800));
        let head = format!("{OK}\r\ncontent-length: {}\r\n\r\n", body.len());
        let sent = stream.write_all(head.as_bytes());
        let _ = sent.and_then(|()| stream.flush());
        thread::sleep(Duration::from_millis(1800));
        let _ = stream.write_all(body.as_bytes());
    });
    let cache = DiskCache::open(temp_dir("slow-holder").join("apiauth")).unwrap();
    let config = TokenConfig::new(endpoint.url(), Credentials::new("id", "s3cr3t").unwrap());
    let config = config.with_timeout(Duration::from_secs(2));
    let config = config.with_disk_cache(cache);
    // A source of its own for each thread, as a process has.
    let tokens = on_threads(4, move || secret_of(&config.clone().build().unwrap()));
    assert_eq!(tokens, ["T"; 4]);
    // The holder beats while it waits for the slow answer: the others wait for it, longer
    // than one time limit, and read its token.
    assert_eq!(endpoint.hits(), 1);
}
