//! What every process of a user shares besides the token: failure and rejection records,
//! one slot per secret, and the ways out (`cache clear`, `--refresh`).

use super::*;

use super::failures::throttled;

#[test]
fn two_secrets_in_turn_each_keep_their_own_failure_record() {
    let server = TokenServer::start();
    let mock = throttled(&server, "3600");
    let old = User::new("rotation-429", "id", "OLD-s3cr3t");
    let new = old.with_env("APIAUTH_CLIENT_SECRET", "NEW-s3cr3t");
    let args = generic("token", &server.token_url());
    for run in 0..20 {
        let user = if run % 2 == 0 { &old } else { &new };
        let out = user.run(&args);
        assert_eq!(out.status.code(), Some(6), "run {run}: {}", stderr(&out));
    }
    // One request per secret; neither overwrote the other's record (before: 20).
    mock.assert_calls(2);
    assert_eq!(old.records(|record| !record["failure"].is_null()).len(), 2);
}

#[test]
fn an_api_that_refuses_every_token_costs_a_request_per_backoff_window() {
    let (tokens, api) = (numbered_tokens(), TokenServer::start());
    let refused = api.answer("GET /v1/things => 401 not enabled for this account");
    let user = User::new("always-401", "id", "s3cr3t");
    let (token_url, base) = (tokens.url(), api.base_url());
    let request = generic("request", token_url);
    let args = format!("{request} --api-base-url {base} /v1/things");
    for run in 0..30 {
        let out = user.run(&args);
        assert_eq!(out.status.code(), Some(7), "run {run}: {}", stderr(&out));
    }
    // The first run drops its token and asks once more; every later run finds the shared
    // rejection window open and keeps the token it reads (before: 31 and 60). Runs that come
    // after the 1 s window, if this machine is slow, cost one more each window (1 s, 2 s, …).
    let (token_requests, calls) = (tokens.hits(), refused.calls());
    let summary = format!("{token_requests} token requests, {calls} API calls");
    eprintln!("30 runs against an API that answers 401: {summary}");
    assert!(token_requests <= 3, "{token_requests} token requests");
    assert!(calls < 30 + token_requests, "{calls} API calls");
}

#[test]
fn cache_clear_lifts_a_one_hour_record_and_says_so() {
    let server = TokenServer::start();
    let mut throttled = throttled(&server, "3600");
    let user = User::new("clear-429", "id", "s3cr3t");
    let args = generic("token", &server.token_url());
    assert_eq!(user.run(&args).status.code(), Some(6));
    // The endpoint recovers, but the record still holds every process back.
    throttled.delete();
    let recovered = server.token("BACK", 3600);
    assert_eq!(user.run(&args).status.code(), Some(6));
    recovered.assert_calls(0);
    // cache list shows it, with until when.
    let list = user.ok("cache list");
    let url = server.token_url();
    let shown = format!("{url} id - - no-token failing-until ");
    assert!(list.starts_with(&shown), "{list}");
    let reason = format!("(token endpoint {url} returned 429: slow_down)\n");
    assert!(list.ends_with(&reason), "{list}");
    let now = now_secs();
    let until = &list[shown.len()..shown.len() + 20];
    assert_rfc3339_in(until, now + 3590..=now + 3600);
    // cache clear removes it and says so; the next run asks once and succeeds.
    let cleared = "removed 0 entries, 1 failure or rejection record\n";
    assert_eq!(user.ok("cache clear"), cleared);
    assert_eq!(user.ok(&args), "BACK\n");
    recovered.assert_calls(1);
    assert_eq!(user.ok(&args), "BACK\n");
    recovered.assert_calls(1);
}

#[test]
fn refresh_sends_one_request_past_a_record_and_its_success_lifts_it() {
    let server = TokenServer::start();
    let mut throttled = throttled(&server, "3600");
    let user = User::new("refresh-429", "id", "s3cr3t");
    let args = generic("token", &server.token_url());
    assert_eq!(user.run(&args).status.code(), Some(6));
    throttled.delete();
    let recovered = server.token("BACK", 3600);
    assert_eq!(user.ok(&format!("{args} --refresh")), "BACK\n");
    recovered.assert_calls(1);
    // The record is gone for every process: the next run is served from the cache.
    assert_eq!(user.ok(&args), "BACK\n");
    recovered.assert_calls(1);
    let fail = |e: fs::DirEntry| e.path().extension().is_some_and(|x| x == "fail");
    let mut files = fs::read_dir(user.cache_dir()).unwrap();
    assert!(!files.any(|e| fail(e.unwrap())));
}

#[test]
fn protocol_errors_are_recorded_like_any_failure() {
    let answers: [&'static [u8]; 2] = [
        b"garbage that is not http\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello",
    ];
    for (n, answer) in answers.into_iter().enumerate() {
        let endpoint =
            crate::fixture::Raw::start(move |_, mut stream, _| drop(stream.write_all(answer)));
        let user = User::new(&format!("protocol-{n}"), "id", "s3cr3t");
        let args = generic("token", endpoint.url());
        let outs: Vec<Output> = (0..20).map(|_| user.run(&args)).collect();
        for out in &outs {
            assert_eq!(out.status.code(), Some(4), "{}", stderr(out));
            assert_eq!(reported(out).0, reported(&outs[0]).0);
        }
        // One connection, then every run gets the recorded error (before: 20).
        assert_eq!(endpoint.hits(), 1, "answer {n}");
    }
}

#[test]
fn a_cache_that_cannot_be_locked_is_reported_and_bypassed() {
    let (server, user) = start_as("unlockable", "id", "s3cr3t");
    let mock = server.token("T", 3600);
    let args = generic("token", &server.token_url());
    assert_eq!(user.ok(&args), "T\n");
    // Something that is not a file (here a directory with a file in it) where the lock
    // must be: it cannot be replaced, so the cache cannot be used.
    let entry = user.entries().remove(0);
    fs::remove_file(&entry).unwrap();
    let lock = entry.with_extension("lock");
    fs::remove_file(&lock).unwrap();
    fs::create_dir(&lock).unwrap();
    fs::write(lock.join("keep"), "").unwrap();
    let out = user.run(&args);
    let said = stderr(&out);
    let actual = (out.status.code(), &out.stdout[..]);
    assert_eq!(actual, (Some(0), &b"T\n"[..]), "{said}");
    // Said at default verbosity, once, naming the directory and not the token.
    let warning = "apiauth: [warn apiauth::store] token store failed (cache directory ";
    let once = said.lines().count() == 1;
    assert!(said.starts_with(warning) && once, "{said}");
    assert!(said.contains("lock file: Is a directory"), "{said}");
    mock.assert_calls(2);
}

#[test]
fn writers_killed_mid_write_leave_nothing_after_cache_clear() {
    let (server, user) = start_as("killed-writers", "id", "s3cr3t");
    server.token("KILLED-WRITER-TOKEN", 3600);
    let args = generic("token", &server.token_url());
    // Writers killed between writing their temporary file and renaming it (kill -9).
    let dir = user.cache_dir();
    fs::create_dir_all(&dir).unwrap();
    chmod(&dir, 0o700);
    let old = dir.join("0123456789abcdef.4242.0.tmp");
    let young = dir.join("0123456789abcdef.4243.0.tmp");
    for tmp in [&old, &young] {
        fs::write(tmp, "{\"access_token\":\"KILLED-WRITER-TOKEN\"}").unwrap();
        chmod(tmp, 0o600);
    }
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let old_file = fs::File::options().write(true).open(&old).unwrap();
    old_file.set_modified(an_hour_ago).unwrap();
    // The next write removes the one older than a minute, not the young one (it may be a
    // live writer's).
    assert_eq!(user.ok(&args), "KILLED-WRITER-TOKEN\n");
    assert!(!old.exists() && young.exists());
    // cache clear removes everything that holds the token.
    let cleared = "removed 1 entry, 1 stray file (temporary, of another version or unreadable)\n";
    assert_eq!(user.ok("cache clear"), cleared);
    assert!(!any_file_holds(&dir, "KILLED-WRITER-TOKEN"));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

// `apiauth cache list` and `apiauth cache clear`.

#[test]
fn cache_list_says_when_an_entry_is_stale_or_expired() {
    let (server, user) = start("list-states");
    server.token("T", 3600);
    let token = generic("token", &server.token_url());
    user.ok(&format!("{token} --scope a --scope b"));
    let entry = user.entries().remove(0);
    for (age, state) in [(3500, "stale"), (3700, "expired")] {
        let mut record: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
        record["token"]["issued_at_ms"] = json!((now_secs() - age) * 1000);
        fs::write(&entry, record.to_string()).unwrap();
        let list = user.ok("cache list");
        let at = format!("{} id a,b ", server.token_url());
        let shown = format!(" {state}\n");
        assert!(list.starts_with(&at) && list.ends_with(&shown), "{list}");
    }
}

#[test]
fn cache_clear_for_a_provider_removes_its_entry_only() {
    let server = TokenServer::start();
    let (token, generic_token) = (mcf_mock(&server), server.token("G", 3600));
    let user = User::new("clear-provider", "clientId", "clientSecret");
    let base = server.base_url();
    let mcf = format!("--provider my-connected-fleet --base-url {base}");
    assert_eq!(user.ok(&format!("token {mcf}")), format!("{MCF_TOKEN}\n"));
    assert_eq!(user.ok(&generic("token", &server.token_url())), "G\n");
    assert_eq!(user.ok(&format!("cache clear {mcf}")), "removed 1 entry\n");
    assert_eq!(user.entries().len(), 1);
    assert_eq!(user.ok(&format!("token {mcf}")), format!("{MCF_TOKEN}\n"));
    assert_eq!((token.calls(), generic_token.calls()), (2, 1));
}

/// The `cache list` lines with the timestamp (4th field) checked and replaced by `<at>`.
fn listed(user: &User) -> String {
    let now = now_secs();
    let listing = user.ok("cache list");
    let lines = listing.lines().map(|line| {
        let mut fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert_rfc3339_in(fields[3], now + 3595..=now + 3605);
        fields[3] = "<at>";
        fields.join(" ") + "\n"
    });
    lines.collect()
}

#[test]
fn cache_list_and_clear() {
    let server = TokenServer::start();
    let first = server.token("FIRST-TOKEN", 3600);
    // On the same origin, so that the listing's order (by token URL) is known.
    let second = rfc_token("SECOND-TOKEN", 3600);
    let second = server.answer(&format!("POST /other-token => 200 {second}"));
    let user = User::new("cache-list", "id-1", "secret");
    let (url1, url2) = (server.token_url(), server.url("/other-token"));
    let token = |url: &str, more: &str| {
        user.ok(&format!("token --provider generic --token-url {url}{more}"))
    };
    assert_eq!(token(&url1, ""), "FIRST-TOKEN\n");
    assert_eq!(token(&url2, " --scope read"), "SECOND-TOKEN\n");
    let list = user.ok("cache list");
    assert!(!list.contains("TOKEN"), "{list}");
    let both = format!("{url2} id-1 read <at> fresh\n{url1} id-1 - <at> fresh\n");
    assert_eq!(listed(&user), both);
    // A selection that matches nothing, then one entry, then everything left.
    let actual = user.ok("cache clear --client-id id-2");
    assert_eq!(actual, "removed 0 entries\n");
    assert_eq!(user.entries().len(), 2);
    let clear1 = format!("cache clear --token-url {url1} --client-id id-1");
    assert_eq!(user.ok(&clear1), "removed 1 entry\n");
    assert_eq!(user.entries().len(), 1);
    assert_eq!(listed(&user), format!("{url2} id-1 read <at> fresh\n"));
    first.assert_calls(1);
    assert_eq!(token(&url1, ""), "FIRST-TOKEN\n");
    first.assert_calls(2);
    assert_eq!(user.ok("cache clear"), "removed 2 entries\n");
    assert!(user.entries().is_empty());
    assert_eq!(user.ok("cache list"), "");
    assert_eq!(token(&url2, " --scope read"), "SECOND-TOKEN\n");
    second.assert_calls(2);

    // A symbolic link in the cache is not listed, nor followed by clear: the link itself is
    // removed, counted with what a listing does not show (issue 30), and its target kept.
    let entry = user.entries()[0].clone();
    let outside = user.home.join("outside.json");
    fs::copy(&entry, &outside).unwrap();
    fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&outside, &entry).unwrap();
    assert_eq!(user.ok("cache list"), "");
    let cleared = "removed 0 entries, 1 stray file (temporary, of another version or unreadable)\n";
    assert_eq!(user.ok("cache clear"), cleared);
    assert!(outside.exists() && fs::symlink_metadata(&entry).is_err());
}
